"""Report runner: execute notebooks with papermill on a profile and publish self-contained HTML reports.

Command line: ``python -m workbench.reports [--profile quick|full] [--only NAME] [-p NAME VALUE] ...``
(:mod:`workbench.reports.cli`). Python: :func:`run_reports`. What it adds to papermill and nbconvert is
listed in :mod:`workbench.reports.runner`; the offline HTML export (local MathJax, no widget boxes, a link to the
index) in :mod:`workbench.reports.html`.
"""

from workbench.reports.html import export_html, install_mathjax
from workbench.reports.index import INDEX_FIELDS, read_index, update_index
from workbench.reports.runner import (
    REPORT_PLOTLY_RENDERER, ReportConfigError, Result, notebook_title, parameter_defaults, plan_jobs, read_profiles,
    run_reports,
)

__all__ = [
    "INDEX_FIELDS",
    "REPORT_PLOTLY_RENDERER",
    "ReportConfigError",
    "export_html",
    "install_mathjax",
    "notebook_title",
    "Result",
    "parameter_defaults",
    "plan_jobs",
    "read_profiles",
    "read_index",
    "run_reports",
    "update_index",
]
