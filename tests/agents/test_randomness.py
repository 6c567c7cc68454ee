"""Named streams and keyed (counter-based) draws, against independent facts:
SplitMix64's published output, the uniform distribution, and invariance to
how the keys are batched."""

from __future__ import annotations

import numpy as np
from scipy import stats

from agents.randomness import (
    keyed_bits,
    keyed_uniform,
    mix64,
    named_stream,
    stream_generator,
    to_uniform,
)


def test_mixer_is_splitmix64():
    # the first outputs of SplitMix64 seeded with 1234567 (Vigna's reference
    # generator, also java.util.SplittableRandom's mixer)
    want = [6457827717110365317, 3203168211198807973, 9817491932198370423,
            4593380528125082431, 16408922859458223821]  # fmt: skip
    golden = 0x9E3779B97F4A7C15
    states = np.array([(1234567 + golden * (i + 1)) % 2**64 for i in range(5)], dtype=np.uint64)
    assert [int(x) for x in mix64(states)] == want


def test_keyed_draws_do_not_depend_on_batching():
    tasks = np.arange(1000)
    annot = np.arange(1000) % 37
    whole = keyed_uniform(5, "labels", tasks, annot)
    alone = [
        float(keyed_uniform(5, "labels", t, a)) for t, a in zip(tasks[:50], annot[:50], strict=True)
    ]
    np.testing.assert_array_equal(whole[:50], alone)
    perm = np.random.default_rng(0).permutation(1000)
    np.testing.assert_array_equal(keyed_uniform(5, "labels", tasks[perm], annot[perm]), whole[perm])


def test_keyed_uniforms_are_uniform_and_independent():
    t, a = np.meshgrid(np.arange(400), np.arange(250), indexing="ij")
    u = keyed_uniform(0, "labels", t.ravel(), a.ravel())
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    # neighbours in either counter are uncorrelated
    grid = u.reshape(400, 250)
    for x, y in ((grid[1:], grid[:-1]), (grid[:, 1:], grid[:, :-1])):
        assert abs(np.corrcoef(x.ravel(), y.ravel())[0, 1]) < 0.01
    # another stream name or seed gives unrelated numbers
    other = keyed_uniform(0, "slots", t.ravel(), a.ravel())
    assert abs(np.corrcoef(u, other)[0, 1]) < 0.01
    assert abs(np.corrcoef(u, keyed_uniform(1, "labels", t.ravel(), a.ravel()))[0, 1]) < 0.01
    # pairs (u_i, u_{i+1}) fill the unit square evenly (chi-square, 10 x 10 cells)
    cells = np.histogram2d(u[:-1:2], u[1::2], bins=10, range=[[0, 1], [0, 1]])[0].ravel()
    assert stats.chisquare(cells).pvalue > 1e-3


def test_uniforms_use_the_top_53_bits():
    bits = np.array([0, 2**64 - 1, 2**63], dtype=np.uint64)
    np.testing.assert_array_equal(to_uniform(bits), [0.0, 1.0 - 2.0**-53, 0.5])
    assert keyed_bits(0, "x", 3).dtype == np.uint64


def test_named_streams_do_not_shift_each_other():
    # a stream depends on the seed and its own name only
    a = stream_generator(7, "tasks").random(5)
    np.testing.assert_array_equal(stream_generator(7, "tasks").random(5), a)
    assert not np.array_equal(stream_generator(7, "entry").random(5), a)
    assert not np.array_equal(stream_generator(8, "tasks").random(5), a)
    assert named_stream(7, "tasks").spawn_key != named_stream(7, "entry").spawn_key
