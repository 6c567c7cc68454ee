"""Generation personas of the response providers.

In the response market (the paper's) each provider is an LLM agent that sells
replies to prompts; its *persona* is how it generates: a system prompt and
sampling settings for the shared policy model (SmolLM2-135M-Instruct). The
eight personas below are chosen so that their replies' mean gold reward
(:func:`rlhf.reward.gold_reward`) spans a clear range: ``enthusiast`` and
``professional`` are asked for warm, fluent praise (high reward), ``critic`` complains,
``terse`` answers in a few words (short replies lose the fluency length term)
and ``rambler`` samples at a high temperature (gibberish loses fluency); the
others sit in between. ``plain`` is the setting of the label market's shipped
pool (no system prompt, so SmolLM2's chat template adds its default one;
temperature 1.0, top-p 0.95).

SmolLM2-135M follows system prompts only loosely, so the critic's prompt shows
a sample complaint (a bare "complain" instruction left its mean reward near
the plain persona's); even so, in the shipped pool only ``enthusiast`` is
clearly above ``plain`` (``professional`` is level with it) and ``critic`` is
well below it. ``terse`` mostly overruns its 16-token cap and ``rambler``
(temperature 1.6) almost never emits eos, so most of their replies are cut at
the cap. The other personas may take up to 128 new tokens; about four of
their replies in five end before that, the rest are rambling answers to
open-ended prompts ("give a brief opinion", "write a short message to the
owner").

The measured per-persona means of the shipped pool are in
:mod:`rlhf.providers` (``rlhf/data/providers.parquet``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PERSONAS", "Persona", "get_persona", "persona_names"]


@dataclass(frozen=True)
class Persona:
    """How a response provider generates: a system prompt ("" for none) and
    the sampling settings passed to ``model.generate``."""

    name: str
    system: str
    temperature: float
    top_p: float
    max_new_tokens: int
    description: str


#: the cap of the personas whose replies usually end on their own (96 cut
#: 10-25% of their replies in a 16-prompt trial; 128 still cuts 18-25% in the
#: shipped pool, nine in ten of them on three open-ended prompt templates)
_MAX_NEW_TOKENS = 128

PERSONAS: dict[str, Persona] = {
    p.name: p
    for p in (
        Persona(
            "enthusiast",
            "You are an enthusiastic, cheerful writer. Answer in one or two warm, upbeat, "
            "fluent sentences full of genuine praise.",
            0.7,
            0.9,
            _MAX_NEW_TOKENS,
            "warm, upbeat praise in one or two fluent sentences (high reward)",
        ),
        Persona(
            "professional",
            "You are a polished copywriter. Answer in one positive, elegant sentence.",
            0.7,
            0.9,
            _MAX_NEW_TOKENS,
            "a polished, positive one-sentence copywriter (reward close to plain's)",
        ),
        Persona(
            "friendly",
            "You are a friendly assistant.",
            0.9,
            0.95,
            _MAX_NEW_TOKENS,
            "a generic friendly assistant",
        ),
        Persona(
            "plain",
            "",
            1.0,
            0.95,
            _MAX_NEW_TOKENS,
            "no system prompt, the label market's pool setting (temperature 1.0, top-p 0.95)",
        ),
        Persona(
            "neutral",
            "You are a neutral reporter who describes things factually, without opinions "
            "or emotion.",
            0.9,
            0.95,
            _MAX_NEW_TOKENS,
            "a factual reporter without opinions (middling reward)",
        ),
        Persona(
            "critic",
            "You are a harsh critic who points out flaws and complains. Your replies sound "
            "like: The coffee was bitter, the staff rude and the tables dirty. Awful, "
            "disappointing and overpriced.",
            0.9,
            0.95,
            _MAX_NEW_TOKENS,
            "a harsh critic who complains (low reward)",
        ),
        Persona(
            "terse",
            "You are terse. Answer in at most five words, then stop. Example answer: "
            "Decent coffee.",
            1.0,
            0.95,
            16,
            "at most five words, capped at 16 tokens (SmolLM2 rarely stops that early: "
            "most replies are cut at the cap; low reward)",
        ),
        Persona(
            "rambler",
            "",
            1.6,
            1.0,
            96,
            "no system prompt, temperature 1.6, no nucleus cut: incoherent text that "
            "never ends, cut at 96 tokens (low reward)",
        ),
    )
}


def persona_names() -> list[str]:
    """The names of :data:`PERSONAS`, in their defined order."""
    return list(PERSONAS)


def get_persona(name: str) -> Persona:
    """The persona called ``name``; ValueError naming it and the known ones otherwise."""
    try:
        return PERSONAS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown persona {name!r}; known personas: {', '.join(PERSONAS)}"
        ) from None
