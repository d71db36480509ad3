"""Execute notebooks with papermill and publish self-contained HTML reports (``python -m workbench.reports``).

papermill injects parameters and executes a notebook; nbconvert exports it to HTML. This module adds only
what they do not do, each piece pinned by a test in ``tests/test_reports.py``:

- **Profiles hold overrides only.** A notebook's cell tagged ``parameters`` *is* the quick profile.
  ``notebooks/params/NN_name.yaml`` maps every other profile (``full``, ...) to the parameters it changes;
  ``quick`` means "no overrides" and may not appear there (a copy of the cell would drift from it).
- **Validation before anything runs.** Every name from a profile or ``-p`` must be a parameter of its
  notebook (papermill only warns), and every value must have the type of the notebook's default
  (papermill injects anything; an int given for a float default is injected as a float).
- **A failed run never replaces a good report.** The notebook executes in a temporary folder outside the
  report folder (a killed runner leaves nothing behind there); only a run that executed *and* exported
  replaces ``<out>/NN_name.ipynb`` and ``.html``, each atomically. A failure keeps the executed copy as
  ``<out>/NN_name.failed.ipynb`` and names the failing cell by its index in the *source* notebook.
- **Self-contained HTML that works offline.** The kernel gets :data:`REPORT_KERNEL_ENV`: ``PLOTLY_RENDERER`` so
  figures embed plotly.js (:func:`workbench.notebook.configure_plotly` reads it), ``WORKBENCH_STATIC_REPORT=1`` so
  Explore sections show plotly sliders instead of ipywidgets (:func:`workbench.notebook.explore`), and
  ``TQDM_DISABLE=1``. The export (:mod:`workbench.reports.html`) loads no require.js, typesets equations with
  the MathJax copy in ``<out>/_static/mathjax`` (relative URL), drops widget boxes and links to the index.
- **A per-cell timeout by profile** (:data:`DEFAULT_TIMEOUT_S`), so a stuck kernel fails its notebook.
- **Result frames beside the reports.** A cell appended to the executed copy (never to the source notebook, and
  dropped from the report) saves every DataFrame of the kernel's namespace that passes
  :func:`workbench.results.check_frame` as ``<out>/frames/<notebook>/<name>.parquet``, with ``frames.json``
  (the notebook's parameters, the frames saved and skipped). They replace the previous frames only when the run
  succeeded (one atomic folder swap), so a failed notebook never overwrites good frames.
- **The index** (:mod:`workbench.reports.index`): one row per notebook with what it shows (the notebook's first
  heading), parameters, duration, versions, device and git revision.
"""

from __future__ import annotations

import ast
import math
import os
import re
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable
from unittest import mock

import yaml

from workbench.io import atomic_write_bytes, atomic_write_text
from workbench.notebook import STATIC_REPORT_ENV
from workbench.reports.html import NO_REQUIREJS, export_html, install_mathjax  # noqa: F401 (re-exported)
from workbench.reports.index import read_index, update_index

#: Renderer for report runs: the mimetype part keeps JupyterLab rendering the report notebook, the
#: ``notebook`` part embeds plotly.js once, so the exported HTML draws its figures offline.
REPORT_PLOTLY_RENDERER = "plotly_mimetype+notebook"
#: Environment of report kernels: the report renderer, the static-report switch (Explore sections show plotly
#: controls, not ipywidgets) and no tqdm output (a progress bar is a widget, an empty box in a static page).
REPORT_KERNEL_ENV = {"PLOTLY_RENDERER": REPORT_PLOTLY_RENDERER, STATIC_REPORT_ENV: "1", "TQDM_DISABLE": "1"}
#: Per-cell timeout in seconds: a quick-profile cell takes seconds, a full-profile one can take an hour.
DEFAULT_TIMEOUT_S = {"quick": 600}
FULL_TIMEOUT_S = 7200
NOTEBOOK_NAME = re.compile(r"^\d+_[A-Za-z0-9_\-]+$")


class ReportConfigError(ValueError):
    """Bad notebook, profile, parameter or option (raised before anything is executed)."""


@dataclass(frozen=True)
class Job:
    """One notebook to run: its path, the profile and the parameters papermill injects (validated)."""

    path: Path
    profile: str
    parameters: dict[str, Any]

    @property
    def name(self) -> str:
        return self.path.stem


@dataclass(frozen=True)
class Result:
    """Outcome of one run; on failure ``cell_index`` counts cells of the source notebook from 0."""

    name: str
    ok: bool
    duration_s: float
    timestamp: str
    error: str | None = None
    cell_index: int | None = None
    cell_source: str | None = None

    def message(self) -> str:
        if self.ok:
            return f"OK     {self.name} ({self.duration_s:.1f} s)"
        where = "" if self.cell_index is None else f" in cell {self.cell_index} (0-based) `{self.cell_source}`"
        return f"FAILED {self.name}{where}: {self.error}"


# --- notebooks, parameters, profiles -------------------------------------------------------------


def list_notebooks(notebooks_dir: str | Path) -> list[Path]:
    """The ``NN_name.ipynb`` files of ``notebooks_dir``, sorted by name (others ignored)."""
    folder = Path(notebooks_dir)
    return sorted(p for p in folder.glob("*.ipynb") if NOTEBOOK_NAME.match(p.stem)) if folder.is_dir() else []


def select_notebooks(notebooks: list[Path], only: Iterable[str] | None) -> list[Path]:
    """Notebooks matching any pattern of ``only`` (all when empty).

    A pattern matches the stem, the ``NN`` prefix when it is a number (``1`` is ``01``, not ``10``), or a
    case-insensitive substring. A pattern that matches nothing raises ReportConfigError listing the notebooks.
    """
    chosen: set[Path] = set()
    for pattern in [o for o in (only or []) if o]:
        pat = pattern.removesuffix(".ipynb")
        hits = [
            p for p in notebooks
            if p.stem == pat or (int(pat) == int(p.stem.split("_")[0]) if pat.isdigit() else pat.lower() in p.stem.lower())
        ]
        if not hits:
            names = ", ".join(p.stem for p in notebooks) or "(none)"
            raise ReportConfigError(f"--only {pattern!r} matches no notebook; available: {names}")
        chosen.update(hits)
    return sorted(chosen) if chosen else list(notebooks)


def parameter_defaults(nb_path: str | Path) -> dict[str, Any]:
    """The parameters of a notebook (``papermill.inspect_notebook``) and their default values.

    Raises ReportConfigError naming the notebook and the parameter when a default is not a Python literal
    (the defaults are the quick profile and the reference types of every override).
    """
    import papermill

    defaults = {}
    for name, info in papermill.inspect_notebook(str(nb_path)).items():
        try:
            defaults[name] = ast.literal_eval(info["default"])
        except (ValueError, SyntaxError):
            raise ReportConfigError(
                f"{Path(nb_path).name}: the default of parameter {name!r} is not a Python literal: {info['default']!r}"
            ) from None
    return defaults


def params_file(nb_path: str | Path) -> Path:
    """The profile file of a notebook: ``<notebook folder>/params/<stem>.yaml``."""
    nb_path = Path(nb_path)
    return nb_path.parent / "params" / f"{nb_path.stem}.yaml"


def read_profiles(path: str | Path) -> dict[str, dict[str, Any]]:
    """Profile name -> overrides from a profile file ({} when the file does not exist).

    Raises ReportConfigError naming the file for invalid YAML, a profile that is not a mapping of
    parameter names, or a ``quick:`` block (quick is the notebook's parameters cell, never a copy of it).
    """
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ReportConfigError(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ReportConfigError(f"{path}: expected a mapping of profile name -> overrides, got {type(data).__name__}")
    if "quick" in data:
        raise ReportConfigError(
            f"{path}: remove the 'quick:' block: the notebook's parameters cell is the quick profile, "
            "profile files hold overrides only"
        )
    profiles = {}
    for profile, values in data.items():
        values = values or {}
        if not isinstance(values, dict) or not all(isinstance(k, str) for k in values):
            raise ReportConfigError(f"{path}: profile {profile!r} must map parameter names to values, got {values!r}")
        profiles[str(profile)] = values
    return profiles


def _coerce(value: Any, default: Any) -> Any:
    """``value`` in the type of ``default``: int -> float for a float default, element-wise in lists.

    A default of None accepts anything. Raises TypeError when the types differ (bool is not an int).
    """
    if default is None:
        return value
    if isinstance(default, (list, tuple)) and isinstance(value, (list, tuple)):
        if default and len({type(d) for d in default}) == 1:
            return [_coerce(v, default[0]) for v in value]
        return list(value)
    if type(default) is float and type(value) is int:
        return float(value)
    if type(value) is not type(default):
        raise TypeError(type(value).__name__)
    return value


def _check(nb: Path, source: str, name: str, value: Any, defaults: dict[str, Any]) -> Any:
    """The validated value of parameter ``name`` from ``source``; ReportConfigError names all three."""
    if name not in defaults:
        valid = ", ".join(sorted(defaults)) or "(none: no cell tagged parameters)"
        raise ReportConfigError(f"{nb.stem}: unknown parameter {name!r} from {source}; valid parameters: {valid}")
    default = defaults[name]
    try:
        return _coerce(value, default)
    except TypeError:
        kind = type(default).__name__
        if isinstance(default, (list, tuple)) and default and len({type(d) for d in default}) == 1:
            kind += f" of {type(default[0]).__name__}"
        raise ReportConfigError(
            f"{nb.stem}: parameter {name!r} from {source} is {value!r} ({type(value).__name__}); "
            f"the notebook's default {default!r} has type {kind}"
        ) from None


def plan_jobs(notebooks: list[Path], profile: str = "quick", overrides: dict[str, Any] | None = None) -> list[Job]:
    """Validated jobs: the ``profile``'s overrides updated with ``overrides`` (the ``-p`` values).

    Raises ReportConfigError listing every problem of every notebook (nothing runs).
    """
    jobs, problems = [], []
    for nb in notebooks:
        try:
            path = params_file(nb)
            profiles = read_profiles(path)
            if profile != "quick" and profile not in profiles:
                raise ReportConfigError(
                    f"{path}: no profile {profile!r} (profiles: quick = the parameters cell"
                    + "".join(f", {p}" for p in sorted(profiles)) + ")"
                )
            defaults = parameter_defaults(nb)
        except ReportConfigError as exc:
            problems.append(str(exc))
            continue
        params = {}
        for source, values in ((f"profile {profile!r} ({path})", profiles.get(profile, {})), ("-p", overrides or {})):
            for name, value in values.items():
                try:
                    params[name] = _check(nb, source, name, value, defaults)
                except ReportConfigError as exc:
                    problems.append(str(exc))
        jobs.append(Job(nb.resolve(), profile, params))
    if problems:
        raise ReportConfigError("\n".join(problems))
    return jobs


def check_timeout(timeout: float | None, profile: str) -> int | None:
    """Per-cell timeout in whole seconds (rounded up: nbclient wants an int); None = no limit.

    ``timeout=None`` takes the profile's default (:data:`DEFAULT_TIMEOUT_S`, else :data:`FULL_TIMEOUT_S`);
    0 means no limit. A negative or non-finite value raises ReportConfigError.
    """
    if timeout is None:
        return DEFAULT_TIMEOUT_S.get(profile, FULL_TIMEOUT_S)
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not math.isfinite(timeout) or timeout < 0:
        raise ReportConfigError(f"--timeout must be a number of seconds >= 0 (0: no limit), got {timeout!r}")
    return math.ceil(timeout) or None


# --- running one notebook ------------------------------------------------------------------------


def notebook_title(nb_path: str | Path) -> str | None:
    """What a notebook shows, in a line: the first heading of its first markdown cell, without the ``NN ·``
    number (the index lists the name beside it); None when the first markdown cell has no heading."""
    import nbformat

    nb = nbformat.read(str(nb_path), as_version=4)
    first = next((c.source for c in nb.cells if c.cell_type == "markdown" and c.source.strip()), "")
    heading = next((ln for ln in first.splitlines() if ln.startswith("#")), None)
    if heading is None:
        return None
    return re.sub(r"^\d+\s*[·.:\-–]\s*", "", heading.lstrip("#").strip()) or None


def _source_cell(executed: Path, index: int) -> int:
    """Index in the source notebook of cell ``index`` of papermill's executed notebook.

    papermill counts cells with its injected-parameters cell and before it adds its error marker cells.
    """
    import nbformat
    from papermill.execute import ERROR_MARKER_TAG

    cells = [c for c in nbformat.read(str(executed), as_version=4).cells
             if ERROR_MARKER_TAG not in c.metadata.get("tags", [])]
    return index - sum("injected-parameters" in c.metadata.get("tags", []) for c in cells[:index])


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


#: tag of the cell appended to the executed copy that records the result frames (dropped from the report)
RECORD_TAG = "workbench-record-frames"
FRAMES_DIR = "frames"

_RECORD_SOURCE = """\
def _workbench_record_frames(folder, parameters):
    import json
    from pathlib import Path

    import pandas as pd
    from workbench.results import check_frame

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    saved, skipped = [], {{}}
    for name, value in list(globals().items()):
        if name.startswith("_") or not isinstance(value, pd.DataFrame):
            continue
        try:
            check_frame(value, name=name)
        except Exception:
            continue
        try:
            value.to_parquet(folder / f"{{name}}.parquet", index=False)
            saved.append(name)
        except Exception as exc:  # a column parquet cannot store
            skipped[name] = f"{{type(exc).__name__}}: {{exc}}"
    (folder / "frames.json").write_text(json.dumps(
        {{"parameters": parameters, "frames": saved, "skipped": skipped}}, indent=1, default=str))


_workbench_record_frames({folder!r}, {parameters!r})
del _workbench_record_frames
"""


def _with_recording(source: Path, target: Path, folder: Path, parameters: dict[str, Any]) -> None:
    """Write ``source`` to ``target`` with a last code cell (tagged :data:`RECORD_TAG`) that saves the kernel's
    results frames into ``folder`` (see the module docstring)."""
    import nbformat

    nb = nbformat.read(str(source), as_version=4)
    cell = nbformat.v4.new_code_cell(_RECORD_SOURCE.format(folder=str(folder), parameters=dict(parameters)))
    cell.metadata["tags"] = [RECORD_TAG]
    nb.cells.append(cell)
    nbformat.write(nb, str(target))


def _without_recording(executed: Path) -> None:
    """Drop the recording cell from the executed notebook (the report shows the notebook's own cells only)."""
    import nbformat

    nb = nbformat.read(str(executed), as_version=4)
    nb.cells = [c for c in nb.cells if RECORD_TAG not in c.metadata.get("tags", [])]
    nbformat.write(nb, str(executed))


def _publish_frames(recorded: Path, target: Path) -> None:
    """Replace ``target`` with the recorded frames folder in one atomic swap; a run that saved no frame removes
    the previous ones (they no longer belong to the notebook's latest report) and creates no folder."""
    import json
    import shutil

    from workbench.io import atomic_directory

    meta = recorded / "frames.json"
    if not meta.is_file():
        return
    if not json.loads(meta.read_text(encoding="utf-8")).get("frames"):
        if target.is_dir():
            shutil.rmtree(target)
        return
    with atomic_directory(target) as tmp:
        for f in recorded.iterdir():
            os.replace(f, tmp / f.name)


def run_job(job: Job, out_dir: str | Path, timeout: int | None,
            parameters: dict[str, Any] | None = None) -> Result:
    """Execute one notebook and publish its report and result frames (see the module docstring); never raises
    on cell errors. ``parameters``: every parameter of the run (defaults and overrides) for ``frames.json``
    (default: the job's overrides)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    out = Path(out_dir)
    start = time.perf_counter()
    # the kernel inherits this environment; patch.dict restores it afterwards
    with tempfile.TemporaryDirectory(prefix=f"workbench-report-{job.name}-") as tmp, \
            mock.patch.dict(os.environ, REPORT_KERNEL_ENV):
        executed = Path(tmp) / f"{job.name}.ipynb"
        recorded = Path(tmp) / FRAMES_DIR
        source = Path(tmp) / f"source-{job.name}.ipynb"
        _with_recording(job.path, source, recorded, job.parameters if parameters is None else parameters)
        try:
            papermill.execute_notebook(
                str(source), str(executed), parameters=job.parameters, kernel_name="python3",
                cwd=str(job.path.parent), progress_bar=False, execution_timeout=timeout,
                # no notebook save per cell / per 30 s of a long cell: the executed notebook embeds plotly.js in
                # each figure, and saving it mid-cell stalled the widget cells (notebook 01's explorer) for minutes
                request_save_on_cell_execute=False, autosave_cell_every=0,
            )
            _without_recording(executed)
            html = export_html(executed)
        except Exception as exc:  # a cell error, a timeout, a dead kernel, an export failure
            cell = source = None
            error = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, PapermillExecutionError):
                cell = _source_cell(executed, exc.cell_index)
                source = next((ln.strip() for ln in exc.source.splitlines() if ln.strip()), "")
                error = f"{exc.ename}: {exc.evalue}"
                if "_workbench_record_frames" in exc.source:  # the appended cell, not one of the notebook's
                    cell, source, error = None, None, f"recording the result frames failed: {error}"
            failed = out / f"{job.name}.failed.ipynb"
            if executed.exists():
                atomic_write_bytes(failed, executed.read_bytes())
            else:  # the kernel never ran: no executed copy, and an older one would mislead
                failed.unlink(missing_ok=True)
            error = (error.strip().splitlines() or [type(exc).__name__])[0]
            return Result(job.name, False, time.perf_counter() - start, _now(), error, cell, source)
        atomic_write_text(out / f"{job.name}.html", html)
        atomic_write_bytes(out / f"{job.name}.ipynb", executed.read_bytes())
        _publish_frames(recorded, out / FRAMES_DIR / job.name)
    (out / f"{job.name}.failed.ipynb").unlink(missing_ok=True)
    return Result(job.name, True, time.perf_counter() - start, _now())


# --- running the selection -----------------------------------------------------------------------


def _row(job: Job, result: Result, env: dict[str, Any], parameters: dict[str, Any], previous: dict | None,
         out: Path) -> dict[str, Any]:
    """The index row of a run. A failed run keeps the row of the report it left in place, if any."""
    failure = {
        "error": result.error, "failed_cell": result.cell_index, "failed_cell_source": result.cell_source,
        "failed_notebook": f"{job.name}.failed.ipynb" if (out / f"{job.name}.failed.ipynb").exists() else None,
        "failed_overrides": None if result.ok else job.parameters,
    }
    if not result.ok and previous and (out / f"{job.name}.ipynb").exists():
        return {**previous, "title": notebook_title(job.path), "status": "failed", "failed_at": result.timestamp,
                **failure}
    keys = ("python", "torch", "transformers", "peft", "device", "git_revision", "git_dirty")
    return {
        "name": job.name,
        "title": notebook_title(job.path),
        "status": "ok" if result.ok else "failed",
        "profile": job.profile,
        "overrides": job.parameters,
        "parameters": parameters,
        "duration_s": round(result.duration_s, 2),
        **{k: env.get(k) for k in keys},
        "timestamp": result.timestamp,
        "html": f"{job.name}.html" if result.ok else None,
        "ipynb": f"{job.name}.ipynb" if result.ok else None,
        **failure,
    }


def run_reports(
    notebooks_dir: str | Path = "notebooks",
    out_dir: str | Path = "reports",
    profile: str = "quick",
    only: Iterable[str] | None = None,
    overrides: dict[str, Any] | None = None,
    timeout: float | None = None,
    log: Callable[[str], Any] = print,
) -> list[Result]:
    """Run the selected notebooks, publish their reports and the index; one Result per notebook.

    Raises ReportConfigError, before running anything, for a missing folder, an ``only`` that matches
    nothing, a bad profile file, an unknown or mistyped parameter, a bad timeout or a corrupt index.
    """
    from workbench.notebook import environment_info

    nb_dir = Path(notebooks_dir)
    notebooks = select_notebooks(list_notebooks(nb_dir), only)
    if not notebooks:
        raise ReportConfigError(f"no NN_name.ipynb notebooks in {nb_dir} (run from the repository root or pass --notebooks)")
    jobs = plan_jobs(notebooks, profile, overrides)
    timeout = check_timeout(timeout, profile)
    out = Path(out_dir)
    try:
        previous = {r["name"]: r for r in read_index(out)}  # a corrupt index stops us before the work
    except ValueError as exc:
        raise ReportConfigError(str(exc)) from None
    out.mkdir(parents=True, exist_ok=True)
    install_mathjax(out)
    results = []
    for job in jobs:
        log(f"run    {job.name} ({profile}{''.join(f', {k}={v!r}' for k, v in job.parameters.items())})")
        parameters = {**parameter_defaults(job.path), **job.parameters}
        # versions, device and git revision as the run starts (a commit during a long run does not count)
        env = environment_info(device=None) | {"device": _device(parameters.get("device", "auto"))}
        result = run_job(job, out, timeout, parameters)
        log(result.message())
        results.append(result)
        update_index(out, [_row(job, result, env, parameters, previous.get(job.name), out)])
    return results


def _device(device: Any) -> str:
    """The device a notebook's ``device`` parameter resolves to here (``auto``: CUDA when available)."""
    from workbench.device import resolve_device

    try:
        return str(resolve_device(device))
    except (RuntimeError, TypeError, ValueError):  # a bad value fails the notebook; record it as given
        return str(device)
