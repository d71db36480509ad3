"""Notebook setup: seeding, device, plotly renderer and an environment table, in one call.

Every notebook's setup cell is::

    from workbench.notebook import setup
    env = setup(seed=seed)

``setup`` seeds python/numpy/torch, resolves the device, configures plotly so figures render both
interactively (JupyterLab) and in self-contained HTML reports (papermill + nbconvert), displays a small
versions table and returns the same information as a dict. ``environment_info`` returns that dict
without side effects (the report runner records it in ``reports/index.json``).

Heavy libraries (transformers, peft) are never imported here: their versions come from package metadata.
"""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

#: Renderer used when ``PLOTLY_RENDERER`` is not set: the mimetype bundle renders natively in JupyterLab,
#: the ``notebook`` part embeds plotly.js (offline, self-contained) so exported HTML draws the figures.
DEFAULT_PLOTLY_RENDERER = "plotly_mimetype+notebook"

_PACKAGES = ("torch", "numpy", "transformers", "peft")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def git_revision(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """``{"git_revision": short sha or None, "git_dirty": bool or None}`` for the repo holding ``path``.

    ``path`` defaults to this package's folder (the repository for an editable install). Outside a
    git work tree, or without git, both values are None.
    """
    cwd = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10
        )
        if sha.returncode != 0:
            return {"git_revision": None, "git_dirty": None}
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd, capture_output=True, text=True, timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return {"git_revision": None, "git_dirty": None}
    dirty = bool(status.stdout.strip()) if status.returncode == 0 else None
    return {"git_revision": sha.stdout.strip() or None, "git_dirty": dirty}


def environment_info(seed: int | None = None, device: str | None = "auto") -> dict[str, Any]:
    """Versions (python, torch, numpy, transformers, peft), device, git revision and seed; no side effects.

    Package versions come from installed metadata (None when a package is not installed), so nothing
    heavy is imported. ``device`` is resolved with :func:`workbench.device.resolve_device`
    (``"auto"``: CUDA when available, else CPU); pass None to skip it.
    """
    info: dict[str, Any] = {"python": platform.python_version()}
    for name in _PACKAGES:
        info[name] = _version(name)
    if device is not None:
        from workbench.device import resolve_device

        info["device"] = str(resolve_device(device))
    else:
        info["device"] = None
    info.update(git_revision())
    info["seed"] = seed
    return info


def configure_plotly(renderer: str | None = None) -> str:
    """Set plotly's default renderer and return it.

    Order: the ``renderer`` argument, else the ``PLOTLY_RENDERER`` environment variable (the report runner
    sets it), else :data:`DEFAULT_PLOTLY_RENDERER`.
    """
    import plotly.io as pio

    chosen = renderer or os.environ.get("PLOTLY_RENDERER") or DEFAULT_PLOTLY_RENDERER
    pio.renderers.default = chosen  # raises ValueError naming the valid renderers when unknown
    return chosen


def setup(seed: int = 0, device: str = "auto", deterministic: bool = False, display: bool = True) -> dict:
    """Seed everything, resolve the device, configure plotly, show and return the environment.

    Args:
        seed: seed for python, numpy and torch (:func:`workbench.device.seed_everything`).
        device: ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
        deterministic: ask torch for deterministic kernels (warn-only).
        display: show the environment table (IPython display, or print outside IPython).

    Returns:
        dict with keys python, torch, numpy, transformers, peft, device, git_revision, git_dirty, seed,
        deterministic, plotly_renderer.
    """
    from workbench.device import seed_everything

    seed = int(seed)
    seed_everything(seed, deterministic=deterministic)
    info = environment_info(seed=seed, device=device)
    info["deterministic"] = bool(deterministic)
    info["plotly_renderer"] = configure_plotly()
    if display:
        _display_table(info)
    return info


def _display_table(info: dict[str, Any]) -> None:
    import pandas as pd

    table = pd.DataFrame({"value": [("-" if v is None else str(v)) for v in info.values()]}, index=list(info))
    table.index.name = "environment"
    try:
        from IPython import get_ipython
        from IPython.display import display

        if get_ipython() is not None:
            display(table)
            return
    except ImportError:
        pass
    print(table.to_string())


#: Set to "1" by the report runner for the kernel: the notebook is being rendered into a static report.
STATIC_REPORT_ENV = "WORKBENCH_STATIC_REPORT"


def static_report() -> bool:
    """True when the notebook runs to become a static HTML report (the runner sets ``WORKBENCH_STATIC_REPORT=1``).

    A static report has no kernel behind it, so ipywidgets would show as empty boxes there.
    """
    return os.environ.get(STATIC_REPORT_ENV) == "1"


def explore(live: Callable[[], Any], static: Callable[[], Any]) -> Any:
    """Show an Explore section: ``live()`` (ipywidgets) in a kernel, ``static()`` in a static report.

    ``static`` typically returns :func:`workbench.plots.explore.stepped_figure` over precomputed settings,
    which plotly's own slider or dropdown drives offline. Only the chosen callable runs; its result is
    displayed and returned.
    """
    obj = static() if static_report() else live()
    try:
        from IPython import get_ipython
        from IPython.display import display

        if get_ipython() is not None:
            display(obj)
    except ImportError:
        pass
    return obj
