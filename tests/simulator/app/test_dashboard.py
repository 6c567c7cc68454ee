"""The interactive market (simulator.app.dashboard): its model and tables, and the
app itself driven in a real headless browser (Playwright + Debian's chromium)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("solara")

from simulator.app.dashboard import MODEL_PARAMS, DashboardMarket, round_figure, winners_table

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("ARTIFACTS_DIR", ROOT / "artifacts"))


def test_knobs_build_the_market():
    m = DashboardMarket(
        mechanism="fixed-price", budget=150, k=2, n_annotators=30, correlation=0.5,
        learning_share=0.3, seed=4,
    )  # fmt: skip
    cfg = m.config
    assert (cfg.mechanism, cfg.budget, cfg.k, cfg.n_annotators, cfg.seed) == (
        "fixed-price", 150.0, 2, 30, 4,
    )  # fmt: skip
    assert cfg.correlation == 0.5 and "price" in cfg.mechanism_params
    assert cfg.strategies == {"equilibrium": 0.7, "learning": 0.3}
    assert DashboardMarket(learning_share=0.0).config.strategies == {"equilibrium": 1.0}
    # every knob is a constructor argument, as SolaraViz's Reset needs
    import inspect

    assert set(MODEL_PARAMS) <= set(inspect.signature(DashboardMarket).parameters)


def test_winners_table_is_the_latest_round():
    m = DashboardMarket(seed=1)
    assert round_figure(m) is None and winners_table(m).empty
    for _ in range(3):
        m.step()
    table = winners_table(m)
    labels = m.labels_table()
    last = labels[labels["round"] == 3]
    assert table["labels"].sum() == len(last)
    assert table.paid.sum() == pytest.approx(last.payment.sum())
    assert set(table.annotator) == set(last.annotator)
    assert set(table.type) <= {"honest", "spammer", "adversary"}
    fig = round_figure(m)
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 5


def _round_shown(winners) -> int:
    """The round number the winners' header shows ("Round 6 · mechanism ...")."""
    found = re.search(r"Round (\d+) ·", winners.inner_text())
    assert found, winners.inner_text()
    return int(found.group(1))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _chromium_or_skip() -> str:
    if shutil.which(CHROMIUM) or Path(CHROMIUM).exists():
        return CHROMIUM
    if os.environ.get("CI"):
        pytest.fail(f"no chromium at {CHROMIUM}: .ci/run installs Debian's chromium package")
    pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium; CI installs it)")


@pytest.fixture
def dashboard_url():
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", "dashboard", "--host", "127.0.0.1",
         "--port", str(port)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            out = proc.stdout.read().decode() if proc.poll() is not None else ""
            os.killpg(proc.pid, signal.SIGTERM)
            pytest.fail(f"the dashboard did not start:\n{out[-3000:]}")
        time.sleep(0.3)
    try:
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.slow
def test_dashboard_in_a_real_browser(dashboard_url):
    """Change the mechanism, reset, step: the plots and the winners table follow."""
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = _chromium_or_skip()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium, headless=True, args=["--headless", "--no-sandbox"]
        )
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        try:
            page.goto(dashboard_url)
            page.get_by_text("No round yet").wait_for(timeout=90_000)
            winners = page.locator(".vf-winners")
            sync_api.expect(winners).to_contain_text("mechanism vickrey")
            # the mechanism select, then Reset builds the new market
            page.locator(".v-select").filter(has_text="Mechanism").click()
            page.get_by_role("option", name="first-price", exact=True).click()
            page.get_by_role("button", name="Reset").click()
            for i in range(1, 4):
                page.get_by_role("button", name="Step").click()
                page.get_by_text(f"Round {i} ·").wait_for(timeout=30_000)
            sync_api.expect(winners).to_contain_text("mechanism first-price")
            rows = page.locator("table.vf-winners-table tbody tr")
            assert rows.count() >= 1
            plot = page.locator(".vf-round-plots img")
            before = plot.get_attribute("src")
            page.get_by_role("button", name="Step").click()
            page.get_by_text("Round 4 ·").wait_for(timeout=30_000)
            assert plot.get_attribute("src") != before  # the plots were redrawn
            assert rows.count() >= 1
            sync_api.expect(page.get_by_text("Step: 4")).to_be_visible()
            # play runs rounds on its own, pause stops them
            page.get_by_role("button", name="▶").click()
            page.get_by_text("Round 6 ·").wait_for(timeout=30_000)
            page.get_by_role("button", name="❚❚").click()
            at_pause = _round_shown(winners)
            # a round already in flight (and one the server began before the
            # click reached it) may still land; no further round may. Unpaused
            # play would spend the rest of the budget (about 13 rounds).
            seen = [at_pause]
            deadline = time.monotonic() + 10.0
            while time.monotonic() < deadline:
                page.wait_for_timeout(250)
                seen.append(_round_shown(winners))
            assert max(seen) <= at_pause + 2, seen
            assert seen[-1] == seen[len(seen) // 2], seen  # settled, not crawling
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
            # reset starts over
            page.get_by_role("button", name="Reset").click()
            page.get_by_text("No round yet").wait_for(timeout=30_000)
        except Exception:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard-failure.png"), full_page=True)
            raise
        finally:
            browser.close()


def test_the_market_knob_builds_the_response_market_and_back():
    from simulator.market.responses import ResponseMarket

    m = DashboardMarket(market="responses", mechanism="vickrey", budget=60, seed=2)
    assert isinstance(m, ResponseMarket) and m.config.market == "responses"
    assert round_figure(m) is None and winners_table(m).empty
    m.step()
    table = winners_table(m)
    resp = m.responses_table()
    assert table.responses.sum() == len(resp) and table.paid.sum() == pytest.approx(
        resp.payment.sum()
    )
    assert len([ax for ax in round_figure(m).axes if ax.get_visible()]) == 6
    back = type(m)(market="labels", mechanism="vickrey", seed=2)  # SolaraViz's Reset
    assert isinstance(back, DashboardMarket) and back.config.market == "labels"
