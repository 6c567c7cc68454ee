"""``python -m simulator.claims``, the README's command for the paper's
claims, kept after the code moved to :mod:`simulator.analysis.claims` (which
``python -m simulator.analysis.claims`` runs too)."""

from .analysis.claims import main

if __name__ == "__main__":
    raise SystemExit(main())
