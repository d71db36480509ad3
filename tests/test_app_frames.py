"""The reports runner records the notebooks' result frames beside the reports (reports/frames/<notebook>/), from
the fixture notebook 01 with a results frame added to a copy: the schema's frames only, the parameters in
frames.json, no trace of the recording cell in the report, and a failed run keeps the previous frames."""

import json
import shutil
from pathlib import Path

import nbformat
import pandas as pd

from workbench.reports.runner import RECORD_TAG, run_reports

FIX = Path(__file__).parent / "fixtures" / "notebooks"

FRAME_CELL = """\
import pandas as pd
from workbench.results import make_frame

results = make_frame([("Nash-MD", seed, t, 2 * t, "kl_to_eq", 1.0 / (t + n), 0, 0.1, 0.2, "constant")
                      for t in range(3)], knobs="tabular")
notes = pd.DataFrame({"text": ["not a results frame"]})
_hidden = results.copy()
if flag:
    raise RuntimeError("planted failure after the frames were made")
"""


def notebooks(tmp_path: Path) -> Path:
    """A copy of fixture 01 (and its profiles) with a cell that builds a results frame and fails when ``flag``."""
    folder = tmp_path / "nbs"
    shutil.copytree(FIX / "params", folder / "params")
    nb = nbformat.read(str(FIX / "01_ok.ipynb"), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(FRAME_CELL))
    nbformat.write(nb, str(folder / "01_ok.ipynb"))
    return folder


def test_frames_recorded_and_kept_on_failure(tmp_path, monkeypatch):
    folder, out = notebooks(tmp_path), tmp_path / "reports"
    [ok] = run_reports(folder, out, only=["01"], overrides={"n": 6}, log=lambda m: None)
    assert ok.ok, ok.message()
    frames = out / "frames" / "01_ok"
    assert sorted(p.name for p in frames.iterdir()) == ["frames.json", "results.parquet"]
    df = pd.read_parquet(frames / "results.parquet")
    assert df["value"].tolist() == [1 / 6, 1 / 7, 1 / 8] and list(df.columns[:6]) == ["algo", "seed", "step",
                                                                                       "queries", "metric", "value"]
    meta = json.loads((frames / "frames.json").read_text())
    assert meta["parameters"]["n"] == 6 and meta["parameters"]["title"] == "fixture figure"  # defaults + overrides
    assert meta["frames"] == ["results"]
    # the report and its notebook show the notebook's own cells only
    report = nbformat.read(str(out / "01_ok.ipynb"), as_version=4)
    assert not any(RECORD_TAG in c.metadata.get("tags", []) for c in report.cells)
    assert "_workbench_record_frames" not in (out / "01_ok.html").read_text()
    assert "_workbench_record_frames" not in (folder / "01_ok.ipynb").read_text()  # the source is untouched
    # a failed run (after making new frames) leaves the previous frames as they were
    [bad] = run_reports(folder, out, only=["01"], overrides={"n": 9, "flag": True}, log=lambda m: None)
    assert not bad.ok and "planted failure" in bad.error and bad.cell_index == 5, bad.message()
    assert pd.read_parquet(frames / "results.parquet")["value"].tolist() == [1 / 6, 1 / 7, 1 / 8]
    assert json.loads((frames / "frames.json").read_text())["parameters"]["n"] == 6
    # a run whose cells all pass (so the new frames were recorded) but whose export fails is a failed run too:
    # its frames are not published
    import workbench.reports.runner as runner

    def broken_export(path):
        raise RuntimeError("planted export failure")

    monkeypatch.setattr(runner, "export_html", broken_export)
    [bad] = run_reports(folder, out, only=["01"], overrides={"n": 11}, log=lambda m: None)
    assert not bad.ok and "planted export failure" in bad.error
    assert pd.read_parquet(frames / "results.parquet")["value"].tolist() == [1 / 6, 1 / 7, 1 / 8]
