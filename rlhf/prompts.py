"""The task world's prompts: requests for short reviews and messages, whose
replies the gold reward (:mod:`rlhf.reward`) scores for positive sentiment and
fluency. 400 prompts (8 templates x 50 subjects, written for this project)
ship in ``rlhf/data/prompts.txt``; every fifth is held out for evaluation."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

SPLITS = ("train", "heldout", "all")


@lru_cache(maxsize=1)
def _all_prompts() -> tuple[str, ...]:
    text = resources.files("rlhf").joinpath("data/prompts.txt").read_text(encoding="utf-8")
    return tuple(line for line in text.splitlines() if line and not line.startswith("#"))


def load_prompts(split: str = "all") -> list[str]:
    """The shipped prompts: ``"train"`` (80%), ``"heldout"`` (every fifth) or ``"all"``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    prompts = _all_prompts()
    if split == "all":
        return list(prompts)
    keep = (lambda i: i % 5 == 4) if split == "heldout" else (lambda i: i % 5 != 4)
    return [p for i, p in enumerate(prompts) if keep(i)]


def prompt_split(prompt: str) -> str:
    """``"heldout"`` or ``"train"`` for a shipped prompt."""
    return "heldout" if prompt in set(load_prompts("heldout")) else "train"
