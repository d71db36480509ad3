"""Figures of the LLM lab (plotly; every function returns a figure and never calls ``.show()``).

Inputs are the tidy frames of :mod:`workbench.llm.experiments` and :mod:`workbench.llm.evaluation` (the
results schema ``algo, seed, step, queries, metric, value`` + ``model, beta``; win-rate frames add
``opponent``); means and confidence intervals over seeds come from :mod:`workbench.analysis.summaries`.

* :func:`equilibrium_curves` -- exact ``KL(pi* || pi)`` and regularized exploitability against preference
  queries, the neural runs (solid, CI band over seeds) next to the tabular lab's (dashed);
* :func:`win_rate_heatmap` -- the pairwise win-rate matrix (Munos et al. 2023, Table 1);
* :func:`frontier` -- win rate against the reference vs ``KL(pi || mu)``, the path of each run over training
  and its final point with CI bars;
* :func:`mixture_bars` -- the mixture sampler's empirical distribution against the closed form.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from workbench.analysis.summaries import seed_ci
from workbench.llm.evaluation import win_rate_table

__all__ = ["equilibrium_curves", "win_rate_heatmap", "frontier", "mixture_bars"]

_COLORS = qualitative.Plotly
METRIC_TITLES = {
    "kl_to_eq": "KL(π* ‖ π): distance to the regularized equilibrium",
    "reg_exploitability": "regularized exploitability max_π' P_β(π' ≻ π) − ½",
    "exploitability": "exploitability max_y P(y ≻ π) − ½",
    "kl_to_mu": "KL(π ‖ μ): distance to the reference",
    "win_rate_vs_mu": "win rate against the reference P(π ≻ μ)",
}


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _color_map(labels: Sequence[str]) -> dict[str, str]:
    """One colour per method; ``"tabular X"`` reuses the colour of the neural method whose name starts with X."""
    colors: dict[str, str] = {}
    for label in labels:
        if not str(label).startswith("tabular ") and label not in colors:
            colors[label] = _COLORS[len(colors) % len(_COLORS)]
    for label in labels:
        if label in colors:
            continue
        base = str(label)[len("tabular "):]
        owner = next((a for a in colors if str(a).startswith(base)), None)
        colors[label] = colors[owner] if owner is not None else _COLORS[len(colors) % len(_COLORS)]
    return colors


def equilibrium_curves(
    frame: pd.DataFrame,
    tabular: pd.DataFrame | None = None,
    *,
    metrics: Sequence[str] = ("kl_to_eq", "reg_exploitability"),
    x: str = "queries",
    log_y: bool = True,
    level: float = 0.95,
    title: str | None = None,
) -> go.Figure:
    """Exact equilibrium-distance curves, one panel per metric: each neural method's mean over seeds
    (geometric when ``log_y``) with its ``level`` CI band, the tabular curves of
    :func:`workbench.llm.experiments.tabular_reference` dashed in the matching colour."""
    parts = [frame] + ([tabular] if tabular is not None else [])
    data = pd.concat(parts, ignore_index=True)
    data = data[data["metric"].isin(list(metrics))].copy()
    if data.empty:
        raise ValueError(f"equilibrium_curves: none of {list(metrics)} in the frame; it has {sorted(frame['metric'].unique())}")
    if log_y:
        data["value"] = data["value"].clip(lower=1e-12)
    tab_algos = set(tabular["algo"]) if tabular is not None else set()
    colors = _color_map(list(dict.fromkeys(data["algo"])))
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=[METRIC_TITLES.get(m, m) for m in metrics])
    for col, metric in enumerate(metrics, start=1):
        summ = seed_ci(data[data["metric"] == metric], by=("algo", x), level=level, log=log_y, n_boot=300, interval="t")
        for algo, g in summ.groupby("algo", sort=False):
            g = g.sort_values(x)
            c = colors[algo]
            dashed = algo in tab_algos
            if (g["n"] > 1).any():
                fig.add_trace(go.Scatter(
                    x=np.concatenate([g[x], g[x][::-1]]), y=np.concatenate([g["hi"], g["lo"][::-1]]), fill="toself",
                    fillcolor=_rgba(c, 0.15), line=dict(width=0), hoverinfo="skip", showlegend=False, legendgroup=algo,
                ), row=1, col=col)
            fig.add_trace(go.Scatter(
                x=g[x], y=g["mean"], mode="lines+markers" if not dashed else "lines", name=str(algo), legendgroup=algo,
                line=dict(color=c, width=2, dash="dash" if dashed else "solid"), marker=dict(size=5),
                showlegend=col == 1,
            ), row=1, col=col)
        fig.update_yaxes(type="log" if log_y else "linear", title_text=METRIC_TITLES.get(metric, metric).split(":")[0],
                         row=1, col=col)
        fig.update_xaxes(title_text="preference queries N" if x == "queries" else "gradient step t", row=1, col=col)
    fig.update_layout(title=title or "Exact distance to the regularized equilibrium: neural (solid) vs tabular (dashed)",
                      template="plotly_white", height=420)
    return fig


def win_rate_heatmap(frame: pd.DataFrame, *, order: Sequence[str] | None = None, title: str | None = None,
                     metric: str = "win_rate") -> go.Figure:
    """The win-rate matrix ``P(row ≻ column)``, mean over seeds (hover: the CI), diverging around 1/2."""
    tables = win_rate_table(frame, metric=metric, order=order)
    mean, lo, hi = tables["mean"], tables["lo"], tables["hi"]
    text = mean.map(lambda v: f"{v:.2f}" if np.isfinite(v) else "")
    hover = [[f"P({r} ≻ {c}) = {mean.loc[r, c]:.3f} [{lo.loc[r, c]:.3f}, {hi.loc[r, c]:.3f}]" for c in mean.columns]
             for r in mean.index]
    fig = go.Figure(go.Heatmap(
        z=mean.to_numpy(float), x=[str(c) for c in mean.columns], y=[str(r) for r in mean.index], zmin=0, zmax=1,
        zmid=0.5, colorscale="RdBu", text=text.to_numpy(), texttemplate="%{text}", hovertext=hover, hoverinfo="text",
        colorbar=dict(title="P(row ≻ col)"),
    ))
    n_seeds = frame.loc[frame["metric"] == metric, "seed"].nunique()
    fig.update_layout(title=title or f"Pairwise win rates P(row policy ≻ column policy), mean of {n_seeds} seed(s)",
                      xaxis_title="column policy (opponent)", yaxis_title="row policy", template="plotly_white",
                      yaxis=dict(autorange="reversed"), height=420)
    return fig


def frontier(
    frame: pd.DataFrame,
    finals: pd.DataFrame | None = None,
    *,
    x: str = "kl_to_mu",
    y: str = "win_rate_vs_mu",
    level: float = 0.95,
    title: str | None = None,
) -> go.Figure:
    """Win rate against the reference vs KL to the reference: each method's path over training (mean over
    seeds at each recorded step, from a training ``frame``) and its final point with ``level`` CI bars
    (from ``finals``, e.g. :func:`workbench.llm.evaluation.exact_frontier`, else the paths' last step)."""
    fig = go.Figure()
    colors = _color_map(list(dict.fromkeys(frame["algo"])) + ([] if finals is None else list(dict.fromkeys(finals["algo"]))))
    paths = frame[frame["metric"].isin([x, y])]
    if not paths.empty:
        mean = paths.groupby(["algo", "step", "metric"], sort=False)["value"].mean().unstack("metric")
        for algo in dict.fromkeys(paths["algo"]):
            if algo not in mean.index.get_level_values(0) or x not in mean or y not in mean:
                continue
            g = mean.loc[algo].sort_index()
            fig.add_trace(go.Scatter(x=g[x], y=g[y], mode="lines", line=dict(color=colors[algo], width=1.5, dash="dot"),
                                     name=f"{algo} (training path)", legendgroup=algo, showlegend=False, opacity=0.7))
    last_src = finals if finals is not None else paths
    last_src = last_src[last_src["metric"].isin([x, y])]
    last = last_src[last_src["step"] == last_src.groupby(["algo", "seed"])["step"].transform("max")]
    summ = seed_ci(last, by=("algo", "metric"), level=level, interval="t")
    for algo in dict.fromkeys(last["algo"]):
        s = summ[summ["algo"] == algo].set_index("metric")
        if x not in s.index or y not in s.index:
            continue
        fig.add_trace(go.Scatter(
            x=[s.loc[x, "mean"]], y=[s.loc[y, "mean"]], mode="markers+text", text=[str(algo)], textposition="top center",
            marker=dict(size=11, color=colors[algo]), name=str(algo), legendgroup=algo,
            error_x=dict(type="data", symmetric=False, array=[s.loc[x, "hi"] - s.loc[x, "mean"]],
                         arrayminus=[s.loc[x, "mean"] - s.loc[x, "lo"]]),
            error_y=dict(type="data", symmetric=False, array=[s.loc[y, "hi"] - s.loc[y, "mean"]],
                         arrayminus=[s.loc[y, "mean"] - s.loc[y, "lo"]]),
        ))
    fig.update_layout(title=title or "Win rate vs KL to the reference (final policies with CI; dotted: training paths)",
                      xaxis_title=METRIC_TITLES.get(x, x), yaxis_title=METRIC_TITLES.get(y, y), template="plotly_white",
                      height=450)
    return fig


def mixture_bars(
    empirical,
    closed_form,
    labels: Sequence[str],
    n_samples: int,
    *,
    extra: dict[str, object] | None = None,
    title: str | None = None,
) -> go.Figure:
    """The sampler's empirical frequencies (bars, ±2 standard errors ``sqrt(p(1-p)/N)``) against the
    closed-form token-level mixture ``pi^m`` (markers); ``extra`` adds other exact distributions (e.g. the
    policy itself, ``m = 0``) as markers for contrast."""
    emp = np.asarray(empirical, dtype=float).reshape(-1)
    exact = np.asarray(closed_form, dtype=float).reshape(-1)
    if not (len(emp) == len(exact) == len(labels)):
        raise ValueError(f"mixture_bars: empirical ({len(emp)}), closed_form ({len(exact)}) and labels ({len(labels)}) "
                         "must have the same length")
    se = np.sqrt(np.clip(exact * (1 - exact), 0, None) / n_samples)
    fig = go.Figure()
    fig.add_trace(go.Bar(x=list(labels), y=emp, name=f"sampled frequency (N = {n_samples})", marker_color=_COLORS[0],
                         error_y=dict(type="data", array=2 * se), opacity=0.8))
    fig.add_trace(go.Scatter(x=list(labels), y=exact, mode="markers", name="closed form π^m(y|x)",
                             marker=dict(symbol="diamond", size=9, color="black")))
    for i, (name, dist) in enumerate((extra or {}).items()):
        fig.add_trace(go.Scatter(x=list(labels), y=np.asarray(dist, dtype=float).reshape(-1), mode="markers", name=str(name),
                                 marker=dict(symbol="x", size=8, color=_COLORS[(i + 2) % len(_COLORS)])))
    fig.update_layout(title=title or "Mixture sampler: empirical vs closed-form distribution over responses",
                      xaxis_title="response y", yaxis_title="probability π^m(y | x)", template="plotly_white",
                      xaxis_tickangle=-45, height=430)
    return fig
