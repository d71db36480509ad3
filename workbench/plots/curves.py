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

__all__ = ["LABELS", "display_name", "coinciding", "metric_curves", "queries_heatmap", "simplex_trajectories", "simplex_xy"]

_COLORS = qualitative.Plotly
_DASHES = ("solid", "dot", "dashdot", "longdashdot")  # "dash" (and the look-alike "longdash") is kept for theory lines
_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "cross", "triangle-down", "star", "pentagon", "hexagon")

#: Display names (axis titles, legends) for the code names of the results frames' columns and metrics.
LABELS: dict[str, str] = {
    "kl_to_eq": "KL(π*‖π<sub>t</sub>)",
    "kl_to_mu": "KL(π<sub>t</sub>‖μ)",
    "reg_exploitability": "regularized exploitability",
    "exploitability": "exploitability",
    "avg_exploitability": "exploitability of the average iterate",
    "span_log_ratio": "span of log π<sub>t</sub> − log π*",
    "win_rate_vs_mu": "win rate against μ",
    "step": "iteration t",
    "queries": "preference queries N",
    "queries_to_eps": "queries to ε",
    "eta": "step size η",
    "beta": "regularization β",
    "algo": "method",
    "samples": "samples k",
}


def display_name(name: str) -> str:
    """The words shown for a code name (:data:`LABELS`); other names with underscores get spaces."""
    return LABELS.get(str(name), str(name).replace("_", " "))


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def coinciding(lines: Mapping[str, pd.Series], *, tol: float = 0.1) -> list[list[str]]:
    """Groups of curves that coincide on a log scale: every pair in a group is drawn over (nearly) the same
    x values (at least 80% of each curve's points shared) and differs by at most ``tol`` decades
    (``|log10 a - log10 b|``) at every shared x. ``lines`` maps a label to a positive Series indexed by x.
    Groups of two or more, in the order of ``lines``; a curve joins the first group it fits."""
    logs = {k: np.log10(v.astype(float).clip(lower=1e-300)) for k, v in lines.items()}
    groups: list[list[str]] = []
    for k, v in logs.items():
        for g in groups:
            if all(_within(v, logs[o], tol) for o in g):
                g.append(k)
                break
        else:
            groups.append([k])
    return [g for g in groups if len(g) > 1]


def _within(a: pd.Series, b: pd.Series, tol: float) -> bool:
    longest = max(len(a), len(b))
    a, b = a.align(b, join="inner")
    return len(a) > 1 and len(a) >= 0.8 * longest and bool((np.abs(a - b) <= tol).all())


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
    metric_names: Mapping[str, str] | None = None,
    x_title: str | None = None,
    y_title: str | None = None,
    coincide_tol: float = 0.1,
) -> go.Figure:
    """One line per ``algo`` of ``metric`` against ``x`` (``"step"`` or ``"queries"``).

    ``metric`` may be a list (e.g. ``["exploitability", "avg_exploitability"]``): one line per
    ``(algo, metric)``, labelled ``"algo · <metric name>"`` (``metric_names`` maps a metric to the words
    used there; default :func:`display_name`).

    The line is the mean over seeds and games (geometric mean when ``log_y``), the band its bootstrap
    ``level`` CI (drawn where there is more than one run). ``theory`` maps a label to ``(xs, ys)`` drawn
    dashed; a label that starts with an algo's legend name (or code name) reuses that algo's colour
    (longest name wins). Values below ``floor`` are clipped so a log axis can show runs that reached
    machine precision; on a log axis a band's lower edge is also clipped one decade under the lowest line,
    so a few runs at round-off do not pull the axis decades down. With ``log_x`` the points at ``x <= 0``
    are left out.

    Every algo gets its own colour, dash style and marker symbol, so lines that coincide stay visible.
    Curves that coincide within ``coincide_tol`` decades at every x (``log_y`` only; :func:`coinciding`)
    are named in a legend entry ("A, B and C coincide"). Axis titles and legend names are words
    (:data:`LABELS`), not code names; ``x_title`` / ``y_title`` override the axis titles.
    """
    metrics = [metric] if isinstance(metric, str) else list(metric)
    sub = df[df["metric"].isin(metrics)].copy()
    if sub.empty:
        raise ValueError(f"metric {metric!r} not in the frame; it has {sorted(df['metric'].unique())}")
    names = {m: (metric_names or {}).get(m, display_name(m)) for m in metrics}
    raw_of: dict[str, str] = {}  # legend label -> the code label it came from
    if len(metrics) > 1:
        label = sub["algo"].astype(str) + " · " + sub["metric"].map(names)
        raw_of = dict(zip(label, sub["algo"].astype(str) + " · " + sub["metric"]))
        sub["algo"] = label
    if log_y:
        sub["value"] = sub["value"].clip(lower=floor)
    if log_x:
        sub = sub[sub[x] > 0]  # x = 0 has no place on a log axis (plotly would draw a flat line in from the edge)
    summ = seed_ci(sub, by=("algo", x), level=level, log=log_y, n_boot=500)
    fig = go.Figure()
    colors: dict[str, str] = {}
    means: dict[str, pd.Series] = {}
    groups = list(summ.groupby("algo", sort=False))
    lowest = min((g["mean"][g["mean"] > 0].min() for _, g in groups), default=floor) if log_y else None
    for i, (algo, g) in enumerate(groups):
        c = _COLORS[i % len(_COLORS)]
        algo = str(algo)
        colors[algo] = c
        g = g.sort_values(x)
        means[algo] = g.set_index(x)["mean"]
        band = g[(g["n"] > 1) & g["lo"].notna() & g["hi"].notna()]
        if len(band):
            lo = band["lo"].to_numpy(float)
            if log_y:
                lo = np.maximum(lo, max(floor, lowest / 10))
            fig.add_trace(go.Scatter(
                x=np.concatenate([band[x], band[x][::-1]]), y=np.concatenate([band["hi"], lo[::-1]]), mode="lines",
                fill="toself", fillcolor=_rgba(c, 0.18), line=dict(width=0, color=_rgba(c, 0.0)), hoverinfo="skip",
                showlegend=False, legendgroup=algo, name=f"{algo} CI",
            ))
        fig.add_trace(go.Scatter(
            x=g[x], y=g["mean"], mode="lines+markers", name=algo, legendgroup=algo,
            line=dict(color=c, width=2, dash=_DASHES[i % len(_DASHES)]),
            marker=dict(color=c, symbol=_SYMBOLS[i % len(_SYMBOLS)], size=7, maxdisplayed=12),
        ))
    owners_of = {**{a: a for a in colors}, **{r: a for a, r in raw_of.items() if a in colors}}
    for j, (label, (xs, ys)) in enumerate((theory or {}).items()):
        owners = [k for k in owners_of if str(label).startswith(k)]  # the longest matching name wins
        c = colors[owners_of[max(owners, key=len)]] if owners else _COLORS[(len(colors) + j) % len(_COLORS)]
        ys = np.asarray(ys, dtype=float)
        fig.add_trace(go.Scatter(x=np.asarray(xs), y=np.clip(ys, floor, None) if log_y else ys, mode="lines", name=str(label),
                                 line=dict(color=c, width=1.5, dash="dash")))
    if log_y:
        for grp in coinciding(means, tol=coincide_tol):
            words = ", ".join(grp[:-1]) + " and " + grp[-1]
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line=dict(color="rgba(0,0,0,0)"),
                                     name=f"{words} coincide (within {coincide_tol:g} decade)", hoverinfo="skip"))
    metric_words = " / ".join(dict.fromkeys(names[m] for m in metrics)) if len(metrics) > 1 else display_name(metrics[0])
    fig.update_layout(
        title=title or f"{metric_words} vs {display_name(x)}", xaxis_title=x_title or display_name(x),
        yaxis_title=y_title or metric_words, template="plotly_white", legend=dict(orientation="v"),
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
    font_size: int = 12,
) -> go.Figure:
    """Heatmap of ``value`` (from :func:`queries_to_epsilon`) over the ``(x, y)`` grid, ``agg`` over games.

    Colour is ``log10`` of the cost (the colour bar is labelled in queries); cells where the aggregate is
    ``inf`` (most runs never reached epsilon) are left blank and annotated "not reached". One panel per
    value of ``facet`` (``None``: one panel), wrapped onto several rows so each cell stays wide enough
    for its label at ``font_size`` px. No fixed width: the figure follows the page.
    """
    from plotly.subplots import make_subplots

    for c in (value, x, y) + ((facet,) if facet else ()):
        if c not in q.columns:
            raise KeyError(f"heatmap needs column {c!r}; the frame has {list(q.columns)}")
    panels = list(dict.fromkeys(q[facet])) if facet else [None]
    n_x = q[x].nunique()
    per_row = max(1, min(len(panels), 16 // max(n_x, 1)))  # about 16 cells across the page at most
    rows = -(-len(panels) // per_row)
    n_y = q[y].nunique()
    fig = make_subplots(rows=rows, cols=per_row, subplot_titles=[str(p) for p in panels] if facet else None,
                        shared_yaxes=True, horizontal_spacing=0.05, vertical_spacing=min(0.3, 0.5 / rows))
    finite = q[value].replace(np.inf, np.nan)
    lo, hi = (np.log10(finite.min()), np.log10(finite.max())) if finite.notna().any() else (0.0, 1.0)
    ticks = [v for v in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5) if lo - 1e-9 <= np.log10(v) <= hi + 1e-9]
    colorbar = dict(title=display_name(value), tickvals=np.log10(ticks).tolist(), ticktext=[f"{v:g}" for v in ticks])
    for k, p in enumerate(panels):
        r, c = k // per_row + 1, k % per_row + 1
        sub = q if p is None else q[q[facet] == p]
        table = sub.groupby([y, x])[value].agg(agg).unstack(x)  # rows y, cols x
        vals = table.to_numpy(float)  # (len y, len x)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.log10(vals)
        text = np.array([[f"{v:.3g}" if np.isfinite(v) else "not<br>reached" for v in row] for row in vals])
        fig.add_trace(go.Heatmap(
            z=np.where(np.isfinite(z), z, np.nan), x=[f"{v:g}" if isinstance(v, float) else str(v) for v in table.columns],
            y=[f"{v:g}" for v in table.index], text=text, texttemplate="%{text}", textfont=dict(size=font_size), zmin=lo, zmax=hi,
            colorscale="Viridis", colorbar=colorbar if k == 0 else None, showscale=k == 0,
            hovertemplate=f"{display_name(y)} = %{{y}}<br>{display_name(x)} = %{{x}}<br>{agg} {display_name(value)} = %{{text}}<extra></extra>",
        ), row=r, col=c)
        fig.update_xaxes(title_text=display_name(x) if r == rows else None, type="category", row=r, col=c)
        fig.update_yaxes(type="category", row=r, col=c)
        if c == 1:
            fig.update_yaxes(title_text=display_name(y), row=r, col=c)
    fig.update_layout(title=title or f"{agg} {display_name(value)} over games", template="plotly_white",
                      height=140 + rows * max(220, 60 * n_y))
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
    fig.update_layout(title=title, template="plotly_white", height=600, legend=dict(orientation="h", y=-0.02))
    fig.update_xaxes(visible=False, range=[-0.1, 1.1])
    fig.update_yaxes(visible=False, range=[-0.1, 0.98], scaleanchor="x", scaleratio=1)
    return fig
