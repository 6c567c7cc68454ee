"""Space-filling samples for sweep designs: a scrambled Sobol sequence or a
Latin hypercube over numeric ranges (``scipy.stats.qmc``), integer fields
rounded, log ranges sampled in log space (a design's ``sample:``)."""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from ..market.config import ConfigError, MarketConfig

_INT_FIELDS = {f.name for f in dataclasses.fields(MarketConfig) if str(f.type).startswith("int")}


def _sample_points(spec: Any, seed: int) -> list[dict[str, Any]]:
    from scipy.stats import qmc

    if not isinstance(spec, Mapping):
        raise ConfigError("sample: must be a mapping with method, n and ranges")
    method = spec.get("method", "sobol")
    n = spec.get("n")
    ranges = spec.get("ranges")
    if not isinstance(n, int) or n < 1:
        raise ConfigError(f"sample: n must be an integer >= 1, got {n!r}")
    if not isinstance(ranges, Mapping) or not ranges:
        raise ConfigError("sample: ranges must map field names to [low, high]")
    names, lows, highs, logs = [], [], [], []
    for key, r in ranges.items():
        if isinstance(r, Mapping):
            lo, hi, log = r.get("low"), r.get("high"), bool(r.get("log", False))
        elif isinstance(r, Sequence) and not isinstance(r, str) and len(r) == 2:
            (lo, hi), log = r, False
        else:
            raise ConfigError(f"sample: range of {key} must be [low, high] or {{low, high, log}}")
        if not all(isinstance(v, int | float) for v in (lo, hi)) or not lo < hi:
            raise ConfigError(f"sample: range of {key} needs numbers low < high, got {r!r}")
        if log and lo <= 0:
            raise ConfigError(f"sample: a log range of {key} needs low > 0, got {lo!r}")
        names.append(key)
        lows.append(float(lo))
        highs.append(float(hi))
        logs.append(log)
    d = len(names)
    if method == "sobol":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # n not a power of 2
            u = qmc.Sobol(d, scramble=True, seed=int(seed)).random(n)
    elif method == "lhs":
        u = qmc.LatinHypercube(d, seed=int(seed)).random(n)
    else:
        raise ConfigError(f"sample: method must be 'sobol' or 'lhs', got {method!r}")
    points = []
    for row in u:
        point = {}
        for j, key in enumerate(names):
            lo, hi = lows[j], highs[j]
            if key.split(".")[0] in _INT_FIELDS:
                point[key] = int(min(math.floor(lo + row[j] * (hi - lo + 1)), hi))
            elif logs[j]:
                point[key] = float(math.exp(math.log(lo) + row[j] * (math.log(hi) - math.log(lo))))
            else:
                point[key] = float(lo + row[j] * (hi - lo))
        points.append(point)
    return points
