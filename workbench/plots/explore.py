"""Explore controls that survive export: one plotly figure with a slider or dropdown over precomputed figures.

In JupyterLab the notebooks' Explore sections are ipywidgets (a live kernel recomputes on every change).
A static HTML report has no kernel, so there each Explore section shows :func:`stepped_figure` instead:
every setting's figure is computed once, all their traces go into one figure, and plotly's own slider
(or dropdown) switches which traces are visible. It needs no kernel, no network and no JavaScript beyond
plotly.js, which the report already embeds. :func:`workbench.notebook.explore` picks one of the two.

Usage::

    figs = {f"β = {b:g}": plots.explorer_figure(game, beta=b) for b in (0.03, 0.1, 0.3, 1.0)}
    stepped_figure(figs, label="β")
"""

from __future__ import annotations

from collections.abc import Mapping

import plotly.graph_objects as go


def stepped_figure(
    figures: Mapping[str, go.Figure],
    *,
    label: str,
    control: str = "slider",
    active: int = 0,
) -> go.Figure:
    """One figure whose slider (or dropdown) shows one of ``figures`` at a time.

    Args:
        figures: step label -> figure, in the order of the control. All figures must share one subplot
            grid (the same axes); the layout (axes, size, annotations) is the first figure's, and each
            step sets its own figure's title.
        label: what the control sets, shown beside it (for example ``"β"``).
        control: ``"slider"`` or ``"dropdown"``.
        active: index of the step shown first.

    Returns:
        A new figure; the inputs are not modified.
    """
    if not figures:
        raise ValueError("stepped_figure needs at least one figure")
    if control not in ("slider", "dropdown"):
        raise ValueError(f"control must be 'slider' or 'dropdown', got {control!r}")
    names = list(figures)
    if not 0 <= active < len(names):
        raise ValueError(f"active={active} is not a step index (0..{len(names) - 1})")
    first = figures[names[0]]
    axes = sorted(k for k in first.layout.to_plotly_json() if k.startswith(("xaxis", "yaxis")))
    out = go.Figure(layout=first.layout)
    owner: list[int] = []
    for i, name in enumerate(names):
        fig = figures[name]
        other = sorted(k for k in fig.layout.to_plotly_json() if k.startswith(("xaxis", "yaxis")))
        if other != axes:
            raise ValueError(f"figure {name!r} has axes {other}, the first figure has {axes}: one subplot grid")
        for trace in fig.data:
            trace = trace.to_plotly_json()
            trace["visible"] = i == active
            out.add_trace(trace)
            owner.append(i)
    steps = []
    for i, name in enumerate(names):
        title = figures[name].layout.title.text
        args = [{"visible": [o == i for o in owner]}, {"title.text": title} if title is not None else {}]
        steps.append({"label": name, "method": "update", "args": args})
    title = figures[names[active]].layout.title.text
    out.update_layout(title_text=title)
    if control == "slider":
        out.update_layout(sliders=[{
            "active": active, "steps": steps, "currentvalue": {"prefix": f"{label} = "},
            "pad": {"t": 50}, "x": 0.0, "len": 1.0,
        }])
    else:
        out.update_layout(updatemenus=[{
            "type": "dropdown", "active": active, "buttons": steps, "x": 0.0, "xanchor": "left",
            "y": 1.0, "yanchor": "bottom", "pad": {"b": 10},
        }], margin={"t": max(first.layout.margin.t or 80, 110)})
        out.add_annotation(text=f"{label}:", x=0.0, xanchor="right", xref="paper", y=1.0, yref="paper",
                           yanchor="bottom", showarrow=False)
    return out
