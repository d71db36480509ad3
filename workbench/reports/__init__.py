"""Report runner: execute notebooks with papermill profiles and publish self-contained HTML reports.

Command line: ``python -m workbench.reports [--profile quick|full] [--only NAME] [-p NAME VALUE] ...``
(see :mod:`workbench.reports.cli`). Python: :func:`run_reports`.
"""

from workbench.reports.index import read_index, update_index
from workbench.reports.meta import ReportConfigError, check_notebook, load_profiles, parameter_defaults
from workbench.reports.runner import REPORT_PLOTLY_RENDERER, Result, run_reports

__all__ = [
    "REPORT_PLOTLY_RENDERER",
    "ReportConfigError",
    "Result",
    "check_notebook",
    "load_profiles",
    "parameter_defaults",
    "read_index",
    "run_reports",
    "update_index",
]
