"""Run functions: what a sweep's workers call for each config.

A run function takes a ``MarketConfig`` and returns a result with a
``summary`` mapping (and optionally ``metrics``, ``labels``, ``dataset``
tables), or the summary mapping itself. Workers import it by its
``"module:function"`` name, so run functions are module-level functions of an
installed module, never defined in a notebook.

The names design files and stores use are those of the compatibility module
:mod:`simulator.sweeps` (``simulator.sweeps:run_market``,
``simulator.sweeps:market_with_efficiency``): :data:`DEFAULT_RUN_FN` is part
of every run's store key, so it keeps that spelling for stores to resume.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from ..market.config import MarketConfig

__all__ = [
    "DEFAULT_RUN_FN",
    "PROJECT_RUN_FNS",
    "SweepError",
    "market_with_efficiency",
    "run_market",
]

DEFAULT_RUN_FN = "simulator.sweeps:run_market"
"""The default run function's name; part of every run key (keep it as written)."""
STORED_MODULE = "simulator.sweeps"
"""The module name the run functions defined here are stored under (their
names from before the sub-packages, so that existing stores resume)."""


PROJECT_RUN_FNS = (
    DEFAULT_RUN_FN,
    f"{STORED_MODULE}:market_with_efficiency",
    "simulator.analysis.claims:train_arm",
)
"""The run functions a design file may name (any other must be named by the
caller: a design file holds data, never code)."""


class SweepError(RuntimeError):
    """A sweep that cannot start or continue, or a store that cannot be read."""


def run_market(config: MarketConfig):
    """The default run function: one market, ``simulator.run(config)``."""
    from ..market.results import run

    return run(config)


def heldout_pairs_for(config: MarketConfig):
    """The held-out gold pairs a market's data is scored on: the task world's
    (label market), or pairs of the provider pool's replies to held-out prompts
    (response market); neither market ever sells them."""
    if config.market == "responses":
        from ..market.provider_pool import heldout_response_pairs

        return heldout_response_pairs()
    from rlhf.taskworld import shipped_pairs

    return shipped_pairs("heldout")


def market_with_efficiency(
    config: MarketConfig,
    *,
    trainer: str = "proxy",
    heldout: int | None = None,
    samples: int = 0,
    **settings,
):
    """One market, then what its dataset teaches: adds ``quality_before``,
    ``quality_after``, ``gain``, ``per_dollar``, ``n_pairs``,
    ``label_accuracy`` and ``trainer`` to the run's summary
    (:func:`rlhf.efficiency.dollar_efficiency`, seeded by the config's seed).
    Use it for sweeps that train (``run_fn:
    simulator.sweeps:market_with_efficiency`` in a design file, with
    ``run_params`` for the keyword arguments).

    Args:
        config: the market.
        trainer: ``"proxy"`` (the Bradley-Terry proxy), ``"dpo"`` or ``"qa-dpo"``.
        heldout: score on the first ``heldout`` shipped held-out gold pairs
            (default: all of them).
        samples: dpo / qa-dpo: score the fine-tuned policy's own replies to
            this many held-out prompts too (``gold_reward``,
            ``gold_reward_before``, ``kl``, ``distinct_2``; see
            :func:`rlhf.efficiency.quality`).
        settings: :class:`rlhf.settings.TrainSettings` fields for dpo / qa-dpo
            (``epochs``, ``lr``, ...).

    A dpo / qa-dpo cell also gets ``proxy_after``: the proxy's score of the
    same pairs (the quick screen, next to the fine-tuned model's).
    """
    from rlhf.efficiency import dollar_efficiency
    from rlhf.settings import TrainSettings

    from ..market.results import run

    held = heldout_pairs_for(config)
    if heldout is not None:
        if isinstance(heldout, bool) or not isinstance(heldout, int) or heldout < 1:
            raise ValueError(f"heldout: must be an integer >= 1, got {heldout!r}")
        held = held.iloc[:heldout]
    result = run(config)
    extra = {"samples": samples} if samples else {}
    eff = dollar_efficiency(
        result,
        heldout=held,
        trainer=trainer,
        seed=config.seed,
        settings=TrainSettings().replace(**settings),
        **extra,
    )
    if trainer != "proxy":
        eff["proxy_after"] = dollar_efficiency(result, heldout=held, trainer="proxy")[
            "quality_after"
        ]
    result.summary.update({k: v for k, v in eff.items() if k not in ("spend",)})
    result.summary["trainer"] = trainer
    return result


def _resolve(run_fn: str) -> Callable[[MarketConfig], Any]:
    module, _, name = run_fn.partition(":")
    if not name:
        raise SweepError(f"run_fn must be 'module:function', got {run_fn!r}")
    return getattr(importlib.import_module(module), name)


def _fn_name(run_fn: str | Callable | None) -> str:
    if run_fn is None:
        return DEFAULT_RUN_FN
    if isinstance(run_fn, str):
        try:
            _resolve(run_fn)  # fail early, in the parent
        except (ImportError, AttributeError) as exc:
            raise SweepError(f"run_fn {run_fn!r} cannot be imported: {exc}") from None
        return run_fn
    module, qual = getattr(run_fn, "__module__", None), getattr(run_fn, "__qualname__", "")
    if module in (None, "__main__") or "<" in qual:
        raise SweepError(
            f"run_fn {run_fn!r} is not importable by workers: pass a module-level function of "
            "an installed module (or its 'module:function' name), not one defined in a "
            "notebook, script or closure"
        )
    if module == __name__:  # run_market passed as a function: the same key as by name
        module = STORED_MODULE
    return f"{module}:{qual}"
