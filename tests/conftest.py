"""Test-suite settings. Hypothesis runs derandomized by default so that CI is
reproducible; set HYPOTHESIS_PROFILE=explore to search new examples."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, max_examples=60, print_blob=True)
settings.register_profile("explore", derandomize=False, max_examples=1000, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
