"""Metadata of the real notebooks (notebooks/NN_name.ipynb), without executing them.

Each notebook: a cell tagged ``parameters`` that papermill can parse, no committed outputs, kernelspec
``python3``, a profile file notebooks/params/NN_name.yaml with ``quick`` and ``full``, every profile key
a real parameter, ``quick`` values equal to the notebook defaults (``ast.literal_eval``, same type).
Passes with zero notebooks; the checker itself is tested on the fixture notebooks and broken copies.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from workbench.reports.meta import check_notebook, list_notebooks, parameter_defaults

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = list_notebooks(ROOT / "notebooks")
FIX = Path(__file__).parent / "fixtures" / "notebooks"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_metadata(nb_path):
    problems = check_notebook(nb_path)
    assert not problems, "\n".join(problems)


def test_notebook_names_are_unique_by_prefix():
    prefixes = [p.stem.split("_", 1)[0] for p in NOTEBOOKS]
    dupes = sorted({p for p in prefixes if prefixes.count(p) > 1})
    assert not dupes, f"several notebooks share the NN prefix {dupes}: {[p.name for p in NOTEBOOKS]}"


def test_params_files_belong_to_notebooks():
    stems = {p.stem for p in NOTEBOOKS}
    orphans = sorted(p.name for p in (ROOT / "notebooks" / "params").glob("*.yaml") if p.stem not in stems)
    assert not orphans, f"profile files without a notebook in notebooks/: {orphans}"


# --- the checker itself -------------------------------------------------------------------------


def test_checker_accepts_fixture_notebooks():
    for nb in list_notebooks(FIX):
        assert check_notebook(nb) == []
    assert parameter_defaults(FIX / "01_ok.ipynb") == {
        "seed": 0, "n": 5, "scale": 1.0, "title": "fixture figure", "values": [1, 2], "flag": False
    }


@pytest.fixture
def broken(tmp_path):
    shutil.copytree(FIX, tmp_path / "nbs")
    return tmp_path / "nbs"


def _edit(path: Path, fn) -> None:
    nb = nbformat.read(path, as_version=4)
    fn(nb)
    nbformat.write(nb, path)


def test_checker_flags_profile_problems(broken):
    (broken / "params" / "01_ok.yaml").write_text(
        "quick:\n  n: 6\n  scale: 1\n  bogus: 3\n  eta: 1e-3\n"  # no full, wrong n, int for float, unknown keys
    )
    problems = "\n".join(check_notebook(broken / "01_ok.ipynb"))
    assert "missing profile(s) ['full']" in problems
    assert "quick.n = 6 (int) differs from the notebook default 5 (int)" in problems
    assert "quick.scale = 1 (int) differs from the notebook default 1.0 (float)" in problems
    assert "unknown parameter 'bogus'" in problems and "unknown parameter 'eta'" in problems
    (broken / "params" / "01_ok.yaml").unlink()
    assert "profile file is missing" in "\n".join(check_notebook(broken / "01_ok.ipynb"))


def test_checker_flags_notebook_problems(broken):
    path = broken / "02_fails.ipynb"

    def damage(nb):
        nb.cells[1].metadata["tags"] = []  # no parameters cell
        nb.cells[3].outputs = [nbformat.v4.new_output("stream", text="hi\n")]
        nb.cells[3].execution_count = 1
        nb.metadata["kernelspec"]["name"] = "myenv"

    _edit(path, damage)
    problems = "\n".join(check_notebook(path))
    assert "no cell tagged 'parameters'" in problems
    assert "cell 3 has committed outputs" in problems
    assert "kernelspec name is 'myenv'" in problems
    assert "unknown parameter 'fail'" in problems  # the profile sets it, the notebook no longer has it


def test_checker_flags_unparsable_parameter(broken):
    path = broken / "02_fails.ipynb"
    _edit(path, lambda nb: setattr(nb.cells[1], "source", nb.cells[1].source.replace("# raise", "# x = 1; raise")))
    problems = "\n".join(check_notebook(path))
    assert "papermill cannot parse the parameter 'fail'" in problems
