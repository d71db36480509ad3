"""``python -m workbench.reports``: run notebooks on a profile and publish HTML reports.

Examples::

    python -m workbench.reports                       # every notebook, quick profile (the parameters cells)
    python -m workbench.reports --profile full        # publication-size runs
    python -m workbench.reports --only 03             # one notebook (NN prefix, stem or substring)
    python -m workbench.reports --only nash_md -p beta 0.05 -p stoch_samples "[1, 10]"
    python -m workbench.reports --list

Exit status: 0 all ran, 1 some notebook failed (its previous report kept), 2 bad configuration (nothing ran).
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

import yaml

from workbench.reports.runner import (
    ReportConfigError, list_notebooks, params_file, read_profiles, run_reports, select_notebooks,
)

_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


def parse_value(text: str) -> Any:
    """A ``-p`` value as YAML (``0.1`` float, ``10`` int, ``true`` bool, ``[1, 2]`` list, ``null``; else str).

    ``1e-3``, a string for YAML 1.1, is read as a float.
    """
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return float(value) if isinstance(value, str) and _FLOAT.match(value.strip()) else value


def parse_overrides(pairs: list[list[str]]) -> dict[str, Any]:
    """``-p NAME VALUE`` pairs as a dict; a name given twice raises ReportConfigError naming both values."""
    out: dict[str, Any] = {}
    for name, text in pairs:
        if name in out:
            raise ReportConfigError(f"-p {name} given twice ({out[name]!r} and {parse_value(text)!r}); give it once")
        out[name] = parse_value(text)
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m workbench.reports",
        description="Execute notebooks/NN_name.ipynb with papermill; write self-contained HTML reports and "
        "<out>/index.html.",
        epilog="Exit status: 0 all ok, 1 a notebook failed (its previous report is kept), 2 bad configuration.",
    )
    p.add_argument("--profile", default="quick",
                   help="quick (the notebooks' parameters cells) or a profile of notebooks/params/NN_name.yaml")
    p.add_argument("--only", action="append", metavar="NAME", default=[],
                   help="run only notebooks matching NAME (NN prefix, stem or substring); repeatable")
    p.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                   help="set a parameter (VALUE read as YAML: 0.1, 10, true, [1,2]); repeatable")
    p.add_argument("--out", default="reports", help="output folder (default: reports)")
    p.add_argument("--notebooks", default="notebooks", help="notebook folder (default: notebooks)")
    p.add_argument("--timeout", type=float, default=None,
                   help="per-cell timeout in seconds (default: 600 on quick, 7200 otherwise; 0: no limit)")
    p.add_argument("--list", action="store_true", help="list the notebooks, their parameters and profiles")
    return p


def _list(notebooks: str, only: list[str]) -> None:
    import papermill

    for nb in select_notebooks(list_notebooks(notebooks), only):
        print(nb.stem)
        print(f"    profiles: {', '.join(['quick', *sorted(read_profiles(params_file(nb)))])}")
        for name, info in papermill.inspect_notebook(str(nb)).items():
            print(f"    {name} = {info['default']}" + (f"  # {info['help']}" if info.get("help") else ""))


def check_notebooks_folder(notebooks: str) -> None:
    """Refuse a notebooks folder that is missing or holds no ``NN_name.ipynb`` (e.g. run outside the repository)."""
    from pathlib import Path

    folder = Path(notebooks)
    if not folder.is_dir():
        raise ReportConfigError(f"no {notebooks}/ folder in {Path.cwd()}: run from the repository root, or pass "
                                f"--notebooks DIR")
    if not list_notebooks(folder):
        raise ReportConfigError(f"{folder.resolve()} holds no NN_name.ipynb notebook: run from the repository root, "
                                f"or pass --notebooks DIR")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        check_notebooks_folder(args.notebooks)
        overrides = parse_overrides(args.param)
        if args.list:
            _list(args.notebooks, args.only)
            return 0
        results = run_reports(args.notebooks, args.out, args.profile, args.only, overrides, args.timeout)
    except ReportConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = [r for r in results if not r.ok]
    print(f"{len(results) - len(failed)}/{len(results)} report(s) ok; index: {args.out}/index.html")
    for r in failed:
        print(f"{r.message()} (a previous report is kept; executed copy, if any: {r.name}.failed.ipynb)",
              file=sys.stderr)
    return 1 if failed else 0
