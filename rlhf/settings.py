"""How the efficiency loop fine-tunes the policy: one settings object.

:class:`TrainSettings` holds the DPO / QA-DPO training settings that
``rlhf.efficiency`` (``quality``, ``fine_tune``, ``dollar_efficiency``) and the
``vickreyfeedback efficiency`` command share: the defaults and the help text
are written here once, and the command's options are built from these fields
(their ``metadata["help"]``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

__all__ = ["TrainSettings"]


@dataclass(frozen=True)
class TrainSettings:
    """DPO / QA-DPO fine-tuning settings (Rafailov et al. 2023; the QA-DPO
    weights of Zhang & Duan 2024 are applied on top by the trainer)."""

    model_name: str = field(
        default="smollm2-135m", metadata={"help": "policy to fine-tune (rlhf.models.load_policy)"}
    )
    epochs: int = field(default=2, metadata={"help": "epochs over the bought pairs"})
    beta: float = field(default=0.1, metadata={"help": "DPO beta (strength of the KL anchor)"})
    lr: float = field(default=5e-6, metadata={"help": "AdamW learning rate"})
    batch_size: int = field(default=8, metadata={"help": "pairs per optimizer step"})
    max_length: int = field(default=128, metadata={"help": "tokens per prompt + reply"})

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "max_length"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"TrainSettings.{name} must be an integer >= 1, got {v!r}")
        for name in ("beta", "lr"):
            v = getattr(self, name)
            if (
                isinstance(v, bool)
                or not isinstance(v, (int, float))
                or not (math.isfinite(v) and v > 0)
            ):
                raise ValueError(f"TrainSettings.{name} must be a finite number > 0, got {v!r}")
        if not isinstance(self.model_name, str) or not self.model_name:
            raise ValueError(f"TrainSettings.model_name must be a name, got {self.model_name!r}")

    def replace(self, **changes) -> TrainSettings:
        """A copy with ``changes``; an unknown name is refused, naming the known ones."""
        unknown = set(changes) - set(self.names())
        if unknown:
            raise ValueError(
                f"unknown training setting(s) {sorted(unknown)}; known: {', '.join(self.names())}"
            )
        return dataclasses.replace(self, **changes)

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def help(cls, name: str) -> str:
        """The help text of field ``name``, with its default."""
        f = next(f for f in dataclasses.fields(cls) if f.name == name)
        return f"{f.metadata['help']} (default: {f.default})"
