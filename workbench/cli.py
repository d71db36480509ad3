"""What the workbench's command lines share: one-line errors with the fix, the traceback only behind ``--debug``.

    ap = OneLineParser(prog="python -m workbench.x")      # argparse errors: one line, not the usage block
    return run_cli(PROG, lambda: run(args), debug=args.debug)   # 0, or 2 after printing the error on one line
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable

#: the errors a command line reports on one line (anything else is a bug and keeps its traceback)
EXPECTED = (ValueError, TypeError, KeyError, OSError, RuntimeError, ArithmeticError)


class OneLineParser(argparse.ArgumentParser):
    """argparse's errors as one line with the fix (``--help`` for the usage), not the usage block."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def one_line(exc: BaseException) -> str:
    """An exception as one line: its message's lines joined (a resume refusal lists one field per line)."""
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, KeyError) and text.startswith(("'", '"')):
        text = text[1:-1]
    out = ""
    for line in (ln.strip() for ln in text.splitlines() if ln.strip()):
        out += (" " if out.endswith(":") else "; " if out else "") + line
    return out


def run_cli(prog: str, body: Callable[[], object], *, debug: bool = False) -> int:
    """Call ``body()``; an expected error is printed as one line on stderr and gives exit status 2 (raised as it is
    with ``debug``); returns 0 otherwise."""
    try:
        body()
    except EXPECTED as exc:
        if debug:
            raise
        print(f"{prog}: error: {one_line(exc)} (--debug shows the traceback)", file=sys.stderr)
        return 2
    return 0
