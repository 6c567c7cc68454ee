"""The user-facing front ends: the ``vickreyfeedback`` command line
(:mod:`.cli`, its arguments in :mod:`.parser`) and the interactive SolaraViz
market (:mod:`.dashboard`).

Layering: may import every sub-package of ``simulator``; nothing in the
project imports it but :mod:`simulator.__main__` (``tests/test_layering.py``
checks). This ``__init__`` imports nothing, so that the command line never
loads the dashboard's web stack.
"""
