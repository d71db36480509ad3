"""Student copies from the source notebooks (``python -m workbench.course build``) and grading them (``grade``).

Built once per module into a temporary folder: every student copy holds no solution code (no marker, no line of a
solution region of its source), no outputs, and the graded cells' nbgrader metadata; every exercise id of the
notebooks has a registered check and every registered check appears in its notebook; each student copy runs from
its first cell through its first exercise's check cell (which reports the stub as not attempted: a kernel start and
the imports, ~15 s a notebook on a shared 2-core CPU, not the whole notebook — the source notebooks run under nbval); ``grade`` on notebook 01's student copy with one
correct and one wrong answer filled in prints passed / failed / not attempted and exits 1.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from workbench.course import CHECKS
from workbench.course.__main__ import main
from workbench.course.build import CODE_STUB, MARKERS, build, graded_cells, source_notebooks

ROOT = Path(__file__).resolve().parents[1]
SOURCES = source_notebooks(ROOT / "notebooks")
#: Notebooks whose exercise cells exist (06's are added by its own engineer; see workbench/course/__init__.py).
WITH_EXERCISES = [p for p in SOURCES if graded_cells(nbformat.read(p, as_version=4))]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("course")
    assert main(["build", "--out", str(out)]) == 0
    return out


def _solution_lines(nb) -> list[str]:
    """Every substantial line inside a BEGIN/END SOLUTION region of ``nb`` (not comments, not short lines) that does
    not also appear outside the regions (a solution may repeat a line of the notebook's own runs)."""
    lines, outside, inside = [], set(), False
    for cell in nb.cells:
        for line in cell.source.splitlines():
            s = line.strip()
            if MARKERS[0] in s:
                inside = True
            elif MARKERS[1] in s:
                inside = False
            elif inside and len(s) > 15 and not s.startswith("#"):
                lines.append(s)
            elif not inside:
                outside.add(s)
    return [s for s in lines if s not in outside]


def test_exercises_in_every_notebook_and_registered():
    assert [p.name[:2] for p in WITH_EXERCISES][:5] == ["01", "02", "03", "04", "05"]
    ids_in_notebooks = set()
    for path in WITH_EXERCISES:
        nb = nbformat.read(path, as_version=4)
        ids = [ex for _, ex in graded_cells(nb)]
        assert 3 <= len(ids) <= 6, f"{path.name}: {len(ids)} graded exercises; the course wants 3-6"
        for i, ex in graded_cells(nb):
            assert ex in CHECKS, f"{path.name} cell {i}: exercise {ex} has no check in workbench.course"
            assert CHECKS[ex].notebook == path.stem, f"{path.name}: exercise {ex} is registered for {CHECKS[ex].notebook}"
            assert f'check("{ex}", ' in nb.cells[i].source and "check" in nb.cells[i].metadata.get("tags", [])
            answer = nb.cells[i - 1]  # the answer cell right before its check
            assert answer.metadata.get("nbgrader", {}).get("solution") is True and "solution" in answer.metadata["tags"], (path.name, ex)
            assert MARKERS[0] in answer.source and MARKERS[1] in answer.source, (path.name, ex)
        ids_in_notebooks |= set(ids)
    notebooks = {p.stem for p in WITH_EXERCISES}
    missing = [ex for ex, c in CHECKS.items() if c.notebook in notebooks and ex not in ids_in_notebooks]
    assert not missing, f"registered checks that no notebook cell calls: {missing}"


def test_student_copies_hold_no_solution(built):
    for path in SOURCES:
        src = nbformat.read(path, as_version=4)
        student = nbformat.read(built / "student" / path.name, as_version=4)
        text = "\n".join(c.source for c in student.cells)
        assert MARKERS[0] not in text and MARKERS[1] not in text, path.name
        leaked = [line for line in _solution_lines(src) if line in text]
        assert not leaked, f"{path.name}: solution code in the student copy: {leaked[:3]}"
        assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code"), path.name
        for i, ex in graded_cells(src):
            assert student.cells[i].metadata["nbgrader"]["grade_id"] == src.cells[i].metadata["nbgrader"]["grade_id"]
            assert student.cells[i].metadata["editable"] is False  # nbgrader's LockCells: a check cannot be edited
            assert CODE_STUB in student.cells[i - 1].source, (path.name, ex)
        instructor = nbformat.read(built / "instructor" / path.name, as_version=4)
        assert [c.source for c in instructor.cells] == [c.source for c in src.cells], path.name
    assert (built / "data" / "bandits" / "sample_comparisons.csv").exists()  # ../data resolves beside the copies


@pytest.mark.parametrize("path", [p for p in WITH_EXERCISES if not p.name.startswith("01")], ids=lambda p: p.name[:2])
def test_student_copy_runs_to_its_first_exercise(built, path, tmp_path):
    """Notebook 01's copy runs whole in the grade test below; the others through their first check cell."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    nb = nbformat.read(built / "student" / path.name, as_version=4)
    first_check = graded_cells(nb)[0][0]
    nb.cells = nb.cells[: first_check + 1]
    short = built / "student" / f"_first_{path.name}"
    nbformat.write(nb, short)
    out = tmp_path / path.name
    with pytest.raises(PapermillExecutionError, match="NotAttempted"):  # papermill still reports the check's error
        papermill.execute_notebook(str(short), str(out), kernel_name="python3", cwd=str(short.parent), progress_bar=False,
                                   allow_errors=True, execution_timeout=300, request_save_on_cell_execute=False,
                                   autosave_cell_every=0)
    short.unlink()
    ran = nbformat.read(out, as_version=4).cells
    errors = {i: o for i, c in enumerate(ran) if c.cell_type == "code" for o in c.outputs if o.output_type == "error"}
    last = max(i for i, c in enumerate(ran) if c.cell_type == "code")
    assert set(errors) == {last}, {i: (o.ename, o.evalue[:200]) for i, o in errors.items()}
    assert errors[last].ename == "NotAttempted", (errors[last].ename, errors[last].evalue)


def test_grade_reports_passed_failed_not_attempted(built, capsys, tmp_path):
    student = tmp_path / "student"
    student.mkdir()
    nb = nbformat.read(built / "student" / "01_preference_games.ipynb", as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "ex01_1_answer":  # correct
            cell.source = cell.source.replace(CODE_STUB, "return torch.sigmoid(torch.logit(mu0) + (p - 0.5) / beta)")
        elif gid == "ex01_2_answer":  # wrong: the KL term is missing
            cell.source = cell.source.replace(
                CODE_STUB, "return beta * torch.logsumexp(torch.log(mu) + (P @ pi[..., None])[..., 0] / beta[..., None], -1) - 0.5")
    nbformat.write(nb, student / "01_preference_games.ipynb")
    (tmp_path / "data").symlink_to(built / "data")
    assert main(["grade", str(student)]) == 1  # a failed check: exit status 1
    out = capsys.readouterr().out
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^01_preference_games\s+(\d\d\.\d)\s+(passed|failed|not attempted)", out, re.M)}
    assert rows == {"01.1": "passed", "01.2": "failed", "01.3": "not attempted", "01.4": "not attempted",
                    "01.5": "not attempted"}, out
    assert "regularized_exploitability gives a wrong value" in out and "1 passed, 1 failed, 3 not attempted" in out
    assert (tmp_path / "graded" / "01_preference_games.ipynb").exists()


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["grade", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no such folder" in err and err.count("\n") == 1
    assert main(["build", "--out", str(tmp_path / "o"), "--only", "99"]) == 2
    assert "no notebook matches" in capsys.readouterr().err
    bad = tmp_path / "nbs"
    bad.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1\n### BEGIN SOLUTION\nx = 2\n### END SOLUTION")])
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nbformat.write(nb, bad / "01_bad.ipynb")
    assert main(["build", "--out", str(tmp_path / "o2"), "--notebooks", str(bad)]) == 2
    assert "01_bad.ipynb: Solution region detected in a non-solution cell" in capsys.readouterr().err
