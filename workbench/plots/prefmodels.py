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

__all__ = ["accuracy_vs_intransitivity", "reliability_diagram", "cycle_fractions", "training_curves"]

_COLORS = {"bt": qualitative.Plotly[0], "pairwise": qualitative.Plotly[1], "skew": qualitative.Plotly[2],
           "truth": "black", "data": "black", "Bayes ceiling": "gray", "BT ceiling": qualitative.Plotly[0]}
_NAMES = {"bt": "BT reward", "pairwise": "pairwise (general)", "skew": "skew-bilinear"}


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
            x=g.index, y=g.to_numpy(), name=_NAMES.get(algo, algo), mode="lines" if ceiling else "lines+markers",
            line=dict(color=_color(algo, i), dash="dash" if ceiling else "solid", width=1.5 if ceiling else 2.5),
        ))
    fig.update_layout(title=title or f"{split} {metric} vs intransitivity", xaxis_title="intransitivity λ (0 = BT truth, 1 = pure cycle)",
                      yaxis_title=metric, template="plotly_white", legend=dict(orientation="h", y=-0.2))
    return fig


def reliability_diagram(calibration: pd.DataFrame, title: str = "Reliability diagram (test)") -> go.Figure:
    """One panel per intransitivity level: mean label vs mean prediction per bin, marker size ~ count."""
    levels = sorted(calibration["intransitivity"].unique(), key=lambda v: (pd.isna(v), v))
    fig = make_subplots(rows=1, cols=len(levels), shared_yaxes=True,
                        subplot_titles=[("real data" if pd.isna(v) else f"λ = {v:g}") for v in levels])
    shown = set()
    for c, lam in enumerate(levels, start=1):
        sub = calibration[calibration["intransitivity"].isna()] if pd.isna(lam) else calibration[calibration["intransitivity"] == lam]
        fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color="gray", dash="dot"), showlegend=False), row=1, col=c)
        for i, (algo, g) in enumerate(sub.groupby("algo", sort=False)):
            g = g[g["count"] > 0]
            fig.add_trace(go.Scatter(
                x=g["mean_pred"], y=g["mean_label"], mode="lines+markers", name=_NAMES.get(algo, algo),
                legendgroup=algo, showlegend=algo not in shown, line=dict(color=_color(algo, i)),
                marker=dict(size=4 + 16 * (g["count"] / max(g["count"].max(), 1)) ** 0.5),
                customdata=g["count"], hovertemplate="pred %{x:.2f}<br>label %{y:.2f}<br>n=%{customdata}",
            ), row=1, col=c)
            shown.add(algo)
        fig.update_xaxes(range=[0, 1], title_text="mean predicted P(a ≻ b)", row=1, col=c)
    fig.update_yaxes(range=[0, 1], title_text="fraction a preferred", row=1, col=1)
    fig.update_layout(title=title, template="plotly_white", legend=dict(orientation="h", y=-0.25))
    return fig


def cycle_fractions(cycles: pd.DataFrame, title: str = "Cyclic triples: predicted vs truth") -> go.Figure:
    """Grouped bars: fraction of response triples whose majority relation is a 3-cycle."""
    fig = go.Figure()
    x = cycles["intransitivity"].map(lambda v: "real data" if pd.isna(v) else f"λ = {v:g}")
    for i, algo in enumerate(dict.fromkeys(cycles["algo"])):
        m = cycles["algo"] == algo
        fig.add_trace(go.Bar(x=x[m], y=cycles.loc[m, "cyclic_fraction"], name=_NAMES.get(algo, algo), marker_color=_color(algo, i)))
    fig.update_layout(barmode="group", title=title, yaxis_title="fraction of cyclic triples", template="plotly_white")
    return fig


def training_curves(history: pd.DataFrame, metric: str = "val_log_loss", title: str | None = None) -> go.Figure:
    """``metric`` against step, one line per (model, intransitivity)."""
    h = history[history["metric"] == metric]
    fig = go.Figure()
    for i, ((algo, lam), g) in enumerate(h.groupby(["algo", "intransitivity"], sort=False, dropna=False)):
        fig.add_trace(go.Scatter(x=g["step"], y=g["value"], mode="lines", name=f"{_NAMES.get(algo, algo)} λ={lam:g}",
                                 line=dict(color=_color(algo, i))))
    fig.update_layout(title=title or metric, xaxis_title="step", yaxis_title=metric, template="plotly_white")
    return fig
