"""Report runner (``python -m workbench.reports``) on tiny fixture notebooks, and ``workbench.notebook``.

tests/fixtures/notebooks/01_ok.ipynb: parameters cell + ``setup`` + one plotly figure + a RESULT line;
tests/fixtures/notebooks/02_fails.ipynb: raises in its 3rd cell (index 2) unless ``fail=False``.
Executions are kept to three (one of 01, two of 02): each starts a kernel.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

from workbench.notebook import configure_plotly, environment_info, git_revision
from workbench.reports.cli import main, parse_value
from workbench.reports.index import read_index, render_index_html, update_index
from workbench.reports.meta import ReportConfigError, list_notebooks
from workbench.reports.runner import REPORT_PLOTLY_RENDERER, plan_jobs, select_notebooks

FIX = Path(__file__).parent / "fixtures" / "notebooks"


def run_cli(out: Path, *args: str, notebooks: Path = FIX) -> tuple[int, str]:
    """Run the CLI in-process; returns (exit code, stdout + stderr)."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        rc = main(["--notebooks", str(notebooks), "--out", str(out), "--no-progress", *args])
    return rc, buf.getvalue()


@pytest.fixture(scope="module")
def ok_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
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
    # values reach the kernel with their YAML types: 2 -> int, true -> bool, [3, 4] -> list
    assert "RESULT n=7 scale=2 int title='hello world' sum=7 flag=True bool" in _outputs_text(nb)
    assert f"KERNEL {sys.prefix}" in _outputs_text(nb)  # the kernel is this environment's python
    assert f"CWD {FIX.resolve()}" in _outputs_text(nb)  # run from the notebook folder (../data works)
    assert not list(out.glob(".tmp*")), "temporary folder left behind"


def test_report_html_is_self_contained_with_plotly(ok_run):
    out, rc, log = ok_run
    html = (out / "01_ok.html").read_text(encoding="utf-8")
    assert "Plotly.newPlot" in html  # the figure
    assert "plotly.js v" in html  # the embedded library (not a CDN link)
    assert 'src="https://cdn.plot.ly' not in html
    assert "require.min.js" not in html
    # the setup cell ran under the report renderer
    nb = nbformat.read(out / "01_ok.ipynb", as_version=4)
    fig_outputs = [o for c in nb.cells for o in c.get("outputs", []) if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(fig_outputs) == 1 and "text/html" in fig_outputs[0]["data"]


def test_index_row_records_run(ok_run):
    out, rc, log = ok_run
    rows = {r["name"]: r for r in read_index(out)}
    row = rows["01_ok"]
    assert row["status"] == "ok" and row["profile"] == "quick"
    assert row["parameters"]["n"] == 7 and row["parameters"]["values"] == [3, 4]
    assert row["overrides"] == {"n": 7, "scale": 2, "values": [3, 4], "flag": True, "title": "hello world"}
    env = environment_info()
    for key in ("python", "torch", "transformers", "peft", "git_revision"):
        assert row[key] == env[key]
    assert row["device"] == "cpu" or row["device"].startswith("cuda")
    assert row["html"] == "01_ok.html" and row["duration_s"] > 0
    index_html = (out / "index.html").read_text(encoding="utf-8")
    assert 'href="01_ok.html"' in index_html and "n=7" in index_html


def test_unknown_parameter_is_an_error_naming_it(tmp_path):
    rc, log = run_cli(tmp_path / "out", "--only", "01_ok", "-p", "nn", "3")
    assert rc == 2
    assert "01_ok" in log and "'nn'" in log
    assert "flag, n, scale, seed, title, values" in log  # the valid names
    assert not (tmp_path / "out" / "01_ok.ipynb").exists()


def test_unknown_parameter_in_profile_file(tmp_path):
    nbs = tmp_path / "nbs"
    shutil.copytree(FIX, nbs)
    (nbs / "params" / "02_fails.yaml").write_text("quick:\n  fail: true\n  failx: 1\nfull: {}\n")
    rc, log = run_cli(tmp_path / "out", "--only", "02", notebooks=nbs)
    assert rc == 2 and "02_fails" in log and "'failx'" in log and "profile 'quick'" in log


def test_failing_notebook_keeps_previous_report(tmp_path):
    out = tmp_path / "reports"
    out.mkdir()
    other = {"name": "99_other", "status": "ok", "profile": "full", "parameters": {}, "html": "99_other.html"}
    (out / "index.json").write_text(json.dumps({"version": 1, "reports": [other]}))

    rc, log = run_cli(out, "--only", "fails", "-p", "fail", "false")
    assert rc == 0, log
    good = {ext: (out / f"02_fails.{ext}").read_bytes() for ext in ("ipynb", "html")}

    rc, log = run_cli(out, "--only", "02_fails")
    assert rc == 1
    line = next(ln for ln in log.splitlines() if ln.startswith("FAILED 02_fails"))
    assert "cell 2" in line and "`if fail:`" in line and "RuntimeError: fixture failure requested" in line
    for ext, data in good.items():
        assert (out / f"02_fails.{ext}").read_bytes() == data
    failed_nb = nbformat.read(out / "02_fails.failed.ipynb", as_version=4)
    assert "fixture failure requested" in json.dumps(failed_nb)  # kept for debugging

    rows = {r["name"]: r for r in read_index(out)}
    assert rows["99_other"] == other  # merged, not overwritten
    row = rows["02_fails"]
    assert row["status"] == "failed" and row["failed_cell"] == 2 and row["failed_cell_source"] == "if fail:"
    assert row["html"] == "02_fails.html"  # the previous, still valid report


def test_index_merge_replaces_by_name(tmp_path):
    update_index(tmp_path, [{"name": "02_b", "status": "ok"}, {"name": "01_a", "status": "ok"}])
    rows = update_index(tmp_path, [{"name": "02_b", "status": "failed", "error": "E: <boom>"}])
    assert [(r["name"], r["status"]) for r in rows] == [("01_a", "ok"), ("02_b", "failed")]
    assert read_index(tmp_path) == rows
    page = (tmp_path / "index.html").read_text()
    assert "E: &lt;boom&gt;" in page and "<boom>" not in page
    (tmp_path / "index.json").write_text("{not json")
    with pytest.raises(ValueError, match="index.json"):
        read_index(tmp_path)
    assert "01_a" in render_index_html(rows)


@pytest.mark.parametrize(
    "text, value",
    [("0.1", 0.1), ("10", 10), ("true", True), ("[1,2]", [1, 2]), ("1e-3", 1e-3), ("-2.5E2", -250.0),
     ("null", None), ("hello", "hello"), ("'10'", "10"), ("{a: 1}", {"a": 1})],
)
def test_param_value_parsing(text, value):
    got = parse_value(text)
    assert got == value and type(got) is type(value)


def test_select_notebooks_by_prefix_stem_substring():
    nbs = list_notebooks(FIX)
    assert [p.stem for p in nbs] == ["01_ok", "02_fails"]
    for pattern, want in [("01", ["01_ok"]), ("2", ["02_fails"]), ("01_ok", ["01_ok"]), ("FAIL", ["02_fails"]),
                          ("02_fails.ipynb", ["02_fails"])]:
        assert [p.stem for p in select_notebooks(nbs, [pattern])] == want
    assert len(select_notebooks(nbs, ["01", "ok", "02"])) == 2
    many = [Path(f"{n}.ipynb") for n in ("01_a", "10_b1", "11_c", "21_d")]
    assert [p.stem for p in select_notebooks(many, ["1"])] == ["01_a"]  # numbers select by prefix only
    assert [p.stem for p in select_notebooks(many, ["b1"])] == ["10_b1"]
    with pytest.raises(ReportConfigError, match="nope.*01_ok, 02_fails"):
        select_notebooks(nbs, ["nope"])


def test_profiles_full_and_missing(tmp_path):
    nbs = list_notebooks(FIX)
    (job,) = plan_jobs(nbs[:1], profile="full", overrides={"seed": 4})
    assert job.parameters == {"n": 50, "scale": 0.5, "seed": 4}
    with pytest.raises(ReportConfigError, match="no profile 'huge'"):
        plan_jobs(nbs[:1], profile="huge")
    with pytest.raises(ReportConfigError, match="profile file is missing"):
        plan_jobs(nbs[:1], profile="full", params_dir=tmp_path)
    # quick without a profile file = the notebook defaults
    (job,) = plan_jobs(nbs[:1], profile="quick", params_dir=tmp_path)
    assert job.parameters == {}


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
