"""Execute notebooks with papermill and publish self-contained HTML reports.

For each selected notebook ``notebooks/NN_name.ipynb``:

1. parameters = profile mapping (``notebooks/params/NN_name.yaml``, ``quick`` or ``full``) updated with the
   ``-p name value`` overrides; every name must be a parameter of the notebook (checked for all notebooks
   before anything runs; papermill itself would only warn);
2. execute with papermill (kernel ``python3`` of this environment, cwd = the notebook folder, env
   ``PLOTLY_RENDERER`` set so figures embed plotly.js) into a temporary folder inside the output folder;
3. on success export HTML (nbconvert, lab template, no require.js) and atomically replace
   ``<out>/NN_name.ipynb`` and ``<out>/NN_name.html``; on failure leave them untouched, keep the executed
   notebook as ``<out>/NN_name.failed.ipynb`` and report notebook, cell and exception;
4. merge a row per notebook into ``<out>/index.json`` and rewrite ``<out>/index.html``.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from workbench.reports.index import atomic_write_bytes, read_index, update_index
from workbench.reports.meta import (
    ReportConfigError,
    list_notebooks,
    load_profiles,
    notebook_parameters,
    params_file,
    unknown_parameters,
)

#: Renderer for report runs: the mimetype part keeps JupyterLab rendering the report notebook, the
#: ``notebook`` part embeds plotly.js once so the exported HTML is self-contained and works offline.
REPORT_PLOTLY_RENDERER = "plotly_mimetype+notebook"
#: An empty script instead of the require.js CDN: reports need no require.js, and a require.js page would
#: turn plotly.js's UMD bundle into an anonymous AMD module (no ``window.Plotly``).
NO_REQUIREJS = "data:text/javascript,"


@dataclass
class Job:
    """One notebook to run: its path, the profile and the parameters to inject."""

    path: Path
    profile: str
    parameters: dict[str, Any]
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.stem


@dataclass
class Result:
    """Outcome of one notebook run (``status`` is ``"ok"`` or ``"failed"``)."""

    job: Job
    status: str
    duration_s: float
    timestamp: str
    error: str | None = None
    cell_index: int | None = None
    cell_source: str | None = None
    html: Path | None = None
    ipynb: Path | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def message(self) -> str:
        if self.ok:
            return f"OK     {self.job.name} ({self.duration_s:.1f} s)"
        where = ""
        if self.cell_index is not None:
            where = f" in cell {self.cell_index} (0-based) `{self.cell_source}`"
        return f"FAILED {self.job.name}{where}: {self.error}"


def select_notebooks(notebooks: list[Path], only: Iterable[str] | None) -> list[Path]:
    """Notebooks matching any of ``only``: the stem, its ``NN`` prefix (``1`` matches ``01``) or a substring.

    No ``only`` selects all. A pattern that matches nothing raises ReportConfigError listing the notebooks.
    """
    only = [o for o in (only or []) if o]
    if not only:
        return list(notebooks)
    chosen: list[Path] = []
    for pattern in only:
        pat = pattern[:-6] if pattern.endswith(".ipynb") else pattern
        hits = [p for p in notebooks if _matches(p.stem, pat)]
        if not hits:
            names = ", ".join(p.stem for p in notebooks) or "(none)"
            raise ReportConfigError(f"--only {pattern!r} matches no notebook; available: {names}")
        chosen.extend(h for h in hits if h not in chosen)
    return sorted(chosen)


def _matches(stem: str, pat: str) -> bool:
    if stem == pat:
        return True
    prefix = stem.split("_", 1)[0]
    if pat.isdigit():  # a number selects by the NN prefix only ("1" is 01, not 10 or 21)
        return prefix.isdigit() and int(pat) == int(prefix)
    return pat.lower() in stem.lower()


def plan_jobs(
    notebooks: list[Path],
    profile: str = "quick",
    overrides: dict[str, Any] | None = None,
    params_dir: str | Path | None = None,
) -> list[Job]:
    """Build and validate the jobs; raises ReportConfigError with every problem found (nothing runs).

    A missing profile file is allowed for ``quick`` (the notebook defaults) and an error otherwise.
    """
    overrides = dict(overrides or {})
    jobs, problems = [], []
    for nb in notebooks:
        pfile = params_file(nb, params_dir)
        try:
            if profile == "quick" and not pfile.exists():
                values = {}
            else:
                profiles = load_profiles(pfile)
                if profile not in profiles:
                    raise ReportConfigError(
                        f"{pfile}: no profile {profile!r} (profiles there: {sorted(profiles)})"
                    )
                values = dict(profiles[profile])
        except ReportConfigError as exc:
            problems.append(str(exc))
            continue
        valid = notebook_parameters(nb)
        for source, names in (
            (f"profile {profile!r} ({pfile})", list(values)),
            ("-p override", list(overrides)),
        ):
            for bad in unknown_parameters(names, valid):
                problems.append(
                    f"ERROR {nb.stem}: unknown parameter {bad!r} from {source}; "
                    f"valid parameters of {nb.name}: {', '.join(sorted(valid)) or '(none: no cell tagged parameters)'}"
                )
        values.update(overrides)
        jobs.append(Job(path=nb, profile=profile, parameters=values, overrides=dict(overrides)))
    if problems:
        raise ReportConfigError("\n".join(problems))
    return jobs


@contextmanager
def _env(**values: str):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def export_html(nb_path: str | Path) -> str:
    """Self-contained HTML of an executed notebook (lab template; plotly.js is in the outputs)."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(nb_path), as_version=4)
    exporter = HTMLExporter(template_name="lab")
    exporter.require_js_url = NO_REQUIREJS
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": Path(nb_path).stem}})
    return body


def _original_cell_index(nb_path: Path, executed_index: int) -> int:
    """Index in the source notebook of cell ``executed_index`` of papermill's (parameterized) notebook."""
    import nbformat

    nb = nbformat.read(str(nb_path), as_version=4)
    injected = sum(
        1
        for c in nb.cells[:executed_index]
        if {"injected-parameters", "papermill-error-cell-tag"} & set(c.get("metadata", {}).get("tags", []))
    )
    return executed_index - injected


def _kernel_env() -> dict[str, str]:
    """Environment for the kernel: the report plotly renderer, and this environment's kernelspec first.

    jupyter looks up ``python3`` in JUPYTER_PATH before the user's folders, so putting
    ``<sys.prefix>/share/jupyter`` there makes the kernel this environment's python (ipykernel installs its
    spec there with ``python`` as the command, which jupyter_client maps to ``sys.executable``).
    """
    env_data = os.path.join(sys.prefix, "share", "jupyter")
    path = os.pathsep.join(p for p in (env_data, os.environ.get("JUPYTER_PATH", "")) if p)
    return {"PLOTLY_RENDERER": REPORT_PLOTLY_RENDERER, "JUPYTER_PATH": path, "PYDEVD_DISABLE_FILE_VALIDATION": "1"}


def run_job(job: Job, out_dir: Path, timeout: float | None = None, html: bool = True) -> Result:
    """Execute one notebook and publish its report (see the module docstring). Never raises on cell errors."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    out_dir.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".tmp-{job.name}-", dir=out_dir))
    tmp_nb = tmp_dir / f"{job.name}.ipynb"
    start = time.perf_counter()
    try:
        try:
            with _env(**_kernel_env()):
                papermill.execute_notebook(
                    str(job.path.resolve()),
                    str(tmp_nb),
                    parameters=job.parameters,
                    kernel_name="python3",
                    cwd=str(job.path.resolve().parent),
                    progress_bar=False,
                    log_output=False,
                    request_save_on_cell_execute=False,
                    execution_timeout=timeout,
                )
            html_text = export_html(tmp_nb) if html else None
        except PapermillExecutionError as exc:
            return _failure(job, out_dir, tmp_nb, start, exc, cell=exc.cell_index, source=exc.source,
                            error=f"{exc.ename}: {exc.evalue}")
        except Exception as exc:  # kernel died, timeout, export failure, ...
            return _failure(job, out_dir, tmp_nb, start, exc, error=f"{type(exc).__name__}: {exc}")
        duration = time.perf_counter() - start
        ipynb_path = out_dir / f"{job.name}.ipynb"
        html_path = out_dir / f"{job.name}.html"
        if html_text is not None:
            atomic_write_bytes(html_path, html_text.encode("utf-8"))
        else:
            html_path.unlink(missing_ok=True)  # would be stale next to the new notebook
        os.replace(tmp_nb, ipynb_path)
        (out_dir / f"{job.name}.failed.ipynb").unlink(missing_ok=True)
        return Result(job, "ok", duration, _now(), html=html_path if html_text is not None else None,
                      ipynb=ipynb_path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def _failure(job, out_dir, tmp_nb, start, exc, error, cell=None, source=None) -> Result:
    cell_index = first_line = None
    if cell is not None:
        try:
            cell_index = _original_cell_index(tmp_nb, cell)
        except Exception:
            cell_index = cell
        lines = [ln for ln in (source or "").splitlines() if ln.strip()]
        first_line = lines[0].strip() if lines else ""
    kept = None
    if tmp_nb.exists():
        kept = out_dir / f"{job.name}.failed.ipynb"
        os.replace(tmp_nb, kept)
    error = error.strip().splitlines()[0] if error.strip() else type(exc).__name__
    return Result(job, "failed", time.perf_counter() - start, _now(), error=error, cell_index=cell_index,
                  cell_source=first_line, ipynb=kept)


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def run_reports(
    notebooks_dir: str | Path = "notebooks",
    out_dir: str | Path = "reports",
    profile: str = "quick",
    only: Iterable[str] | None = None,
    overrides: dict[str, Any] | None = None,
    params_dir: str | Path | None = None,
    timeout: float | None = None,
    html: bool = True,
    progress: bool = True,
    log=print,
) -> list[Result]:
    """Run the selected notebooks, publish reports and the index; returns one Result per notebook.

    Raises ReportConfigError (before running anything) for a missing folder, an ``only`` that matches
    nothing, a bad profile file or an unknown parameter.
    """
    from tqdm.auto import tqdm

    from workbench.notebook import environment_info

    nb_dir = Path(notebooks_dir)
    if not nb_dir.is_dir():
        raise ReportConfigError(f"notebook folder {nb_dir} does not exist (run from the repository root or pass --notebooks)")
    notebooks = select_notebooks(list_notebooks(nb_dir), only)
    if not notebooks:
        raise ReportConfigError(f"no NN_name.ipynb notebooks in {nb_dir}")
    jobs = plan_jobs(notebooks, profile=profile, overrides=overrides, params_dir=params_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    try:
        read_index(out)  # a corrupt index should stop us before hours of work, not after
    except ValueError as exc:
        raise ReportConfigError(str(exc)) from None

    results = []
    bar = tqdm(jobs, desc="reports", unit="notebook", disable=not progress)
    for job in bar:
        bar.set_postfix_str(job.name)
        result = run_job(job, out, timeout=timeout, html=html)
        results.append(result)
        (tqdm.write if progress else log)(result.message())
        env = environment_info(seed=job.parameters.get("seed"), device=None)
        env["device"] = _device_name(job.parameters.get("device", "auto"))
        update_index(out, [_row(result, env, out)])
    return results


def _device_name(device: Any) -> str:
    from workbench.device import resolve_device

    try:
        return str(resolve_device(device))
    except Exception:
        return str(device)


def _row(result: Result, env: dict[str, Any], out: Path) -> dict[str, Any]:
    job = result.job
    html_path = out / f"{job.name}.html"
    ipynb_path = out / f"{job.name}.ipynb"
    return {
        "name": job.name,
        "status": result.status,
        "profile": job.profile,
        "parameters": job.parameters,
        "overrides": job.overrides,
        "duration_s": round(result.duration_s, 2),
        "python": env.get("python"),
        "torch": env.get("torch"),
        "transformers": env.get("transformers"),
        "peft": env.get("peft"),
        "device": env.get("device"),
        "git_revision": env.get("git_revision"),
        "git_dirty": env.get("git_dirty"),
        "timestamp": result.timestamp,
        # on failure these point at the previous (untouched) report, if any
        "html": html_path.name if html_path.exists() else None,
        "ipynb": ipynb_path.name if ipynb_path.exists() else None,
        "error": result.error,
        "failed_cell": result.cell_index,
        "failed_cell_source": result.cell_source,
        "failed_notebook": result.ipynb.name if (not result.ok and result.ipynb) else None,
    }
