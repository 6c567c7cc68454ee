"""Random numbers by name and by key: the two rules that keep runs comparable.

**Named streams.** A run has one seed; each consumer of randomness (the
population, the task stream, tie-breaks, ...) gets its own
``SeedSequence(seed, spawn_key=(crc32(name),))``. A stream depends only on the
seed and its name, so adding a stream shifts none of the others (positional
``spawn(n)`` would).

**Keyed draws (counter-based).** A draw that must be the same in every arm of
a paired comparison, whatever else happened in the run, is a pure function of
its key: ``keyed_uniform(seed, "labels", task_id, annotator_id)`` is the
noise of that annotator's label on that task, whether it is drawn first or
last, alone or with ten thousand others, under vickrey or under first-price
(common random numbers; Glasserman & Yao 1992, "Some guidelines and
guarantees for common random numbers", Management Science 38(6)). The mixer
is SplitMix64's finalizer (Steele, Lea & Flood 2014, "Fast splittable
pseudorandom number generators", OOPSLA), applied to each counter in turn, as
counter-based generators do (Salmon et al. 2011, "Parallel random numbers: as
easy as 1, 2, 3", SC'11). Vectorized over numpy uint64 arrays; the
same keys give the same numbers in one call or in many.
"""

from __future__ import annotations

import hashlib
import zlib

import numpy as np

__all__ = ["keyed_bits", "keyed_uniform", "named_stream", "stream_generator", "to_uniform"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def named_stream(seed: int, name: str) -> np.random.SeedSequence:
    """The run's stream called ``name``: a child of ``SeedSequence(seed)`` whose
    spawn key is the name's CRC-32 (stable across Python versions and runs)."""
    return np.random.SeedSequence(int(seed), spawn_key=(zlib.crc32(name.encode()),))


def stream_generator(seed: int, name: str) -> np.random.Generator:
    """A generator on :func:`named_stream`."""
    return np.random.default_rng(named_stream(seed, name))


def mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's output function on uint64 values (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def _root(seed: int, stream: str) -> np.uint64:
    digest = hashlib.blake2b(f"{int(seed)}/{stream}".encode(), digest_size=8).digest()
    return np.uint64(int.from_bytes(digest, "little"))


def keyed_bits(seed: int, stream: str, *counters) -> np.ndarray:
    """64 random bits per key (seed, stream, counter_1, counter_2, ...).

    Counters are integer arrays (or scalars) broadcast against each other;
    negative integers are taken modulo 2**64. Always returns an array.
    """
    arrays = [np.asarray(c) for c in counters]
    for c in arrays:
        if c.dtype.kind not in "iub":
            raise TypeError(f"keyed_bits: counters must be integers, got dtype {c.dtype}")
    shape = np.broadcast_shapes(*(c.shape for c in arrays)) if arrays else ()
    h = np.full(shape, _root(seed, stream), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for c in arrays:
            h = mix64(h ^ mix64(c.astype(np.int64).view(np.uint64) + _GOLDEN))
        return mix64(h + _GOLDEN)


def to_uniform(bits: np.ndarray) -> np.ndarray:
    """Uniforms on [0, 1) from 64-bit words (the top 53 bits, as numpy does)."""
    return (np.asarray(bits, dtype=np.uint64) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def keyed_uniform(seed: int, stream: str, *counters) -> np.ndarray:
    """One uniform on [0, 1) per key; see :func:`keyed_bits`."""
    return to_uniform(keyed_bits(seed, stream, *counters))
