"""The user-facing front ends: the ``vickreyfeedback`` command line
(:mod:`.cli`) and the interactive SolaraViz market (:mod:`.dashboard`).

Layering: may import every other part of ``simulator``; nothing in the
project imports it but :mod:`simulator.__main__`. This ``__init__`` imports
nothing, so that the command line never loads the dashboard's web stack.
"""
