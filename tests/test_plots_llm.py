"""The LLM lab's figures read as a person expects: display names (no code names), distinguishable curves,
bands floored on a log axis, readable heatmap text, widths that follow the page, and the Explore figure
(one dropdown step per policy, each step showing exactly that policy's distribution)."""

import itertools

import numpy as np
import pandas as pd
import pytest
import torch

from workbench.games.game import kl
from workbench.plots import llm as plots
from workbench.results import make_frame

RESPONSES = [" ".join(w) for w in itertools.product(("rock", "paper", "scissors"), repeat=3)]


def _dist(seed, X=4, n=27):
    a = np.random.default_rng(seed).random((X, n)) ** 3
    return a / a.sum(1, keepdims=True)


def _frame(spread=1.0):
    """Two neural methods and two seeds; seed 1 is ``10**spread`` times seed 0 (a wide CI on a log axis)."""
    rows = [(a, s, st, 32 * st, m, v * (0.8 ** st) * (1 if s == 0 else 10 ** spread), "tiny", 0.1)
            for a, v0 in (("Nash-MD-PG", 1.0), ("Self-play", 1.01)) for s in (0, 1) for st in range(0, 40, 10)
            for m, v in (("kl_to_eq", v0), ("reg_exploitability", 0.2 * v0), ("kl_to_mu", 0.5), ("win_rate_vs_mu", 0.6))]
    return make_frame(rows, knobs="llm")


def _widths_ok(fig):
    return fig.layout.width is None or fig.layout.width <= 1200


def test_display_names_have_no_code_names_and_round_off_reads_zero():
    assert all("_" not in v for v in plots.METRIC_NAMES.values())
    assert all("_" not in v for v in plots.METRIC_TITLES.values())
    table = pd.DataFrame({"reg_exploitability": [-1.1e-16, 0.123456], "kl_to_eq": [0.5, 2e-17], "note": ["a", "b"]},
                         index=["equilibrium π*", "kl_to_mu"])
    out = plots.display_table(table, 4)
    assert list(out.columns) == ["regularized exploitability", "KL(π* ‖ π)", "note"]
    assert list(out.index) == ["equilibrium π*", "KL(π ‖ μ)"]
    vals = out[["regularized exploitability", "KL(π* ‖ π)"]].to_numpy(float)
    assert not np.signbit(vals).any() and vals[1, 0] == 0.1235  # -1.1e-16 reads 0 (not -0.0), the rest rounded
    assert table.loc["equilibrium π*", "reg_exploitability"] < 0  # the input is untouched
    s = plots.display_table(pd.Series([-3e-18, 1.0], index=["kl_to_eq", "x"], name="win_rate_vs_mu"))
    assert s.name == "win rate P(π ≻ μ)" and list(s.index) == ["KL(π* ‖ π)", "x"] and not np.signbit(s.iloc[0])
    assert plots.metric_name("span_log_ratio") == "span of log π − log π*" and plots.metric_name("new_metric") == "new metric"
    assert plots.metric_name(3) == 3  # a step index stays a number
    assert plots.metric_name("Gibbs g of r_BT") == "Gibbs g of r_BT"  # a label, not a code name: kept as written


def test_equilibrium_curves_distinguishable_and_bands_floored():
    df = _frame(spread=6.0)  # a 6-decade spread between two seeds: the t band would reach far below the curves
    tab = df[(df.algo == "Nash-MD-PG") & (df.seed == 0)].assign(model="tabular")
    tab = pd.concat([tab.assign(algo="tabular Nash-MD"), tab.assign(algo="tabular Nash-MP")], ignore_index=True)
    fig = plots.equilibrium_curves(df, tab)
    lines = {t.name: t for t in fig.data if t.showlegend}
    assert list(lines) == ["Nash-MD-PG", "Self-play", "tabular Nash-MD", "tabular Nash-MP"]
    assert lines["Nash-MD-PG"].marker.symbol != lines["Self-play"].marker.symbol  # near-coinciding curves stay apart
    assert lines["tabular Nash-MD"].line.dash != lines["tabular Nash-MP"].line.dash
    assert all(lines[a].line.dash == "solid" for a in ("Nash-MD-PG", "Self-play"))
    for col, axis in ((1, "y"), (2, "y2")):
        means = [t for t in fig.data if t.fill != "toself" and t.yaxis == axis]
        bands = [t for t in fig.data if t.fill == "toself" and t.yaxis == axis]
        assert bands, "two seeds: a CI band per neural method"
        floor = min(float(np.min(t.y)) for t in means) / 10
        assert all(float(np.min(t.y)) >= floor * (1 - 1e-9) for t in bands)
        assert all(t.name and "_" not in t.name for t in bands)
    titles = [fig.layout.yaxis.title.text, fig.layout.yaxis2.title.text, fig.layout.xaxis.title.text]
    assert titles[:2] == ["KL(π* ‖ π)", "regularized exploitability"] and all("_" not in t for t in titles)
    assert _widths_ok(fig)


def test_heatmap_and_frontier_readable():
    rows = [(r, 0, 10, 320, "win_rate", 0.5 if r == c else (0.7 if r < c else 0.3), "tiny", 0.1, c)
            for r in ("Nash-MD-PG", "RLHF", "reference") for c in ("Nash-MD-PG", "RLHF", "reference")]
    from workbench.llm.evaluation import WIN_RATE_KNOBS

    W = make_frame(rows, knobs=WIN_RATE_KNOBS)
    hm = plots.win_rate_heatmap(W)
    assert hm.data[0].textfont.size >= 11 and hm.layout.xaxis.tickfont.size >= 11 and hm.layout.yaxis.tickfont.size >= 11
    assert _widths_ok(hm)
    fr = plots.frontier(_frame(0.0))
    pts = [t for t in fr.data if t.mode == "markers"]  # final points: one legend entry and one marker symbol each
    assert len({t.marker.symbol for t in pts}) == len(pts) == 2 and [t.name for t in pts] == ["Nash-MD-PG", "Self-play"]
    assert "_" not in fr.layout.xaxis.title.text and "_" not in fr.layout.yaxis.title.text and _widths_ok(fr)


def test_distribution_figure_bars_and_title_are_the_policys():
    pi, star, g = _dist(0), _dist(1), _dist(2)
    fig = plots.distribution_figure(pi, star, RESPONSES, label="Nash-MD-PG", gibbs=g)
    bars = [t for t in fig.data if t.type == "bar"]
    assert len(bars) == 4 and np.allclose(bars[2].y, pi[2]) and list(bars[0].x[:2]) == ["RRR", "RRP"]
    diamonds = [t for t in fig.data if t.type == "scatter" and t.marker.symbol == "diamond"]
    assert np.allclose(diamonds[3].y, star[3])
    expect = float(kl(torch.tensor(star), torch.tensor(pi)).mean())
    assert f"KL(π* ‖ π) = {expect:.3f}" in fig.layout.title.text
    assert sum(bool(t.showlegend) for t in fig.data) == 3 and _widths_ok(fig)
    with pytest.raises(ValueError, match="do not match"):
        plots.distribution_figure(pi[:, :9], star, RESPONSES)
    assert plots._short_responses(["rock paper", "rock paper"]) == ["rock paper", "rock paper"]  # initials clash: words kept


def test_distribution_steps_one_step_per_policy_showing_its_own_bars():
    dists = {"reference": _dist(3), "Nash-MD-PG": _dist(4), "RLHF": _dist(5)}
    star, g = _dist(1), _dist(2)
    fig = plots.distribution_steps(dists, star, RESPONSES, gibbs=g)
    buttons = fig.layout.updatemenus[0].buttons
    assert [b.label for b in buttons] == list(dists)
    per = len(fig.data) // len(dists)
    assert per == 12 and len(fig.data) == 36  # 4 prompts x (bars, pi*, g)
    for i, (name, d) in enumerate(dists.items()):
        visible = buttons[i].args[0]["visible"]
        shown = [t for t, v in zip(fig.data, visible) if v]
        assert len(shown) == per
        assert np.allclose(np.concatenate([t.y for t in shown if t.type == "bar"]), d.reshape(-1))
        assert buttons[i].args[1]["title.text"].startswith(name + ":")
    menu = fig.layout.updatemenus[0]  # in the top margin at the right: clear of the title and the panel titles
    assert menu.y > 1 and menu.xanchor == "right" and menu.yanchor == "top"
    y_max = fig.layout.yaxis.range[1]
    assert y_max >= max(d.max() for d in [*dists.values(), star, g]) and fig.layout.yaxis4.range[1] == y_max
    assert _widths_ok(fig)


def test_distribution_explorer_offers_every_policy():
    pytest.importorskip("ipywidgets")
    dists = {"reference": _dist(3), "RLHF": _dist(5)}
    box = plots.distribution_explorer(dists, _dist(1), RESPONSES)
    pick = box.children[0]
    assert list(pick.options) == list(dists) and pick.value == "reference"
    pick.value = "RLHF"  # the observer redraws without error
    assert box.layout.width == "100%"
