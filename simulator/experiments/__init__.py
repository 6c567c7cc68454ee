"""Many markets: sweep designs (:mod:`.design`, made of the dotted config
changes of :mod:`.changes` and the samples of :mod:`.sampling`), the run
functions a sweep calls (:mod:`.runfns`), running one run into its shards
(:mod:`.runner`), the results store's index on disk (:mod:`.manifest`) and
reading the store back (:mod:`.store`), executors
(:mod:`.executors`) and :func:`~simulator.experiments.sweep.sweep` itself
(:mod:`.sweep`); plus the fixed grids of markets behind ``vickreyfeedback
compare`` (:mod:`.compare`) and ``vickreyfeedback efficiency``
(:mod:`.efficiency`).

Layering: imports ``simulator.market``, ``simulator.analysis.statistics``,
:mod:`simulator.files` and its own modules; never the rest of
``simulator.analysis`` or ``simulator.app`` (``tests/test_layering.py`` checks).

This ``__init__`` imports nothing: the module :mod:`.sweep` and the function
``sweep`` share a name, and re-exporting the function here would hide the
module. Import from the modules, or the everyday names from :mod:`simulator`
(:mod:`simulator.sweeps` keeps the names of the flat module this was). Names
with a leading underscore are private to the sub-package.
"""
