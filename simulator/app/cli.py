"""The ``vickreyfeedback`` command line.

Commands:
    simulate     run one market and save its tables
    compare      every mechanism on the same market, several seeds and budgets
    efficiency   dollar-efficiency: market -> dataset -> training -> evaluation
    mechanisms   list the registered mechanisms with their properties
    sweep        run a design file into a crash-safe results store
    report       per-cell means with 95% CIs and the standard figures of a store
    dashboard    the interactive SolaraViz market (local web server)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import fields
from pathlib import Path

import pandas as pd
import yaml

from ..experiments.compare import mechanism_table
from ..experiments.efficiency import DEFAULT_BUDGETS, DEFAULT_MECHANISMS, DEFAULT_SEEDS, TRAINERS
from ..market.config import MarketConfig


def _parse_value(text: str):
    """A config value from the command line: YAML scalars, lists and dicts
    (``0.5``, ``inf``, ``none``, ``[0.0, 0.1]``, ``{price: 0.3}``)."""
    low = text.strip().lower()
    if low in ("inf", "+inf", "infinity"):
        return float("inf")
    if low in ("none", "null"):
        return None
    return yaml.safe_load(text)


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
            type=_parse_value,
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    sim.add_argument("--quiet", action="store_true", help="no progress bar")

    cmp_ = sub.add_parser(
        "compare",
        help="every mechanism on the same market",
        description="Run every registered mechanism on the same market "
        "(common random numbers) for several seeds and budgets; print means "
        "with 95%% confidence intervals and save the table and a figure.",
    )
    _add_config_options(cmp_)
    cmp_.add_argument(
        "--mechanisms",
        default="all",
        help="comma-separated mechanism names (default: all registered)",
    )
    cmp_.add_argument("--seeds", type=int, default=5, help="seeds per cell (default: 5)")
    cmp_.add_argument(
        "--budgets",
        default=None,
        help="comma-separated budgets in $ for the figure (default: the config's "
        "budget times 0.25, 0.5, 1)",
    )
    cmp_.add_argument(
        "--out",
        type=Path,
        default=Path("results/compare"),
        help="output directory (default: results/compare)",
    )
    cmp_.add_argument("--quiet", action="store_true", help="no progress bar")

    eff = sub.add_parser(
        "efficiency",
        help="dollar-efficiency: market -> dataset -> training -> evaluation",
        description="For each mechanism, budget and seed, run the market on the RLHF task "
        "world, train on the labels it bought (proxy: a Bradley-Terry reward model on "
        "MiniLM embeddings; dpo / qa-dpo: SmolLM2 fine-tuning) and score held-out gold "
        "pairs; write a tidy table (Parquet + CSV) and a quality-vs-dollars figure.",
    )
    _add_config_options(eff)
    eff.add_argument(
        "--mechanisms",
        default=",".join(DEFAULT_MECHANISMS),
        help="comma-separated mechanism names (default: %(default)s)",
    )
    eff.add_argument(
        "--budgets",
        default=",".join(f"{b:g}" for b in DEFAULT_BUDGETS),
        help="comma-separated budgets in $ (default: %(default)s)",
    )
    eff.add_argument(
        "--seeds", type=int, default=DEFAULT_SEEDS, help="seeds per cell (default: %(default)s)"
    )
    eff.add_argument(
        "--trainer",
        choices=TRAINERS,
        default="proxy",
        help="how bought labels become model quality (default: proxy)",
    )
    eff.add_argument(
        "--out",
        type=Path,
        default=Path("results/efficiency"),
        help="output directory (default: results/efficiency)",
    )
    eff.add_argument("--epochs", type=int, default=2, help="dpo/qa-dpo: epochs (default: 2)")
    eff.add_argument(
        "--lr", type=float, default=5e-6, help="dpo/qa-dpo: learning rate (default: 5e-6)"
    )
    eff.add_argument("--beta", type=float, default=0.1, help="dpo/qa-dpo: DPO beta (default: 0.1)")
    eff.add_argument("--quiet", action="store_true", help="no progress bar")

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
    swp.add_argument(
        "--workers", type=int, default=None, help="worker processes (default: one per core)"
    )
    swp.add_argument(
        "--scheduler",
        default=None,
        help="'local-dask' for a local Dask cluster, or a Dask scheduler address such as "
        "tcp://host:8786 (needs the dask extra); default: a local process pool "
        "(in-process for at most 4 runs)",
    )
    swp.add_argument(
        "--executor",
        choices=("sequential", "process"),
        default=None,
        help="run in this process or in a local process pool (default: chosen by size)",
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

    dash = sub.add_parser(
        "dashboard",
        help="an interactive market in the browser (Mesa SolaraViz)",
        description="Serve the interactive market (simulator/dashboard.py, a Mesa SolaraViz "
        "app): knobs for the mechanism, budget, k, population, cost-quality correlation, "
        "strategy mix and seed (applied on Reset); Step / play / pause; per-round plots "
        "and the latest round's winners. Open the printed address in a browser; Ctrl-C "
        "stops the server.",
    )
    dash.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    dash.add_argument("--port", type=int, default=8765, help="port (%(default)s; 0: any free)")
    dash.add_argument("--open", action="store_true", help="open a browser tab")
    return parser


def _cmd_simulate(args) -> int:
    from ..market.results import run

    config = config_from_args(args)
    result = run(config, progress=not args.quiet)
    print(json.dumps({k: v for k, v in result.summary.items()}, indent=2, default=float))
    if args.out is not None:
        result.save(args.out)
        print(f"saved to {args.out}")
    return 0


def _cmd_compare(args) -> int:
    import mechanisms

    from ..analysis.plots import cost_vs_budget, save
    from ..experiments.compare import compare_runs, format_table, summary_table

    config = config_from_args(args)
    names = (
        mechanisms.available()
        if args.mechanisms == "all"
        else [m.strip() for m in args.mechanisms.split(",") if m.strip()]
    )
    for name in names:
        if name not in mechanisms.available():
            raise SystemExit(
                f"unknown mechanism {name!r}; known: {', '.join(mechanisms.available())}"
            )
    budgets = (
        [float(b) for b in args.budgets.split(",")]
        if args.budgets
        else [config.budget * f for f in (0.25, 0.5, 1.0)]
    )
    runs = compare_runs(
        config, mechanism_names=names, seeds=args.seeds, budgets=budgets, progress=not args.quiet
    )
    top = max(budgets)
    table = summary_table(runs, budget=top)
    print(
        f"\n{len(names)} mechanisms x {args.seeds} seeds, budget ${top:,.0f}, "
        f"{config.n_annotators} annotators, k={config.k}: mean [95% CI]\n"
    )
    print(format_table(table))
    args.out.mkdir(parents=True, exist_ok=True)
    from ..files import atomic_write

    atomic_write(args.out / "runs.parquet", lambda p: runs.to_parquet(p, index=False))
    atomic_write(args.out / "table.parquet", lambda p: table.to_parquet(p, index=False))
    atomic_write(args.out / "table.csv", lambda p: table.to_csv(p, index=False))
    config.save(args.out / "config.yaml")
    figs = save(cost_vs_budget(runs), args.out / "accuracy_cost_vs_budget")
    print(
        f"\nwrote {args.out}/runs.parquet, table.parquet, table.csv, config.yaml, "
        + ", ".join(p.name for p in figs)
    )
    return 0


def _cmd_efficiency(args) -> int:
    from ..analysis.plots import quality_vs_dollars, save
    from ..experiments.efficiency import budget_curve, efficiency_runs
    from ..files import atomic_write

    config = config_from_args(args)
    names = [m.strip() for m in args.mechanisms.split(",") if m.strip()]
    budgets = [float(b) for b in args.budgets.split(",")]
    cells = efficiency_runs(
        config,
        mechanism_names=names,
        budgets=budgets,
        seeds=args.seeds,
        trainer=args.trainer,
        progress=not args.quiet,
        epochs=args.epochs,
        lr=args.lr,
        beta=args.beta,
    )
    curve = budget_curve(cells)
    per_dollar = budget_curve(cells, y="per_dollar")
    table = curve.merge(
        per_dollar[["mechanism", "budget", "per_dollar", "per_dollar_lo", "per_dollar_hi"]],
        on=["mechanism", "budget"],
    )
    quality = (
        "held-out preference accuracy of the proxy reward model"
        if args.trainer == "proxy"
        else f"held-out implicit-reward accuracy after {args.trainer}"
    )
    print(
        f"\nDollar-efficiency ({args.trainer}): quality = {quality}; "
        f"{args.seeds} seeds per cell, mean [95% CI]\n"
    )
    show = pd.DataFrame(
        {
            "mechanism": table.mechanism,
            "budget": table.budget.map(lambda b: f"${b:,.0f}"),
            "spent": table.spend.map(lambda x: f"${x:,.2f}"),
            "quality": [
                f"{m:.3f} [{lo:.3f}, {hi:.3f}]"
                for m, lo, hi in zip(
                    table.quality_after, table.quality_after_lo, table.quality_after_hi, strict=True
                )
            ],
            "gain per $": [
                f"{m:.5f} [{lo:.5f}, {hi:.5f}]"
                for m, lo, hi in zip(
                    table.per_dollar, table.per_dollar_lo, table.per_dollar_hi, strict=True
                )
            ],
        }
    )
    print(show.to_string(index=False))
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out / "cells.parquet", lambda p: cells.to_parquet(p, index=False))
    atomic_write(args.out / "cells.csv", lambda p: cells.to_csv(p, index=False))
    atomic_write(args.out / "curve.csv", lambda p: table.to_csv(p, index=False))
    config.save(args.out / "config.yaml")
    settings = {
        "trainer": args.trainer,
        "mechanisms": names,
        "budgets": budgets,
        "seeds": args.seeds,
        "epochs": args.epochs,
        "lr": args.lr,
        "beta": args.beta,
    }
    atomic_write(
        args.out / "settings.json",
        lambda p: Path(p).write_text(json.dumps(settings, indent=2) + "\n"),
    )
    ylabel = (
        "held-out accuracy (proxy reward model)"
        if args.trainer == "proxy"
        else f"held-out accuracy (implicit reward, {args.trainer})"
    )
    figs = save(quality_vs_dollars(curve, ylabel=ylabel), args.out / "quality_vs_dollars")
    print(
        f"\nwrote {args.out}/cells.parquet, cells.csv, curve.csv, config.yaml, settings.json, "
        + ", ".join(p.name for p in figs)
    )
    return 0


def _cmd_mechanisms(args) -> int:
    print("Registered mechanisms\n")
    print(mechanism_table().to_string(index=False))
    print("\nCompare them on a market: vickreyfeedback compare --mechanisms all")
    return 0


def _cmd_sweep(args) -> int:
    from ..experiments.runfns import SweepError
    from ..experiments.sweep import sweep

    if args.scheduler and args.executor:
        raise SystemExit("give --scheduler or --executor, not both")
    if not args.design.exists():
        raise SystemExit(f"{args.design}: no such design file")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # like `python -m`: run functions of the cwd import
    try:
        outcome = sweep(
            args.design,
            store=args.out,
            executor=args.scheduler or args.executor,
            workers=args.workers,
            replications=args.replications,
            run_fn=args.run_fn,
            tables=args.tables.split(",") if args.tables else None,
            retry_failed=args.retry_failed,
            progress=not args.quiet,
        )
    except SweepError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    o = outcome
    print(
        f"{o.planned} runs in the design: {o.skipped} already stored, {o.ran} run now "
        f"({o.failed} failed), {o.recovered} recovered, {o.repaired} repaired, "
        f"{o.lost} lost; "
        f"{o.elapsed_s:.1f} s on {o.executor}. Store: {o.store}"
    )
    if o.failed:
        print(
            f"{o.failed} run(s) failed; their errors are in the table "
            f"(load_results('{o.store}').query('status == \"error\"')); "
            "rerun with --retry-failed to try them again",
            file=sys.stderr,
        )
    print(f"next: vickreyfeedback report {o.store}")
    return 0


def _cmd_report(args) -> int:
    from ..analysis.report import report
    from ..analysis.statistics import format_cells
    from ..experiments.runfns import SweepError
    from ..experiments.store import factors as store_factors
    from ..market.results import HEADLINES

    metrics = (
        [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else HEADLINES
    )
    try:
        table, paths = report(args.store, args.out, metrics=metrics, figures=not args.no_figures)
    except SweepError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    by = store_factors(args.store)
    n_runs = int(table.runs.sum() + table.failed.sum())
    print(f"{args.store}: {len(table)} cells, {n_runs} runs; mean [95% CI] over replications\n")
    print(format_cells(table, by, metrics))
    out = args.out or args.store / "report"
    print(f"\nwrote {out}/cells.csv, cells.parquet" + "".join(f", {p.name}" for p in paths))
    return 0


def _cmd_dashboard(args) -> int:
    import importlib.util
    import subprocess

    if importlib.util.find_spec("solara") is None:
        print(
            "error: the dashboard needs solara (the mesa[viz] extra): "
            "pip install 'mesa[viz]>=3.3,<4' 'solara[assets]==1.58.2' 'ipyvuetify<2'",
            file=sys.stderr,
        )
        return 1
    cmd = [
        sys.executable, "-m", "solara", "run", "simulator.app.dashboard", "--production",
        "--host", args.host, "--port", str(args.port), "--open" if args.open else "--no-open",
    ]  # fmt: skip
    print(f"serving the market dashboard on http://{args.host}:{args.port} (Ctrl-C stops it)")
    try:
        return subprocess.call(cmd)
    except KeyboardInterrupt:
        return 130


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 30)
    commands = {
        "simulate": _cmd_simulate,
        "compare": _cmd_compare,
        "efficiency": _cmd_efficiency,
        "mechanisms": _cmd_mechanisms,
        "sweep": _cmd_sweep,
        "report": _cmd_report,
        "dashboard": _cmd_dashboard,
    }
    try:
        return commands[args.command](args)
    except ValueError as err:  # config errors: say what is wrong, no traceback
        print(f"error: {err}", file=sys.stderr)
        return 2
