"""HTML export of an executed notebook that works offline: local MathJax, no widget boxes, a link to the index.

- **MathJax from a package, next to the reports.** The set-up installs ``jupyter-server-mathjax`` (MathJax 2.7's
  files, a Jupyter project package); :func:`install_mathjax` copies the part a report uses (TeX input, HTML-CSS
  output with the STIX-Web fonts, about 2 MB) to ``<out>/_static/mathjax/``, and each report loads it by a
  *relative* URL, so a reports folder copied anywhere typesets ``$...$`` and ``$$...$$`` with no network.
- **No empty widget boxes.** A static report has no kernel: ipywidgets outputs
  (``application/vnd.jupyter.widget-view+json``) would show as empty boxes or "Loading widget..." text and make
  the page load the widget manager from a CDN. :func:`strip_widgets` drops them and the notebook's widget state;
  a widget's text fallback is kept only when it says more than the widget's repr (a finished progress bar's
  summary). plotly's per-figure ``<script>`` loading MathJax 3 from a CDN is dropped too. The runner also sets ``TQDM_DISABLE=1`` for report kernels, so progress bars print nothing.
  The notebooks' Explore sections show plotly sliders in reports instead (:func:`workbench.notebook.explore`).
- **A link back to the index** at the top of every report (``index.html`` beside it).
- **Solutions folded.** Every cell tagged ``solution`` (the exercises' answer cells, :mod:`workbench.course`) is
  wrapped, input and outputs, in a collapsed ``<details>`` element whose summary reads "Show solution": a reader
  sees the exercise and its check, and opens the solution with a click.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

#: Folder of the MathJax copy, relative to the reports folder (and so to every report in it).
MATHJAX_DIR = "_static/mathjax"
#: MathJax 2's combined configuration (TeX and MathML input, HTML-CSS output) and the Safe extension.
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"
#: The files of jupyter-server-mathjax's ``static`` folder that the configuration above loads (folders are
#: copied whole: HTML-CSS loads the STIX-Web font files it needs for the glyphs on the page). The browser
#: test records what a page requests and fails when something outside this list is asked for.
MATHJAX_FILES = (
    "LICENSE",
    "MathJax.js",
    f"config/{MATHJAX_CONFIG.split(',')[0]}.js",
    "config/Safe.js",
    "extensions/Safe.js",
    "extensions/MathMenu.js",
    "extensions/MathZoom.js",
    "extensions/TeX",
    "jax/input/TeX",
    "jax/element/mml",
    "jax/output/HTML-CSS",
    "fonts/HTML-CSS/STIX-Web/woff",
)
#: An empty script instead of the require.js CDN: a require.js page would turn plotly.js's UMD bundle
#: into an anonymous AMD module (no ``window.Plotly``), and reports need no require.js.
NO_REQUIREJS = "data:text/javascript,"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
#: plotly's HTML renderer adds MathJax 3 from a CDN to every figure (for LaTeX in labels): offline it fails, online it
#: would replace the report's MathJax 2. Reports drop it (figure labels use unicode, not ``$...$``).
_CDN_MATHJAX = re.compile(r'<script\s+src="https?://[^"]*/mathjax/[^"]*"\s*>\s*</script>', re.I)
#: The lab template with local MathJax and a link back to the index (nbconvert's own MathJax block loads MathJax
#: from a CDN with the CommonHTML output that jupyter-server-mathjax does not ship).
REPORT_TEMPLATE = r"""{%- extends 'index.html.j2' -%}
{%- block html_head_js_mathjax -%}
<script type="text/x-mathjax-config">
MathJax.Hub.Config({
    TeX: { equationNumbers: { autoNumber: "AMS", useLabelIds: true } },
    tex2jax: {
        inlineMath: [ ['$','$'], ["\\(","\\)"] ],
        displayMath: [ ['$$','$$'], ["\\[","\\]"] ],
        processEscapes: true,
        processEnvironments: true
    },
    "HTML-CSS": { availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null,
                  linebreaks: { automatic: true } },
    displayAlign: 'center',
    messageStyle: 'none',
    menuSettings: { zoom: "None" }
});
</script>
<script src="{{ resources.mathjax_url }}"></script>
{%- endblock html_head_js_mathjax -%}
{%- block any_cell scoped -%}
{%- if 'solution' in cell.metadata.get('tags', []) -%}
<details class="workbench-solution" style="margin: 0.3em var(--jp-notebook-padding, 10px);">
<summary style="cursor: pointer; font-family: var(--jp-ui-font-family, sans-serif); color: var(--jp-brand-color1, #1976d2);">Show solution</summary>
{{ super() }}
</details>
{%- else -%}
{{ super() }}
{%- endif -%}
{%- endblock any_cell -%}
{%- block body_header -%}
{{ super() }}
<nav class="workbench-nav" style="padding: 0.5em var(--jp-notebook-padding, 10px); font-family: var(--jp-ui-font-family, sans-serif);">
<a href="index.html">&larr; All reports (index)</a>
</nav>
{%- endblock body_header -%}
"""


def mathjax_source() -> Path:
    """The ``static`` folder of the installed jupyter-server-mathjax (ImportError says how to install it)."""
    try:
        import jupyter_server_mathjax
    except ImportError as exc:
        raise ImportError(
            "reports need MathJax from the package jupyter-server-mathjax: pip install -e . (or make reports)"
        ) from exc
    return Path(jupyter_server_mathjax.__file__).parent / "static"


def install_mathjax(out_dir: str | Path) -> Path:
    """Copy :data:`MATHJAX_FILES` to ``<out_dir>/_static/mathjax`` (missing or changed files only); the folder.

    Raises FileNotFoundError naming a file the installed package does not ship.
    """
    src, dest = mathjax_source(), Path(out_dir) / MATHJAX_DIR
    for rel in MATHJAX_FILES:
        path = src / rel
        if not path.exists():
            raise FileNotFoundError(f"{path}: not in the installed jupyter-server-mathjax (expected MathJax 2.7)")
        for f in ([path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())):
            target = dest / f.relative_to(src)
            if not target.exists() or target.stat().st_size != f.stat().st_size:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, target)
    return dest


def strip_cdn_mathjax(nb) -> int:
    """Remove the CDN MathJax ``<script>`` of plotly's figure HTML from notebook ``nb`` (in place); how many."""
    count = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            html = out.get("data", {}).get("text/html")
            if html is not None:
                new, n = _CDN_MATHJAX.subn("", "".join(html))
                if n:
                    out["data"]["text/html"] = new
                    count += n
    return count


def strip_widgets(nb) -> int:
    """Drop ipywidgets outputs and widget state from notebook ``nb`` (in place); the number of outputs removed.

    An output that holds a widget view loses it and its ``text/plain`` fallback: that text is captured when the
    widget is displayed, before it changes (a slider's repr, a tqdm bar frozen at "0%"), so it never tells the
    widget's final state. Any other representation stays; an output with nothing left is removed, and so is a
    stream output of blank lines only (the newlines printed around a progress bar): it would render as an
    empty box once the bar is gone.
    """
    nb.metadata.pop("widgets", None)
    removed = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if out.get("output_type") == "stream" and not str(out.get("text", "")).strip():
                removed += 1
                continue
            if WIDGET_VIEW in data:
                data.pop(WIDGET_VIEW)
                data.pop("text/plain", None)
                if not data:
                    removed += 1
                    continue
            kept.append(out)
        cell.outputs = kept
    return removed


def export_html(nb_path: str | Path, mathjax_url: str = f"{MATHJAX_DIR}/MathJax.js?config={MATHJAX_CONFIG}") -> str:
    """Self-contained HTML of an executed notebook: the lab template, no require.js (plotly.js is in the
    outputs), MathJax from ``mathjax_url`` (relative: the reports folder's copy), widgets stripped, and a link
    to ``index.html``."""
    import jinja2
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name="lab", template_file="workbench_report.html.j2",
        extra_loaders=[jinja2.DictLoader({"workbench_report.html.j2": REPORT_TEMPLATE})],
    )
    exporter.require_js_url = NO_REQUIREJS
    exporter.mathjax_url = mathjax_url
    nb = nbformat.read(str(nb_path), as_version=4)
    strip_widgets(nb)
    strip_cdn_mathjax(nb)
    body, _ = exporter.from_notebook_node(nb)
    return body
