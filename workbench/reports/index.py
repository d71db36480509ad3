"""``reports/index.json`` (the data, one row per notebook) and ``reports/index.html`` (a table of it).

Rows are merged by ``name``: running one notebook keeps the other notebooks' rows. Both files are written
atomically.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable

INDEX_VERSION = 1
COLUMNS = (
    ("name", "report"),
    ("status", "status"),
    ("profile", "profile"),
    ("parameters", "parameters"),
    ("duration_s", "duration [s]"),
    ("python", "python"),
    ("torch", "torch"),
    ("transformers", "transformers"),
    ("peft", "peft"),
    ("device", "device"),
    ("git_revision", "git"),
    ("timestamp", "timestamp (UTC)"),
)


_UMASK = os.umask(0o022)
os.umask(_UMASK)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.stem}-", suffix=path.suffix, dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; reports are meant to be readable
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def read_index(out_dir: str | Path) -> list[dict[str, Any]]:
    """Rows of ``<out_dir>/index.json`` ([] when missing). Raises ValueError naming the file when corrupt."""
    path = Path(out_dir) / "index.json"
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc}); delete it to start a fresh index") from None
    rows = data.get("reports") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "name" in r for r in rows):
        raise ValueError(f"{path}: expected {{'reports': [{{'name': ...}}, ...]}}; delete it to start a fresh index")
    return rows


def merge_rows(old: Iterable[dict[str, Any]], new: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of ``old`` replaced/extended by ``new`` (matched on ``name``), sorted by name."""
    merged = {r["name"]: r for r in old}
    for row in new:
        merged[row["name"]] = row
    return [merged[k] for k in sorted(merged)]


def update_index(out_dir: str | Path, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge ``rows`` into ``index.json`` and rewrite ``index.html``; returns all rows."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # two runners on one folder must not lose rows (lock name matches .gitignore reports/*.json)
    with _locked(out / ".index.lock.json"):
        merged = merge_rows(read_index(out), rows)
        payload = {"version": INDEX_VERSION, "reports": merged}
        _atomic_write_text(out / "index.json", json.dumps(payload, indent=2, default=str) + "\n")
        _atomic_write_text(out / "index.html", render_index_html(merged))
    return merged


@contextmanager
def _locked(path: Path):
    try:
        import fcntl
    except ImportError:  # Windows: no advisory lock, atomic replace still holds
        yield
        return
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _cell(key: str, row: dict[str, Any]) -> str:
    value = row.get(key)
    if key == "name":
        name = html.escape(str(value))
        target = row.get("html") or row.get("ipynb")
        return f'<a href="{html.escape(target, quote=True)}">{name}</a>' if target else name
    if key == "status":
        cls = "ok" if value == "ok" else "failed"
        text = html.escape(str(value))
        if value != "ok" and row.get("error"):
            where = ""
            if row.get("failed_cell") is not None:
                where = f"cell {row['failed_cell']}: {row.get('failed_cell_source') or ''}\n"
            text += f'<div class="err">{html.escape(where + str(row["error"]))}</div>'
            if row.get("html"):
                text += '<div class="note">link: previous successful report</div>'
        return f'<span class="{cls}">{text}</span>' if value == "ok" else f'<div class="{cls}">{text}</div>'
    if key == "parameters":
        params = value or {}
        return "<br>".join(
            f"<code>{html.escape(str(k))}={html.escape(json.dumps(v, default=str))}</code>" for k, v in params.items()
        ) or "<i>defaults</i>"
    if key == "git_revision" and value and row.get("git_dirty"):
        return f"{html.escape(str(value))}<span class='note'>+dirty</span>"
    return "" if value is None else html.escape(str(value))


def render_index_html(rows: list[dict[str, Any]]) -> str:
    """A self-contained HTML page (inline CSS, no scripts) with one table row per report."""
    head = "".join(f"<th>{html.escape(title)}</th>" for _, title in COLUMNS)
    body = "\n".join(
        f'<tr id="{html.escape(str(r["name"]), quote=True)}">'
        + "".join(f"<td>{_cell(key, r)}</td>" for key, _ in COLUMNS)
        + "</tr>"
        for r in rows
    )
    n_ok = sum(r.get("status") == "ok" for r in rows)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>NLHF Workbench reports</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.6em; vertical-align: top; text-align: left; }}
th {{ background: #f3f3f3; }}
.ok {{ color: #1a7f37; font-weight: 600; }}
.failed {{ color: #b42318; font-weight: 600; }}
.err {{ font-weight: normal; font-family: monospace; white-space: pre-wrap; max-width: 40em; }}
.note {{ color: #777; font-weight: normal; font-size: 0.85em; }}
code {{ font-size: 0.95em; }}
</style>
</head>
<body>
<h1>NLHF Workbench reports</h1>
<p>{len(rows)} report(s), {n_ok} ok. Regenerate with <code>make reports</code> or
<code>python -m workbench.reports</code>.</p>
<table id="reports">
<thead><tr>{head}</tr></thead>
<tbody>
{body}
</tbody>
</table>
</body>
</html>
"""
