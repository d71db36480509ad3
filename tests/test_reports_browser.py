"""A report opened in headless Chromium, offline, really draws its plotly figure; index.html links it.

Needs the ``playwright`` python package and a system Chromium (Debian: ``apt-get install chromium``;
``playwright install`` is not needed). Set ``WORKBENCH_CHROMIUM`` to use another binary.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from workbench.reports.runner import run_reports

FIX = Path(__file__).parent / "fixtures" / "notebooks"
CHROMIUM = os.environ.get("WORKBENCH_CHROMIUM") or next(
    (p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None
)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install playwright)")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install chromium)")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    (result,) = run_reports(FIX, out, only=["01"], overrides={"n": 6, "title": "browser check"})
    assert result.ok, result.message()
    return out


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _offline_page(browser):
    """A page that can load only file:// and data: URLs (anything else is aborted and recorded)."""
    context = browser.new_context(offline=True)
    blocked, errors = [], []

    def route(r):
        url = r.request.url
        if url.startswith(("file:", "data:")):
            r.continue_()
        else:
            blocked.append(url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page, blocked, errors


def test_plotly_figure_draws_offline(report, browser, tmp_path):
    page, blocked, errors = _offline_page(browser)
    page.goto((report / "01_ok.html").as_uri())
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
    assert page.locator(".js-plotly-plot").count() == 1
    assert page.locator(".js-plotly-plot .scatterlayer .point").count() == 6  # n=6 reached the figure
    assert page.locator(".js-plotly-plot .gtitle").text_content() == "browser check"
    y = page.evaluate("document.querySelector('.js-plotly-plot').data[0].y")
    assert y == [0, 1, 4, 9, 16, 25]
    assert errors == [], errors  # no JavaScript exception (blocked MathJax CDN loads are not exceptions)
    assert not any("plot.ly" in u or "require" in u for u in blocked), blocked
    page.locator(".js-plotly-plot").scroll_into_view_if_needed()
    shot = page.screenshot(path=os.environ.get("WORKBENCH_SCREENSHOT") or str(tmp_path / "report.png"))
    assert len(shot) > 10_000  # a real image (the figure was checked above)
    page.context.close()


def test_index_lists_and_links_the_report(report, browser):
    page, blocked, errors = _offline_page(browser)
    page.goto((report / "index.html").as_uri())
    row = page.locator("table#reports tr[id='01_ok']")
    assert row.count() == 1
    assert "ok" in row.locator("td").nth(1).inner_text()
    assert "n=6" in row.inner_text() and "quick" in row.inner_text()
    row.locator("a").click()
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
    assert page.url.endswith("/01_ok.html")
    assert errors == []
    assert all("mathjax" in u.lower() for u in blocked), blocked  # only the report's optional MathJax CDN
    page.context.close()
