"""Figures and widgets of the bandit lab: they build from real frames and carry one curve per algorithm."""

import pytest
import torch

from workbench.bandits import offline_curve, random_linear
from workbench.plots.bandits import gap_curves, gap_panels
from workbench.plots.games import policy_bars


@pytest.fixture(scope="module")
def frame():
    env = random_linear(n_contexts=3, n_actions=4, dim=2)
    return offline_curve(env, [20, 80], ["plug_in", "pointwise"], n_seeds=3, coverage=0.5)


def test_gap_curves_one_line_and_band_per_algo(frame):
    fig = gap_curves(frame)
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    assert sorted(t.name for t in lines) == ["plug_in", "pointwise"]
    assert len(fig.data) == 4 and all(len(t.x) == 2 for t in lines)
    gaps = frame[(frame.metric == "gap") & (frame.algo == "plug_in")]
    means = gaps.groupby("queries").value.mean()
    assert list(lines[[t.name for t in lines].index("plug_in")].y) == pytest.approx(means.tolist())
    # the band is the Student-t 95% interval over the 3 seeds: mean ± t_{0.975, 2} s / sqrt(3), t = 4.302653
    band = fig.data[[t.name for t in fig.data].index("plug_in") - 1]
    s = gaps.groupby("queries").value.std(ddof=1).to_numpy()
    half = 4.302652729911275 * s / 3**0.5
    assert list(band.y[:2]) == pytest.approx((means.to_numpy() + half).tolist())


def test_gap_panels_and_policy_bars(frame):
    fig = gap_panels(frame.assign(coverage=frame.seed % 2), "coverage")
    assert len({t.xaxis for t in fig.data}) == 2
    env = random_linear(n_contexts=3, n_actions=4, dim=2)
    bars = policy_bars({"pi*": env.optimal_policy()[1], "pi_0": env.mu[1]})  # one policy bar chart: context 1
    assert len(bars.data) == 2 and sum(bars.data[0].y) == pytest.approx(1.0)


def test_widgets_build():
    pytest.importorskip("ipywidgets")
    from workbench.ui.bandits import offline_explorer, online_explorer

    box = offline_explorer(n_seeds=2, sizes=(20, 40))
    assert len(box.children) == 3
    box = online_explorer(n_seeds=2, n_rounds=1)
    assert len(box.children) == 3


def test_regime_map_cells_are_the_share_of_seeds_below_threshold():
    import pandas as pd

    from workbench.plots.bandits import regime_map

    # hand-made table: at gamma 1, (arms 10, beta 0.1) has ratios 0.5, 0.9 -> share 0.5; every other cell 0 or 1
    rows = [(10, 0.1, 1.0, 0, 0.5), (10, 0.1, 1.0, 1, 0.9), (30, 0.1, 1.0, 0, 0.7), (30, 0.1, 1.0, 1, 0.75),
            (10, 0.5, 1.0, 0, 1.2), (10, 0.5, 1.0, 1, 1.1), (30, 0.5, 1.0, 0, 0.8), (30, 0.5, 1.0, 1, 2.0),
            (10, 0.1, 3.0, 0, 0.1), (10, 0.1, 3.0, 1, 0.1), (30, 0.1, 3.0, 0, 0.1), (30, 0.1, 3.0, 1, 0.1),
            (10, 0.5, 3.0, 0, 0.1), (10, 0.5, 3.0, 1, 0.1), (30, 0.5, 3.0, 0, 0.1), (30, 0.5, 3.0, 1, 0.1)]
    fig = regime_map(pd.DataFrame(rows, columns=["n_arms", "beta", "gamma", "seed", "ratio"]))
    assert [t.type for t in fig.data] == ["heatmap", "heatmap"]
    assert list(fig.data[0].x) == ["10", "30"] and list(fig.data[0].y) == ["0.1", "0.5"]
    assert fig.data[0].z.tolist() == [[0.5, 1.0], [0.0, 0.0]] and fig.data[1].z.tolist() == [[1.0, 1.0], [1.0, 1.0]]
