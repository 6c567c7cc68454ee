"""What the ``vickreyfeedback`` command line accepts: its argument parser,
one option per ``MarketConfig`` field on the commands that run markets, and
the config those options describe (:func:`config_from_args`). What each
command does is in :mod:`simulator.app.cli`."""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import fields
from pathlib import Path
from typing import NoReturn

from rlhf.settings import TrainSettings

from ..experiments.efficiency import DEFAULT_BUDGETS, DEFAULT_MECHANISMS, DEFAULT_SEEDS, TRAINERS
from ..experiments.executors import MAX_WORKERS_PER_CORE, SEQUENTIAL_MAX
from ..market.config import ConfigError, MarketConfig
from ..market.formats import parse_value

#: annotation strings (``from __future__ import annotations``) to argparse types
_FIELD_TYPES = {"int": int, "float": float, "str": str, "float | None": float}  # annotation -> type


def _value_of(option: str):
    """The argparse type of a config option: a YAML 1.2 value
    (:func:`simulator.market.formats.parse_value`: ``0.5``, ``1e3``, ``inf``,
    ``none``, ``[0.0, 0.1]``, ``{price: 0.3}``); a bad one is a usage error
    that names the option."""

    def parse(text: str):
        try:
            return parse_value(text, what=option)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix(f"{option}: ")) from None

    parse.__name__ = option
    return parse


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="a YAML/TOML/JSON config file; options below override it",
    )
    defaults = MarketConfig()
    for f in fields(MarketConfig):
        default = getattr(defaults, f.name)
        parser.add_argument(
            f"--{f.name.replace('_', '-')}",
            dest=f"cfg_{f.name}",
            type=_value_of(f"--{f.name.replace('_', '-')}"),
            default=argparse.SUPPRESS,
            metavar="VALUE",
            help=f"{f.metadata['help']} (default: {json.dumps(default, default=str)})",
        )


def config_from_args(args: argparse.Namespace) -> MarketConfig:
    """The config file (if any) with the command-line overrides applied."""
    base = MarketConfig.load(args.config) if args.config else MarketConfig()
    changes = {
        f.name: getattr(args, f"cfg_{f.name}")
        for f in fields(MarketConfig)
        if hasattr(args, f"cfg_{f.name}")
    }
    return base.replace(**changes) if changes else base


def _add_grid_options(
    p: argparse.ArgumentParser,
    *,
    mechanisms: tuple[str, str],
    budgets: tuple[str | None, str],
    seeds: int,
    out: str,
) -> None:
    """The options of a grid of markets (compare, efficiency): which mechanisms,
    budgets and seeds, where to write, and no progress bar. ``mechanisms`` and
    ``budgets`` are (default, how the help describes it)."""
    p.add_argument(
        "--mechanisms",
        default=mechanisms[0],
        help=f"comma-separated mechanism names (default: {mechanisms[1]})",
    )
    p.add_argument(
        "--budgets",
        default=budgets[0],
        help=f"comma-separated budgets in $ (default: {budgets[1]})",
    )
    p.add_argument(
        "--seeds", type=_positive("--seeds"), default=seeds,
        help=f"seeds per cell (default: {seeds})",
    )  # fmt: skip
    p.add_argument(
        "--out",
        type=Path,
        default=Path(out),
        help=f"output directory; its store/ keeps every run, so a rerun resumes (default: {out})",
    )
    _add_executor_options(p)
    _add_force_option(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_force_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--force",
        action="store_true",
        help="write into an --out that holds other results (its tables are replaced; a "
        "results store in it is kept)",
    )


def _add_executor_options(p: argparse.ArgumentParser) -> None:
    """Where the runs of a grid or sweep execute."""
    p.add_argument(
        "--workers", type=_positive("--workers"), default=None,
        help=f"worker processes, at most {MAX_WORKERS_PER_CORE} per core (default: one per core)",
    )  # fmt: skip
    p.add_argument(
        "--executor",
        choices=("sequential", "process"),
        default=None,
        help="run in this process or in a local process pool (default: a pool when more "
        f"than {SEQUENTIAL_MAX} runs are left to do)",
    )


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line (``prog: error: what is wrong``) and exit status 2,
    not argparse's whole usage block; ``--help`` shows the options."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive(name: str, kind: type = int):
    """The argparse type of an option that must be an integer >= 1 (``kind=int``)
    or a finite number > 0 (``kind=float``)."""
    allowed = "an integer >= 1" if kind is int else "a finite number > 0"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}") from None
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}")
        return value

    parse.__name__ = name
    return parse


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="vickreyfeedback",
        description="Simulate buying RLHF preference labels through auction mechanisms.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    sim = sub.add_parser(
        "simulate",
        help="run one market and save its tables",
        description="Run one market (every config field settable) and save "
        "metrics, labels and dataset as Parquet with summary.json and "
        "config.yaml.",
    )
    _add_config_options(sim)
    sim.add_argument("--out", type=Path, default=None, help="directory to save the result in")
    _add_force_option(sim)
    sim.add_argument("--quiet", action="store_true", help="no progress bar")

    cmp_ = sub.add_parser(
        "compare",
        help="every mechanism on the same market",
        description="Run every registered mechanism on the same market "
        "(common random numbers) for several seeds and budgets; print means "
        "with 95%% confidence intervals and save the table and a figure.",
    )
    _add_config_options(cmp_)
    _add_grid_options(
        cmp_,
        mechanisms=("all", "all registered"),
        budgets=(None, "the config's budget times 0.25, 0.5, 1"),
        seeds=5,
        out="results/compare",
    )

    eff = sub.add_parser(
        "efficiency",
        help="dollar-efficiency: market -> dataset -> training -> evaluation",
        description="For each mechanism, budget and seed, run the market on the RLHF task "
        "world, train on the labels it bought (proxy: a Bradley-Terry reward model on "
        "MiniLM embeddings; dpo / qa-dpo: SmolLM2 fine-tuning) and score held-out gold "
        "pairs; write a tidy table (Parquet + CSV) and a quality-vs-dollars figure.",
    )
    _add_config_options(eff)
    mechs, budgets = ",".join(DEFAULT_MECHANISMS), ",".join(f"{b:g}" for b in DEFAULT_BUDGETS)
    _add_grid_options(
        eff,
        mechanisms=(mechs, mechs),
        budgets=(budgets, budgets),
        seeds=DEFAULT_SEEDS,
        out="results/efficiency",
    )
    eff.add_argument(
        "--trainer",
        choices=TRAINERS,
        default="proxy",
        help="how bought labels become model quality (default: proxy)",
    )
    eff.add_argument(
        "--heldout",
        type=int,
        default=None,
        help="score on the first n held-out gold pairs (default: all of them)",
    )
    eff.add_argument(
        "--samples",
        type=int,
        default=0,
        help="dpo/qa-dpo: also score the fine-tuned policy's own replies to n held-out "
        "prompts: gold reward (and the reference's), KL to the reference (default: 0)",
    )
    for f in fields(TrainSettings):  # the training settings, from their own metadata
        eff.add_argument(
            "--" + f.name.replace("_", "-"),
            type=f.type if isinstance(f.type, type) else _FIELD_TYPES[f.type],
            default=None,
            help=f"dpo/qa-dpo: {TrainSettings.help(f.name)}",
        )

    mech = sub.add_parser(
        "mechanisms",
        help="list the registered mechanisms with their properties",
        description="Print every registered mechanism with its properties (Properties) and "
        "source. To compare them on a market, use `vickreyfeedback compare`.",
    )
    mech.add_argument(
        "--list-only", action="store_true", help="accepted for compatibility; the table is all"
    )

    swp = sub.add_parser(
        "sweep",
        help="run a parameter sweep (a design file) into a results store",
        description="Run every cell x replication of a design file (YAML or JSON: base, "
        "grid, sample, configs, replications, seed; see experiments/) in parallel and "
        "store each run as Parquet shards under --out. Runs already stored are skipped, "
        "so rerunning after a crash or Ctrl-C resumes; failed runs are stored with their "
        "error.",
    )
    swp.add_argument("design", type=Path, help="the design file (.yaml or .json)")
    swp.add_argument("--out", type=Path, required=True, help="the results store (a directory)")
    _add_executor_options(swp)
    swp.add_argument(
        "--scheduler",
        default=None,
        help="'local-dask' for a local Dask cluster, or a Dask scheduler address such as "
        "tcp://host:8786 (needs the dask extra); default: a local process pool "
        "(in-process for at most 4 runs)",
    )
    swp.add_argument(
        "--replications", type=int, default=None, help="override the design's replications"
    )
    swp.add_argument(
        "--run-fn",
        default=None,
        help="'module:function' run for each config (default: the design's, else "
        "simulator.sweeps:run_market)",
    )
    swp.add_argument(
        "--tables",
        default=None,
        help="comma-separated tables to keep per run: rounds (always), labels, dataset",
    )
    swp.add_argument("--retry-failed", action="store_true", help="rerun stored runs that failed")
    swp.add_argument(
        "--force", action="store_true",
        help="make the store in an --out that is not empty and not a store",
    )  # fmt: skip
    swp.add_argument(
        "--timeout", type=_positive("--timeout", float), default=None,
        help="seconds a run may take; a run past it is stored as failed (default: no limit)",
    )  # fmt: skip
    swp.add_argument("--quiet", action="store_true", help="no progress bar")

    rep = sub.add_parser(
        "report",
        help="per-cell means with 95%% CIs and the standard figures of a results store",
        description="Print each cell's mean and 95%% confidence interval (over "
        "replications) of the headline metrics, and write cells.csv/.parquet and the "
        "standard figures (PNG + SVG) into --out.",
    )
    rep.add_argument("store", type=Path, help="a results store written by `sweep`")
    rep.add_argument(
        "--out", type=Path, default=None, help="output directory (default: STORE/report)"
    )
    rep.add_argument(
        "--metrics",
        default=None,
        help="comma-separated metrics for the table (default: the headline metrics)",
    )
    rep.add_argument("--no-figures", action="store_true", help="only the table")
    _add_force_option(rep)

    dash = sub.add_parser(
        "dashboard",
        help="an interactive market in the browser (Mesa SolaraViz)",
        description="Serve the interactive market (simulator/app/dashboard.py, a Mesa SolaraViz "
        "app): knobs for the mechanism, budget, k, population, cost-quality correlation, "
        "strategy mix and seed (applied on Reset); Step / play / pause; per-round plots "
        "and the latest round's winners. Open the printed address in a browser; Ctrl-C "
        "stops the server.",
    )
    dash.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    dash.add_argument("--port", type=int, default=8765, help="port (%(default)s; 0: any free)")
    dash.add_argument("--open", action="store_true", help="open a browser tab")
    return parser
