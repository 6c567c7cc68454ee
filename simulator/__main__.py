"""``python -m simulator``: the ``vickreyfeedback`` command line
(:mod:`simulator.app.cli`)."""

from .app.cli import main

raise SystemExit(main())
