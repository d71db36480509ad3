"""``python -m workbench.course build --out DIR`` and ``python -m workbench.course grade DIR/student``."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from workbench.course.build import ROOT, build, grade
from workbench.course.core import FAILED, NOT_ATTEMPTED, PASSED


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workbench.course", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="write DIR/student (solutions stubbed) and DIR/instructor from notebooks/")
    b.add_argument("--out", required=True, help="output folder (created)")
    b.add_argument("--notebooks", default=str(ROOT / "notebooks"), help="source notebooks folder (default: the project's)")
    b.add_argument("--only", nargs="*", help="notebook name prefixes, e.g. 01 02 (default: all)")
    g = sub.add_parser("grade", help="run the student copies in a folder and print each exercise's verdict")
    g.add_argument("folder", help="a folder of student notebooks (DIR/student)")
    g.add_argument("--executed", help="where the executed copies go (default: the folder's sibling 'graded')")
    g.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            written = build(args.out, args.notebooks, only=args.only)
            print(f"{len(written['student'])} student and {len(written['instructor'])} instructor notebooks in {args.out}"
                  f" (student copies: {Path(args.out) / 'student'}; grade them with "
                  f"python -m workbench.course grade {Path(args.out) / 'student'})")
            return 0
        if not Path(args.folder).is_dir():
            raise FileNotFoundError(f"{args.folder}: no such folder (build the copies with python -m workbench.course build --out DIR)")
        outcomes = grade(args.folder, args.executed, args.timeout)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for o in outcomes:
        print(f"{o.notebook:28s} {o.exercise:6s} {o.status:14s} {o.message}".rstrip())
    counts = Counter(o.status for o in outcomes)
    print(f"{counts[PASSED]} passed, {counts[FAILED]} failed, {counts[NOT_ATTEMPTED]} not attempted")
    return 1 if counts[FAILED] else 0


if __name__ == "__main__":
    sys.exit(main())
