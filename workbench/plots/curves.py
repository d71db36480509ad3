"""Convergence figures for the tabular methods: log-scale curves with CI bands and theory lines,
queries-to-epsilon heatmaps, and rock–paper–scissors simplex trajectories.

Inputs are results frames (:mod:`workbench.results`: ``algo, seed, step, queries, metric, value`` plus
knob columns, e.g. ``workbench.tabular.driver.run``'s) or the summaries of
:mod:`workbench.analysis.summaries`. Every function returns a plotly figure and never calls ``.show()``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

from workbench.analysis.summaries import seed_ci

__all__ = ["metric_curves", "queries_heatmap", "simplex_trajectories", "simplex_xy"]

_COLORS = qualitative.Plotly


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def metric_curves(
    df: pd.DataFrame,
    metric: str | Sequence[str],
    *,
    x: str = "step",
    theory: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
    log_y: bool = True,
    log_x: bool = False,
    level: float = 0.95,
    title: str | None = None,
    floor: float = 1e-16,
) -> go.Figure:
    """One line per ``algo`` of ``metric`` against ``x`` (``"step"`` or ``"queries"``).

    ``metric`` may be a list (e.g. ``["exploitability", "avg_exploitability"]``): one line per
    ``(algo, metric)``, labelled ``"algo · metric"``.

    The line is the mean over seeds and games (geometric mean when ``log_y``), the band its bootstrap
    ``level`` CI (drawn when there is more than one run). ``theory`` maps a label to ``(xs, ys)`` drawn
    dashed; a label that starts with an algo's name reuses that algo's colour (longest name wins). Values below ``floor``
    are clipped so a log axis can show runs that reached machine precision.
    """
    metrics = [metric] if isinstance(metric, str) else list(metric)
    sub = df[df["metric"].isin(metrics)].copy()
    if sub.empty:
        raise ValueError(f"metric {metric!r} not in the frame; it has {sorted(df['metric'].unique())}")
    if len(metrics) > 1:
        sub["algo"] = sub["algo"].astype(str) + " · " + sub["metric"]
    metric = " / ".join(metrics)
    if log_y:
        sub["value"] = sub["value"].clip(lower=floor)
    summ = seed_ci(sub, by=("algo", x), level=level, log=log_y, n_boot=500)
    fig = go.Figure()
    colors = {}
    for i, (algo, g) in enumerate(summ.groupby("algo", sort=False)):
        c = _COLORS[i % len(_COLORS)]
        colors[algo] = c
        g = g.sort_values(x)
        if (g["n"] > 1).any():
            fig.add_trace(go.Scatter(
                x=np.concatenate([g[x], g[x][::-1]]), y=np.concatenate([g["hi"], g["lo"][::-1]]),
                fill="toself", fillcolor=_rgba(c, 0.18), line=dict(width=0), hoverinfo="skip",
                showlegend=False, legendgroup=str(algo), name=f"{algo} CI",
            ))
        fig.add_trace(go.Scatter(x=g[x], y=g["mean"], mode="lines", name=str(algo), line=dict(color=c, width=2), legendgroup=str(algo)))
    for j, (label, (xs, ys)) in enumerate((theory or {}).items()):
        owners = [a for a in colors if str(label).startswith(str(a))]  # the longest matching algo name wins
        c = colors[max(owners, key=lambda a: len(str(a)))] if owners else _COLORS[(len(colors) + j) % len(_COLORS)]
        ys = np.asarray(ys, dtype=float)
        fig.add_trace(go.Scatter(x=np.asarray(xs), y=np.clip(ys, floor, None) if log_y else ys, mode="lines", name=str(label),
                                 line=dict(color=c, width=1.5, dash="dash")))
    fig.update_layout(
        title=title or f"{metric} vs {x}", xaxis_title=x, yaxis_title=metric, template="plotly_white",
        legend=dict(orientation="v"),
    )
    if log_y:
        fig.update_yaxes(type="log", exponentformat="power")
    if log_x:
        fig.update_xaxes(type="log")
    return fig


def queries_heatmap(
    q: pd.DataFrame,
    *,
    value: str = "queries_to_eps",
    x: str = "eta",
    y: str = "beta",
    agg: str = "median",
    facet: str | None = "algo",
    title: str | None = None,
) -> go.Figure:
    """Heatmap of ``value`` (from :func:`queries_to_epsilon`) over the ``(x, y)`` grid, ``agg`` over games.

    Colour is ``log10`` of the cost; cells where the aggregate is ``inf`` (most runs never reached epsilon)
    are left blank and annotated "not reached". One panel per value of ``facet`` (``None``: one panel).
    """
    from plotly.subplots import make_subplots

    for c in (value, x, y) + ((facet,) if facet else ()):
        if c not in q.columns:
            raise KeyError(f"heatmap needs column {c!r}; the frame has {list(q.columns)}")
    panels = list(dict.fromkeys(q[facet])) if facet else [None]
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[str(p) for p in panels] if facet else None,
                        shared_yaxes=True, horizontal_spacing=0.06)
    finite = q[value].replace(np.inf, np.nan)
    lo, hi = (np.log10(finite.min()), np.log10(finite.max())) if finite.notna().any() else (0.0, 1.0)
    for k, p in enumerate(panels):
        sub = q if p is None else q[q[facet] == p]
        table = sub.groupby([y, x])[value].agg(agg).unstack(x)  # rows y, cols x
        vals = table.to_numpy(float)  # (len y, len x)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.log10(vals)
        text = np.array([[f"{v:.3g}" if np.isfinite(v) else "not reached" for v in row] for row in vals])
        fig.add_trace(go.Heatmap(
            z=np.where(np.isfinite(z), z, np.nan), x=[f"{v:g}" if isinstance(v, float) else str(v) for v in table.columns],
            y=[f"{v:g}" for v in table.index], text=text, texttemplate="%{text}", zmin=lo, zmax=hi,
            colorscale="Viridis", colorbar=dict(title=f"log10 {value}") if k == 0 else None, showscale=k == 0,
            hovertemplate=f"{y}=%{{y}}<br>{x}=%{{x}}<br>{agg} {value}=%{{text}}<extra></extra>",
        ), row=1, col=k + 1)
        fig.update_xaxes(title_text=x, type="category", row=1, col=k + 1)
    fig.update_yaxes(title_text=y, type="category", row=1, col=1)
    fig.update_layout(title=title or f"{agg} {value} over games", template="plotly_white")
    return fig


_VERTICES = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])  # (3, 2)


def simplex_xy(pis) -> np.ndarray:
    """Barycentric ``(..., 3)`` policies to 2-D points ``(..., 2)`` in the equilateral triangle."""
    p = np.asarray(pis, dtype=float)
    if p.shape[-1] != 3:
        raise ValueError(f"simplex plots need 3 responses (last dim 3); got shape {p.shape}")
    return p @ _VERTICES


def simplex_trajectories(
    trajectories: Mapping[str, np.ndarray],
    *,
    names: Sequence[str] = ("rock", "paper", "scissors"),
    equilibrium: Sequence[float] | None = (1 / 3, 1 / 3, 1 / 3),
    title: str = "Trajectories on the simplex",
) -> go.Figure:
    """Lines on the 2-simplex (triangle) for each ``label -> (T, 3)`` trajectory (tensors or arrays).

    A label containing ``"avg"`` or ``"average"`` is drawn dashed. Start marked with a circle, end with
    a star; the ``equilibrium`` with a black cross.
    """
    fig = go.Figure()
    tri = np.vstack([_VERTICES, _VERTICES[:1]])
    fig.add_trace(go.Scatter(x=tri[:, 0], y=tri[:, 1], mode="lines", line=dict(color="black", width=1), showlegend=False, hoverinfo="skip"))
    for (vx, vy), name, pos in zip(_VERTICES, names, ("bottom left", "bottom right", "top center")):
        fig.add_trace(go.Scatter(x=[vx], y=[vy], mode="text", text=[name], textposition=pos, showlegend=False, hoverinfo="skip"))
    for i, (label, traj) in enumerate(trajectories.items()):
        arr = traj.detach().cpu().numpy() if hasattr(traj, "detach") else np.asarray(traj)
        xy = simplex_xy(arr.reshape(-1, 3))  # (T, 2)
        c = _COLORS[i % len(_COLORS)]
        dash = "dash" if ("avg" in label.lower() or "average" in label.lower()) else "solid"
        fig.add_trace(go.Scatter(x=xy[:, 0], y=xy[:, 1], mode="lines", name=label, line=dict(color=c, width=1.5, dash=dash), legendgroup=label))
        fig.add_trace(go.Scatter(x=xy[[0], 0], y=xy[[0], 1], mode="markers", marker=dict(color=c, symbol="circle", size=8),
                                 showlegend=False, legendgroup=label, hovertext=f"{label} start"))
        fig.add_trace(go.Scatter(x=xy[[-1], 0], y=xy[[-1], 1], mode="markers", marker=dict(color=c, symbol="star", size=12),
                                 showlegend=False, legendgroup=label, hovertext=f"{label} end"))
    if equilibrium is not None:
        e = simplex_xy(np.asarray(equilibrium, dtype=float))
        fig.add_trace(go.Scatter(x=[e[0]], y=[e[1]], mode="markers", marker=dict(color="black", symbol="x", size=10), name="equilibrium"))
    fig.update_layout(title=title, template="plotly_white", width=620, height=560)
    fig.update_xaxes(visible=False, range=[-0.1, 1.1])
    fig.update_yaxes(visible=False, range=[-0.1, 0.98], scaleanchor="x", scaleratio=1)
    return fig
