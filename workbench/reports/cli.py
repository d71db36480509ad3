"""``python -m workbench.reports``: run notebooks with a parameter profile and publish HTML reports.

Examples::

    python -m workbench.reports                       # every notebook, quick profile
    python -m workbench.reports --profile full        # publication-size runs
    python -m workbench.reports --only 03             # one notebook (NN prefix, stem or substring)
    python -m workbench.reports --only nash_md -p beta 0.05 -p seeds "[0, 1, 2]"
    python -m workbench.reports --list

Exit status: 0 all ran, 1 some notebook failed (previous reports kept), 2 bad configuration (nothing ran).
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

import yaml

from workbench.reports.meta import ReportConfigError, list_notebooks, load_profiles, notebook_parameters, params_file

_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)$")


# A quick-profile cell takes seconds; a stuck kernel should fail the run, not hold it for an hour.
DEFAULT_TIMEOUT = {"quick": 600.0, "full": 7200.0}

def parse_value(text: str) -> Any:
    """A ``-p`` value: YAML (``0.1`` float, ``10`` int, ``true`` bool, ``[1, 2]`` list, ``null``, else str).

    ``1e-3`` (YAML 1.1 reads it as a string) is read as a float.
    """
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str) and _FLOAT.match(value.strip()):
        return float(value)
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m workbench.reports",
        description="Execute notebooks/NN_name.ipynb with papermill and write self-contained HTML reports "
        "plus reports/index.html.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit status: 0 all ok, 1 a notebook failed (its previous report is kept), "
        "2 bad configuration (nothing ran).",
    )
    p.add_argument("--profile", default="quick", help="profile in notebooks/params/NN_name.yaml (quick|full; default quick)")
    p.add_argument("--only", action="append", metavar="NAME", default=[],
                   help="run only notebooks matching NAME (stem, NN prefix or substring); repeatable")
    p.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                   help="override a parameter (VALUE parsed as YAML: 0.1, 10, true, [1,2]); repeatable")
    p.add_argument("--out", default="reports", help="output folder (default reports)")
    p.add_argument("--notebooks", default="notebooks", help="notebook folder (default notebooks)")
    p.add_argument("--params-dir", default=None, help="profile folder (default <notebooks>/params)")
    p.add_argument("--timeout", type=float, default=None,
                   help="per-cell timeout in seconds (default: 600 on the quick profile, 7200 on full; 0 = none)")
    p.add_argument("--no-html", action="store_true", help="write only the executed notebooks, no HTML")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--list", action="store_true", help="list notebooks, their parameters and profiles, then exit")
    return p


def _list(args) -> int:
    from workbench.reports.runner import select_notebooks

    notebooks = select_notebooks(list_notebooks(args.notebooks), args.only)
    if not notebooks:
        print(f"no NN_name.ipynb notebooks in {args.notebooks}")
    for nb in notebooks:
        params = notebook_parameters(nb)
        try:
            profiles = sorted(load_profiles(params_file(nb, args.params_dir)))
        except ReportConfigError as exc:
            profiles = [f"(profile problem: {exc})"]
        print(f"{nb.stem}")
        print(f"    profiles:   {', '.join(profiles) or '-'}")
        for name, info in params.items():
            help_ = f"  # {info['help']}" if info.get("help") else ""
            print(f"    {name} = {info['default']}{help_}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.list:
            return _list(args)
        from workbench.reports.runner import run_reports

        overrides = {name: parse_value(value) for name, value in args.param}
        results = run_reports(
            notebooks_dir=args.notebooks,
            out_dir=args.out,
            profile=args.profile,
            only=args.only,
            overrides=overrides,
            params_dir=args.params_dir,
            timeout=(DEFAULT_TIMEOUT.get(args.profile, 7200.0) if args.timeout is None else args.timeout) or None,
            html=not args.no_html,
            progress=not args.no_progress,
        )
    except ReportConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = [r for r in results if not r.ok]
    print(f"{len(results) - len(failed)}/{len(results)} report(s) ok; index: {args.out}/index.html")
    for r in failed:
        print(r.message(), file=sys.stderr)
    if failed:
        kept = ", ".join(str(r.ipynb) for r in failed if r.ipynb)
        print(f"{len(failed)} notebook(s) failed; their previous reports were kept"
              + (f"; executed copies: {kept}" if kept else ""), file=sys.stderr)
    return 1 if failed else 0
