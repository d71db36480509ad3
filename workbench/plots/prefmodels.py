"""Figures for preference models (notebook 05): accuracy vs intransitivity with ceilings, reliability
diagrams, cyclic-triple fractions and training curves.

Inputs are the frames of :mod:`workbench.prefmodels.experiments` (results and histories in the schema of
:mod:`workbench.results`; means over seeds through :mod:`workbench.analysis.summaries`). Every function
returns a plotly figure and never calls ``.show()``.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from workbench.analysis.summaries import mean_table

__all__ = ["accuracy_vs_intransitivity", "reliability_diagram", "cycle_fractions", "training_curves", "level_summary",
           "display_name", "metric_name"]

_COLORS = {"bt": qualitative.Plotly[0], "pairwise": qualitative.Plotly[1], "skew": qualitative.Plotly[2],
           "truth": "black", "data": "black", "Bayes ceiling": "gray", "BT ceiling": qualitative.Plotly[0]}
_NAMES = {"bt": "BT reward", "pairwise": "pairwise (general)", "skew": "skew-bilinear", "truth": "truth",
          "data": "data (majority)", "Bayes ceiling": "Bayes ceiling", "BT ceiling": "best-BT ceiling"}
_METRICS = {"expected_accuracy": "expected accuracy", "accuracy": "accuracy", "log_loss": "log-loss", "ece": "ECE",
            "val_log_loss": "validation log-loss", "val_accuracy": "validation accuracy", "train_loss": "training loss",
            "steps": "optimizer steps", "cyclic_fraction": "fraction of cyclic triples"}
_SYMBOLS = {"bt": "circle", "pairwise": "square", "skew": "diamond"}  # coinciding curves stay distinguishable
_DASHES = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"]  # one per intransitivity level
_HEIGHT = 420


def display_name(algo: str) -> str:
    """Display name of a model or reference row (``"bt"`` -> ``"BT reward"``); SmolLM2 suffixes kept."""
    base, _, suffix = str(algo).partition(" (")
    return _NAMES.get(base, base.replace("_", " ")) + (f" ({suffix}" if suffix else "")


def metric_name(metric: str) -> str:
    """Display name of a metric (``"log_loss"`` -> ``"log-loss"``)."""
    return _METRICS.get(metric, metric.replace("_", " "))


def _level(lam) -> str:
    return "real data" if pd.isna(lam) else f"λ = {lam:g}"


def _color(algo: str, i: int) -> str:
    return _COLORS.get(algo, qualitative.Plotly[(i + 3) % len(qualitative.Plotly)])


def accuracy_vs_intransitivity(results: pd.DataFrame, metric: str = "expected_accuracy", split: str = "test", title: str | None = None) -> go.Figure:
    """Test ``metric`` of every model against the intransitivity knob, ceilings dashed."""
    table = mean_table(results, "intransitivity", metric=metric, split=split)  # (levels, algos), mean over seeds
    order = [a for a in dict.fromkeys(results.loc[results["metric"] == metric, "algo"]) if a in table.columns]
    fig = go.Figure()
    for i, algo in enumerate(order):
        g = table[algo].dropna()
        ceiling = "ceiling" in algo
        fig.add_trace(go.Scatter(
            x=g.index, y=g.to_numpy(), name=display_name(algo), mode="lines" if ceiling else "lines+markers",
            line=dict(color=_color(algo, i), dash=("dot" if algo == "BT ceiling" else "dash") if ceiling else "solid",
                      width=1.5 if ceiling else 2.5),
            marker=dict(symbol=_SYMBOLS.get(algo, "circle"), size=12 - 2 * i if not ceiling else 6),
        ))
    fig.update_layout(title=title or f"{split.capitalize()} {metric_name(metric)} vs intransitivity (coinciding curves: see markers)",
                      xaxis_title="intransitivity λ (0 = BT truth, 1 = pure cycle)", yaxis_title=f"{metric_name(metric)} ({split})",
                      template="plotly_white", legend=dict(orientation="h", y=-0.2), height=_HEIGHT)
    return fig


def reliability_diagram(calibration: pd.DataFrame, title: str = "Reliability diagram (test)") -> go.Figure:
    """One panel per intransitivity level: mean label vs mean prediction per bin, marker size ~ count."""
    levels = sorted(calibration["intransitivity"].unique(), key=lambda v: (pd.isna(v), v))
    fig = make_subplots(rows=1, cols=len(levels), shared_yaxes=True,
                        subplot_titles=[_level(v) for v in levels])
    shown = set()
    for c, lam in enumerate(levels, start=1):
        sub = calibration[calibration["intransitivity"].isna()] if pd.isna(lam) else calibration[calibration["intransitivity"] == lam]
        fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color="gray", dash="dot"), showlegend=False), row=1, col=c)
        for i, (algo, g) in enumerate(sub.groupby("algo", sort=False)):
            g = g[g["count"] > 0]
            fig.add_trace(go.Scatter(
                x=g["mean_pred"], y=g["mean_label"], mode="lines+markers", name=display_name(algo),
                legendgroup=algo, showlegend=algo not in shown, line=dict(color=_color(algo, i)),
                marker=dict(size=4 + 16 * (g["count"] / max(g["count"].max(), 1)) ** 0.5),
                customdata=g["count"], hovertemplate="pred %{x:.2f}<br>label %{y:.2f}<br>n=%{customdata}",
            ), row=1, col=c)
            shown.add(algo)
        fig.update_xaxes(range=[0, 1], title_text="mean predicted P(a ≻ b)", row=1, col=c)
    fig.update_yaxes(range=[0, 1], title_text="fraction a preferred", row=1, col=1)
    fig.update_layout(title=title, template="plotly_white", legend=dict(orientation="h", y=-0.25), height=_HEIGHT)
    return fig


def cycle_fractions(cycles: pd.DataFrame, title: str = "Cyclic triples: predicted vs truth") -> go.Figure:
    """Grouped bars: fraction of response triples whose majority relation is a 3-cycle."""
    fig = go.Figure()
    x = cycles["intransitivity"].map(_level)
    for i, algo in enumerate(dict.fromkeys(cycles["algo"])):
        m = cycles["algo"] == algo
        y = cycles.loc[m, "cyclic_fraction"]
        fig.add_trace(go.Bar(x=x[m], y=y, name=display_name(algo), marker_color=_color(algo, i),
                             text=[f"{v:.2f}" for v in y], textposition="outside"))  # a zero bar still shows "0.00"
    fig.update_layout(barmode="group", title=title, yaxis_title="fraction of cyclic triples", template="plotly_white",
                      legend_title_text="model", height=_HEIGHT)
    return fig


def training_curves(history: pd.DataFrame, metric: str = "val_log_loss", title: str | None = None) -> go.Figure:
    """``metric`` against step, one line per (model, intransitivity): colour = model, dash = λ."""
    h = history[history["metric"] == metric]
    levels = list(dict.fromkeys(h["intransitivity"].tolist()))
    dash = {lam: _DASHES[k % len(_DASHES)] for k, lam in enumerate(levels)}
    fig = go.Figure()
    for i, ((algo, lam), g) in enumerate(h.groupby(["algo", "intransitivity"], sort=False, dropna=False)):
        key = next(l for l in levels if (pd.isna(l) and pd.isna(lam)) or l == lam)
        fig.add_trace(go.Scatter(x=g["step"], y=g["value"], mode="lines+markers", name=f"{display_name(algo)}, {_level(lam)}",
                                 line=dict(color=_color(algo, i), dash=dash[key]), marker=dict(symbol=_SYMBOLS.get(algo, "circle"), size=6)))
    fig.update_layout(title=title or f"{metric_name(metric).capitalize()} during training (colour: model, dash: λ)",
                      xaxis_title="optimizer step", yaxis_title=metric_name(metric), template="plotly_white", height=_HEIGHT)
    return fig


def level_summary(results: pd.DataFrame, calibration: pd.DataFrame, level: float, split: str = "test") -> go.Figure:
    """One intransitivity level: expected accuracy per model with the two ceilings (left) and the reliability
    diagram (right). The same axes for every level, so the figures of several levels can share one slider
    (:func:`workbench.plots.explore.stepped_figure`)."""
    r = results[(results["metric"] == "expected_accuracy") & (results["split"] == split) & (results["intransitivity"] == level)]
    acc = r.groupby("algo", sort=False)["value"].mean()  # mean over seeds
    models = [a for a in acc.index if "ceiling" not in a]
    names = [display_name(a) for a in models]
    fig = make_subplots(rows=1, cols=2, subplot_titles=["expected accuracy (test)", "reliability diagram (test)"], horizontal_spacing=0.12)
    fig.add_trace(go.Bar(x=names, y=acc[models].to_numpy(), marker_color=[_color(a, i) for i, a in enumerate(models)],
                         showlegend=False, text=[f"{v:.3f}" for v in acc[models]], textposition="outside"), row=1, col=1)
    for algo, dash in (("Bayes ceiling", "dash"), ("BT ceiling", "dot")):
        if algo in acc.index:
            fig.add_trace(go.Scatter(x=names, y=[acc[algo]] * len(names), mode="lines", name=f"{display_name(algo)} {acc[algo]:.3f}",
                                     line=dict(color=_color(algo, 0), dash=dash, width=2)), row=1, col=1)
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color="gray", dash="dot"), name="perfect calibration"), row=1, col=2)
    cal = calibration[(calibration["intransitivity"] == level) & (calibration["count"] > 0)]
    for i, (algo, g) in enumerate(cal.groupby("algo", sort=False)):
        fig.add_trace(go.Scatter(x=g["mean_pred"], y=g["mean_label"], mode="lines+markers", name=display_name(algo),
                                 line=dict(color=_color(algo, i)), marker=dict(symbol=_SYMBOLS.get(algo, "circle"), size=8)), row=1, col=2)
    fig.update_yaxes(range=[0, 1.05], title_text="expected accuracy", row=1, col=1)
    fig.update_xaxes(range=[0, 1], title_text="mean predicted P(a ≻ b)", row=1, col=2)
    fig.update_yaxes(range=[0, 1], title_text="fraction a preferred", row=1, col=2)
    fig.update_layout(title=f"Models trained at λ = {level:g}", template="plotly_white", height=_HEIGHT,
                      legend=dict(orientation="h", y=-0.2))
    return fig
