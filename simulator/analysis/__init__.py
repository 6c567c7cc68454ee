"""Reading results: statistics over runs (:mod:`.statistics`), per-cell
reports of a sweep store (:mod:`.report`), the standard figures (:mod:`.plots`,
also importable as ``simulator.plots``) and the paper's claims tested as
hypotheses (:mod:`.claims`, each a grid of markets run by the sweep runner).

Layering: imports ``simulator.market``, ``simulator.experiments`` (the store
reader for reports, the sweep runner for the claims), :mod:`simulator.files`
and its own modules; never ``simulator.app`` (``tests/test_layering.py`` checks). This
``__init__`` imports nothing: import the modules by their full path, or the
everyday names from :mod:`simulator`.
"""
