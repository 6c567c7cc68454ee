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
import math
import os
import sys
from pathlib import Path

import pandas as pd

from rlhf.settings import TrainSettings

from ..experiments.compare import mechanism_table
from ..experiments.executors import check_workers
from ..experiments.runfns import SweepError
from ..experiments.store import is_store
from .outputs import claim_out
from .parser import _parser, config_from_args


def _cmd_simulate(args) -> int:
    from ..market.results import run

    config = config_from_args(args)
    if args.out is not None:
        claim_out(args.out, {"command": "simulate", "config": config.to_dict()}, force=args.force)
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


def _budgets(text: str) -> list[float]:
    """``--budgets``: comma-separated dollar amounts, each > 0 and finite."""
    out = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            raise ValueError(
                f"--budgets: {part.strip()!r} is not a number; give comma-separated dollar "
                "amounts such as 100,200"
            ) from None
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"--budgets: each budget must be > 0 and finite, got {part.strip()}")
        out.append(value)
    return out


def _grid_store(args, spec: dict) -> Path:
    """The grid's results store, ``OUT/store``, made before any run so that an
    unusable ``--out`` fails at once (:func:`~simulator.app.outputs.claim_out`);
    a rerun into the same ``--out`` resumes."""
    claim_out(args.out, spec, force=args.force)
    store = args.out / "store"
    try:
        store.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"--out: cannot write to {args.out}: {exc.strerror or exc}") from None
    return store


def _cmd_compare(args) -> int:
    from ..analysis.plots import cost_vs_budget, save
    from ..experiments.compare import compare_design, format_table, summary_table
    from ..experiments.sweep import run_grid

    config = config_from_args(args)
    names = _mechanism_names(args.mechanisms)
    budgets = (
        _budgets(args.budgets) if args.budgets else [config.budget * f for f in (0.25, 0.5, 1.0)]
    )
    check_workers(args.workers)
    design = compare_design(config, mechanism_names=names, seeds=args.seeds, budgets=budgets)
    spec = {"command": "compare", "config": config.to_dict(), "mechanisms": names,
            "budgets": budgets, "seeds": args.seeds}  # fmt: skip
    store = _grid_store(args, spec)  # after every check: a bad option leaves no directory
    runs = run_grid(design, store=store, executor=args.executor, workers=args.workers,
                    progress=not args.quiet)  # fmt: skip
    top = max(budgets)
    table = summary_table(runs, budget=top)
    sellers = (
        f"{config.n_providers} providers"
        if config.market == "responses"
        else f"{config.n_annotators} annotators"
    )
    print(
        f"\n{len(names)} mechanisms x {args.seeds} seeds, budget ${top:,.0f}, "
        f"{sellers}, k={config.k}: mean [95% CI]\n"
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
    from ..analysis.statistics import marginal_efficiency
    from ..experiments.efficiency import budget_curve, efficiency_design
    from ..experiments.sweep import run_grid
    from ..files import atomic_write

    config = config_from_args(args)
    names = _mechanism_names(args.mechanisms)
    budgets = _budgets(args.budgets)
    train = TrainSettings().replace(
        **{n: getattr(args, n) for n in TrainSettings.names() if getattr(args, n) is not None}
    )
    check_workers(args.workers)
    design = efficiency_design(config, mechanism_names=names, budgets=budgets, seeds=args.seeds,
                               trainer=args.trainer, settings=train, heldout=args.heldout,
                               samples=args.samples)  # fmt: skip
    spec = {"command": "efficiency", "config": config.to_dict(), "mechanisms": names,
            "budgets": budgets, "seeds": args.seeds, "trainer": args.trainer,
            "settings": dataclasses.asdict(train.resolved())}  # fmt: skip
    if args.heldout is not None or args.samples:
        spec.update(heldout=args.heldout, samples=args.samples)
    store = _grid_store(args, spec)  # after every check: a bad option leaves no directory
    cells = run_grid(design, store=store, executor=args.executor, workers=args.workers,
                     progress=not args.quiet)  # fmt: skip
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
            "quality": _with_interval(
                table.quality_after, table.quality_after_lo, table.quality_after_hi, 3
            ),
            "gain per $": _with_interval(
                table.per_dollar, table.per_dollar_lo, table.per_dollar_hi, 5
            ),
        }
    )
    print(show.to_string(index=False))
    if args.trainer != "proxy":
        _print_fine_tuned(cells)
    marginal = marginal_efficiency(cells)
    if len(marginal):
        print(
            "\nMarginal efficiency: quality gained per extra dollar between consecutive "
            "budgets (paired over seeds; the average 'gain per $' above favours whoever "
            "spends least)\n"
        )
        print(
            pd.DataFrame(
                {
                    "mechanism": marginal.mechanism,
                    "budgets": [f"${a:,.0f} -> ${b:,.0f}" for a, b in
                                zip(marginal.budget_from, marginal.budget_to, strict=True)],
                    "spent": [f"${a:,.2f} -> ${b:,.2f}" for a, b in
                              zip(marginal.spend_from, marginal.spend_to, strict=True)],
                    "marginal gain per $": _with_interval(
                        marginal.marginal, marginal.marginal_lo, marginal.marginal_hi, 5),
                }
            ).to_string(index=False)
        )  # fmt: skip
    atomic_write(args.out / "marginal.csv", lambda p: marginal.to_csv(p, index=False))
    atomic_write(args.out / "cells.parquet", lambda p: cells.to_parquet(p, index=False))
    atomic_write(args.out / "cells.csv", lambda p: cells.to_csv(p, index=False))
    atomic_write(args.out / "curve.csv", lambda p: table.to_csv(p, index=False))
    config.save(args.out / "config.yaml")
    settings = {
        "trainer": args.trainer,
        "mechanisms": names,
        "budgets": budgets,
        "seeds": args.seeds,
        **dataclasses.asdict(train.resolved()),
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
        f"\nwrote {args.out}/cells.parquet, cells.csv, curve.csv, marginal.csv, config.yaml, "
        "settings.json, "
        "store/, " + ", ".join(p.name for p in figs)
    )
    return 0


def _with_interval(mean, lo, hi, digits: int) -> list[str]:
    """:func:`~simulator.analysis.statistics.format_interval` per row."""
    from ..analysis.statistics import format_interval

    return [format_interval(m, a, b, digits) for m, a, b in zip(mean, lo, hi, strict=True)]


def _print_fine_tuned(cells: pd.DataFrame) -> None:
    """The fine-tuned model's scores next to the proxy's, per mechanism and budget."""
    from ..experiments.efficiency import budget_curve

    def ci(col: str, digits: int = 3) -> pd.Series:
        c = budget_curve(cells, y=col)
        return pd.Series(_with_interval(c[col], c[f"{col}_lo"], c[f"{col}_hi"], digits))

    base = budget_curve(cells, y="n_pairs")
    table = pd.DataFrame(
        {"mechanism": base.mechanism, "budget": base.budget.map(lambda b: f"${b:,.0f}"),
         "pairs": base.n_pairs.map(lambda n: f"{n:.0f}"),
         "implicit-reward acc": ci("quality_after"), "proxy acc (screen)": ci("proxy_after")}
    )  # fmt: skip
    if "gold_reward" in cells:
        table["gold reward of samples"] = ci("gold_reward")
        table["reference's"] = ci("gold_reward_before")
        table["KL"] = ci("kl")
    print(
        "\nThe fine-tuned model next to the proxy (the proxy is a quick screen: a "
        "Bradley-Terry model on frozen MiniLM embeddings of the same pairs); mean [95% CI]\n"
    )
    print(table.to_string(index=False))
    from ..analysis.statistics import rank_agreement

    tuned, proxy = budget_curve(cells, y="quality_after"), budget_curve(cells, y="proxy_after")
    agree = rank_agreement(proxy.proxy_after, tuned.quality_after)
    if agree["n"] < 4:
        return  # no interval on fewer than 4 cells: nothing to say
    print(
        f"\nDoes the proxy rank the cells as the fine-tuned model does? Spearman rho over "
        f"{agree['n']} (mechanism, budget) cells: {agree['rho']:.2f} "
        f"[{agree['lo']:.2f}, {agree['hi']:.2f}] (95% CI, Fisher z)"
    )


def _cmd_mechanisms(args) -> int:
    print("Registered mechanisms\n")
    print(mechanism_table().to_string(index=False))
    print("\nCompare them on a market: vickreyfeedback compare --mechanisms all")
    return 0


def _cmd_sweep(args) -> int:
    from ..experiments.sweep import sweep

    if args.scheduler and args.executor:
        raise ValueError("--scheduler: give --scheduler or --executor, not both")
    if not args.design.is_file():
        raise ValueError(f"design: {args.design} is not a design file")
    out = args.out
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out: {out} is a file, not a results store (a directory)")
    if out.is_dir() and any(out.iterdir()) and not is_store(out) and not args.force:
        raise ValueError(
            f"--out: {out} is not empty and not a results store; choose a new or empty "
            "directory, or pass --force to make a store in it (its files are never touched; "
            "a file under runs/ that is in the way moves to quarantine/)"
        )
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
            timeout=args.timeout,
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
    from ..experiments.store import factors as store_factors
    from ..market.results import ALL_HEADLINES

    # no --metrics: the store's market's headline figures
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    out = args.out or args.store / "report"
    if not is_store(args.store):
        raise ValueError(f"store: {args.store} is not a results store (one written by `sweep`)")
    from ..analysis.report import check_metrics

    if args.metrics:
        check_metrics(args.store, metrics)  # before --out is claimed
    spec = {"command": "report", "store": str(args.store.resolve()),
            "metrics": metrics or "headlines",
            "figures": not args.no_figures}  # fmt: skip
    claim_out(out, spec, force=args.force)
    try:
        table, paths = report(args.store, out, metrics=metrics, figures=not args.no_figures)
    except SweepError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    by = store_factors(args.store)
    n_runs = int(table.runs.sum() + table.failed.sum())
    print(f"{args.store}: {len(table)} cells, {n_runs} runs; mean [95% CI] over replications\n")
    print(format_cells(table, by, metrics or ALL_HEADLINES))
    print(f"\nwrote {out}/cells.csv, cells.parquet" + "".join(f", {p.name}" for p in paths))
    return 0


def _cmd_dashboard(args) -> int:
    import importlib.util

    if importlib.util.find_spec("solara") is None:
        print(
            "error: the dashboard needs solara (the mesa[viz] extra): "
            "pip install 'mesa[viz]>=3.3,<4' 'solara[assets]==1.58.2' 'ipyvuetify<2'",
            file=sys.stderr,
        )
        return 1
    from .serve import dashboard_command, serve

    dashboard_command(args.host, args.port, args.open)  # bad --host / --port: one line, now
    print(f"serving the market dashboard on http://{args.host}:{args.port} (Ctrl-C stops it; "
          "it contacts nothing outside this machine)")  # fmt: skip
    return serve(args.host, args.port, args.open)


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
    except (ValueError, SweepError) as err:  # what the user can fix: one line, no traceback
        print(f"error: {_one_line(err)}", file=sys.stderr)
        return 2 if isinstance(err, ValueError) else 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as err:  # the disk, the network: name the file
        where = f"{err.filename}: " if getattr(err, "filename", None) else ""
        print(f"error: {where}{err.strerror or err}", file=sys.stderr)
        return 1
    except Exception as err:
        if os.environ.get("VICKREYFEEDBACK_DEBUG"):
            raise
        print(
            f"error: internal error {type(err).__name__}: {_one_line(err)} (a bug: please "
            "report it; VICKREYFEEDBACK_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return 1


def _one_line(err: BaseException) -> str:
    """An exception's message on one line."""
    return " ".join(str(err).split()) or type(err).__name__
