"""The app in headless Chromium, offline: ``python -m workbench.app`` on a free loopback port, every request
outside the loopback address blocked and counted (none may be attempted), no JavaScript error.

One journey through the three views (the server and the tiny model start once): the Games view draws, the
beta slider changes the policies' figure, an uploaded malformed CSV and a negative beta show their messages
while the figures stay; the LLM monitor starts a short run whose curve gains points while another control
(the x-axis toggle) still answers, then stops it; the Runs view loads a results CSV and refuses a file
without the schema's columns. Screenshots go to ``tests/artifacts/app/`` (git-ignored) for a person to look at.

Needs playwright and a system Chromium like ``tests/test_reports_browser.py``: with ``CI=true`` a missing one
FAILS; elsewhere the test skips with the reason.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("WORKBENCH_APP_SCREENSHOTS") or ROOT / "tests" / "artifacts" / "app")
CHROMIUM = os.environ.get("WORKBENCH_CHROMIUM") or next(
    (p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None
)
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
LOOPBACK = re.compile(r"^(https?|wss?)://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?/")

try:
    from playwright import sync_api as playwright_api
except ImportError:
    playwright_api = None


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason}; CI=true: the browser tests may not be skipped (.ci/run installs chromium, "
                    "`pip install -e .[dev]` installs playwright)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``python -m workbench.app`` on a free port of 127.0.0.1; yields its URL; stopped (by its pid) after."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    log = tmp_path_factory.mktemp("app") / "server.log"
    out = open(log, "w")
    proc = subprocess.Popen([sys.executable, "-m", "workbench.app", "--port", str(port), "--address", "127.0.0.1",
                             "--no-show"], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.time() + 120
    while "NLHF Workbench app: http" not in log.read_text():
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail(f"the app did not start: {log.read_text()[-2000:]}")
        time.sleep(0.2)
    url = re.search(r"NLHF Workbench app: (\S+)", log.read_text()).group(1)
    assert url.startswith(f"http://localhost:{port}/"), url
    yield url.replace("localhost", "127.0.0.1"), log
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    out.close()


@pytest.fixture(scope="module")
def page(server):
    if playwright_api is None:
        _unavailable("playwright not installed (pip install -e '.[dev]')")
    if CHROMIUM is None:
        _unavailable("no chromium binary (apt-get install chromium, or set WORKBENCH_CHROMIUM)")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu",
                                                                    "--disable-background-networking",
                                                                    "--disable-component-update"])
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        blocked, errors = [], []

        def route(r):
            url = r.request.url
            if LOOPBACK.match(url) or url.startswith(("data:", "blob:")):
                r.continue_()
            else:
                blocked.append(url)
                r.abort()

        context.route("**/*", route)
        pg = context.new_page()
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.on("websocket", lambda ws: None if LOOPBACK.match(ws.url) else blocked.append(ws.url))
        pg.blocked, pg.errors = blocked, errors
        pg.goto(server[0], timeout=180_000)
        yield pg
        browser.close()


FIGURES = """els => els.map(el => ({title: String((el.layout && el.layout.title && (el.layout.title.text || el.layout.title)) || ''),
    xtitle: String((el.layout && el.layout.xaxis && el.layout.xaxis.title && (el.layout.xaxis.title.text || el.layout.xaxis.title)) || ''),
    data: (el.data || []).map(t => ({name: t.name || '', x: Array.from(t.x || []), y: Array.from(t.y || [])})),
    shown: el.getBoundingClientRect().width > 0}))"""


def figures(page) -> list[dict]:
    """Every plotly figure on the page (panel renders them in shadow roots; playwright's locators pierce them)."""
    return page.locator(".js-plotly-plot").evaluate_all(FIGURES)


def figure(page, prefix: str) -> dict | None:
    return next((f for f in figures(page) if f["shown"] and f["title"].startswith(prefix)), None)


def wait_for(page, what: str, test, timeout: float = 60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = test()
        if value:
            return value
        page.wait_for_timeout(250)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def alert(page, words: str) -> str:
    """The text of the visible danger alert's paragraph that contains ``words`` ('' when none)."""
    texts = page.locator(".alert-danger p", has_text=words).evaluate_all(
        "els => els.filter(e => e.getClientRects().length > 0).map(e => e.innerText)")
    return texts[0] if texts else ""


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_app_journey_offline(page, server, tmp_path):
    # ---------------------------------------------------------------- Games
    pol = wait_for(page, "the policies figure", lambda: figure(page, "Policies at β = 0.1"), 180)
    wait_for(page, "the convergence curves", lambda: figure(page, "KL(π*‖π<sub>t</sub>) against iterations"))
    shot(page, "1-games")
    assert page.errors == [], f"JavaScript errors on loading: {page.errors[:3]}"
    before = pol["data"][0]["y"]
    handle = page.locator(".noUi-handle").first
    handle.focus()
    for _ in range(5):
        handle.press("ArrowRight")
    after = wait_for(page, "the policies figure to redraw at β = 0.15 (five steps of 0.01)",
                     lambda: figure(page, "Policies at β = 0.15"))
    assert after["data"][0]["y"] != before, "the equilibrium's bars did not change with β"
    # a malformed CSV: the message in the page, the previous figures kept
    bad = tmp_path / "ragged.csv"
    bad.write_text(",a,b\na,0,1,7\nb\n")
    page.locator(".wb-game-upload input[type=file]").first.set_input_files(str(bad))
    msg = wait_for(page, "the CSV message", lambda: alert(page, "Cannot update the game"))
    assert "ragged.csv" in msg and "previous setting" in msg, msg
    assert figure(page, "Policies at β = 0.15") is not None
    shot(page, "2-games-bad-csv")
    # a background sweep: the progress bar runs, Cancel stops it between two values of beta
    for css, value in (("wb-sweep-games", "100"), ("wb-sweep-betas", "30")):  # long enough to cancel
        field = page.locator(f".{css} input").first
        field.fill(value)
        field.press("Enter")
    page.get_by_role("button", name="Run sweep in the background").click()
    try:
        wait_for(page, "the sweep to start", lambda: page.get_by_text(re.compile(r"^Sweeping")).count() > 0, 30)
    finally:
        shot(page, "2-games-sweep")
    page.get_by_role("button", name="Cancel").click()
    status = wait_for(page, "the sweep to end", lambda: page.get_by_text(re.compile(r"^(Cancelled after|Done:)")).count()
                      and page.get_by_text(re.compile(r"^(Cancelled after|Done:)")).first.inner_text(), 120)
    assert status.startswith("Cancelled after"), status
    assert page.errors == [], f"JavaScript errors after the sweep: {page.errors[:3]}"
    # a negative beta typed in the slider's box
    box = page.locator(".wb-beta input.bk-input").first
    page.get_by_text("Library", exact=True).first.click()
    wait_for(page, "the library game again", lambda: not alert(page, "Cannot update the game"))
    box.fill("-0.1")
    box.press("Enter")
    msg = wait_for(page, "the β message", lambda: alert(page, "β must be a positive"))
    assert "got -0.1" in msg

    # ---------------------------------------------------------------- LLM training
    page.get_by_text("LLM training", exact=True).first.click()
    for css, value in (("wb-steps", "300"), ("wb-batch", "8"), ("wb-eval", "4")):
        field = page.locator(f".{css} input").first
        field.fill(value)
        field.press("Enter")
    hyper = page.locator("textarea").first
    hyper.fill("mixture: lots")
    page.get_by_role("button", name="Start").click()
    msg = wait_for(page, "the hyperparameter message", lambda: alert(page, "Cannot start the run"))
    assert "mixture = 'lots'" in msg and "expected float" in msg, msg
    hyper.fill("mixture: 0.125")
    page.get_by_role("button", name="Start").click()
    wait_for(page, "the message to clear", lambda: not alert(page, "Cannot start the run"))
    first = wait_for(page, "the first evaluations", lambda: (f := figure(page, "Nash-MD-PG: exact distance"))
                     and len(f["data"][-1]["x"]) >= 2 and f, 180)
    n_first = max(len(t["x"]) for t in first["data"] if t["name"] == "Nash-MD-PG")
    # another control answers while it trains: the x-axis toggle redraws against gradient steps
    page.get_by_text("gradient steps", exact=True).first.click()
    t0 = time.time()
    flipped = wait_for(page, "the x axis to switch while training",
                       lambda: (f := figure(page, "Nash-MD-PG: exact distance")) and "gradient step" in str(f) and f, 30)
    assert time.time() - t0 < 30
    grown = wait_for(page, "the curve to gain points", lambda: (f := figure(page, "Nash-MD-PG: exact distance")) and max(
        len(t["x"]) for t in f["data"] if t["name"] == "Nash-MD-PG") > n_first and f, 120)
    del flipped, grown
    shot(page, "3-llm-training")
    assert page.errors == [], f"JavaScript errors while training: {page.errors[:3]}"
    page.get_by_role("button", name="Stop").click()
    try:
        wait_for(page, "the run to stop", lambda: page.get_by_text("Stopped", exact=True).count()
                 + page.get_by_text("Finished", exact=True).count() > 0, 120)
    finally:
        shot(page, "4-llm-stopped")
    wait_for(page, "the final distribution", lambda: figure(page, "Nash-MD-PG after"), 60)
    shot(page, "4-llm-stopped")

    # ---------------------------------------------------------------- Runs and rankings
    page.get_by_text("Runs and rankings", exact=True).first.click()
    from workbench.games import random_game
    from workbench.tabular import make_method
    from workbench.tabular.driver import run

    frames = [run({"Nash-MD": make_method("Nash-MD"), "Nash-MP": make_method("Nash-MP")}, random_game(6, 0.1, seed=s),
                  60, record_every=5, progress=False).assign(seed=s) for s in (0, 1, 2)]
    good = tmp_path / "tabular_runs.csv"
    pd.concat(frames).to_csv(good, index=False)
    page.locator(".wb-runs-upload input[type=file]").first.set_input_files(str(good))
    wait_for(page, "the runs' curves", lambda: figure(page, "KL(π*‖π<sub>t</sub>) against iteration t"), 60)
    shot(page, "5-runs")
    assert page.errors == [], f"JavaScript errors in the runs view: {page.errors[:3]}"
    wrong = tmp_path / "scores.csv"
    wrong.write_text("model,score\na,1\n")
    page.locator(".wb-runs-upload input[type=file]").first.set_input_files(str(wrong))
    msg = wait_for(page, "the schema message", lambda: alert(page, "Cannot load the files"))
    assert "scores.csv" in msg and "missing column(s) algo" in msg, msg
    assert figure(page, "KL(π*‖π<sub>t</sub>) against iteration t") is not None  # the previous frames stay

    # rankings from a win-rate frame: rock, paper, scissors and a copy of rock
    names, s_ = ["rock", "paper", "scissors", "rock copy"], 0.9
    base = [[0.5, 1 - s_, s_], [s_, 0.5, 1 - s_], [1 - s_, s_, 0.5]]
    idx = [0, 1, 2, 0]
    rows = [(a, 0, 10, 80, "win_rate", base[idx[i]][idx[j]], "tiny", 0.1, b) for i, a in enumerate(names)
            for j, b in enumerate(names)]
    rows += [(a, 0, 10, 80, "kl_to_mu", kl, "tiny", 0.1, "") for a, kl in zip(names, (0.3, 0.05, 0.1, 0.3))]
    wr = tmp_path / "win_rates.csv"
    pd.DataFrame(rows, columns=["algo", "seed", "step", "queries", "metric", "value", "model", "beta",
                                "opponent"]).to_csv(wr, index=False)
    page.locator(".wb-runs-upload input[type=file]").first.set_input_files(str(wr))
    wait_for(page, "the win-rate frame to load", lambda: page.get_by_text("Loaded 20 rows").count() > 0, 60)
    page.get_by_role("button", name="Use the loaded win-rate frame").click()
    raw = wait_for(page, "the win-rate matrix", lambda: figure(page, "Pairwise win rates W"), 60)
    wait_for(page, "the ranking's sentence", lambda: page.get_by_text("Why the rankings differ").count() > 0, 30)
    page.get_by_text("regularized Wᵦ", exact=True).first.click()
    reg = wait_for(page, "the regularized matrix", lambda: figure(page, "Pairwise regularized win rates"), 60)
    assert reg["data"][0]["y"] == raw["data"][0]["y"]
    shot(page, "6-rankings")

    assert page.blocked == [], f"requests outside the loopback address were attempted: {page.blocked[:5]}"
    assert page.errors == [], f"JavaScript errors: {page.errors[:3]}"
    log = server[1].read_text()
    assert "Traceback" not in log, log[-3000:]
