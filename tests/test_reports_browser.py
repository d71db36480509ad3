"""Reports opened in headless Chromium, offline (every non-file URL aborted), as a student or reviewer gets them.

Fixture reports (tests/fixtures/notebooks, seconds): a plotly figure draws, index.html links the report and the
report links back, equations typeset from the reports folder's own MathJax after the folder is copied
elsewhere, widgets leave no box, and the Explore slider and dropdown change their figures.

The six real reports (notebooks/, quick profile, built once per session: ~6 minutes on 2 cores, marked slow):
each shows typeset math (no raw ``$``), every plotly figure drawn, no snake_case code names in titles, axis titles
or legend names, no figure wider than a 1280 px viewport, no empty widget box, and one Explore control (a plotly
slider or dropdown) that changes its figure when clicked. A failure names the report and everything missing.

Needs the ``playwright`` python package (the dev extra) and a system Chromium (Debian: ``apt-get install
chromium``; ``playwright install`` is not needed). Set ``WORKBENCH_CHROMIUM`` to use another binary. With
``CI=true`` a missing playwright or Chromium FAILS these tests; elsewhere they skip with the reason.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from workbench.reports.runner import list_notebooks, run_reports

FIX = Path(__file__).parent / "fixtures" / "notebooks"
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
CHROMIUM = os.environ.get("WORKBENCH_CHROMIUM") or next(
    (p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None
)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
VIEWPORT = {"width": 1280, "height": 900}

try:
    from playwright import sync_api as playwright_api
except ImportError:  # reported by the browser fixture: a failure in CI, a skip elsewhere
    playwright_api = None


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason}; CI=true: the browser tests may not be skipped (.ci/run installs chromium, "
                    "`pip install -e .[dev]` installs playwright)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    if playwright_api is None:
        _unavailable("playwright not installed (pip install -e '.[dev]')")
    if CHROMIUM is None:
        _unavailable("no chromium binary (apt-get install chromium, or set WORKBENCH_CHROMIUM)")
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def report(browser, tmp_path_factory):
    """Fixture reports 01 (n=6, a title) and 03 (LaTeX, widgets, a slider and a dropdown), in one run."""
    out = tmp_path_factory.mktemp("reports")
    results = run_reports(FIX, out, only=["01"], overrides={"n": 6, "title": "browser check"}, log=lambda m: None)
    results += run_reports(FIX, out, only=["03"], log=lambda m: None)
    assert all(r.ok for r in results), [r.message() for r in results]
    return out


def _offline_page(browser):
    """A page that can load only file:// and data: URLs (anything else is aborted and recorded)."""
    context = browser.new_context(offline=True, viewport=VIEWPORT)
    blocked, errors, files = [], [], []

    def route(r):
        url = r.request.url
        if url.startswith(("file:", "data:")):
            files.append(url)
            r.continue_()
        else:
            blocked.append(url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.files = files  # every file:// and data: URL the page loaded
    return page, blocked, errors


def _open(page, path: Path) -> list[str]:
    """Load a report and wait until MathJax has typeset it and every plotly figure is drawn; what did not happen
    within 60 s, in words (the checks after it then say what is missing)."""
    page.goto(path.as_uri())
    problems = []
    try:
        page.wait_for_function("window.MathJax && MathJax.isReady", timeout=60_000)
        page.evaluate("new Promise(done => MathJax.Hub.Queue(() => done(true)))")  # after the startup typeset
    except playwright_api.TimeoutError:
        problems.append("MathJax did not load within 60 s (see the network requests)")
    try:
        page.wait_for_function(
            "[...document.querySelectorAll('.plotly-graph-div')].every(gd => gd._fullLayout && gd.querySelector('.main-svg'))",
            timeout=60_000,
        )
    except playwright_api.TimeoutError:
        problems.append("not every figure was drawn within 60 s")
    return problems


#: What a page shows, collected in the browser (see the module docstring for what is checked).
INSPECT = r"""() => {
  const text = el => (el.innerText || '').trim();
  const markdown = [...document.querySelectorAll('.jp-MarkdownOutput')];
  const rawDollar = [];
  for (const md of markdown) {
    const clone = md.cloneNode(true);
    clone.querySelectorAll('code, pre, script, .MathJax, .MathJax_Display, .MathJax_Preview').forEach(e => e.remove());
    const t = clone.textContent;
    const i = t.indexOf('$');
    if (i >= 0) rawDollar.push(t.slice(Math.max(0, i - 30), i + 40).replace(/\s+/g, ' '));
  }
  // a code name: lower-case words joined by '_' (plug_in, kl_to_eq, n_games); x_1, y_w, π_t are notation
  const snake = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)+$/;
  const codeNames = s => (String(s || '').match(/[A-Za-z0-9_]+/g) || [])
    .filter(w => snake.test(w) && w.split('_').some(part => /[a-z]{2,}/.test(part)));
  const figures = [...document.querySelectorAll('.plotly-graph-div')].map((gd, index) => {
    const L = gd.layout || {}, labels = [];
    const add = (where, s) => { if (s) labels.push([where, typeof s === 'string' ? s : (s.text || '')]); };
    add('title', L.title);
    for (const [k, v] of Object.entries(L)) {
      if (/^[xy]axis\d*$/.test(k) && v) add(k + ' title', v.title);
      if (/^coloraxis\d*$/.test(k) && v && v.colorbar) add(k + ' colorbar', v.colorbar.title);
    }
    if (L.legend) add('legend title', L.legend.title);
    (L.annotations || []).forEach(a => add('annotation', a.text));
    (L.sliders || []).forEach(s => (s.steps || []).forEach(st => add('slider step title', ((st.args || [])[1] || {})['title.text'])));
    (L.updatemenus || []).forEach(m => (m.buttons || []).forEach(b => add('dropdown step title', ((b.args || [])[1] || {})['title.text'])));
    (gd.data || []).forEach((t, i) => {
      if (t.showlegend !== false) add(`trace ${i} name`, t.name);
      if (t.colorbar) add(`trace ${i} colorbar`, t.colorbar.title);
      if (t.legendgrouptitle) add(`trace ${i} legend group`, t.legendgrouptitle);
    });
    const bad = labels.flatMap(([where, s]) => codeNames(s).map(w => `${where}: ${w}`));
    const svg = gd.querySelector('.main-svg');
    const r = svg ? svg.getBoundingClientRect() : {right: 0, width: 0};
    const title = (L.title && (L.title.text || L.title)) || `figure ${index + 1}`;
    return {index, title: String(title).slice(0, 60), drawn: !!(gd._fullLayout && svg && r.width > 0),
            right: Math.round(r.right), width: Math.round(r.width), codeNames: bad,
            control: (L.sliders || []).length ? 'slider' : ((L.updatemenus || []).some(m => (m.buttons || []).length > 1) ? 'dropdown' : null)};
  });
  // an output folded in a closed "Show solution" <details> has no innerText but keeps its box: not empty
  const emptyOutputs = [...document.querySelectorAll('.jp-OutputArea-output')].filter(o => !o.closest('details:not([open])') &&
    !text(o) && !o.querySelector('img, svg, canvas, iframe, table, video') && o.getBoundingClientRect().height > 4).length;
  return {
    mathjax: document.querySelectorAll('.MathJax, .MathJax_Display').length,
    rawDollar,
    texErrors: [...document.querySelectorAll('.noError, .MathJax span[style*="color: red"]')].map(e => text(e).slice(0, 60)),
    figures,
    viewport: window.innerWidth, scrollWidth: document.documentElement.scrollWidth,
    widgetBoxes: document.querySelectorAll('.jupyter-widgets, .widget-area, .jp-LinkedOutputView, [data-mime-type*="jupyter.widget"]').length,
    loadingWidget: document.body.innerText.includes('Loading widget'),
    emptyOutputs,
    backLink: !!document.querySelector('nav.workbench-nav a[href="index.html"]'),
  };
}"""


def _problems(info: dict) -> list[str]:
    """Everything wrong with a page from :data:`INSPECT`, in words (empty when the page is right)."""
    problems = []
    if info["mathjax"] == 0:
        problems.append("no typeset math (no MathJax elements: no $...$ / $$...$$ in the markdown, or MathJax failed)")
    if info["rawDollar"]:
        problems.append(f"untypeset '$' left in markdown: {info['rawDollar'][:3]}")
    if info["texErrors"]:
        problems.append(f"TeX errors: {info['texErrors'][:3]}")
    if not info["figures"]:
        problems.append("no plotly figure")
    for f in info["figures"]:
        if not f["drawn"]:
            problems.append(f"figure {f['index']} ({f['title']}) not drawn")
        if f["right"] > info["viewport"]:
            problems.append(f"figure {f['index']} ({f['title']}) is {f['width']} px wide, ends at {f['right']} px "
                            f"> the {info['viewport']} px viewport")
        if f["codeNames"]:
            problems.append(f"figure {f['index']} ({f['title']}) shows code names: {f['codeNames'][:4]}")
    if info["scrollWidth"] > info["viewport"]:
        problems.append(f"the page scrolls sideways ({info['scrollWidth']} px > {info['viewport']} px)")
    if info["widgetBoxes"] or info["loadingWidget"]:
        problems.append(f"widget boxes: {info['widgetBoxes']} (\"Loading widget\" text: {info['loadingWidget']})")
    if info["emptyOutputs"]:
        problems.append(f"{info['emptyOutputs']} empty output box(es)")
    if not info["backLink"]:
        problems.append("no link back to index.html")
    return problems


def _use_control(page, index: int, kind: str) -> tuple[list, list, bool]:
    """Click another step of figure ``index``'s slider or dropdown (or button row): the traces' ``visible``
    before and after, and whether anything drawn changed (visibility, data or title: sliders over frames too)."""
    gd = page.locator(".plotly-graph-div").nth(index)
    gd.scroll_into_view_if_needed()
    visible = "gd => gd.data.map(t => t.visible === undefined ? true : t.visible)"
    state = ("gd => JSON.stringify([gd.layout.title, gd.data.map(t => [t.visible, t.x, t.y, t.z, t.text])])")
    before, drawn = gd.evaluate(visible), gd.evaluate(state)
    if kind == "slider":
        active = gd.evaluate("gd => gd._fullLayout.sliders[0].active")
        ticks = gd.locator(".slider-tick-rect")
        tick = ticks.nth(0 if active == ticks.count() - 1 else ticks.count() - 1).bounding_box()
        rail = gd.locator(".slider-rail-touch-rect").first.bounding_box()
        page.mouse.click(tick["x"] + tick["width"] / 2, rail["y"] + rail["height"] / 2)
    else:
        active = gd.evaluate("gd => gd._fullLayout.updatemenus[0].active")
        if gd.locator(".updatemenu-header-group").count():  # a dropdown: open it first
            gd.locator(".updatemenu-header-group").first.click()
            buttons = gd.locator(".updatemenu-dropdown-button")
        else:  # a row of buttons
            buttons = gd.locator(".updatemenu-button")
        buttons.nth(0 if active != 0 else buttons.count() - 1).click()
    page.wait_for_timeout(500)
    return before, gd.evaluate(visible), gd.evaluate(state) != drawn


# --- fixture reports ---------------------------------------------------------------------------------


def test_plotly_figure_draws_offline(report, browser, tmp_path):
    page, blocked, errors = _offline_page(browser)
    page.goto((report / "01_ok.html").as_uri())
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
    assert page.locator(".js-plotly-plot").count() == 1
    assert page.locator(".js-plotly-plot .scatterlayer .point").count() == 6  # n=6 reached the figure
    assert page.locator(".js-plotly-plot .gtitle").text_content() == "browser check"
    y = page.evaluate("document.querySelector('.js-plotly-plot').data[0].y")
    assert y == [0, 1, 4, 9, 16, 25]
    assert errors == [], errors  # no JavaScript exception
    assert blocked == [], blocked  # nothing from the network: plotly.js and MathJax are local
    page.locator(".js-plotly-plot").scroll_into_view_if_needed()
    shot = page.screenshot(path=os.environ.get("WORKBENCH_SCREENSHOT") or str(tmp_path / "report.png"))
    assert len(shot) > 10_000  # a real image (the figure was checked above)
    page.context.close()


def test_index_lists_and_links_the_report_and_back(report, browser):
    page, blocked, errors = _offline_page(browser)
    page.goto((report / "index.html").as_uri())
    row = page.locator("table#reports tr[id='01_ok']")
    assert row.count() == 1
    assert row.locator("td").nth(1).inner_text() == "Fixture: a notebook that works"  # its first heading
    assert "ok" in row.locator("td").nth(2).inner_text()
    assert "n=6" in row.inner_text() and "quick" in row.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]  # the table fits 1280 px
    row.locator("a").click()
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
    assert page.url.endswith("/01_ok.html")
    page.locator("nav.workbench-nav a").click()  # and back
    page.wait_for_selector("table#reports")
    assert page.url.endswith("/index.html")
    assert errors == [] and blocked == [], (errors, blocked)
    page.context.close()


def test_copied_report_typesets_offline_without_widget_boxes(report, browser, tmp_path):
    """The reports folder copied elsewhere: MathJax comes from its own _static folder, nothing from the network."""
    copy = tmp_path / "elsewhere" / "reports"
    shutil.copytree(report, copy)
    page, blocked, errors = _offline_page(browser)
    assert _open(page, copy / "03_explore.html") == []
    mathjax = [u for u in page.files if "mathjax" in u.lower()]
    assert len(mathjax) >= 5 and all(u.startswith((copy / "_static" / "mathjax").as_uri()) for u in mathjax), mathjax
    info = page.evaluate(INSPECT)
    assert _problems(info) == []
    assert info["mathjax"] >= 3  # inline beta, the display equation, k and y = x^k in the Explore text
    assert page.locator(".MathJax_Display").count() == 1
    math = page.locator(".MathJax_Display").first.inner_text()
    assert "KL" in math and "arg" in math and "≻" in math
    assert [f["control"] for f in info["figures"]] == ["slider", "dropdown"]
    outputs = "\n".join(page.locator(".jp-OutputArea").all_inner_texts())
    assert "TOTAL 13" in outputs  # the progress bars' cell ran
    assert "IntSlider" not in outputs and "bar" not in outputs  # no widget repr, no progress bar text left

    assert errors == [] and blocked == [], (errors, blocked)
    page.context.close()


def test_explore_slider_and_dropdown_change_their_figures(report, browser):
    page, blocked, errors = _offline_page(browser)
    assert _open(page, report / "03_explore.html") == []
    before, after, changed = _use_control(page, 0, "slider")
    assert before == [True, False, False] and after == [False, False, True] and changed
    assert page.locator(".plotly-graph-div").nth(0).locator(".gtitle").text_content() == "power 3"
    before, after, changed = _use_control(page, 1, "dropdown")
    assert before == [False, True, False] and after == [True, False, False] and changed
    assert page.locator(".plotly-graph-div").nth(1).locator(".gtitle").text_content() == "power 1"
    assert errors == [], errors
    page.context.close()


def test_solutions_start_collapsed_and_open_on_a_click(browser, tmp_path):
    """A cell tagged ``solution`` (an exercise's answer, workbench.course) is folded behind "Show solution": its code
    and output are hidden until the summary is clicked; the exercise text and the check cell stay visible."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    from workbench.reports.html import export_html, install_mathjax

    answer = new_code_cell("answer = 41 + 1  # SECRET_LINE\nprint(answer)", metadata={"tags": ["solution"]})
    answer.outputs = [new_output("stream", name="stdout", text="SECRET_OUTPUT 42\n")]
    check = new_code_cell('check("01.1", answer)', metadata={"tags": ["check"]})
    nb = new_notebook(cells=[new_markdown_cell("### Exercise 01.1 · the task"), answer, check],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, tmp_path / "ex.ipynb")
    install_mathjax(tmp_path)
    (tmp_path / "ex.html").write_text(export_html(tmp_path / "ex.ipynb"), encoding="utf-8")
    page, blocked, errors = _offline_page(browser)
    page.goto((tmp_path / "ex.html").as_uri())
    details = page.locator("details.workbench-solution")
    assert details.count() == 1 and details.locator("summary").inner_text() == "Show solution"
    assert details.evaluate("d => d.open") is False
    assert not page.get_by_text("SECRET_LINE").is_visible() and not page.get_by_text("SECRET_OUTPUT").is_visible()
    assert page.evaluate(INSPECT)["emptyOutputs"] == 0  # a folded output is hidden, not an empty box
    assert page.get_by_text("Exercise 01.1").is_visible() and page.get_by_text('check("01.1", answer)').is_visible()
    details.locator("summary").click()
    assert details.evaluate("d => d.open") is True
    assert page.get_by_text("SECRET_LINE").is_visible() and page.get_by_text("SECRET_OUTPUT 42").is_visible()
    assert errors == [] and blocked == [], (errors, blocked)
    page.context.close()


def test_page_checks_name_what_is_wrong(browser, tmp_path):
    """The checks the real reports go through, on a page with every fault: each is named."""
    import plotly.graph_objects as go
    import plotly.io as pio

    fig = go.Figure(go.Scatter(x=[1, 2], y=[3, 4], name="plug_in"),
                    layout={"title": {"text": "kl_to_eq (n=4)"}, "xaxis": {"title": {"text": "n_games"}},
                            "yaxis": {"title": {"text": "KL(π*‖π_t)"}}, "width": 1520, "height": 300})
    page_html = ('<html><body><div class="jp-MarkdownOutput">raw $$x^2$$ math</div>'
                 '<div class="jp-OutputArea-output" style="height: 40px"></div><div class="jupyter-widgets"></div>'
                 + pio.to_html(fig, include_plotlyjs=True, full_html=False) + "</body></html>")
    (tmp_path / "bad.html").write_text(page_html, encoding="utf-8")
    page, blocked, errors = _offline_page(browser)
    page.goto((tmp_path / "bad.html").as_uri())
    page.wait_for_selector(".plotly-graph-div .main-svg")
    problems = _problems(page.evaluate(INSPECT))
    assert problems == [
        "no typeset math (no MathJax elements: no $...$ / $$...$$ in the markdown, or MathJax failed)",
        "untypeset '$' left in markdown: ['raw $$x^2$$ math']",
        "figure 0 (kl_to_eq (n=4)) is 1520 px wide, ends at 1528 px > the 1280 px viewport",
        "figure 0 (kl_to_eq (n=4)) shows code names: ['title: kl_to_eq', 'xaxis title: n_games', 'trace 0 name: plug_in']",
        "the page scrolls sideways (1528 px > 1280 px)",
        'widget boxes: 1 ("Loading widget" text: False)',
        "1 empty output box(es)",
        "no link back to index.html",
    ], problems
    page.context.close()


# --- the six real reports ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def real_reports(browser, real_reports_build):
    """All notebooks of notebooks/ on the quick profile: (folder, name -> result).

    Built once per session by a background process that tests/conftest.py starts when collection ends (on
    a copy of notebooks/ with its own checkpoints and model cache), so the build overlaps the unit tests.
    """
    out, results, log_tail = real_reports_build
    print(log_tail)
    return out, results


@pytest.mark.slow
@pytest.mark.parametrize("name", [p.stem for p in list_notebooks(NOTEBOOKS)])
def test_real_report_reads_offline(real_reports, browser, name, tmp_path):
    out, results = real_reports
    assert name in results, f"{name}: not built (the build ran {sorted(results)})"
    r = results[name]
    where = "" if r["cell_index"] is None else f" in cell {r['cell_index']} `{r['cell_source']}`"
    assert r["ok"], f"{name}: the report did not build{where}: {r['error']}"
    page, blocked, errors = _offline_page(browser)
    problems = _open(page, out / f"{name}.html")
    info = page.evaluate(INSPECT)
    problems += _problems(info)
    if errors:
        problems.append(f"JavaScript errors: {errors[:3]}")
    if blocked:
        problems.append(f"network requests: {blocked[:3]}")
    controls = [f for f in info["figures"] if f["control"]]
    if not controls:
        problems.append("no Explore control (a plotly slider or dropdown: workbench.notebook.explore + stepped_figure)")
    else:
        _, _, changed = _use_control(page, controls[0]["index"], controls[0]["control"])
        if not changed:
            problems.append(f"the {controls[0]['control']} of figure {controls[0]['index']} ({controls[0]['title']}) "
                            "changed nothing when clicked")
    if os.environ.get("WORKBENCH_SCREENSHOTS"):
        page.screenshot(path=str(Path(os.environ["WORKBENCH_SCREENSHOTS"]) / f"{name}.png"), full_page=True)
    page.context.close()
    assert not problems, f"{name}: " + "; ".join(problems)


# --- JupyterLab (make lab) --------------------------------------------------------------------------------


@pytest.mark.slow
def test_make_lab_starts_and_typesets_latex_offline(browser, tmp_path):
    """``make lab`` as the README says (as root too: the Makefile adds --allow-root), on the fixture notebooks:
    the server answers and JupyterLab typesets the notebook's LaTeX with its own MathJax, nothing from outside."""
    import secrets
    import signal
    import socket
    import subprocess
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_hex(8)
    args = (f"--no-browser --ip=127.0.0.1 --port={port} --ServerApp.port_retries=0 --IdentityProvider.token={token}"
            f" --ServerApp.open_browser=False")
    root = Path(__file__).resolve().parents[1]
    log = tmp_path / "lab.log"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "ws")}
    with open(log, "w") as out:
        # -o: use the environment as it is (no bootstrap from inside a test)
        proc = subprocess.Popen(["make", "-s", "-o", ".venv/.installed", "lab", f"LAB_DIR={FIX}", f"LAB_ARGS={args}"],
                                cwd=root, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while f"127.0.0.1:{port}/lab" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, f"make lab exited ({proc.returncode}):\n{log.read_text()[-2000:]}"
            time.sleep(0.5)
        assert f"127.0.0.1:{port}/lab" in log.read_text(), log.read_text()[-2000:]
        context = browser.new_context(viewport=VIEWPORT)
        outside = []
        local = (f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", "data:", "blob:")
        context.route("**/*", lambda r: r.continue_() if r.request.url.startswith(local)
                      else (outside.append(r.request.url), r.abort()))
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{port}/lab/tree/03_explore.ipynb?token={token}")
        page.wait_for_selector(".jp-MarkdownCell .jp-RenderedMarkdown mjx-container", timeout=120_000)
        page.wait_for_timeout(1000)
        first = page.locator(".jp-MarkdownCell").first
        assert first.locator("mjx-container").count() >= 2  # inline beta and the display equation
        assert "$" not in first.locator(".jp-RenderedMarkdown").inner_text()
        assert outside == [], outside
        context.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # make, jupyter lab and any kernel it started (their own session)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
