"""Response market against label market: time of a run of the same size.

Target (issue "Response market"): a response-market run with 1,000 prompts,
8 providers per prompt and k = 2 takes at most 2x the time of a label-market
run of the same number of tasks, the ratio measured in one run.

- Response market (``ResponseMarket``): 1,000 prompts in 5 rounds of 200, 8
  providers (one per persona of the shipped pool), all 8 bid on every prompt,
  k = 2, pairs ordered by the bids, honest claims, budget $1,000,000 and a
  $10 reserve (neither binds: every prompt is posted and bought, and every
  cost is below the reserve). The shipped pool
  has 320 training prompts, so the benchmark's pool repeats them with distinct
  prompt strings ("<prompt> (copy 2)", ...) up to 1,000, keeping each reply's
  text, gold reward, length and truncation.
- Label market (``MarketModel``): 1,000 synthetic tasks in 5 rounds of 200,
  8 bidders per task, k = 2, 100 annotators (capacity 20: 2,000 bid slots for
  the 1,600 a round needs), budget $1,000,000, the same $10 reserve; otherwise the
  defaults (equilibrium bidders, majority aggregation, 5% gold, incentive-gap
  sample on).

Both with the same mechanism and seed. A time is model construction plus
stepping until ``running`` is False (the tables are built afterwards, untimed,
to check that every task was posted). Everything is warmed first, untimed:
equilibrium solves (cached on disk), the response market's MiniLM embeddings
of the pool (computed once, cached on disk), imports. Then ``--pairs``
interleaved pairs (label, response; the order alternates pair to pair), and
the ratio response / label is taken within each pair: median, min and max.

Usage: python benchmarks/bench_responses.py [--mechanisms M ...] [--pairs N]
    [--markdown] [--profile]  (default: vickrey, vickrey-feedback, first-price; 10 pairs)
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import platform
import pstats
import statistics
import time

import numpy as np
import pandas as pd

from simulator import MarketConfig, MarketModel
from simulator.market.responses import ResponseMarket

N_TASKS = 1_000
PER_ROUND = 200
BIDDERS = 8
K = 2
TARGET = 2.0
RESERVE = 10.0
"""$ per label or response, both markets: far above every cost, so it binds on no
bid; finite, because ``vickrey-feedback`` with no reserve pays the per-task
budget share (with $1M it spends the whole budget in the first round)."""
COMMAND = ".venv/bin/python benchmarks/bench_responses.py"


def benchmark_pool(base: pd.DataFrame, n_prompts: int = N_TASKS) -> pd.DataFrame:
    """``n_prompts`` training prompts made from ``base``'s: copy c >= 2 of a
    prompt is "<prompt> (copy c)", with the same replies (text, reward,
    n_tokens, truncated) from every persona; split "train" throughout."""
    train = base[base.split == "train"]
    prompts = list(dict.fromkeys(train.prompt))  # in order of appearance
    copies = -(-n_prompts // len(prompts))
    frames = []
    for c in range(1, copies + 1):
        keep = prompts[: n_prompts - (c - 1) * len(prompts)]
        part = train[train.prompt.isin(keep)].copy()
        if c > 1:
            part["prompt"] = part.prompt + f" (copy {c})"
        frames.append(part)
    pool = pd.concat(frames, ignore_index=True)
    assert pool.prompt.nunique() == n_prompts, pool.prompt.nunique()
    return pool


def response_config(mechanism: str, personas: list[str], seed: int = 0) -> MarketConfig:
    return MarketConfig(
        market="responses",
        mechanism=mechanism,
        personas=personas,
        n_providers=BIDDERS,
        bidders_per_task=BIDDERS,
        k=K,
        tasks_per_round=PER_ROUND,
        rounds=None,
        n_tasks=N_TASKS,
        budget=1e6,
        reserve=RESERVE,
        seed=seed,
    )


def label_config(mechanism: str, seed: int = 0) -> MarketConfig:
    return MarketConfig(
        market="labels",
        mechanism=mechanism,
        task_source="synthetic",
        n_tasks=N_TASKS,
        tasks_per_round=PER_ROUND,
        rounds=None,
        n_annotators=100,
        capacity=20,
        bidders_per_task=BIDDERS,
        k=K,
        budget=1e6,
        reserve=RESERVE,
        seed=seed,
    )


def run_labels(cfg: MarketConfig) -> tuple[float, float, object]:
    t0 = time.perf_counter()
    model = MarketModel(cfg)
    t1 = time.perf_counter()
    while model.running:
        model.step()
    t2 = time.perf_counter()
    return t2 - t0, t1 - t0, model


def run_responses(cfg: MarketConfig, pool: pd.DataFrame) -> tuple[float, float, object]:
    t0 = time.perf_counter()
    model = ResponseMarket(cfg, pool=pool)
    t1 = time.perf_counter()
    while model.running:
        model.step()
    t2 = time.perf_counter()
    return t2 - t0, t1 - t0, model


def check(model, what: str) -> None:
    """Every task posted, k items bought for each, and no cost at the reserve."""
    metrics = model.metrics_table()
    if isinstance(model, ResponseMarket):
        posted, bought = metrics.prompts.sum(), metrics.responses_bought.sum()
        book = model.book
        top_cost = book.token_cost.max() * model.pool.n_tokens.max() + book.fixed_cost.max()
    else:
        posted, bought = metrics.tasks.sum(), metrics.labels_bought.sum()
        top_cost = model.crowd.cost[: model.crowd.n].max()
    if posted != N_TASKS or bought != K * N_TASKS or top_cost >= RESERVE:
        raise SystemExit(
            f"{what}: posted {posted} tasks (want {N_TASKS}), bought {bought} "
            f"(want {K * N_TASKS}), highest cost ${top_cost:.2f} (want < ${RESERVE:g})"
        )


def settle() -> None:
    """Collect, then move every object alive now (imports, the pool, MiniLM when
    it was loaded) out of the collector's reach, so that a collection during a
    timed run costs what the run's own objects cost."""
    gc.collect()
    gc.freeze()


def measure(mechanism: str, pool: pd.DataFrame, personas: list[str], pairs: int) -> dict:
    lcfg, rcfg = label_config(mechanism), response_config(mechanism, personas)
    # warm: equilibrium solves, embeddings, first-call costs; and check the size
    _, _, lm = run_labels(lcfg)
    check(lm, f"{mechanism} label market")
    _, _, rm = run_responses(rcfg, pool)
    check(rm, f"{mechanism} response market")
    del lm, rm
    settle()
    label, resp, ratios, l_build, r_build = [], [], [], [], []
    for i in range(pairs):
        order = ("labels", "responses") if i % 2 == 0 else ("responses", "labels")
        got = {}
        for which in order:
            gc.collect()
            if which == "labels":
                got[which] = run_labels(lcfg)[:2]
            else:
                got[which] = run_responses(rcfg, pool)[:2]
        (lw, lb), (rw, rb) = got["labels"], got["responses"]
        label.append(lw)
        resp.append(rw)
        l_build.append(lb)
        r_build.append(rb)
        ratios.append(rw / lw)
    return {
        "mechanism": mechanism,
        "label": statistics.median(label),
        "response": statistics.median(resp),
        "label_build": statistics.median(l_build),
        "response_build": statistics.median(r_build),
        "ratio": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
    }


def profile(mechanism: str, pool: pd.DataFrame, personas: list[str], top: int = 20) -> None:
    """cProfile of one warm run of each market: the project's functions (and the
    heaviest library calls) by cumulative time, as a share of the run."""
    runs = (
        ("response market", lambda: run_responses(response_config(mechanism, personas), pool)),
        ("label market", lambda: run_labels(label_config(mechanism))),
    )
    for name, fn in runs:
        gc.collect()
        prof = cProfile.Profile()
        prof.enable()
        fn()
        prof.disable()
        stats = pstats.Stats(prof, stream=io.StringIO())
        entries = stats.stats  # (file, line, func) -> (cc, nc, tottime, cumtime, callers)
        total = max(
            st[3] for key, st in entries.items() if key[2] in ("run_labels", "run_responses")
        )
        print(f"\n--- cProfile, {name}, {mechanism}: {total:.3f} s under the profiler ---")
        print(f"{'cumulative s':>12}{'share':>7}{'own s':>8}{'calls':>7}  file:function")
        rows = sorted(entries.items(), key=lambda kv: -kv[1][3])
        shown = 0
        for (file, line, func), (_, calls, own, cum, _) in rows:
            if func in ("run_labels", "run_responses", "<lambda>") or cum < 0.002:
                continue
            short = _short(file)
            print(f"{cum:>12.3f}{cum / total:>7.0%}{own:>8.3f}{calls:>7}  {short}:{line}:{func}")
            shown += 1
            if shown >= top:
                break


def _short(file: str) -> str:
    for marker in ("/site-packages/", "/work/main/", "/lib/python3"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def table(rows: list[dict], markdown: bool) -> None:
    def verdict(r):
        return "PASS" if r["ratio"] <= TARGET else "FAIL"

    if markdown:
        print(
            "\n| mechanism | label market (s) | response market (s) | ratio (median) "
            f"| ratio min-max | <= {TARGET:g}x |\n|---|---|---|---|---|---|"
        )
        for r in rows:
            print(
                f"| `{r['mechanism']}` | {r['label']:.3f} | {r['response']:.3f} | "
                f"{r['ratio']:.2f} | {r['ratio_min']:.2f}-{r['ratio_max']:.2f} | {verdict(r)} |"
            )
    else:
        print(
            f"\n{'mechanism':<18}{'label s':>10}{'response s':>12}{'ratio':>8}"
            f"{'min':>7}{'max':>7}  <= {TARGET:g}x"
        )
        for r in rows:
            print(
                f"{r['mechanism']:<18}{r['label']:>10.3f}{r['response']:>12.3f}{r['ratio']:>8.2f}"
                f"{r['ratio_min']:>7.2f}{r['ratio_max']:>7.2f}  {verdict(r)}"
            )
    print(
        "\nof which model construction (median s): "
        + "; ".join(
            f"{r['mechanism']}: label {r['label_build']:.3f}, response {r['response_build']:.3f}"
            for r in rows
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--mechanisms", nargs="+", default=["vickrey", "vickrey-feedback", "first-price"]
    )
    ap.add_argument("--pairs", type=int, default=10, help="interleaved (label, response) pairs")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--profile", action="store_true", help="cProfile one run of each market")
    args = ap.parse_args()

    from rlhf.providers import shipped_provider_pool

    try:
        base = shipped_provider_pool()
    except FileNotFoundError as exc:
        raise SystemExit(
            f"the shipped provider pool is missing ({exc}); generate it: python -m rlhf.providers"
        ) from None
    personas = list(dict.fromkeys(base.persona))
    pool = benchmark_pool(base)
    shipped = base[base.split == "train"].prompt.nunique()
    print(
        f"$ {COMMAND} "
        + " ".join(
            [f"--mechanisms {' '.join(args.mechanisms)}", f"--pairs {args.pairs}"]
            + ["--markdown"] * args.markdown
        )
    )
    print(
        f"{N_TASKS:,} tasks in {N_TASKS // PER_ROUND} rounds of {PER_ROUND}, {BIDDERS} bidders "
        f"per task, k = {K}, budget $1M, reserve ${RESERVE:g}; response market: "
        f"{len(personas)} personas x {pool.prompt.nunique():,} prompts ({shipped} shipped "
        f"training prompts, repeated), {BIDDERS} providers; label market: synthetic "
        f"tasks, 100 annotators; median of {args.pairs} interleaved pairs; numpy {np.__version__}, "
        f"Python {platform.python_version()}, {platform.machine()}"
    )
    rows = []
    for mech in args.mechanisms:
        rows.append(measure(mech, pool, personas, args.pairs))
        print(
            f"  {mech}: label {rows[-1]['label']:.3f} s, response {rows[-1]['response']:.3f} s, "
            f"ratio {rows[-1]['ratio']:.2f}",
            flush=True,
        )
    table(rows, args.markdown)
    if args.profile or any(r["ratio"] > TARGET for r in rows):
        for r in rows:
            if args.profile or r["ratio"] > TARGET:
                profile(r["mechanism"], pool, personas)


if __name__ == "__main__":
    main()
