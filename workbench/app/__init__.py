"""The workbench app: a panel dashboard over the package's labs (``python -m workbench.app``, ``make app``).

Three views, one module each, every one a ``param`` class with a pure model (parameters -> frames and
figures, tested without a browser) and a ``panel()`` layout that renders in the app and in a JupyterLab cell:

* :mod:`workbench.app.games` -- a preference game, its regularized equilibrium along ``beta`` and the tabular
  methods racing to it; batched sweeps in the background with a progress bar and a cancel button;
* :mod:`workbench.app.llm` -- the LLM training monitor: a trainer of :data:`workbench.llm.TRAINERS` on the
  enumerable task with the tiny model, trained in a background thread, its exact curves growing live next to
  the tabular lab's, stop and resume through the loop's checkpoint, the final distribution against ``pi*``;
* :mod:`workbench.app.runs` -- saved runs: tidy frames (CSV / Parquet of :mod:`workbench.results`) filtered,
  overlaid with confidence bands over seeds, exported; the win-rate matrix (raw or regularized) of saved
  LLM-lab runs and the meta-game ranking (Nash averaging) beside the average win rate.

In a notebook::

    from workbench.app import extension, GamesView
    extension()                 # pn.extension with the app's plotly / tabulator support
    GamesView().panel()         # the same component as the app's Games tab

**Offline.** Everything the page loads comes from the app's own server: panel's server resources (bokeh,
panel and the plotly / tabulator bundles shipped inside the panel wheel) and a template without web fonts
(``BootstrapTemplate``); ``tests/test_app_browser.py`` blocks and counts every request outside the loopback
address.
"""

from __future__ import annotations

from workbench.app.common import extension

__all__ = ["extension", "VIEWS", "build_app", "GamesView", "LLMView", "RunsView"]

#: tab title -> "module:class" of each view (imported when the app is built)
VIEWS = {
    "Games": "workbench.app.games:GamesView",
    "LLM training": "workbench.app.llm:LLMView",
    "Runs and rankings": "workbench.app.runs:RunsView",
}


def __getattr__(name):  # lazy: importing workbench.app does not import torch models or panel widgets
    if name in ("GamesView", "LLMView", "RunsView"):
        import importlib

        module, cls = VIEWS[{"GamesView": "Games", "LLMView": "LLM training", "RunsView": "Runs and rankings"}[name]].split(":")
        return getattr(importlib.import_module(module), cls)
    raise AttributeError(name)


def build_app(views=None, **view_params):
    """The app's page: a ``BootstrapTemplate`` (no web fonts) with one tab per view.

    ``views``: tab titles of :data:`VIEWS` to include (default all); ``view_params``: ``{tab title: dict}`` of
    parameters for a view (e.g. ``{"Runs and rankings": {"folder": "runs"}}``). One call per browser session."""
    import importlib

    import panel as pn

    extension()
    tabs = []
    built = {}
    for title in (views or list(VIEWS)):
        module, cls = VIEWS[title].split(":")
        params = dict(view_params.get(title, {}))
        if title == "Runs and rankings" and "LLM training" in built:  # rank the runs trained on this page
            params.setdefault("session_runs", built["LLM training"].session_runs)
        view = getattr(importlib.import_module(module), cls)(**params)
        built[title] = view
        tabs.append((title, view.panel()))
    template = pn.template.BootstrapTemplate(
        title="NLHF Workbench", header_background="#2a4d69", sidebar_width=0, collapsed_sidebar=True,
    )
    template.main.append(pn.Tabs(*tabs, dynamic=True, sizing_mode="stretch_width"))  # hidden tabs are not rendered: no resize of invisible plots
    template.views = built
    return template
