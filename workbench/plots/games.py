"""Figures for preference games: ``P`` heatmaps, the equilibrium path over ``beta``, the 2-simplex,
policy bars and the cyclic share against the intransitivity knob.

Inputs are tensors or arrays (``P`` ``(n, n)``, policies ``(n,)``, paths ``(K, n)``). Every function
returns a plotly figure and never calls ``.show()``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

__all__ = [
    "preference_heatmap",
    "preference_heatmaps",
    "equilibrium_path",
    "equilibrium_simplex",
    "policy_bars",
    "share_vs_knob",
    "explorer_figure",
    "display_label",
]

_COLORS = qualitative.Plotly


def display_label(label: str) -> str:
    """A legend / title label in typeset form: ``π*_β`` becomes ``π*<sub>β</sub>`` (plotly draws the
    subscript); a label with no one-character subscript is returned unchanged."""
    return re.sub(r"_(\w)(?!\w)", r"<sub>\1</sub>", str(label))


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x, dtype=float)


def _names(n: int, names: Sequence[str] | None) -> list[str]:
    if names is None:
        return [f"y{i}" for i in range(n)]
    if len(names) != n:
        raise ValueError(f"{len(names)} names for {n} responses")
    return [str(s) for s in names]


def _heatmap_trace(P, names, showscale=True, text=True) -> go.Heatmap:
    P = _np(P)
    if P.ndim != 2 or P.shape[0] != P.shape[1]:
        raise ValueError(f"P must be a single (n, n) matrix; got shape {P.shape}")
    labels = _names(P.shape[0], names)
    return go.Heatmap(
        z=P, x=labels, y=labels, zmin=0, zmax=1, zmid=0.5, colorscale="RdBu", showscale=showscale,
        text=np.round(P, 2) + 0.0 if text and P.shape[0] <= 8 else None, texttemplate="%{text}" if text and P.shape[0] <= 8 else None,
        textfont=dict(size=12),
        hovertemplate="P(%{y} ≻ %{x}) = %{z:.3f}<extra></extra>", colorbar=dict(title="P"),
    )


def preference_heatmap(P, names: Sequence[str] | None = None, *, title: str = "Preference matrix P(y ≻ y')") -> go.Figure:
    """Heatmap of one ``(n, n)`` preference matrix: row ``y`` beats column ``y'`` with ``P[y, y']``
    (red below 1/2, blue above; the values are printed for ``n <= 8``)."""
    fig = go.Figure(_heatmap_trace(P, names))
    fig.update_layout(title=title, template="plotly_white", width=480, height=440, xaxis_title="y′ (column)", yaxis_title="y (row)")
    fig.update_yaxes(autorange="reversed")
    return fig


def preference_heatmaps(matrices: Mapping[str, object], names: Sequence[str] | None = None, *, title: str | None = None) -> go.Figure:
    """Side-by-side heatmaps of several ``(n, n)`` matrices (e.g. a game and its Bradley–Terry fit).

    No fixed width: the panels share the page's width (four fit side by side at 1280 px)."""
    if not matrices:
        raise ValueError("preference_heatmaps needs at least one matrix")
    k = len(matrices)
    fig = make_subplots(rows=1, cols=k, subplot_titles=[display_label(t) for t in matrices], horizontal_spacing=0.08)
    for i, P in enumerate(matrices.values()):
        fig.add_trace(_heatmap_trace(P, names, showscale=(i == k - 1)), row=1, col=i + 1)
        fig.update_yaxes(autorange="reversed", row=1, col=i + 1)
    fig.update_layout(title=title, template="plotly_white", height=420)
    return fig


def equilibrium_path(
    betas,
    pis,
    mu=None,
    lp=None,
    names: Sequence[str] | None = None,
    *,
    title: str = "Regularized equilibrium π*<sub>β</sub> against β",
) -> go.Figure:
    """``pi*_beta(y)`` against ``beta`` (log axis): one line per response ``y``.

    ``betas`` ``(K,)``, ``pis`` ``(K, n)``. ``mu`` ``(n,)`` is drawn as dotted lines (the limit at large
    ``beta``), ``lp`` ``(n,)`` (the ``beta = 0`` LP equilibrium) as diamonds left of the smallest ``beta``.
    """
    b, P = _np(betas).reshape(-1), _np(pis)
    if P.ndim != 2 or P.shape[0] != b.shape[0]:
        raise ValueError(f"pis must be (K, n) with K = len(betas) = {b.shape[0]}; got shape {P.shape}")
    order = np.argsort(b)
    b, P = b[order], P[order]
    n = P.shape[1]
    labels = _names(n, names)
    x_lp = b[0] / 3
    fig = go.Figure()
    for y in range(n):
        c = _COLORS[y % len(_COLORS)]
        fig.add_trace(go.Scatter(x=b, y=P[:, y], mode="lines", name=f"π*<sub>β</sub>({labels[y]})", line=dict(color=c, width=2), legendgroup=labels[y]))
        if mu is not None:
            m = _np(mu).reshape(-1)[y]
            fig.add_trace(go.Scatter(x=[b[0], b[-1]], y=[m, m], mode="lines", line=dict(color=c, dash="dot", width=1),
                                     name=f"μ({labels[y]})", legendgroup=labels[y], showlegend=False, hovertemplate=f"μ({labels[y]}) = {m:.3f}<extra></extra>"))
        if lp is not None:
            v = _np(lp).reshape(-1)[y]
            fig.add_trace(go.Scatter(x=[x_lp], y=[v], mode="markers", marker=dict(color=c, symbol="diamond", size=10, line=dict(color="black", width=1)),
                                     name=f"β = 0 (LP) {labels[y]}", legendgroup=labels[y], showlegend=False, hovertemplate=f"LP equilibrium: {v:.3f}<extra></extra>"))
    if mu is not None:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line=dict(color="gray", dash="dot"), name="μ (β → ∞)"))
    if lp is not None:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", marker=dict(color="gray", symbol="diamond", size=10), name="β = 0 (LP)"))
        fig.add_vline(x=b[0] / 1.7, line=dict(color="lightgray", dash="dash"))
    fig.update_xaxes(type="log", title="β (log scale)")
    fig.update_yaxes(title="π*<sub>β</sub>(y)", range=[0, 1.02])
    fig.update_layout(title=title, template="plotly_white", width=760, height=440)
    return fig


def equilibrium_simplex(
    path=None,
    points: Mapping[str, object] | None = None,
    names: Sequence[str] = ("y0", "y1", "y2"),
    *,
    path_label: str = "π*<sub>β</sub> (β from large to small)",
    title: str = "Equilibria on the simplex",
) -> go.Figure:
    """Ternary plot of a 3-response game: the ``(K, 3)`` ``path`` as a line, and named ``points``
    (``label -> (3,)``, e.g. ``{"μ": mu, "Nash (LP)": lp}``) as markers. A point that lies on an earlier
    one (within 1e-6) says so in its legend name, since its marker hides the other."""
    labels = _names(3, names)
    fig = go.Figure()
    if path is not None:
        p = _np(path).reshape(-1, 3)
        fig.add_trace(go.Scatterternary(a=p[:, 0], b=p[:, 1], c=p[:, 2], mode="lines+markers", marker=dict(size=3), name=path_label, line=dict(width=2)))
    symbols = ("circle", "diamond", "x", "star", "square", "cross")
    seen: dict[str, np.ndarray] = {}
    for i, (label, pt) in enumerate((points or {}).items()):
        v = _np(pt).reshape(-1)
        if v.shape != (3,):
            raise ValueError(f"point {label!r} must have 3 entries; got shape {v.shape}")
        same = [k for k, w in seen.items() if np.abs(v - w).max() < 1e-6]  # drawn on top of an earlier point: say so
        seen[label] = v
        name = display_label(label) + (f" (coincides with {', '.join(display_label(k) for k in same)})" if same else "")
        fig.add_trace(go.Scatterternary(a=[v[0]], b=[v[1]], c=[v[2]], mode="markers", name=name,
                                        marker=dict(size=13, symbol=symbols[i % len(symbols)], color=_COLORS[(i + 1) % len(_COLORS)], line=dict(color="black", width=1))))
    fig.update_layout(title=title, template="plotly_white", width=560, height=500,
                      ternary=dict(aaxis_title=labels[0], baxis_title=labels[1], caxis_title=labels[2], sum=1))
    return fig


def policy_bars(policies: Mapping[str, object], names: Sequence[str] | None = None, *, title: str = "Policies") -> go.Figure:
    """Grouped bars, one group per response, one bar per named ``(n,)`` policy."""
    fig = go.Figure()
    for i, (label, pi) in enumerate(policies.items()):
        v = _np(pi).reshape(-1)
        fig.add_trace(go.Bar(x=_names(v.shape[0], names), y=v, name=display_label(label), marker_color=_COLORS[i % len(_COLORS)]))
    fig.update_layout(title=title, template="plotly_white", barmode="group", width=640, height=400, yaxis_title="probability")
    return fig


def share_vs_knob(curves: Mapping[str, tuple[object, object]], *, band: tuple[float, float] = (0.1, 0.9),
                  title: str = "How cyclic is the game?", x_title: str = "intransitivity knob a", y_title: str = "value") -> go.Figure:
    """Median and a quantile ``band`` over a batch of games: ``label -> (knobs (K,), values (K, S))``.

    The band is a filled outline only (``mode="lines"``): plotly's default for short traces would add
    markers in colours that no legend entry explains."""
    fig = go.Figure()
    for i, (label, (k, v)) in enumerate(curves.items()):
        k, v = _np(k).reshape(-1), _np(v).reshape(len(_np(k).reshape(-1)), -1)
        c = _COLORS[i % len(_COLORS)]
        lo, med, hi = np.quantile(v, [band[0], 0.5, band[1]], axis=1)
        h = c.lstrip("#")
        fill = "rgba({},{},{},0.2)".format(*(int(h[j : j + 2], 16) for j in (0, 2, 4)))
        fig.add_trace(go.Scatter(x=np.concatenate([k, k[::-1]]), y=np.concatenate([hi, lo[::-1]]), mode="lines", fill="toself", fillcolor=fill,
                                 line=dict(width=0, color=fill), hoverinfo="skip", showlegend=False, legendgroup=label))
        fig.add_trace(go.Scatter(x=k, y=med, mode="lines+markers", name=display_label(label), line=dict(color=c), legendgroup=label))
    fig.update_layout(title=title, template="plotly_white", width=680, height=420, xaxis_title=x_title, yaxis_title=y_title)
    return fig


def explorer_figure(P, policies: Mapping[str, object], names: Sequence[str] | None = None, *, title: str = "") -> go.Figure:
    """The games explorer's figure: the ``P`` heatmap (left) and grouped policy bars (right).

    No fixed width, so it follows its container (a JupyterLab output area or a report page)."""
    P_np = _np(P)
    labels = _names(P_np.shape[0], names)
    fig = make_subplots(rows=1, cols=2, column_widths=[0.45, 0.55], subplot_titles=("P(y ≻ y′)", "policies"), horizontal_spacing=0.17)
    hm = _heatmap_trace(P_np, labels)
    hm.colorbar.update(x=0.39, len=0.9, thickness=14)
    fig.add_trace(hm, row=1, col=1)
    fig.update_yaxes(autorange="reversed", row=1, col=1)
    for i, (label, pi) in enumerate(policies.items()):
        fig.add_trace(go.Bar(x=labels, y=_np(pi).reshape(-1), name=display_label(label), marker_color=_COLORS[i % len(_COLORS)]), row=1, col=2)
    fig.update_yaxes(title="probability", row=1, col=2)
    fig.update_layout(title=title, template="plotly_white", barmode="group", height=460,
                      legend=dict(orientation="h", y=-0.15, x=0.55))
    return fig
