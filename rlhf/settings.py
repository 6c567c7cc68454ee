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
import numbers
from dataclasses import dataclass, field

__all__ = ["LR_MAX", "TrainSettings", "check_train_value"]

#: The largest learning rate accepted. AdamW moves every weight by about ``lr`` per step
#: whatever the gradient's size, and the policy's weights are of order 0.1, so a step of 1
#: already overwrites the model: anything larger is certainly a typo (the default is 5e-6).
LR_MAX = 1.0

# the one place for the limits that TrainSettings and rlhf.dpo.train_dpo share:
# name -> (smallest integer, why) for the integer settings
_INT_MIN = {
    "epochs": (1, ""),
    "batch_size": (1, ""),
    "max_length": (2, " (a prompt token and a completion token)"),
    "seed": (0, ""),
    "train_layers": (0, " (0: every parameter)"),
}
# name -> (what must hold, test) for the real-valued ones
_REAL = {
    "beta": ("a finite number > 0", lambda v: v > 0),
    "lr": (
        f"a finite number > 0 and <= {LR_MAX:g} (AdamW moves every weight by about lr per step, "
        "so a larger step destroys the model: certainly a typo)",
        lambda v: 0 < v <= LR_MAX,
    ),
    "weight_decay": ("a finite number >= 0", lambda v: v >= 0),
    "max_grad_norm": ("a finite number > 0 (or None: no clipping)", lambda v: v > 0),
}


def check_train_value(name: str, value: object, where: str) -> int | float:
    """``value`` as the int or float that training setting ``name`` (epochs, batch_size,
    max_length, seed, beta, lr, weight_decay, max_grad_norm) takes, or a one-line ValueError
    ``"{where} must be ..., got {value!r}"``. Booleans and strings are refused, numpy numbers
    accepted. Used by :class:`TrainSettings` and :func:`rlhf.dpo.train_dpo`, so that both
    apply the same limits with the same words."""
    if name in _INT_MIN:
        low, why = _INT_MIN[name]
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise ValueError(f"{where} must be an integer >= {low}{why}, got {value!r}")
        return int(value)
    if name in _REAL:
        what, ok = _REAL[name]
        number = math.nan
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:  # an int beyond float's range
                number = math.inf
        if not (math.isfinite(number) and ok(number)):
            raise ValueError(f"{where} must be {what}, got {value!r}")
        return number
    raise KeyError(f"no limits are known for the training setting {name!r}")


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
    device: str = field(
        default="cpu",
        metadata={"help": "where to fine-tune and score: cpu, cuda or cuda:N (float32 either way)"},
    )
    train_layers: int = field(
        default=0,
        metadata={
            "help": "train only the top n decoder layers, on cached activations of the "
            "frozen rest (the fast mode, rlhf.fast_dpo); 0: every parameter"
        },
    )

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "max_length", "beta", "lr", "train_layers"):
            # numpy numbers become plain int / float
            checked = check_train_value(name, getattr(self, name), f"TrainSettings.{name}")
            object.__setattr__(self, name, checked)
        device = self.device
        if not isinstance(device, str) or not (
            device in ("cpu", "cuda") or (device.startswith("cuda:") and device[5:].isdigit())
        ):
            raise ValueError(f"TrainSettings.device must be cpu, cuda or cuda:N, got {device!r}")
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
