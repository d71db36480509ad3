"""Figures for the contextual-bandit lab: gap curves with confidence bands over seeds.

Input: the tidy frames of :mod:`workbench.bandits.experiments` (``algo, seed, step, n_comparisons,
metric, value`` + knobs), summarized by :func:`workbench.bandits.experiments.summarize`. Every function
returns a plotly figure and never calls ``.show()``.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from workbench.bandits.experiments import summarize

__all__ = ["gap_curves", "gap_panels", "policy_bars"]

_COLORS = qualitative.Plotly


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    return "rgba({},{},{},{})".format(*(int(h[i : i + 2], 16) for i in (0, 2, 4)), alpha)


def _add_curves(fig, summary: pd.DataFrame, color_by: str, row=None, col=None, showlegend=True, order=None):
    keys = order or list(dict.fromkeys(summary[color_by]))
    for i, key in enumerate(keys):
        s = summary[summary[color_by] == key].sort_values("n_comparisons")
        if s.empty:
            continue
        c = _COLORS[i % len(_COLORS)]
        kw = {} if row is None else {"row": row, "col": col}
        x = s["n_comparisons"].tolist()
        lo = s["lo"].clip(lower=s["mean"].abs().min() * 1e-3 + 1e-12)
        fig.add_trace(go.Scatter(x=x + x[::-1], y=s["hi"].tolist() + lo.tolist()[::-1], fill="toself",
                                 fillcolor=_rgba(c, 0.18), line={"width": 0}, hoverinfo="skip",
                                 showlegend=False, legendgroup=str(key)), **kw)
        fig.add_trace(go.Scatter(x=x, y=s["mean"], mode="lines+markers", name=str(key), line={"color": c},
                                 legendgroup=str(key), showlegend=showlegend), **kw)


def gap_curves(frame: pd.DataFrame, metric: str = "gap", color_by: str = "algo", title: str = "",
               log_y: bool = True, log_x: bool = True, y_title: str | None = None) -> go.Figure:
    """Mean ``metric`` vs ``n_comparisons`` per ``color_by`` with a 95% band over seeds."""
    s = summarize(frame[frame.metric == metric], by=(color_by, "n_comparisons", "metric"))
    fig = go.Figure()
    _add_curves(fig, s, color_by)
    fig.update_layout(title=title, xaxis_title="comparisons", yaxis_title=y_title or metric, template="plotly_white")
    fig.update_xaxes(type="log" if log_x else "linear")
    fig.update_yaxes(type="log" if log_y else "linear")
    return fig


def gap_panels(frame: pd.DataFrame, panel_by: str, metric: str = "gap", color_by: str = "algo", title: str = "",
               log_y: bool = True, log_x: bool = True, y_title: str | None = None) -> go.Figure:
    """One :func:`gap_curves` panel per value of ``panel_by`` (e.g. ``env``, ``coverage``, ``batch_size``)."""
    f = frame[frame.metric == metric]
    panels = list(dict.fromkeys(f[panel_by]))
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[f"{panel_by} = {p}" for p in panels], shared_yaxes=True)
    order = list(dict.fromkeys(f[color_by]))
    for j, p in enumerate(panels, start=1):
        s = summarize(f[f[panel_by] == p], by=(color_by, "n_comparisons", "metric"))
        _add_curves(fig, s, color_by, row=1, col=j, showlegend=j == 1, order=order)
    fig.update_layout(title=title, template="plotly_white", yaxis_title=y_title or metric)
    fig.update_xaxes(type="log" if log_x else "linear", title_text="comparisons")
    fig.update_yaxes(type="log" if log_y else "linear")
    return fig


def policy_bars(policies: dict, context: int = 0, title: str = "") -> go.Figure:
    """Grouped bars of several ``(K, n)`` (or ``(1, K, n)``) policies in one context."""
    fig = go.Figure()
    for name, pi in policies.items():
        p = pi.reshape(-1, *pi.shape[-2:])[0, context].detach().cpu().tolist()
        fig.add_trace(go.Bar(x=list(range(len(p))), y=p, name=str(name)))
    fig.update_layout(barmode="group", title=title, xaxis_title="action y", yaxis_title=f"pi(y | x={context})",
                      template="plotly_white")
    return fig
