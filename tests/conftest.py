"""Test-suite settings. Hypothesis runs derandomized by default so that CI is
reproducible; set HYPOTHESIS_PROFILE=explore to search new examples."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, max_examples=60, print_blob=True)
settings.register_profile("explore", derandomize=False, max_examples=1000, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_collection_modifyitems(config, items):
    """Start the longest tests first (the notebooks, then the rest marked slow),
    so that with ``-n`` (pytest-xdist) the short tests fill in around them
    instead of one long notebook finishing alone at the end."""

    def rank(pair) -> tuple[int, int]:
        position, item = pair
        if "test_notebooks.py" in item.nodeid and "runs_top_to_bottom" in item.nodeid:
            return 0, -position  # the later notebooks run the larger sweeps
        return (1 if item.get_closest_marker("slow") else 2), position

    items[:] = [item for _, item in sorted(enumerate(items), key=rank)]
