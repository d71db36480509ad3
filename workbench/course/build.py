"""Student and instructor copies of the notebooks from one source, and grading a folder of student copies.

``build(out)`` writes, from ``notebooks/NN_*.ipynb``:

- ``out/student/``: nbgrader's own preprocessors — ``ClearSolutions`` replaces every ``### BEGIN SOLUTION`` /
  ``### END SOLUTION`` region (and every nbgrader solution cell without markers) by ``# YOUR CODE HERE``,
  ``ClearOutput`` clears outputs, ``LockCells`` locks the graded check cells; nbgrader's cell metadata stays, so
  nbgrader's autograder can grade the copies too;
- ``out/instructor/``: the notebooks with their solutions, outputs cleared;
- ``out/data/``: a copy of the project's ``data/`` (the notebooks read ``../data/...``, so both copies run from
  their folder, and write their checkpoints to ``out/checkpoints/``).

nbgrader 0.9 installs beside the project's JupyterLab 4 and ipykernel < 7 without changing either (checked with
``pip install --dry-run nbgrader`` in the project's environment), so its preprocessors are used rather than a
re-implementation. ``grade(folder)`` executes every notebook of ``folder`` with papermill (errors allowed, so
one failing check does not hide the others) and reads each graded cell's outcome: no error = passed,
:class:`~workbench.course.core.NotAttempted` = not attempted, any other error = failed (its first line).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat

from workbench.course.core import FAILED, NOT_ATTEMPTED, PASSED

ROOT = Path(__file__).resolve().parents[2]
#: What replaces a solution region in the student copy. nbgrader's default adds ``raise NotImplementedError()``;
#: a comment alone keeps every cell runnable (a stubbed function keeps its docstring, so it parses and returns
#: None, which its check reports as not attempted), so a student copy runs top to bottom.
CODE_STUB = "# YOUR CODE HERE"
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


def source_notebooks(notebooks_dir: str | Path = ROOT / "notebooks") -> list[Path]:
    return sorted(Path(notebooks_dir).glob("[0-9][0-9]_*.ipynb"))


def graded_cells(nb) -> list[tuple[int, str]]:
    """``(cell index, exercise id)`` of every graded check cell (nbgrader ``grade: true``; id from ``grade_id``
    ``exNN_k`` -> ``"NN.k"``)."""
    out = []
    for i, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and str(meta.get("grade_id", "")).startswith("ex"):
            out.append((i, meta["grade_id"][2:].replace("_", ".", 1)))
    return out


def student_copy(nb):
    """The student version of notebook ``nb`` (a new node): solutions stubbed, outputs cleared, checks locked."""
    from nbgrader.preprocessors import ClearOutput, ClearSolutions, LockCells

    nb = nbformat.from_dict(nb)
    resources = {}
    nb, resources = ClearSolutions(code_stub={"python": CODE_STUB}, enforce_metadata=True).preprocess(nb, resources)
    nb, resources = ClearOutput().preprocess(nb, resources)
    nb, resources = LockCells(lock_grade_cells=True, lock_solution_cells=False).preprocess(nb, resources)
    return nb


def _cleared(nb):
    from nbgrader.preprocessors import ClearOutput

    nb = nbformat.from_dict(nb)
    return ClearOutput().preprocess(nb, {})[0]


def build(out: str | Path, notebooks_dir: str | Path = ROOT / "notebooks", data_dir: str | Path = ROOT / "data",
          only: list[str] | None = None) -> dict[str, list[Path]]:
    """Write ``out/student``, ``out/instructor`` and ``out/data``; the written notebooks per copy.

    Raises FileNotFoundError when ``notebooks_dir`` holds no ``NN_*.ipynb``, ValueError when an ``only`` prefix
    matches none, and RuntimeError (nbgrader's) for a solution region outside a solution cell or unclosed.
    """
    notebooks = source_notebooks(notebooks_dir)
    if not notebooks:
        raise FileNotFoundError(f"{notebooks_dir}: no notebooks named NN_*.ipynb")
    if only:
        picked = [nb for nb in notebooks if any(nb.stem.startswith(o) for o in only)]
        if not picked:
            raise ValueError(f"--only {' '.join(only)}: no notebook matches; have {', '.join(n.stem for n in notebooks)}")
        notebooks = picked
    out = Path(out)
    written: dict[str, list[Path]] = {"student": [], "instructor": []}
    for kind in written:
        (out / kind).mkdir(parents=True, exist_ok=True)
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        try:
            student = student_copy(nb)
        except RuntimeError as exc:
            raise RuntimeError(f"{path.name}: {exc}") from exc
        for kind, copy in (("student", student), ("instructor", _cleared(nb))):
            target = out / kind / path.name
            nbformat.write(copy, target)
            written[kind].append(target)
    if Path(data_dir).is_dir():
        shutil.copytree(data_dir, out / "data", dirs_exist_ok=True)
    return written


@dataclass(frozen=True)
class Outcome:
    notebook: str
    exercise: str
    status: str
    message: str


def _outcome(notebook: str, exercise: str, cell) -> Outcome:
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if cell.get("execution_count") is None and not errors:
        return Outcome(notebook, exercise, FAILED, "not run (an earlier cell stopped the notebook)")
    if not errors:
        return Outcome(notebook, exercise, PASSED, "")
    err = errors[0]
    status = NOT_ATTEMPTED if err.get("ename") == "NotAttempted" else FAILED
    return Outcome(notebook, exercise, status, f"{err.get('ename')}: {str(err.get('evalue', '')).splitlines()[0] if err.get('evalue') else ''}")


def grade_notebook(path: str | Path, executed_dir: str | Path, timeout: int | None = 600) -> list[Outcome]:
    """Execute one student copy (papermill, its folder as the working directory, errors allowed) into
    ``executed_dir`` and return the outcome of each graded check cell."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    path = Path(path)
    target = Path(executed_dir) / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        papermill.execute_notebook(str(path), str(target), kernel_name="python3", cwd=str(path.parent),
                                   progress_bar=False, execution_timeout=timeout, allow_errors=True,
                                   # no saves mid-run (as the report runner): saving the plotly-heavy notebook every
                                   # 30 s stalled notebook 01's explorer cell for minutes
                                   request_save_on_cell_execute=False, autosave_cell_every=0)
    except PapermillExecutionError:
        pass  # the executed copy holds every cell's outcome; the graded cells are read below
    nb = nbformat.read(target, as_version=4)
    return [_outcome(path.stem, ex, nb.cells[i]) for i, ex in graded_cells(nb)]


def grade(folder: str | Path, executed_dir: str | Path | None = None, timeout: int | None = 600,
          progress: bool = True) -> list[Outcome]:
    """Grade every ``*.ipynb`` of ``folder`` (see :func:`grade_notebook`); executed copies go to
    ``executed_dir`` (default ``folder/../graded``)."""
    from tqdm.auto import tqdm

    folder = Path(folder)
    notebooks = sorted(folder.glob("*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"{folder}: no notebooks to grade (build them with python -m workbench.course build --out DIR)")
    executed_dir = Path(executed_dir) if executed_dir else folder.parent / "graded"
    outcomes = []
    for path in tqdm(notebooks, desc="grading", unit="notebook", disable=not progress):
        outcomes += grade_notebook(path, executed_dir, timeout)
    return outcomes
