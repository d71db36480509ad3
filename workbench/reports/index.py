"""``<out>/index.json`` (one row per notebook) and ``<out>/index.html`` (a table of it).

Rows are merged by ``name``: running one notebook keeps the other notebooks' rows. Both files are written
atomically (:mod:`workbench.io`).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any, Iterable

from workbench.io import atomic_write_text

INDEX_VERSION = 1
#: Row key -> column title of index.html.
INDEX_FIELDS = (
    ("name", "report"),
    ("title", "what it shows"),
    ("status", "status"),
    ("profile", "profile"),
    ("overrides", "parameters"),
    ("duration_s", "duration [s]"),
    ("versions", "versions"),  # python, torch, transformers, peft: one column, so the table fits the page
    ("device", "device"),
    ("git_revision", "git"),
    ("timestamp", "timestamp (UTC)"),
)

#: Row keys shown together in the "versions" column.
VERSION_KEYS = ("python", "torch", "transformers", "peft")


def read_index(out_dir: str | Path) -> list[dict[str, Any]]:
    """Rows of ``<out_dir>/index.json`` ([] when missing). Raises ValueError naming the file when corrupt."""
    path = Path(out_dir) / "index.json"
    if not path.exists():
        return []
    try:
        rows = json.loads(path.read_text(encoding="utf-8")).get("reports")
    except (json.JSONDecodeError, AttributeError) as exc:
        raise ValueError(f"{path}: not an index ({exc}); delete it to start a fresh index") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "name" in r for r in rows):
        raise ValueError(f"{path}: expected {{'reports': [{{'name': ...}}, ...]}}; delete it to start a fresh index")
    return rows


def update_index(out_dir: str | Path, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge ``rows`` into ``index.json`` (replacing rows of the same name), rewrite ``index.html``; all rows."""
    out = Path(out_dir)
    merged = {r["name"]: r for r in read_index(out)}
    merged.update((r["name"], r) for r in rows)
    merged = [merged[k] for k in sorted(merged)]
    atomic_write_text(out / "index.json", json.dumps({"version": INDEX_VERSION, "reports": merged}, indent=2, default=str) + "\n")
    atomic_write_text(out / "index.html", render_index_html(merged))
    return merged


def _cell(key: str, row: dict[str, Any]) -> str:
    value = row.get(key)
    if key == "name":
        target = row.get("html") or row.get("ipynb")
        name = html.escape(str(value))
        return f'<a href="{html.escape(target, quote=True)}">{name}</a>' if target else name
    if key == "status":
        if value == "ok":
            return '<span class="ok">ok</span>'
        where = f"cell {row['failed_cell']}: {row.get('failed_cell_source') or ''}\n" if row.get("failed_cell") is not None else ""
        kept = '<div class="note">link: previous successful report</div>' if row.get("html") else ""
        return f'<div class="failed">{html.escape(str(value))}<div class="err">{html.escape(where + str(row.get("error")))}</div>{kept}</div>'
    if key == "overrides":
        pairs = (f"<code>{html.escape(f'{k}={json.dumps(v, default=str)}')}</code>" for k, v in (value or {}).items())
        return "<br>".join(pairs) or "<i>defaults</i>"
    if key == "versions":
        return "<br>".join(f'<span class="v">{k} {html.escape(str(row[k]))}</span>' for k in VERSION_KEYS
                           if row.get(k) is not None)
    if key == "timestamp" and value:
        return html.escape(str(value).replace("T", " ").replace("+00:00", ""))
    if key == "git_revision" and value and row.get("git_dirty"):
        return f"{html.escape(str(value))}<span class='note'>+dirty</span>"
    return "" if value is None else html.escape(str(value))


def render_index_html(rows: list[dict[str, Any]]) -> str:
    """A self-contained HTML page (inline CSS, no scripts) with one table row per report."""
    head = "".join(f"<th>{html.escape(title)}</th>" for _, title in INDEX_FIELDS)
    body = "\n".join(
        f'<tr id="{html.escape(str(r["name"]), quote=True)}">'
        + "".join(f"<td>{_cell(key, r)}</td>" for key, _ in INDEX_FIELDS) + "</tr>"
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
table {{ border-collapse: collapse; font-size: 0.9em; max-width: 100%; }}
td:nth-child(2) {{ min-width: 16em; }}
.v {{ white-space: nowrap; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.6em; vertical-align: top; text-align: left; }}
th {{ background: #f3f3f3; }}
.ok {{ color: #1a7f37; font-weight: 600; }}
.failed {{ color: #b42318; font-weight: 600; }}
.err {{ font-weight: normal; font-family: monospace; white-space: pre-wrap; max-width: 40em; }}
.note {{ color: #777; font-weight: normal; font-size: 0.85em; }}
</style>
</head>
<body>
<h1>NLHF Workbench reports</h1>
<p>{len(rows)} report(s), {n_ok} ok. Regenerate with <code>make reports</code> or
<code>python -m workbench.reports</code>; parameters list what differs from the notebook's parameters cell.
Every page here works with no network: figures (plotly.js inside each report), equations (MathJax in
<code>_static/mathjax</code>) and the Explore sliders; copy the whole folder to keep it that way.</p>
<p id="course">Teaching with these labs: the course page <a href="../docs/course.md">docs/course.md</a> (in the
repository) gives a six-week plan, prerequisites and run times; each report folds its exercises' solutions behind
"Show solution", and <code>python -m workbench.course build --out DIR</code> writes student copies with self-checking
exercises.</p>
<table id="reports">
<thead><tr>{head}</tr></thead>
<tbody>
{body}
</tbody>
</table>
</body>
</html>
"""
