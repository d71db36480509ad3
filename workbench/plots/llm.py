"""Figures of the LLM lab (plotly; every function returns a figure and never calls ``.show()``).

Inputs are the tidy frames of :mod:`workbench.llm.experiments` and :mod:`workbench.llm.evaluation` (the
results schema ``algo, seed, step, queries, metric, value`` + ``model, beta``; win-rate frames add
``opponent``); means and confidence intervals over seeds come from :mod:`workbench.analysis.summaries`.

* :func:`equilibrium_curves` -- exact ``KL(pi* || pi)`` and regularized exploitability against preference
  queries, the neural runs (solid, CI band over seeds) next to the tabular lab's (dashed);
* :func:`win_rate_heatmap` -- the pairwise win-rate matrix (Munos et al. 2023, Table 1);
* :func:`frontier` -- win rate against the reference vs ``KL(pi || mu)``, the path of each run over training
  and its final point with CI bars;
* :func:`mixture_bars` -- the mixture sampler's empirical distribution against the closed form;
* :func:`distribution_figure` / :func:`distribution_steps` / :func:`distribution_explorer` -- one policy's
  exact distribution over the responses of every prompt against the equilibrium ``pi*`` (and RLHF's target
  ``g``): one figure, a static figure with a dropdown over precomputed policies, and its ipywidgets twin;
* :func:`display_table` -- a results table for reading: metric code names replaced by :data:`METRIC_NAMES`,
  rounded, round-off ``-0.0`` shown as ``0``.

Code names never reach the page: metrics go through :data:`METRIC_NAMES` / :data:`METRIC_TITLES`, methods
keep the labels the notebook gave them, and every method gets its own marker symbol (and the tabular curves
their own dash) so that curves which coincide stay distinguishable.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from workbench.analysis.summaries import seed_ci
from workbench.llm.evaluation import win_rate_table

__all__ = [
    "METRIC_NAMES", "METRIC_TITLES", "metric_name", "display_table", "equilibrium_curves", "win_rate_heatmap", "frontier",
    "mixture_bars", "distribution_figure", "distribution_steps", "distribution_explorer",
]

_COLORS = qualitative.Plotly
#: short display names of the metrics (axis titles, table columns)
METRIC_NAMES = {
    "kl_to_eq": "KL(π* ‖ π)",
    "reg_exploitability": "regularized exploitability",
    "exploitability": "exploitability",
    "kl_to_mu": "KL(π ‖ μ)",
    "win_rate_vs_mu": "win rate P(π ≻ μ)",
    "span_log_ratio": "span of log π − log π*",
    "win_rate": "win rate",
    "win_rate_se": "win rate (standard error)",
}
#: long display names (panel titles): the name and what it measures
METRIC_TITLES = {
    "kl_to_eq": "KL(π* ‖ π): distance to the regularized equilibrium",
    "reg_exploitability": "regularized exploitability max<sub>π'</sub> P<sub>β</sub>(π' ≻ π) − ½",
    "exploitability": "exploitability max<sub>y</sub> P(y ≻ π) − ½",
    "kl_to_mu": "KL(π ‖ μ): distance to the reference",
    "win_rate_vs_mu": "win rate against the reference P(π ≻ μ)",
}
# one marker per method (curves that coincide stay distinguishable), one dash per tabular method
_SYMBOLS = ["circle", "square", "diamond", "triangle-up", "x", "cross", "star", "triangle-down", "pentagon", "hexagon"]
_TAB_DASHES = ["dash", "dashdot", "longdash", "longdashdot"]
_FONT_MIN = 12  # px: text inside figures (heatmap cells, labels) at least this size
_DIST_MARGIN_T = 130  # px above the distribution panels: two title lines on the left, the policy menu on the right


def metric_name(code):
    """The display name of a metric code name (:data:`METRIC_NAMES`; another snake_case code name loses its
    underscores; anything else, such as a label ``"Gibbs g of r_BT"`` or a step number, is returned unchanged)."""
    if not isinstance(code, str):
        return code
    if code in METRIC_NAMES:
        return METRIC_NAMES[code]
    return code.replace("_", " ") if re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)+", code) else code


def display_table(table, decimals: int = 4):
    """A results table (DataFrame or Series) for reading: metric code names in the index and columns (and a
    Series' name) replaced by their display names, numbers rounded to ``decimals``, round-off ``-0.0`` shown
    as ``0``."""
    if isinstance(table, pd.Series):
        out = display_table(table.to_frame(name="value"), decimals)["value"]
        return out.rename(metric_name(table.name))
    out = table.rename(index=metric_name, columns=metric_name)
    num = out.select_dtypes("number").columns
    out[num] = out[num].round(decimals) + 0.0  # -0.0 + 0.0 == +0.0: round-off reads as 0, not -0
    return out


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _symbol_map(labels: Sequence[str]) -> dict[str, str]:
    """One marker symbol per label, in order of first appearance."""
    return {label: _SYMBOLS[i % len(_SYMBOLS)] for i, label in enumerate(dict.fromkeys(labels))}


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
    :func:`workbench.llm.experiments.tabular_reference` dashed in the matching colour.

    Every neural method has its own marker symbol and every tabular one its own dash, so curves that coincide
    stay distinguishable. On a log axis a band's lower edge is floored one decade below the panel's smallest
    mean (a wide interval over few seeds would otherwise reach down many decades and flatten the curves)."""
    parts = [frame] + ([tabular] if tabular is not None else [])
    data = pd.concat(parts, ignore_index=True)
    data = data[data["metric"].isin(list(metrics))].copy()
    if data.empty:
        raise ValueError(f"equilibrium_curves: none of {list(metrics)} in the frame; it has {sorted(frame['metric'].unique())}")
    if log_y:
        data["value"] = data["value"].clip(lower=1e-12)
    tab_algos = list(dict.fromkeys(tabular["algo"])) if tabular is not None else []
    labels = list(dict.fromkeys(data["algo"]))
    colors = _color_map(labels)
    symbols = _symbol_map([a for a in labels if a not in tab_algos])
    dashes = {a: _TAB_DASHES[i % len(_TAB_DASHES)] for i, a in enumerate(tab_algos)}
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=[METRIC_TITLES.get(m, metric_name(m)) for m in metrics],
                        horizontal_spacing=0.1)
    for col, metric in enumerate(metrics, start=1):
        summ = seed_ci(data[data["metric"] == metric], by=("algo", x), level=level, log=log_y, n_boot=300, interval="t")
        floor = summ["mean"][summ["mean"] > 0].min() / 10 if log_y and (summ["mean"] > 0).any() else None
        for algo, g in summ.groupby("algo", sort=False):
            g = g.sort_values(x)
            c = colors[algo]
            dashed = algo in dashes
            if (g["n"] > 1).any():
                lo = g["lo"].clip(lower=floor) if floor is not None else g["lo"]
                fig.add_trace(go.Scatter(
                    x=np.concatenate([g[x], g[x][::-1]]), y=np.concatenate([g["hi"], lo[::-1]]), fill="toself",
                    fillcolor=_rgba(c, 0.15), line=dict(width=0), hoverinfo="skip", showlegend=False, legendgroup=algo,
                    name=f"{algo} ({level:.0%} CI)",
                ), row=1, col=col)
            fig.add_trace(go.Scatter(
                x=g[x], y=g["mean"], mode="lines" if dashed else "lines+markers", name=str(algo), legendgroup=algo,
                line=dict(color=c, width=2, dash=dashes.get(algo, "solid")),
                marker=dict(size=7, symbol=symbols.get(algo, "circle"), color=c),
                showlegend=col == 1,
            ), row=1, col=col)
        fig.update_yaxes(type="log" if log_y else "linear", title_text=metric_name(metric), row=1, col=col)
        fig.update_xaxes(title_text="preference queries N" if x == "queries" else "gradient step t", row=1, col=col)
    fig.update_layout(title=title or "Exact distance to the regularized equilibrium: neural (solid) vs tabular (dashed)",
                      template="plotly_white", height=460, legend=dict(title_text="method"))
    return fig


def win_rate_heatmap(frame: pd.DataFrame, *, order: Sequence[str] | None = None, title: str | None = None,
                     metric: str = "win_rate") -> go.Figure:
    """The win-rate matrix ``P(row ≻ column)``, mean over seeds (hover: the CI), diverging around 1/2; cell
    values and axis labels at least 12 px."""
    tables = win_rate_table(frame, metric=metric, order=order)
    mean, lo, hi = tables["mean"], tables["lo"], tables["hi"]
    text = mean.map(lambda v: f"{v:.2f}" if np.isfinite(v) else "")
    hover = [[f"P({r} ≻ {c}) = {mean.loc[r, c]:.3f} [{lo.loc[r, c]:.3f}, {hi.loc[r, c]:.3f}]" for c in mean.columns]
             for r in mean.index]
    fig = go.Figure(go.Heatmap(
        z=mean.to_numpy(float), x=[str(c) for c in mean.columns], y=[str(r) for r in mean.index], zmin=0, zmax=1,
        zmid=0.5, colorscale="RdBu", text=text.to_numpy(), texttemplate="%{text}", textfont=dict(size=_FONT_MIN + 1),
        hovertext=hover, hoverinfo="text", colorbar=dict(title="P(row ≻ column)"),
    ))
    n_seeds = frame.loc[frame["metric"] == metric, "seed"].nunique()
    fig.update_layout(title=title or f"Pairwise win rates P(row policy ≻ column policy), mean of {n_seeds} seed(s)",
                      xaxis=dict(title="column policy (opponent)", tickfont=dict(size=_FONT_MIN)),
                      yaxis=dict(title="row policy", autorange="reversed", tickfont=dict(size=_FONT_MIN)),
                      template="plotly_white", height=480)
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
    labels = list(dict.fromkeys(frame["algo"])) + ([] if finals is None else list(dict.fromkeys(finals["algo"])))
    colors, symbols = _color_map(labels), _symbol_map(labels)
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
            x=[s.loc[x, "mean"]], y=[s.loc[y, "mean"]], mode="markers", hovertext=[str(algo)],
            marker=dict(size=12, color=colors[algo], symbol=symbols[algo], line=dict(width=1, color="white")), name=str(algo),
            legendgroup=algo,
            error_x=dict(type="data", symmetric=False, array=[s.loc[x, "hi"] - s.loc[x, "mean"]],
                         arrayminus=[s.loc[x, "mean"] - s.loc[x, "lo"]]),
            error_y=dict(type="data", symmetric=False, array=[s.loc[y, "hi"] - s.loc[y, "mean"]],
                         arrayminus=[s.loc[y, "mean"] - s.loc[y, "lo"]]),
        ))
    fig.update_layout(title=title or "Win rate vs KL to the reference (final policies with CI; dotted: training paths)",
                      xaxis_title=METRIC_TITLES.get(x, metric_name(x)), yaxis_title=METRIC_TITLES.get(y, metric_name(y)),
                      template="plotly_white", height=480, legend=dict(title_text="method"))
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
    fig.add_trace(go.Scatter(x=list(labels), y=exact, mode="markers", name="closed form π<sup>m</sup>(y | x)",
                             marker=dict(symbol="diamond-open", size=12, color="black", line=dict(width=2))))
    for i, (name, dist) in enumerate((extra or {}).items()):
        fig.add_trace(go.Scatter(x=list(labels), y=np.asarray(dist, dtype=float).reshape(-1), mode="markers", name=str(name),
                                 marker=dict(symbol="x", size=8, color=_COLORS[(i + 2) % len(_COLORS)])))
    fig.update_layout(title=title or "Mixture sampler: empirical vs closed-form distribution over responses",
                      xaxis_title="response y", yaxis_title="probability π<sup>m</sup>(y | x)", template="plotly_white",
                      xaxis_tickangle=-45, height=430)
    return fig


def _short_responses(responses: Sequence[str]) -> list[str]:
    """Tick labels for responses: the words' initials (``"rock paper scissors"`` -> ``"RPS"``) when those are
    unique, else the responses themselves."""
    short = ["".join(w[:1].upper() for w in str(r).split()) for r in responses]
    return short if len(set(short)) == len(short) else [str(r) for r in responses]


def _grid(n: int) -> tuple[int, int]:
    cols = 1 if n == 1 else 2
    return -(-n // cols), cols


def distribution_figure(
    dist,
    pi_star,
    responses: Sequence[str],
    *,
    label: str = "policy",
    gibbs=None,
    y_max: float | None = None,
    title: str | None = None,
) -> go.Figure:
    """One policy's exact distribution over the responses (bars), one panel per prompt, against the
    regularized equilibrium ``pi*`` (black diamonds) and, if given, RLHF's target ``g`` (crosses).

    ``dist``, ``pi_star`` and ``gibbs`` are ``(X, n)`` (tensors or arrays) over the ``n`` ``responses``. The
    title gives the mean over prompts of ``KL(pi* || pi)`` and of the total variation to ``pi*``. ``y_max`` fixes
    the probability axis (the same range for every policy of :func:`distribution_steps`)."""
    pi = np.atleast_2d(np.asarray(dist, dtype=float))
    star = np.atleast_2d(np.asarray(pi_star, dtype=float))
    g = None if gibbs is None else np.atleast_2d(np.asarray(gibbs, dtype=float))
    if pi.shape != star.shape or pi.shape[1] != len(responses) or (g is not None and g.shape != pi.shape):
        raise ValueError(f"distribution_figure: dist {pi.shape}, pi_star {star.shape}"
                         f"{'' if g is None else f', gibbs {g.shape}'} and {len(responses)} responses do not match")
    X = pi.shape[0]
    rows, cols = _grid(X)
    ticks = _short_responses(responses)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[f"prompt x = {x}" for x in range(X)],
                        vertical_spacing=0.16 if rows > 1 else 0.1, horizontal_spacing=0.06)
    for x in range(X):
        r, c = x // cols + 1, x % cols + 1
        first = x == 0
        fig.add_trace(go.Bar(x=ticks, y=pi[x], name=f"{label}: π(y | x)", marker_color=_COLORS[0], legendgroup="pi",
                             showlegend=first, hovertext=list(responses)), row=r, col=c)
        fig.add_trace(go.Scatter(x=ticks, y=star[x], mode="markers", name="equilibrium π*(y | x)", legendgroup="star",
                                 showlegend=first, marker=dict(symbol="diamond", size=8, color="black"),
                                 hovertext=list(responses)), row=r, col=c)
        if g is not None:
            fig.add_trace(go.Scatter(x=ticks, y=g[x], mode="markers", name="RLHF's target g(y | x)", legendgroup="g",
                                     showlegend=first, marker=dict(symbol="x", size=7, color=_COLORS[1]),
                                     hovertext=list(responses)), row=r, col=c)
        fig.update_xaxes(tickangle=-90, tickfont=dict(size=_FONT_MIN - 1), row=r, col=c)
        fig.update_yaxes(range=[0, y_max] if y_max else None, title_text="probability" if c == 1 else None, row=r, col=c)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_star = np.where(star > 0, star * (np.log(star) - np.log(pi)), 0.0).sum(-1).mean()
    tv = 0.5 * np.abs(pi - star).sum(-1).mean()
    note = f"mean over prompts: KL(π* ‖ π) = {kl_star:.3f}, total variation TV(π, π*) = {tv:.3f}"
    height, top, bottom = 300 * rows + 240, _DIST_MARGIN_T, 110
    fig.update_layout(title=dict(text=title or f"{label}: exact distribution over responses vs the equilibrium π*<br><sup>{note}</sup>",
                                 y=1 - 18 / height, yanchor="top"),
                      margin=dict(t=top, b=bottom), template="plotly_white", height=height, bargap=0.15,
                      legend=dict(orientation="h", yanchor="top", y=-48 / (height - top - bottom), x=0))
    return fig


def _shared_y_max(dists: dict[str, object], pi_star, gibbs) -> float:
    """One probability range for every policy: 5% above the largest probability of any of them, pi* or g."""
    arrays = [*dists.values(), pi_star] + ([] if gibbs is None else [gibbs])
    return 1.05 * max(float(np.asarray(a, dtype=float).max()) for a in arrays)


def distribution_steps(
    dists: dict[str, object],
    pi_star,
    responses: Sequence[str],
    *,
    gibbs=None,
    control: str = "dropdown",
) -> go.Figure:
    """:func:`distribution_figure` for every policy of ``dists`` (label -> ``(X, n)``) in one figure with a
    dropdown (or slider) over the policies: the static Explore control of a report, precomputed, offline.
    The probability axis is the same for every policy."""
    from workbench.plots.explore import stepped_figure

    if not dists:
        raise ValueError("distribution_steps: no distributions given")
    y_max = _shared_y_max(dists, pi_star, gibbs)
    figs = {name: distribution_figure(d, pi_star, responses, label=name, gibbs=gibbs, y_max=y_max) for name, d in dists.items()}
    fig = stepped_figure(figs, label="policy", control=control)
    if control == "dropdown":  # the menu and its label in the top margin, right, clear of the title and the panel titles
        lay = fig.layout
        y = 1 + (lay.margin.t - 22) / (lay.height - lay.margin.t - lay.margin.b)  # 22 px below the figure's top edge
        fig.layout.updatemenus[0].update(x=1.0, xanchor="right", y=y, yanchor="top", pad=dict(b=0, t=0, r=0, l=0))
        fig.update_annotations(selector=dict(text="policy:"), x=1.0, xanchor="right", xshift=-140, y=y, yanchor="top",
                               yshift=-8)
    return fig


def distribution_explorer(dists: dict[str, object], pi_star, responses: Sequence[str], *, gibbs=None):
    """The live twin of :func:`distribution_steps` for a kernel: an ipywidgets dropdown over the policies
    that redraws :func:`distribution_figure` into an ``Output`` (no recomputation: the distributions are given)."""
    import ipywidgets as w
    from IPython.display import display

    names = list(dists)
    if not names:
        raise ValueError("distribution_explorer: no distributions given")
    y_max = _shared_y_max(dists, pi_star, gibbs)
    pick = w.Dropdown(options=names, value=names[0], description="policy")
    out = w.Output(layout=w.Layout(width="100%"))

    def update(_=None):
        out.clear_output(wait=True)
        with out:
            display(distribution_figure(dists[pick.value], pi_star, responses, label=pick.value, gibbs=gibbs, y_max=y_max))

    pick.observe(update, names="value")
    update()
    return w.VBox([pick, out], layout=w.Layout(width="100%"))
