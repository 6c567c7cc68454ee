"""Fixtures shared by the rlhf tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread for a module, restored afterwards. On the shared 2-core
    machine, with other jobs running, every small op of a 2-thread OpenMP region waits
    for a descheduled thread: a SmolLM2 forward took 7.7 s on 2 threads vs 0.47 s on 1.
    A module opts in with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
