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

__all__ = ["FAST_LR", "FULL_LR", "LR_MAX", "TrainSettings", "check_train_value", "default_lr"]

#: AdamW's learning rate when every parameter trains.
FULL_LR = 5e-6
#: AdamW's learning rate in the fast mode (only the top layers train). At ``FULL_LR`` the
#: top 2 layers learn the held-out ranking but the policy's own replies do not move (KL to
#: the reference about 0.01 against full fine-tuning's 2.4); at 1e-4 held-out accuracy,
#: the gold reward of the policy's samples and the KL match full fine-tuning's on the same
#: pairs (``benchmarks/bench_fast_dpo.py --quality``, benchmarks/README.md).
FAST_LR = 1e-4


def default_lr(train_layers: int | None) -> float:
    """The validated learning rate for a mode: :data:`FULL_LR` when every parameter trains
    (``train_layers`` 0 or None), :data:`FAST_LR` in the fast mode."""
    return FAST_LR if train_layers else FULL_LR


#: The largest learning rate accepted. AdamW moves every weight by about ``lr`` per step
#: whatever the gradient's size, and the policy's weights are of order 0.1, so a step of 1
#: already overwrites the model: anything larger is certainly a typo (the defaults are
#: FULL_LR and FAST_LR, above).
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
    lr: float | None = field(
        default=None,
        metadata={
            "help": "AdamW learning rate",
            "default_text": f"{FULL_LR:g} with every parameter, {FAST_LR:g} in the fast mode",
        },
    )
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
            if name == "lr" and self.lr is None:  # the mode's own rate: see learning_rate
                continue
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

    @property
    def learning_rate(self) -> float:
        """``lr``, or the mode's validated rate when it is None (:func:`default_lr`)."""
        return self.lr if self.lr is not None else default_lr(self.train_layers)

    def resolved(self) -> TrainSettings:
        """A copy with ``lr`` spelt out: what a stored run's key records, so that a later
        change of a default makes it another run rather than a false cache hit."""
        return dataclasses.replace(self, lr=self.learning_rate)

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
        return f"{f.metadata['help']} (default: {f.metadata.get('default_text', f.default)})"
