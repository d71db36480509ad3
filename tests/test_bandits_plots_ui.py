"""Figures and widgets of the bandit lab: they build from real frames and carry one curve per algorithm."""

import pytest

from workbench.bandits import offline_curve, random_linear
from workbench.plots.bandits import ALGO_NAMES, display_title, gap_curves, gap_panels
from workbench.plots.games import policy_bars


@pytest.fixture(scope="module")
def frame():
    env = random_linear(n_contexts=3, n_actions=4, dim=2)
    return offline_curve(env, [20, 80], ["plug_in", "pointwise"], n_seeds=3, coverage=0.5)


def test_gap_curves_one_line_and_band_per_algo(frame):
    fig = gap_curves(frame)
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    plug = ALGO_NAMES["plug_in"]
    assert [t.name.split(" (coincides")[0] for t in lines] == [plug, ALGO_NAMES["pointwise"]]
    assert len(fig.data) == 4 and all(len(t.x) == 2 for t in lines)
    gaps = frame[(frame.metric == "gap") & (frame.algo == "plug_in")]
    means = gaps.groupby("queries").value.mean()
    assert list(lines[[t.name for t in lines].index(plug)].y) == pytest.approx(means.tolist())
    # the band is the Student-t 95% interval over the 3 seeds: mean ± t_{0.975, 2} s / sqrt(3), t = 4.302653
    band = fig.data[[t.name for t in fig.data].index(plug) - 1]
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
    # controls wrap onto a new line in a narrow page and show their whole labels
    rows = box.children[:2]
    assert all(r.layout.flex_flow == "row wrap" for r in rows)
    sliders = [c for r in rows for c in r.children if not c.__class__.__name__ == "Button"]
    assert len(sliders) == 6 and all(c.style.description_width == "initial" for c in sliders)
    assert "_" not in " ".join(c.description for c in sliders)


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
    # readable: cell labels and axis titles in words at >= 11 px, panels titled by the symbol
    assert all(t.textfont.size >= 11 for t in fig.data)
    assert [a.text for a in fig.layout.annotations] == ["γ = 1", "γ = 3"]
    assert fig.layout.xaxis.title.text == "number of arms" and fig.layout.yaxis.title.text.startswith("β")


def _words_only(fig):
    """Every text a reader sees in ``fig``: title, axis titles, legend names, subplot titles, slider labels."""
    lay = fig.layout
    texts = [lay.title.text or "", *(a.text for a in lay.annotations)]
    texts += [ax.title.text or "" for k in lay.to_plotly_json() if k.startswith(("xaxis", "yaxis"))
              for ax in [lay[k]]]
    texts += [t.name for t in fig.data if t.showlegend is not False]
    texts += [lay.legend.title.text or ""]
    for sl in lay.sliders:
        texts += [sl.currentvalue.prefix or "", *(st.label for st in sl.steps)]
    return texts


def test_figures_show_words_not_code_names(frame):
    """No snake_case code name (plug_in, random_linear(...), coverage) anywhere a reader sees it."""
    import re

    env = random_linear(n_contexts=3, n_actions=4, dim=2)
    f = frame.assign(coverage=frame.seed % 2)
    for fig in (gap_curves(frame, title=env.name), gap_panels(f, "coverage", title=env.name),
                gap_curves(frame, metric="nash_gap")):
        texts = _words_only(fig)
        assert not [t for t in texts if re.search(r"[a-z]_[a-z]", t)], texts
        assert not [t for t in texts if t in ("gap", "nash_gap", "coverage")]
        assert fig.layout.width is None or fig.layout.width <= 1200
    assert display_title(env.name) == "Random features (d = 2), Bradley–Terry preference"
    assert display_title("rare_but_lucky(n=30)") == "Rare but lucky: 30 one-hot arms"
    hidden = display_title("hidden_good_actions(ref_mass=0.01, general)")
    assert hidden.startswith("Hidden good action (π₀ gives it 0.01)")
    assert display_title("my own title") == "my own title"


def test_coinciding_curves_are_named_and_drawn_differently():
    """Two algorithms with identical results: the legend says they coincide, and dash and marker differ."""
    import pandas as pd

    rows = [(a, s, n, n, "gap", 0.1 * (s + 1) / n, "e", 0.1, 1.0)
            for a in ("general_nash", "maxmin", "bt_nash") for s in range(3) for n in (10, 100)]
    rows = [r if r[0] != "bt_nash" else (*r[:5], 5 * r[5], *r[6:]) for r in rows]
    fr = pd.DataFrame(rows, columns=["algo", "seed", "step", "queries", "metric", "value", "env", "beta", "gamma"])
    lines = [t for t in gap_curves(fr).data if t.mode == "lines+markers"]
    names = [t.name for t in lines]
    assert "coincides with" not in names[0] and "coincides with" not in names[2]
    assert names[1] == f"{ALGO_NAMES['maxmin']} (coincides with {ALGO_NAMES['general_nash']})"
    assert len({t.line.dash for t in lines}) == 3 and len({t.marker.symbol for t in lines}) == 3


def test_bands_are_not_clipped_decades_down_and_have_no_markers():
    """A band whose t-interval reaches 0 or below stops at a tenth of the mean on a log axis, at 0 on a
    linear one; bands draw no markers (no stray dots in colours outside the legend)."""
    import pandas as pd

    vals = {10: [1e-3, 1e-3, 0.5], 100: [1e-4, 2e-4, 3e-4]}  # at 10 the interval goes far below 0
    rows = [("plug_in", s, n, n, "gap", v, "e", 0.1, 1.0) for n, vs in vals.items() for s, v in enumerate(vs)]
    fr = pd.DataFrame(rows, columns=["algo", "seed", "step", "queries", "metric", "value", "env", "beta", "gamma"])
    for log_y, floor in ((True, 0.1 * sum(vals[10]) / 3), (False, 0.0)):
        band = gap_curves(fr, log_y=log_y).data[0]
        assert band.fill == "toself" and band.mode == "lines"
        lower = band.y[2:][::-1]  # lower edge, in x order
        assert lower[0] == pytest.approx(floor)
        assert min(band.y) >= (0.099 * 2e-4 if log_y else 0.0)


def test_static_explorers_one_step_per_setting():
    """The static Explore sides: one slider step per precomputed setting, each step showing its own curves."""
    from workbench.ui.bandits import offline_explorer_static, online_explorer_static

    fig = offline_explorer_static(gammas=(0.3, 3.0), sizes=(20, 80), n_seeds=2, n_arms=6)
    steps = fig.layout.sliders[0].steps
    assert [s.label for s in steps] == ["0.3", "3"] and len(fig.data) == 2 * 6
    assert [v for v in steps[1].args[0]["visible"]] == [False] * 6 + [True] * 6
    assert steps[1].args[1]["title.text"].endswith("γ = 3")
    ys = [t.y for t in fig.data if t.mode == "lines+markers"]  # plug-in ignores gamma, pessimism does not
    assert list(ys[0]) == pytest.approx(list(ys[3])) and list(ys[1]) != pytest.approx(list(ys[4]))
    assert fig.layout.width is None
    fig = online_explorer_static(ref_masses=(0.01, 0.3), n_rounds=2, n_seeds=2)
    assert [s.label for s in fig.layout.sliders[0].steps] == ["0.01", "0.3"] and len(fig.data) == 2 * 6
    assert all("_" not in t for t in _words_only(fig))


def test_log_x_ticks_are_the_sizes_or_round_values(frame):
    """Few sizes: one tick per size; many (online rounds): 1-2-5 values and the ends, not 5 6 7 8 9 100 2 3."""
    import pandas as pd

    assert list(gap_curves(frame).layout.xaxis.tickvals) == [20, 80]
    rows = [("enhancer", s, t, 50 * t, "gap", 1.0 / t, "e", 0.1, 1.0) for s in range(2) for t in range(1, 11)]
    fr = pd.DataFrame(rows, columns=["algo", "seed", "step", "queries", "metric", "value", "env", "beta", "gamma"])
    assert list(gap_curves(fr).layout.xaxis.tickvals) == [50, 100, 200, 500]
    panels = gap_panels(pd.concat([fr.assign(m=1), fr.assign(m=2, queries=fr.queries * 10)]), "m")
    assert list(panels.layout.xaxis2.tickvals) == [500, 1000, 2000, 5000]
