"""The ``vickreyfeedback`` command line."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

import pandas as pd

from .demo import DemoConfig, compare_mechanisms, mechanism_table, save_comparison


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vickreyfeedback",
        description="Simulate buying RLHF preference labels through auction mechanisms.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    mech = sub.add_parser(
        "mechanisms",
        help="list the mechanisms and compare them on one batch of tasks",
        description="Print every registered mechanism with its properties, then run all of "
        "them on the same tasks (common random numbers, truthful annotators) and print "
        "and save the comparison.",
    )
    defaults = DemoConfig()
    for f in fields(DemoConfig):
        mech.add_argument(
            f"--{f.name.replace('_', '-')}",
            type=type(getattr(defaults, f.name)),
            default=getattr(defaults, f.name),
            help=f"(default: {getattr(defaults, f.name)})",
        )
    mech.add_argument(
        "--out",
        type=Path,
        default=None,
        help="directory for comparison.parquet/.csv/.png and config.json",
    )
    mech.add_argument("--list-only", action="store_true", help="only print the mechanism table")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    pd.set_option("display.width", 160)
    pd.set_option("display.max_columns", 20)
    if args.command == "mechanisms":
        print("Registered mechanisms\n")
        print(mechanism_table().to_string(index=False))
        if args.list_only:
            return 0
        config = DemoConfig(**{f.name: getattr(args, f.name) for f in fields(DemoConfig)})
        table = compare_mechanisms(config)
        print(
            f"\nComparison: {config.tasks:,} tasks, {config.annotators} annotators, "
            f"k={config.k}, reserve ${config.reserve:.2f}, seed {config.seed}\n"
        )
        print(table.to_string(index=False, float_format=lambda x: f"{x:,.4f}"))
        print(
            "\nAll annotators ask their true cost. That is a dominant strategy only where "
            "truthful=True;\nunder the other rules real bidders would ask more (the market "
            "simulator models that)."
        )
        if args.out is not None:
            paths = save_comparison(table, config, args.out)
            print("\nwrote " + ", ".join(str(p) for p in paths))
    return 0
