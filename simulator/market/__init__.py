"""The market itself: one run's config (:mod:`.config`, with its value checks
in :mod:`.validation` and file formats in :mod:`.formats`), the Mesa model
(:mod:`.model`), where tasks come from (:mod:`.tasks`), label aggregation
(:mod:`.aggregation`), the per-round market metrics (:mod:`.metrics`) and a
run's results (:mod:`.results`).

Layering: imports ``mechanisms``, ``agents``, ``rlhf`` (the task world's
pairs), :mod:`simulator.files` and its own modules; nothing from
``simulator.experiments``, ``simulator.analysis`` or ``simulator.app``
(``tests/test_layering.py`` checks). This ``__init__`` imports nothing:
import the modules by their full path, or the everyday names from
:mod:`simulator`. Names with a leading underscore are private to the
sub-package.
"""
