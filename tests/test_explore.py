"""Explore controls: the static stepped figure (plotly slider/dropdown) and the live/static switch."""

import plotly.graph_objects as go
import pytest
from plotly.subplots import make_subplots

from workbench.notebook import STATIC_REPORT_ENV, explore, static_report
from workbench.plots.explore import stepped_figure


def _fig(b, n_traces=2):
    fig = go.Figure(layout={"title": {"text": f"b = {b}"}})
    for k in range(n_traces):
        fig.add_scatter(x=[0, 1], y=[k, b], name=f"curve {k}")
    return fig


def test_each_step_shows_exactly_its_own_traces_and_title():
    figs = {"one": _fig(1, 2), "two": _fig(2, 3), "three": _fig(3, 1)}
    out = stepped_figure(figs, label="b", active=1)
    assert len(out.data) == 6
    assert [t.visible for t in out.data] == [False, False, True, True, True, False]
    assert out.layout.title.text == "b = 2"
    steps = out.layout.sliders[0].steps
    assert [s.label for s in steps] == ["one", "two", "three"]
    assert steps[0].args[0]["visible"] == [True, True, False, False, False, False]
    assert steps[2].args[0]["visible"] == [False, False, False, False, False, True]
    assert steps[2].args[1] == {"title.text": "b = 3"}
    assert [t.y[1] for t in out.data] == [1, 1, 2, 2, 2, 3]  # data copied, in order
    assert len(figs["two"].data) == 3 and figs["two"].layout.sliders == ()  # inputs untouched


def test_dropdown_and_subplots():
    def sub(b):
        fig = make_subplots(rows=1, cols=2)
        fig.add_scatter(x=[0], y=[b], row=1, col=2)
        return fig

    out = stepped_figure({"a": sub(1), "b": sub(2)}, label="setting", control="dropdown")
    assert [b.label for b in out.layout.updatemenus[0].buttons] == ["a", "b"]
    assert out.data[1].xaxis == "x2"


@pytest.mark.parametrize("kwargs, match", [
    ({"figures": {}}, "at least one"),
    ({"control": "knob"}, "control"),
    ({"active": 5}, "active=5"),
])
def test_bad_arguments_are_named(kwargs, match):
    args = {"figures": {"a": _fig(1)}, "label": "b"} | kwargs
    with pytest.raises(ValueError, match=match):
        stepped_figure(**args)


def test_figures_on_different_grids_are_refused():
    grid = make_subplots(rows=1, cols=2)
    with pytest.raises(ValueError, match="'b' has axes"):
        stepped_figure({"a": _fig(1), "b": grid}, label="x")


def test_explore_runs_only_the_chosen_side(monkeypatch):
    calls = []
    live = lambda: calls.append("live") or "L"  # noqa: E731
    static = lambda: calls.append("static") or "S"  # noqa: E731
    monkeypatch.delenv(STATIC_REPORT_ENV, raising=False)
    assert not static_report() and explore(live, static) == "L"
    monkeypatch.setenv(STATIC_REPORT_ENV, "1")
    assert static_report() and explore(live, static) == "S"
    assert calls == ["live", "static"]
