"""Report runner (``python -m workbench.reports``) on tiny fixture notebooks, and ``workbench.notebook``.

tests/fixtures/notebooks/01_ok.ipynb: parameters cell + ``setup`` + one plotly figure + a RESULT line;
tests/fixtures/notebooks/02_fails.ipynb: raises in cell 3 (0-based, after a cell that passes) unless
``fail=False`` (its ``passes`` profile). Three executions in all (one of 01, two of 02): each starts a kernel.
tests/fixtures/notebooks/03_explore.ipynb (LaTeX, widgets, Explore controls) runs in test_reports_browser.py;
the HTML clean-up it needs (widgets, CDN scripts) is tested here on notebooks made in the test.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import math
import os
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

from workbench.notebook import configure_plotly, environment_info, git_revision
from workbench.reports.cli import main, parse_value
from workbench.reports.index import read_index, render_index_html, update_index
from workbench.reports.html import (
    MATHJAX_CONFIG, MATHJAX_DIR, WIDGET_VIEW, install_mathjax, mathjax_source, strip_cdn_mathjax, strip_widgets,
)
from workbench.reports.runner import (
    REPORT_PLOTLY_RENDERER, ReportConfigError, _source_cell, check_timeout, list_notebooks, notebook_title, plan_jobs,
    run_reports, select_notebooks,
)

FIX = Path(__file__).parent / "fixtures" / "notebooks"


def run_cli(out: Path, *args: str, notebooks: Path = FIX) -> tuple[int, str]:
    """Run the CLI in-process; returns (exit code, stdout + stderr)."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        rc = main(["--notebooks", str(notebooks), "--out", str(out), *args])
    return rc, buf.getvalue()


@pytest.fixture(scope="module")
def ok_run(tmp_path_factory):
    """01_ok with -p values, under a user-level ``python3`` kernelspec that cannot start: the runner must
    still use this environment's kernel (jupyter prefers a virtual environment's kernelspecs)."""
    out = tmp_path_factory.mktemp("reports")
    user = tmp_path_factory.mktemp("jupyter-user")
    (user / "kernels" / "python3").mkdir(parents=True)
    (user / "kernels" / "python3" / "kernel.json").write_text(
        json.dumps({"argv": ["/nonexistent/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                    "display_name": "broken", "language": "python"})
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_DATA_DIR", str(user))
        mp.delenv("JUPYTER_PREFER_ENV_PATH", raising=False)
        rc, log = run_cli(
            out, "--only", "01", "-p", "n", "7", "-p", "scale", "2", "-p", "values", "[3, 4]",
            "-p", "flag", "true", "-p", "title", "hello world",
        )
    return out, rc, log


def _outputs_text(nb) -> str:
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def test_report_written_with_injected_parameters(ok_run):
    out, rc, log = ok_run
    assert rc == 0, log
    assert "OK     01_ok" in log
    nb = nbformat.read(out / "01_ok.ipynb", as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "n = 7" in injected[0].source
    # values reach the kernel in the defaults' types: 2 for the float scale -> 2.0, true -> bool, [3, 4] -> list
    assert "RESULT n=7 scale=2.0 float title='hello world' sum=7 flag=True bool" in _outputs_text(nb)
    assert f"KERNEL {sys.prefix}" in _outputs_text(nb)  # this environment's python
    assert f"CWD {FIX.resolve()}" in _outputs_text(nb)  # run from the notebook folder (../data works)
    assert sorted(p.name for p in out.iterdir()) == ["01_ok.html", "01_ok.ipynb", "_static", "index.html", "index.json"]


def test_report_html_is_self_contained_with_plotly(ok_run):
    out, rc, log = ok_run
    html = (out / "01_ok.html").read_text(encoding="utf-8")
    assert "Plotly.newPlot" in html  # the figure
    assert "plotly.js v" in html  # the embedded library (not a CDN link)
    assert 'src="https://cdn.plot.ly' not in html
    assert "require.min.js" not in html
    # MathJax from the reports folder, by a relative URL; no CDN script (plotly adds one per figure)
    assert f'<script src="{MATHJAX_DIR}/MathJax.js?config={MATHJAX_CONFIG}"></script>' in html
    assert not re.search(r'<script[^>]+src="https?:', html), re.findall(r'<script[^>]+src="https?:[^"]*"', html)
    assert (out / MATHJAX_DIR / "MathJax.js").is_file()
    assert '<a href="index.html">' in html  # back to the index
    # the setup cell ran under the report renderer
    nb = nbformat.read(out / "01_ok.ipynb", as_version=4)
    fig_outputs = [o for c in nb.cells for o in c.get("outputs", []) if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(fig_outputs) == 1 and "text/html" in fig_outputs[0]["data"]


def test_index_row_records_run(ok_run):
    out, rc, log = ok_run
    row = {r["name"]: r for r in read_index(out)}["01_ok"]
    assert row["status"] == "ok" and row["profile"] == "quick"
    assert row["overrides"] == {"n": 7, "scale": 2.0, "values": [3, 4], "flag": True, "title": "hello world"}
    assert row["parameters"] == {**row["overrides"], "seed": 0}  # every value the notebook ran with
    env = environment_info()
    for key in ("python", "torch", "transformers", "peft", "git_revision"):
        assert row[key] == env[key]
    assert row["device"] == "cpu" or row["device"].startswith("cuda")
    assert row["html"] == "01_ok.html" and row["duration_s"] > 0 and row["error"] is None
    assert row["title"] == "Fixture: a notebook that works"  # the notebook's first heading
    index_html = (out / "index.html").read_text(encoding="utf-8")
    assert 'href="01_ok.html"' in index_html and "n=7" in index_html
    assert "<th>what it shows</th>" in index_html and "<td>Fixture: a notebook that works</td>" in index_html


def test_failing_notebook_keeps_previous_report_and_its_row(tmp_path):
    out = tmp_path / "reports"
    out.mkdir()
    other = {"name": "99_other", "status": "ok", "profile": "full", "overrides": {}, "html": "99_other.html"}
    (out / "index.json").write_text(json.dumps({"version": 1, "reports": [other]}))

    rc, log = run_cli(out, "--only", "fails", "--profile", "passes")
    assert rc == 0, log
    good = {ext: (out / f"02_fails.{ext}").read_bytes() for ext in ("ipynb", "html")}
    good_row = {r["name"]: r for r in read_index(out)}["02_fails"]

    rc, log = run_cli(out, "--only", "02_fails")
    assert rc == 1
    line = next(ln for ln in log.splitlines() if ln.startswith("FAILED 02_fails"))
    # cell 3 of the source notebook (papermill's own index counts its injected cell)
    assert "cell 3 (0-based) `if fail:`" in line and "RuntimeError: fixture failure requested" in line
    for ext, data in good.items():
        assert (out / f"02_fails.{ext}").read_bytes() == data
    failed_nb = nbformat.read(out / "02_fails.failed.ipynb", as_version=4)
    assert "fixture failure requested" in json.dumps(failed_nb)  # kept for debugging
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temporary files left behind"

    rows = {r["name"]: r for r in read_index(out)}
    assert rows["99_other"] == other  # merged, not overwritten
    row = rows["02_fails"]
    assert row["status"] == "failed" and row["failed_cell"] == 3 and row["failed_cell_source"] == "if fail:"
    assert row["failed_overrides"] == {} and row["failed_notebook"] == "02_fails.failed.ipynb"
    # the rest of the row describes the kept report, not the failed run
    for key in ("profile", "overrides", "parameters", "duration_s", "timestamp", "html", "ipynb"):
        assert row[key] == good_row[key], key
    assert row["profile"] == "passes" and row["overrides"] == {"fail": False}
    assert "cell 3: if fail:" in (out / "index.html").read_text()


def test_failing_cell_is_named_by_its_source_index(tmp_path):
    """papermill's error index counts its injected cell; the runner names the cell of the source notebook.

    papermill's own code marks the failure (no kernel): each cell after the parameters cell fails in turn.
    """
    from papermill.exceptions import PapermillExecutionError
    from papermill.execute import raise_for_execution_errors
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    source = nbformat.read(FIX / "02_fails.ipynb", as_version=4)
    for k, parameters in itertools.product(range(2, len(source.cells)), ({"fail": True}, {})):
        nb = load_notebook_node(str(FIX / "02_fails.ipynb"))
        if parameters:  # as papermill.execute_notebook: no injected cell without parameters (quick)
            nb = parameterize_notebook(nb, parameters)
        (cell,) = [c for c in nb.cells if c.get("id") == source.cells[k].id]
        cell.outputs = [nbformat.v4.new_output("error", ename="E", evalue="boom", traceback=[])]
        with pytest.raises(PapermillExecutionError) as err:
            raise_for_execution_errors(nb, str(tmp_path / "executed.ipynb"))
        assert err.value.cell_index == k + bool(parameters)  # papermill's index
        assert _source_cell(tmp_path / "executed.ipynb", err.value.cell_index) == k


def test_execution_happens_outside_the_report_folder(tmp_path, monkeypatch):
    """A runner killed while a notebook executes (the long part) leaves nothing in the report folder."""
    import papermill

    out = tmp_path / "reports"
    seen = {}

    def fake_execute(input_path, output_path, **kwargs):
        seen["listing"] = sorted(p.name for p in out.iterdir()) if out.exists() else []
        seen["renderer"] = os.environ.get("PLOTLY_RENDERER")
        seen["timeout"] = kwargs["execution_timeout"]
        seen["static"] = os.environ.get("WORKBENCH_STATIC_REPORT")
        seen["tqdm"] = os.environ.get("TQDM_DISABLE")
        shutil.copy(input_path, output_path)

    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)
    monkeypatch.setenv("PLOTLY_RENDERER", "json")
    monkeypatch.delenv("WORKBENCH_STATIC_REPORT", raising=False)
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    (result,) = run_reports(FIX, out, only=["01"], log=lambda msg: None)
    # quick; the kernel is told it renders a static report (Explore: plotly controls) and tqdm prints nothing
    assert result.ok and seen == {"listing": ["_static"], "renderer": REPORT_PLOTLY_RENDERER, "timeout": 600,
                                  "static": "1", "tqdm": "1"}
    assert os.environ["PLOTLY_RENDERER"] == "json"  # restored
    assert "WORKBENCH_STATIC_REPORT" not in os.environ and "TQDM_DISABLE" not in os.environ
    assert sorted(p.name for p in out.iterdir()) == ["01_ok.html", "01_ok.ipynb", "_static", "index.html", "index.json"]


def test_kernel_that_never_starts_fails_its_notebook(tmp_path, monkeypatch):
    import papermill

    def no_kernel(input_path, output_path, **kwargs):
        raise RuntimeError("Kernel died before replying to kernel_info\nmore detail")

    monkeypatch.setattr(papermill, "execute_notebook", no_kernel)
    out = tmp_path / "reports"
    out.mkdir()
    (out / "01_ok.failed.ipynb").write_text("{}")  # from an older failure: it would mislead
    (result,) = run_reports(FIX, out, only=["01"], log=lambda msg: None)
    assert result.message() == "FAILED 01_ok: RuntimeError: Kernel died before replying to kernel_info"
    assert sorted(p.name for p in out.iterdir()) == ["_static", "index.html", "index.json"]
    (row,) = read_index(out)
    assert row["status"] == "failed" and row["failed_notebook"] is None and row["html"] is None


def test_unknown_parameter_is_an_error_naming_it(tmp_path):
    rc, log = run_cli(tmp_path / "out", "--only", "01_ok", "-p", "nn", "3")
    assert rc == 2
    assert "01_ok: unknown parameter 'nn' from -p" in log
    assert "flag, n, scale, seed, title, values" in log  # the valid names
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["-p", "n", "notanumber"], "01_ok: parameter 'n' from -p is 'notanumber' (str); the notebook's default 5 has type int"),
        (["-p", "flag", "1"], "parameter 'flag' from -p is 1 (int); the notebook's default False has type bool"),
        (["-p", "values", "[1, x]"], "parameter 'values' from -p is [1, 'x'] (list); the notebook's default [1, 2] has type list of int"),
        (["-p", "n", "3", "-p", "n", "4"], "-p n given twice (3 and 4)"),
        (["--timeout", "-5"], "--timeout must be a number of seconds >= 0 (0: no limit), got -5.0"),
        (["--profile", "huge"], "no profile 'huge' (profiles: quick = the parameters cell, full)"),
    ],
)
def test_bad_configuration_runs_nothing(tmp_path, args, message):
    rc, log = run_cli(tmp_path / "out", "--only", "01", *args)
    assert rc == 2 and message in log, log
    assert not (tmp_path / "out").exists()


def test_timeout_by_profile_in_whole_seconds():
    assert check_timeout(None, "quick") == 600 and check_timeout(None, "full") == 7200
    assert check_timeout(0.5, "quick") == 1 and check_timeout(30, "full") == 30  # nbclient wants an int
    assert check_timeout(0, "quick") is None  # no limit
    for bad in (-5, math.nan, math.inf, "10", True):
        with pytest.raises(ReportConfigError, match="--timeout"):
            check_timeout(bad, "quick")


def test_profiles_hold_overrides_only(tmp_path):
    nbs = list_notebooks(FIX)
    (job,) = plan_jobs(nbs[:1], profile="full", overrides={"seed": 4, "scale": 3})
    assert job.parameters == {"n": 50, "scale": 3.0, "seed": 4} and type(job.parameters["scale"]) is float
    (job,) = plan_jobs(nbs[:1])  # quick: the parameters cell, nothing injected
    assert job.parameters == {}
    copy = tmp_path / "nbs"
    shutil.copytree(FIX, copy)
    (copy / "params" / "01_ok.yaml").unlink()
    (job,) = plan_jobs(list_notebooks(copy)[:1], overrides={"n": 2})  # no profile file: quick still works
    assert job.parameters == {"n": 2}
    with pytest.raises(ReportConfigError, match=r"01_ok.yaml: no profile 'full' \(profiles: quick = the parameters cell\)"):
        plan_jobs(list_notebooks(copy)[:1], profile="full")
    (copy / "params" / "02_fails.yaml").write_text("quick:\n  fail: true\n")
    with pytest.raises(ReportConfigError, match="02_fails.yaml: remove the 'quick:' block"):
        plan_jobs(list_notebooks(copy)[1:])


def test_index_merge_replaces_by_name(tmp_path):
    update_index(tmp_path, [{"name": "02_b", "status": "ok"}, {"name": "01_a", "status": "ok"}])
    rows = update_index(tmp_path, [{"name": "02_b", "status": "failed", "error": "E: <boom>"}])
    assert [(r["name"], r["status"]) for r in rows] == [("01_a", "ok"), ("02_b", "failed")]
    assert read_index(tmp_path) == rows
    page = (tmp_path / "index.html").read_text()
    assert "E: &lt;boom&gt;" in page and "<boom>" not in page
    assert "01_a" in render_index_html(rows)
    for text in ("{not json", "[1, 2]", '{"reports": [{"status": "ok"}]}'):
        (tmp_path / "index.json").write_text(text)
        with pytest.raises(ValueError, match="index.json"):
            read_index(tmp_path)
    rc, log = run_cli(tmp_path, "--only", "01")  # a corrupt index stops the run before the work
    assert rc == 2 and "index.json" in log


@pytest.mark.parametrize(
    "text, value",
    [("0.1", 0.1), ("10", 10), ("true", True), ("[1,2]", [1, 2]), ("1e-3", 1e-3), ("-2.5E2", -250.0),
     ("null", None), ("hello", "hello"), ("'10'", "10"), ("{a: 1}", {"a": 1}), ("1.5.2", "1.5.2")],
)
def test_param_value_parsing(text, value):
    got = parse_value(text)
    assert got == value and type(got) is type(value)


def test_select_notebooks_by_prefix_stem_substring():
    nbs = list_notebooks(FIX)
    assert [p.stem for p in nbs] == ["01_ok", "02_fails", "03_explore"]
    for pattern, want in [("01", ["01_ok"]), ("2", ["02_fails"]), ("01_ok", ["01_ok"]), ("FAIL", ["02_fails"]),
                          ("02_fails.ipynb", ["02_fails"])]:
        assert [p.stem for p in select_notebooks(nbs, [pattern])] == want
    assert len(select_notebooks(nbs, ["01", "ok", "02"])) == 2
    assert [p.stem for p in select_notebooks(nbs, ["explore"])] == ["03_explore"]
    assert select_notebooks(nbs, []) == nbs
    many = [Path(f"{n}.ipynb") for n in ("01_a", "10_b1", "11_c", "21_d")]
    assert [p.stem for p in select_notebooks(many, ["1"])] == ["01_a"]  # numbers select by prefix only
    assert [p.stem for p in select_notebooks(many, ["b1"])] == ["10_b1"]
    with pytest.raises(ReportConfigError, match="nope.*01_ok, 02_fails, 03_explore"):
        select_notebooks(nbs, ["nope"])


def test_list_shows_profiles_and_parameters(tmp_path):
    rc, log = run_cli(tmp_path, "--list")
    assert rc == 0 and not list(tmp_path.iterdir())
    assert "01_ok\n    profiles: quick, full\n    seed = 0  # random seed\n    n = 5  # number of points" in log
    assert "02_fails\n    profiles: quick, passes\n" in log


def test_environment_info_and_plotly_renderer(monkeypatch, tmp_path):
    info = environment_info(seed=5)
    assert info["seed"] == 5 and info["device"] in ("cpu", "cuda")
    assert info["python"].count(".") == 2 and info["torch"]
    assert info["git_revision"] is None or len(info["git_revision"]) >= 7
    assert environment_info(device=None)["device"] is None
    assert git_revision(tmp_path) == {"git_revision": None, "git_dirty": None}  # not a repository

    import plotly.io as pio

    old = pio.renderers.default
    try:
        monkeypatch.setenv("PLOTLY_RENDERER", "json")
        assert configure_plotly() == "json" and pio.renderers.default == "json"
        monkeypatch.delenv("PLOTLY_RENDERER")
        assert configure_plotly() == REPORT_PLOTLY_RENDERER == pio.renderers.default
        with pytest.raises(ValueError):
            configure_plotly("no_such_renderer")
    finally:
        pio.renderers.default = old


def _notebook(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    return nb


def test_notebook_title_is_the_first_heading_without_its_number(tmp_path):
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    cases = [
        ([md("# 01 · Preference games: intransitivity\n\nText.")], "Preference games: intransitivity"),
        ([code("x = 1"), md(""), md("Intro line\n## 3. Offline bandits")], "Offline bandits"),
        ([md("# A title without a number")], "A title without a number"),
        ([md("No heading at all")], None),
        ([code("x = 1")], None),
    ]
    for i, (cells, want) in enumerate(cases):
        path = tmp_path / f"{i:02d}_nb.ipynb"
        nbformat.write(_notebook(*cells), path)
        assert notebook_title(path) == want, cells


def test_strip_widgets_drops_boxes_and_their_frozen_text():
    widget = {WIDGET_VIEW: {"model_id": "abc", "version_major": 2, "version_minor": 0}}
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output("display_data", {**widget, "text/plain": "steps:   0%|          | 0/5 [00:00<?, ?it/s]"}),
        nbformat.v4.new_output("execute_result", {**widget, "text/plain": "IntSlider(value=3)"}, execution_count=1),
        nbformat.v4.new_output("display_data", {**widget, "text/html": "<b>kept</b>", "text/plain": "HBox()"}),
        nbformat.v4.new_output("stream", name="stdout", text="TOTAL 10\n"),
        nbformat.v4.new_output("stream", name="stdout", text="\n\n\n"),  # blank lines around a bar: an empty box
        nbformat.v4.new_output("display_data", {"text/plain": "IntSlider-like text that is no widget"}),
    ]
    nb = _notebook(nbformat.v4.new_markdown_cell("# t"), cell)
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    assert strip_widgets(nb) == 3
    assert "widgets" not in nb.metadata  # else the template loads the widget manager from a CDN
    assert [o.get("data", o.get("text")) for o in nb.cells[1].outputs] == [
        {"text/html": "<b>kept</b>"}, "TOTAL 10\n", {"text/plain": "IntSlider-like text that is no widget"},
    ]


def test_strip_cdn_mathjax_keeps_the_figure():
    figure = ('<div> <script src="https://cdnjs.cloudflare.com/ajax/libs/mathjax/3.2.2/es5/tex-svg.min.js"></script>'
              '<script>if (window.MathJax) {}</script> <div class="plotly-graph-div" id="f"></div></div>')
    cell = nbformat.v4.new_code_cell("fig.show()")
    cell.outputs = [nbformat.v4.new_output("display_data", {"text/html": figure, "text/plain": "Figure"})]
    nb = _notebook(cell)
    assert strip_cdn_mathjax(nb) == 1 and strip_cdn_mathjax(nb) == 0
    html = nb.cells[0].outputs[0]["data"]["text/html"]
    assert "cdnjs" not in html and 'class="plotly-graph-div"' in html and "<script>if (window.MathJax)" in html


def test_install_mathjax_copies_what_reports_load(tmp_path):
    dest = install_mathjax(tmp_path)
    assert dest == tmp_path / MATHJAX_DIR
    files = [p for p in dest.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    assert 1_000_000 < size < 3_500_000, size  # the subset, not the package's 12 MB
    config = MATHJAX_CONFIG.split(",")[0]
    for rel in ("MathJax.js", f"config/{config}.js", "extensions/Safe.js", "jax/input/TeX/config.js",
                "jax/output/HTML-CSS/fonts/STIX-Web/fontdata.js", "fonts/HTML-CSS/STIX-Web/woff/STIXMathJax_Main-Regular.woff"):
        assert (dest / rel).read_bytes() == (mathjax_source() / rel).read_bytes(), rel
    assert not (dest / "jax" / "output" / "SVG").exists() and not (dest / "extensions" / "a11y").exists()
    (dest / "MathJax.js").write_text("truncated")
    before = {p: p.stat().st_mtime_ns for p in files if p.name != "MathJax.js"}
    install_mathjax(tmp_path)  # repairs a changed file, leaves the others
    assert (dest / "MathJax.js").read_bytes() == (mathjax_source() / "MathJax.js").read_bytes()
    assert {p: p.stat().st_mtime_ns for p in before} == before


def test_cli_outside_the_repository_says_there_is_no_notebooks_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["--list"]) == 2
    err = capsys.readouterr().err
    assert "no notebooks/ folder in" in err and "run from the repository root" in err and "Traceback" not in err
    (tmp_path / "notebooks").mkdir()  # a folder without NN_name notebooks
    assert main([]) == 2
    assert "holds no NN_name.ipynb notebook" in capsys.readouterr().err
