"""Figures for the contextual-bandit lab: gap curves with confidence bands over seeds.

Input: the results frames of :mod:`workbench.bandits.experiments` (``algo, seed, step, queries, metric,
value`` + knobs, :mod:`workbench.results`), summarized by :func:`workbench.analysis.summaries.seed_ci`
(mean and Student-t 95% interval over seeds). Policies are drawn with
:func:`workbench.plots.games.policy_bars` (pass ``pi[context]``). Every function returns a plotly figure
and never calls ``.show()``.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from workbench.analysis.summaries import seed_ci

__all__ = ["gap_curves", "gap_panels", "regime_map"]

_COLORS = qualitative.Plotly


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    return "rgba({},{},{},{})".format(*(int(h[i : i + 2], 16) for i in (0, 2, 4)), alpha)


def _add_curves(fig, summary: pd.DataFrame, color_by: str, row=None, col=None, showlegend=True, order=None):
    keys = order or list(dict.fromkeys(summary[color_by]))
    for i, key in enumerate(keys):
        s = summary[summary[color_by] == key].sort_values("queries")
        if s.empty:
            continue
        c = _COLORS[i % len(_COLORS)]
        kw = {} if row is None else {"row": row, "col": col}
        x = s["queries"].tolist()
        lo = s["lo"].clip(lower=s["mean"].abs().min() * 1e-3 + 1e-12)
        fig.add_trace(go.Scatter(x=x + x[::-1], y=s["hi"].tolist() + lo.tolist()[::-1], fill="toself",
                                 fillcolor=_rgba(c, 0.18), line={"width": 0}, hoverinfo="skip",
                                 showlegend=False, legendgroup=str(key)), **kw)
        fig.add_trace(go.Scatter(x=x, y=s["mean"], mode="lines+markers", name=str(key), line={"color": c},
                                 legendgroup=str(key), showlegend=showlegend), **kw)


def gap_curves(frame: pd.DataFrame, metric: str = "gap", color_by: str = "algo", title: str = "",
               log_y: bool = True, log_x: bool = True, y_title: str | None = None, level: float = 0.95) -> go.Figure:
    """Mean ``metric`` vs ``queries`` per ``color_by`` with a Student-t ``level`` band over seeds."""
    s = seed_ci(frame[frame.metric == metric], by=(color_by, "queries"), level=level, interval="t")
    fig = go.Figure()
    _add_curves(fig, s, color_by)
    fig.update_layout(title=title, xaxis_title="comparisons", yaxis_title=y_title or metric, template="plotly_white")
    fig.update_xaxes(type="log" if log_x else "linear")
    fig.update_yaxes(type="log" if log_y else "linear")
    return fig


def gap_panels(frame: pd.DataFrame, panel_by: str, metric: str = "gap", color_by: str = "algo", title: str = "",
               log_y: bool = True, log_x: bool = True, y_title: str | None = None, level: float = 0.95) -> go.Figure:
    """One :func:`gap_curves` panel per value of ``panel_by`` (e.g. ``env``, ``coverage``, ``batch_size``)."""
    f = frame[frame.metric == metric]
    panels = list(dict.fromkeys(f[panel_by]))
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[f"{panel_by} = {p}" for p in panels], shared_yaxes=True)
    order = list(dict.fromkeys(f[color_by]))
    for j, p in enumerate(panels, start=1):
        s = seed_ci(f[f[panel_by] == p], by=(color_by, "queries"), level=level, interval="t")
        _add_curves(fig, s, color_by, row=1, col=j, showlegend=j == 1, order=order)
    fig.update_layout(title=title, template="plotly_white", yaxis_title=y_title or metric)
    fig.update_xaxes(type="log" if log_x else "linear", title_text="comparisons")
    fig.update_yaxes(type="log" if log_y else "linear")
    return fig


def regime_map(table: pd.DataFrame, threshold: float = 0.75, title: str = "") -> go.Figure:
    """Share of datasets where pessimism beats plug-in (``ratio <= threshold``), one heatmap per ``gamma``.

    Input: :func:`workbench.bandits.experiments.pessimism_regime` (``n_arms, beta, gamma, seed, ratio``);
    cells: ``x = n_arms``, ``y = beta``, colour and text = the share over seeds (0 to 1).
    """
    share = (table.assign(win=table["ratio"] <= threshold)
             .groupby(["gamma", "beta", "n_arms"])["win"].mean().rename("share").reset_index())
    gammas = sorted(share["gamma"].unique())
    fig = make_subplots(rows=1, cols=len(gammas), subplot_titles=[f"gamma = {g:g}" for g in gammas], shared_yaxes=True)
    for j, g in enumerate(gammas, start=1):
        m = share[share["gamma"] == g].pivot(index="beta", columns="n_arms", values="share")  # (betas, arms)
        fig.add_trace(go.Heatmap(z=m.to_numpy(), x=[str(c) for c in m.columns], y=[f"{b:g}" for b in m.index],
                                 zmin=0.0, zmax=1.0, colorscale="Viridis", showscale=j == len(gammas),
                                 text=m.round(2).to_numpy(), texttemplate="%{text}",
                                 colorbar={"title": f"share ratio <= {threshold:g}"}), row=1, col=j)
    fig.update_layout(title=title, template="plotly_white")
    fig.update_xaxes(title_text="arms", type="category")
    fig.update_yaxes(title_text="beta", type="category", col=1)
    return fig
