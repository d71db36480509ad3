"""Figures and widgets of the bandit lab: they build from real frames and carry one curve per algorithm."""

import pytest
import torch

from workbench.bandits import offline_curve, random_linear
from workbench.plots.bandits import gap_curves, gap_panels, policy_bars


@pytest.fixture(scope="module")
def frame():
    env = random_linear(n_contexts=3, n_actions=4, dim=2)
    return offline_curve(env, [20, 80], ["plug_in", "pointwise"], n_seeds=3, coverage=0.5)


def test_gap_curves_one_line_and_band_per_algo(frame):
    fig = gap_curves(frame)
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    assert sorted(t.name for t in lines) == ["plug_in", "pointwise"]
    assert len(fig.data) == 4 and all(len(t.x) == 2 for t in lines)
    means = frame[(frame.metric == "gap") & (frame.algo == "plug_in")].groupby("n_comparisons").value.mean()
    assert list(lines[[t.name for t in lines].index("plug_in")].y) == pytest.approx(means.tolist())


def test_gap_panels_and_policy_bars(frame):
    fig = gap_panels(frame.assign(coverage=frame.seed % 2), "coverage")
    assert len({t.xaxis for t in fig.data}) == 2
    env = random_linear(n_contexts=3, n_actions=4, dim=2)
    bars = policy_bars({"pi*": env.optimal_policy(), "pi_0": env.mu}, context=1)
    assert len(bars.data) == 2 and sum(bars.data[0].y) == pytest.approx(1.0)


def test_widgets_build():
    pytest.importorskip("ipywidgets")
    from workbench.ui.bandits import offline_explorer, online_explorer

    box = offline_explorer(n_seeds=2, sizes=(20, 40))
    assert len(box.children) == 3
    box = online_explorer(n_seeds=2, n_rounds=1)
    assert len(box.children) == 3
