"""The market itself: one run's config (:mod:`.config`), the Mesa model
(:mod:`.model`), where tasks come from (:mod:`.tasks`), label aggregation
(:mod:`.aggregation`), the per-round market metrics (:mod:`.metrics`) and a
run's results (:mod:`.results`).

Layering: imports ``mechanisms``, ``agents``, ``rlhf`` (the task world's
pairs), :mod:`simulator.files` and its own modules; nothing from
``simulator.experiments``, ``simulator.analysis`` or ``simulator.app``
(``tests/test_layering.py`` checks). Import the modules by their full path;
the everyday names are exported by :mod:`simulator`.
"""
