"""Annotator agents, populations, bidding strategies and labeling behaviour
(Mesa agents). Imports Mesa and numpy only, never ``simulator`` or ``rlhf``.

Not built yet: this package is filled in by the market-simulator issue.
"""
