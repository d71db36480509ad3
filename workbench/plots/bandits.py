"""Figures for the contextual-bandit lab: gap curves with confidence bands over seeds.

Input: the results frames of :mod:`workbench.bandits.experiments` (``algo, seed, step, queries, metric,
value`` + knobs, :mod:`workbench.results`), summarized by :func:`workbench.analysis.summaries.seed_ci`
(mean and Student-t 95% interval over seeds). Policies are drawn with
:func:`workbench.plots.games.policy_bars` (pass ``pi[context]``). Every function returns a plotly figure
and never calls ``.show()``.

Code names never reach the page: algorithms, metrics, knobs and instance names are shown through
:data:`ALGO_NAMES`, :data:`METRIC_NAMES`, :data:`KNOB_NAMES` and :func:`display_title`. Each algorithm
keeps one colour, dash style and marker in every figure, so curves that coincide stay distinguishable,
and the legend names the curves that coincide. On a log axis the band's lower edge is cut at
a tenth of the mean where the interval reaches down further (or below 0), and the legend title says so.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from workbench.analysis.summaries import seed_ci

__all__ = [
    "ALGO_NAMES", "KNOB_NAMES", "METRIC_NAMES", "display_name", "display_title",
    "gap_curves", "gap_panels", "legend_right", "regime_map",
]

#: algorithm code name (the ``algo`` column) -> legend name.
ALGO_NAMES = {
    "plug_in": "plug-in (greedy on the MLE)",
    "pointwise": "pointwise pessimism (GSHF, Option II)",
    "policy_level": "policy-level pessimism (GSHF, Option I)",
    "general_nash": "Nash policy of the general-preference MLE",
    "bt_nash": "Nash policy of the Bradley–Terry MLE",
    "maxmin": "pessimistic max-min (Ye et al.)",
    "enhancer": "main agent + enhancer",
    "exploit": "exploit only (both from the main agent)",
    "uniform": "uniform exploration",
}
#: metric code name (the ``metric`` column) -> axis title.
METRIC_NAMES = {
    "gap": "suboptimality J(π*) − J(π)",
    "nash_gap": "duality gap of π",
    "uncertainty": "enhancer's uncertainty Γ",
}
#: knob (panel) code name -> words, as in "coverage c = 0.5".
KNOB_NAMES = {
    "coverage": "coverage c",
    "batch_size": "batch size m",
    "gamma": "γ",
    "beta": "β",
    "n_arms": "arms",
    "env": "instance",
}

_COLORS = qualitative.Plotly
_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
_MARKERS = ("circle", "square", "diamond", "triangle-up", "x", "cross", "star", "triangle-down", "pentagon")
_MODELS = {"bt": "Bradley–Terry preference", "general": "general preference with cycles"}
#: metrics that cannot be negative: their bands are cut at 0 on a linear axis.
NONNEGATIVE = frozenset({"gap", "nash_gap", "uncertainty"})
#: on a log axis the band's lower edge is drawn no lower than this fraction of the mean.
BAND_FLOOR = 0.1
#: two curves "coincide" when their means differ by less than this (relative) at every point.
COINCIDE_RTOL = 0.02


def display_name(code) -> str:
    """Words for an algorithm, metric or knob code name; unknown names lose their underscores."""
    code = str(code)
    for table in (ALGO_NAMES, METRIC_NAMES, KNOB_NAMES):
        if code in table:
            return table[code]
    return code.replace("_", " ")


def display_title(title: str) -> str:
    """A bandit instance's code name (``BanditEnv.name``) in words; any other title is returned as is.

    ``random_linear(d=4, bt)`` -> "Random features (d = 4), Bradley–Terry preference";
    ``rare_but_lucky(n=30)`` -> "Rare but lucky: 30 one-hot arms";
    ``hidden_good_actions(ref_mass=0.01, general)`` -> "Hidden good action (π₀ gives it 0.01), general
    preference with cycles".
    """
    if m := re.fullmatch(r"random_linear\(d=(\d+), (\w+)\)", title or ""):
        return f"Random features (d = {m[1]}), {_MODELS.get(m[2], m[2])}"
    if m := re.fullmatch(r"rare_but_lucky\(n=(\d+)\)", title or ""):
        return f"Rare but lucky: {m[1]} one-hot arms"
    if m := re.fullmatch(r"hidden_good_actions\(ref_mass=([^,]+), (\w+)\)", title or ""):
        return f"Hidden good action (π₀ gives it {m[1]}), {_MODELS.get(m[2], m[2])}"
    return title


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    return "rgba({},{},{},{})".format(*(int(h[i : i + 2], 16) for i in (0, 2, 4)), alpha)


def _coinciding(summary: pd.DataFrame, color_by: str, keys: list) -> list[list]:
    """Groups of ``keys`` whose mean curves agree within :data:`COINCIDE_RTOL` at every shared x."""
    means = summary.pivot_table(index="queries", columns=color_by, values="mean")
    groups: list[list] = []
    for key in keys:
        if key not in means:
            continue
        for g in groups:
            a, b = means[g[0]], means[key]
            ok = a.notna() & b.notna()
            scale = np.maximum(a[ok].abs(), b[ok].abs())
            if ok.any() and ((a[ok] - b[ok]).abs() <= COINCIDE_RTOL * scale + 1e-12).all():
                g.append(key)
                break
        else:
            groups.append([key])
    return [g for g in groups if len(g) > 1]


def _add_curves(fig, summary: pd.DataFrame, color_by: str, keys: list, log_y: bool, nonneg: bool, names: dict,
                row=None, col=None, showlegend=True) -> None:
    """One band + one mean line per key, each key with its own colour, dash style and marker."""
    for i, key in enumerate(keys):
        s = summary[summary[color_by] == key].sort_values("queries")
        if s.empty:
            continue
        c = _COLORS[i % len(_COLORS)]
        kw = {} if row is None else {"row": row, "col": col}
        x = s["queries"].tolist()
        lo = s["lo"]
        if log_y:  # a band reaching 0 would run decades down the log axis
            floor = s["mean"].abs() * BAND_FLOOR
            lo = lo.where(lo >= floor, floor)
        elif nonneg:  # the interval of a nonnegative quantity, cut at 0
            lo = lo.clip(lower=0.0)
        name = names[key]
        fig.add_trace(go.Scatter(x=x + x[::-1], y=s["hi"].tolist() + lo.tolist()[::-1], fill="toself", mode="lines",
                                 fillcolor=_rgba(c, 0.15), line={"width": 0, "color": c}, hoverinfo="skip",
                                 showlegend=False, legendgroup=name, name=f"{name}: 95% band"), **kw)
        fig.add_trace(go.Scatter(x=x, y=s["mean"], mode="lines+markers", name=name, legendgroup=name,
                                 line={"color": c, "dash": _DASHES[i % len(_DASHES)], "width": 2},
                                 marker={"symbol": _MARKERS[i % len(_MARKERS)], "size": 8, "color": c},
                                 showlegend=showlegend), **kw)


def _legend_names(keys: list, groups: list[list]) -> dict:
    """Legend name per key; a curve that coincides with an earlier one says so in its name."""
    names = {k: display_name(k) for k in keys}
    for g in groups:
        for k in g[1:]:
            names[k] += f" (coincides with {display_name(g[0])})"
    return names


def _ticks(sizes) -> list:
    """Tick values for a log x axis: every size when there are at most 8, else 1-2-5 values and the ends."""
    sizes = sorted({float(v) for v in sizes if v > 0})
    if len(sizes) <= 8:
        return sizes
    lo, hi = sizes[0], sizes[-1]
    nice = [m * 10.0**k for k in range(int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi))) + 1) for m in (1, 2, 5)]
    return sorted({lo, hi, *(v for v in nice if lo * 1.3 <= v <= hi / 1.3)})


def _layout(fig, title: str, log_y: bool, nonneg: bool) -> None:
    band = "lines: mean over seeds<br>bands: 95% Student-t interval" + (
        f",<br>lower edge cut at {BAND_FLOOR:g} × mean (log axis)" if log_y else ", cut at 0" if nonneg else "")
    fig.update_layout(
        title=display_title(title), template="plotly_white", height=520, autosize=True, margin={"b": 150},
        legend={"orientation": "h", "x": 0.0, "xanchor": "left", "y": -0.2, "yanchor": "top",
                "title": {"text": band, "side": "top"}, "font": {"size": 13}},
    )


def gap_curves(frame: pd.DataFrame, metric: str = "gap", color_by: str = "algo", title: str = "",
               log_y: bool = True, log_x: bool = True, y_title: str | None = None, level: float = 0.95,
               x_title: str = "comparisons") -> go.Figure:
    """Mean ``metric`` vs ``queries`` per ``color_by`` with a Student-t ``level`` band over seeds.

    Curves whose means agree within :data:`COINCIDE_RTOL` at every size are named so in the legend.
    """
    f = frame[frame.metric == metric]
    s = seed_ci(f, by=(color_by, "queries"), level=level, interval="t")
    keys = list(dict.fromkeys(f[color_by]))
    fig = go.Figure()
    nonneg = metric in NONNEGATIVE
    _add_curves(fig, s, color_by, keys, log_y, nonneg, _legend_names(keys, _coinciding(s, color_by, keys)))
    _layout(fig, title, log_y, nonneg)
    fig.update_layout(xaxis_title=x_title, yaxis_title=y_title or display_name(metric))
    fig.update_xaxes(type="log" if log_x else "linear")
    if log_x:
        ticks = _ticks(f["queries"])
        fig.update_xaxes(tickvals=ticks, ticktext=[f"{v:g}" for v in ticks])
    fig.update_yaxes(type="log" if log_y else "linear", exponentformat="power" if log_y else "B")
    return fig


def gap_panels(frame: pd.DataFrame, panel_by: str, metric: str = "gap", color_by: str = "algo", title: str = "",
               log_y: bool = True, log_x: bool = True, y_title: str | None = None, level: float = 0.95,
               x_title: str = "comparisons") -> go.Figure:
    """One :func:`gap_curves` panel per value of ``panel_by`` (e.g. ``env``, ``coverage``, ``batch_size``).

    Curves are named as coinciding only when they coincide in every panel.
    """
    f = frame[frame.metric == metric]
    panels = list(dict.fromkeys(f[panel_by]))
    label = display_name(panel_by)
    fig = make_subplots(rows=1, cols=len(panels), shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=[f"{label} = {display_title(p) if isinstance(p, str) else f'{p:g}'}"
                                        for p in panels])
    keys = list(dict.fromkeys(f[color_by]))
    summaries = [seed_ci(f[f[panel_by] == p], by=(color_by, "queries"), level=level, interval="t") for p in panels]
    per_panel = [_coinciding(s, color_by, keys) for s in summaries]
    common = [g for g in per_panel[0] if all(any(set(g) <= set(h) for h in groups) for groups in per_panel[1:])]
    names = _legend_names(keys, common)
    nonneg = metric in NONNEGATIVE
    for j, s in enumerate(summaries, start=1):
        _add_curves(fig, s, color_by, keys, log_y, nonneg, names, row=1, col=j, showlegend=j == 1)
    _layout(fig, title, log_y, nonneg)
    fig.update_layout(yaxis_title=y_title or display_name(metric))
    fig.update_xaxes(type="log" if log_x else "linear", title_text=x_title)
    for j, p in enumerate(panels, start=1):
        if log_x:
            ticks = _ticks(f.loc[f[panel_by] == p, "queries"])
            fig.update_xaxes(tickvals=ticks, ticktext=[f"{v:g}" for v in ticks], row=1, col=j)
    fig.update_yaxes(type="log" if log_y else "linear", exponentformat="power" if log_y else "B")
    return fig


def legend_right(fig: go.Figure) -> go.Figure:
    """Move a gap figure's legend to the right of the plot (in place; returned), leaving the space below
    the plot free, e.g. for the slider of :func:`workbench.plots.explore.stepped_figure`."""
    fig.update_layout(legend={"orientation": "v", "x": 1.02, "xanchor": "left", "y": 1.0, "yanchor": "top"},
                      margin={"b": 80})
    return fig


def regime_map(table: pd.DataFrame, threshold: float = 0.75, title: str = "") -> go.Figure:
    """Share of datasets where pessimism beats plug-in (``ratio <= threshold``), one heatmap per ``gamma``.

    Input: :func:`workbench.bandits.experiments.pessimism_regime` (``n_arms, beta, gamma, seed, ratio``);
    cells: ``x = n_arms``, ``y = beta``, colour and text = the share over seeds (0 to 1), text at 14 px.
    """
    share = (table.assign(win=table["ratio"] <= threshold)
             .groupby(["gamma", "beta", "n_arms"])["win"].mean().rename("share").reset_index())
    gammas = sorted(share["gamma"].unique())
    fig = make_subplots(rows=1, cols=len(gammas), subplot_titles=[f"γ = {g:g}" for g in gammas], shared_yaxes=True,
                        horizontal_spacing=0.05)
    for j, g in enumerate(gammas, start=1):
        m = share[share["gamma"] == g].pivot(index="beta", columns="n_arms", values="share")  # (betas, arms)
        fig.add_trace(go.Heatmap(z=m.to_numpy(), x=[str(c) for c in m.columns], y=[f"{b:g}" for b in m.index],
                                 zmin=0.0, zmax=1.0, colorscale="Viridis", showscale=j == len(gammas),
                                 text=m.round(2).to_numpy(), texttemplate="%{text}", textfont={"size": 14},
                                 hovertemplate="arms %{x}, β = %{y}: share %{z:.2f}<extra></extra>",
                                 colorbar={"title": {"text": f"share of datasets<br>with ratio ≤ {threshold:g}"}}),
                      row=1, col=j)
    fig.update_layout(title=title, template="plotly_white", height=380, font={"size": 13})
    fig.update_xaxes(title_text="number of arms", type="category")
    fig.update_yaxes(title_text="β (KL strength)", type="category", col=1)
    return fig
