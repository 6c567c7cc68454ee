"""The ``vickreyfeedback`` command line.

Commands:
    simulate     run one market and save its tables
    compare      every mechanism on the same market, several seeds and budgets
    efficiency   dollar-efficiency: market -> dataset -> training -> evaluation
    mechanisms   list the registered mechanisms with their properties
    sweep        run a design file into a crash-safe results store
    report       per-cell means with 95% CIs and the standard figures of a store
    dashboard    the interactive SolaraViz market (local web server)

What each command accepts is in :mod:`simulator.app.parser`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import pandas as pd

from rlhf.settings import TrainSettings

from ..experiments.compare import mechanism_table
from .parser import _parser, config_from_args


def _cmd_simulate(args) -> int:
    from ..market.results import run

    config = config_from_args(args)
    result = run(config, progress=not args.quiet)
    print(json.dumps({k: v for k, v in result.summary.items()}, indent=2, default=float))
    if args.out is not None:
        result.save(args.out)
        print(f"saved to {args.out}")
    return 0


def _mechanism_names(text: str) -> list[str]:
    import mechanisms

    from ..experiments.compare import check_mechanisms

    names = mechanisms.available() if text == "all" else [m.strip() for m in text.split(",")]
    if "" in names:
        raise ValueError(f"mechanisms: an empty name in {text!r}; give comma-separated names")
    check_mechanisms(names)
    return names


def _grid_store(args) -> Path:
    """The grid's results store, ``OUT/store``, made before any run so that an
    unusable ``--out`` fails at once; a rerun into the same ``--out`` resumes."""
    store = args.out / "store"
    try:
        store.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"--out: cannot write to {args.out}: {exc.strerror or exc}") from None
    return store


def _cmd_compare(args) -> int:
    from ..analysis.plots import cost_vs_budget, save
    from ..experiments.compare import compare_runs, format_table, summary_table

    config = config_from_args(args)
    names = _mechanism_names(args.mechanisms)
    budgets = (
        [float(b) for b in args.budgets.split(",")]
        if args.budgets
        else [config.budget * f for f in (0.25, 0.5, 1.0)]
    )
    runs = compare_runs(
        config, mechanism_names=names, seeds=args.seeds, budgets=budgets,
        store=_grid_store(args), executor=args.executor, workers=args.workers,
        progress=not args.quiet,
    )  # fmt: skip
    top = max(budgets)
    table = summary_table(runs, budget=top)
    print(
        f"\n{len(names)} mechanisms x {args.seeds} seeds, budget ${top:,.0f}, "
        f"{config.n_annotators} annotators, k={config.k}: mean [95% CI]\n"
    )
    print(format_table(table))
    from ..files import atomic_write

    atomic_write(args.out / "runs.parquet", lambda p: runs.to_parquet(p, index=False))
    atomic_write(args.out / "table.parquet", lambda p: table.to_parquet(p, index=False))
    atomic_write(args.out / "table.csv", lambda p: table.to_csv(p, index=False))
    config.save(args.out / "config.yaml")
    figs = save(cost_vs_budget(runs), args.out / "accuracy_cost_vs_budget")
    print(
        f"\nwrote {args.out}/runs.parquet, table.parquet, table.csv, config.yaml, store/, "
        + ", ".join(p.name for p in figs)
    )
    return 0


def _cmd_efficiency(args) -> int:
    from ..analysis.plots import quality_vs_dollars, save
    from ..experiments.efficiency import budget_curve, efficiency_runs
    from ..files import atomic_write

    config = config_from_args(args)
    names = _mechanism_names(args.mechanisms)
    budgets = [float(b) for b in args.budgets.split(",")]
    train = TrainSettings().replace(
        **{n: getattr(args, n) for n in TrainSettings.names() if getattr(args, n) is not None}
    )
    cells = efficiency_runs(
        config, mechanism_names=names, budgets=budgets, seeds=args.seeds, trainer=args.trainer,
        settings=train, store=_grid_store(args), executor=args.executor, workers=args.workers,
        progress=not args.quiet,
    )  # fmt: skip
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
    atomic_write(args.out / "cells.parquet", lambda p: cells.to_parquet(p, index=False))
    atomic_write(args.out / "cells.csv", lambda p: cells.to_csv(p, index=False))
    atomic_write(args.out / "curve.csv", lambda p: table.to_csv(p, index=False))
    config.save(args.out / "config.yaml")
    settings = {
        "trainer": args.trainer,
        "mechanisms": names,
        "budgets": budgets,
        "seeds": args.seeds,
        **dataclasses.asdict(train),
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
        "store/, " + ", ".join(p.name for p in figs)
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
