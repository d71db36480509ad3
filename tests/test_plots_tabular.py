"""Figures of the tabular lab (workbench.plots.curves, workbench.plots.games) read as a person sees them:
words on axes and legends, widths that fit a 1280 px page, distinguishable and annotated coinciding
curves, bands without stray markers or a pull decades down, readable heatmap labels."""

import numpy as np
import pandas as pd
import torch

from workbench.analysis.summaries import queries_to_epsilon
from workbench.plots import curves as C
from workbench.plots import games as G


def _frame(algo, values, metric="kl_to_eq", game=0, seed=0, beta=0.1, eta=0.2):
    steps = np.arange(len(values))
    return pd.DataFrame({
        "algo": algo, "game": game, "beta": beta, "eta": eta, "seed": seed, "step": steps,
        "queries": steps * 2, "metric": metric, "value": np.asarray(values, float),
    })


def _runs(algo, rate, n_seeds=3, steps=30, metric="kl_to_eq", jitter=0.02):
    rng = np.random.default_rng(abs(hash(algo)) % 1000)
    return [_frame(algo, rate ** np.arange(steps) * (1 + jitter * rng.random(steps)), metric=metric, seed=s) for s in range(n_seeds)]


def _lines(fig):
    return [t for t in fig.data if t.fill is None and t.x is not None and t.x[0] is not None]


def _bands(fig):
    return [t for t in fig.data if t.fill == "toself"]


# ------------------------------------------------------------------------------------------- curves
def test_metric_curves_words_not_code_names():
    df = pd.concat(_runs("Nash-MP", 0.6) + _runs("OMD", 0.9))
    fig = C.metric_curves(df, "kl_to_eq", x="queries")
    assert fig.layout.yaxis.title.text == "KL(π*‖π<sub>t</sub>)"
    assert fig.layout.xaxis.title.text == "preference queries N"
    texts = [fig.layout.title.text, fig.layout.xaxis.title.text, fig.layout.yaxis.title.text] + [t.name for t in fig.data]
    assert not [s for s in texts if "_" in s], texts
    two = C.metric_curves(pd.concat(_runs("MWU", 0.9, metric="exploitability") + _runs("MWU", 0.8, metric="avg_exploitability")),
                          ["exploitability", "avg_exploitability"],
                          metric_names={"exploitability": "last iterate", "avg_exploitability": "average iterate"},
                          theory={"MWU · average iterate: Hedge bound": (np.arange(30), np.ones(30))})
    by_name = {t.name: t for t in _lines(two)}
    assert sorted(by_name) == ["MWU · average iterate", "MWU · average iterate: Hedge bound", "MWU · last iterate"]
    assert by_name["MWU · average iterate: Hedge bound"].line.color == by_name["MWU · average iterate"].line.color
    assert by_name["MWU · last iterate"].line.color != by_name["MWU · average iterate"].line.color
    raw = C.metric_curves(pd.concat(_runs("MWU", 0.8, metric="avg_exploitability") + _runs("MWU", 0.9, metric="exploitability")),
                          ["avg_exploitability", "exploitability"], theory={"MWU · avg_exploitability bound": (np.arange(3), np.ones(3))})
    by_name = {t.name: t for t in _lines(raw)}  # a theory label in code names still finds its curve
    assert by_name["MWU · avg_exploitability bound"].line.color == by_name["MWU · exploitability of the average iterate"].line.color
    assert all("_" not in C.display_name(k) for k in C.LABELS)


def test_every_curve_has_its_own_style_and_coinciding_curves_are_named():
    same = [_frame(a, 0.9 ** np.arange(30) * f) for a, f in (("EGPO", 1.0), ("OMD", 1.05), ("OMWU", 0.97))]
    df = pd.concat(same + [_frame("Nash-MP", 0.5 ** np.arange(30)), _frame("MMD", 0.9 ** np.arange(30) * 3)])
    fig = C.metric_curves(df, "kl_to_eq")
    lines = _lines(fig)
    assert len({t.line.dash for t in lines}) == 4 and len({t.marker.symbol for t in lines}) == 5  # four dash styles cycle
    assert all(t.line.dash != "dash" for t in lines)  # "dash" is the theory lines' style
    notes = [t.name for t in fig.data if t.x is not None and t.x[0] is None]
    assert notes == ["EGPO, OMD and OMWU coincide (within 0.1 decade)"]  # MMD is 0.48 decades above them
    assert C.coinciding({"a": pd.Series([1.0, 0.1]), "b": pd.Series([1.0, 0.2])}) == []  # 0.3 decades apart at x=1
    assert C.coinciding({"a": pd.Series([1.0, 0.1]), "b": pd.Series([1.1, 0.11])}) == [["a", "b"]]
    # equal only where they overlap (k=1 and k=10 samples per query, on a queries axis): not "coinciding"
    a = pd.Series(0.5 ** np.arange(10.0), index=np.arange(10) * 10)
    b = pd.Series(a.to_numpy()[5:] * 1.01, index=a.index[5:])
    assert C.coinciding({"a": a, "b": b}) == []


def test_log_x_leaves_out_x_zero():
    df = pd.concat(_runs("a", 0.5, steps=5))
    fig = C.metric_curves(df, "kl_to_eq", x="queries", log_x=True)
    assert fig.layout.xaxis.type == "log"
    assert all(min(t.x) > 0 for t in fig.data if t.x is not None and t.x[0] is not None)


def test_bands_have_no_markers_and_do_not_dive_to_round_off():
    # four games converge, one reached round-off (clipped to 1e-16): the band may not pull the axis to 1e-16
    df = pd.concat([_frame("Nash-MP", np.r_[1.0, np.full(9, 1e-3)] * (1 + 0.1 * g), game=g) for g in range(4)]
                   + [_frame("Nash-MP", np.r_[1.0, np.full(9, 1e-17)], game=4)])
    fig = C.metric_curves(df, "kl_to_eq")
    (band,) = _bands(fig)
    assert band.mode == "lines" and band.showlegend is False
    line = _lines(fig)[0]
    assert min(band.y) >= min(line.y) / 10 - 1e-30
    assert min(line.y) > 1e-6  # the geometric mean over the five games
    short = C.metric_curves(pd.concat(_runs("a", 0.5, steps=4)), "kl_to_eq")  # under 20 points: plotly's default mode adds markers
    assert all(t.mode == "lines" for t in _bands(short))


def test_queries_heatmap_labels_are_readable_and_panels_wrap():
    df = pd.concat([_frame(a, 0.5 ** np.arange(20), eta=e, beta=b) for a in ("x", "y") for e in (0.1, 0.2) for b in (0.1, 0.3)]
                   + [_frame("z", np.ones(20), eta=e, beta=b) for e in (0.1, 0.2) for b in (0.1, 0.3)])
    q = queries_to_epsilon(df, "kl_to_eq", 1e-3)
    fig = C.queries_heatmap(q)
    assert all(t.textfont.size >= 11 for t in fig.data)
    assert fig.layout.width is None
    z = [t for t in fig.data if "not<br>reached" in np.asarray(t.text).ravel()]
    assert len(z) == 1 and np.isnan(np.asarray(z[0].z, float)).all()  # the panel that never reached epsilon
    assert fig.layout.xaxis.title.text == "step size η" and fig.layout.yaxis.title.text == "regularization β"
    assert fig.data[0].colorbar.title.text == "queries to ε"
    # seven etas: two panels a row, not seven columns each 20 px wide
    wide = pd.concat([_frame(a, 0.5 ** np.arange(20), eta=e) for a in "abc" for e in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)])
    fig = C.queries_heatmap(queries_to_epsilon(wide, "kl_to_eq", 1e-3))
    assert fig.data[2].xaxis == "x3" and fig.layout.xaxis3.domain[0] < 0.1  # the third panel starts a new row


def test_simplex_trajectories_follow_the_page():
    fig = C.simplex_trajectories({"last": np.full((4, 3), 1 / 3)})
    assert fig.layout.width is None and fig.layout.yaxis.scaleanchor == "x"


# ------------------------------------------------------------------------------------------- games
def test_game_figures_fit_the_page():
    P = {f"game {k}": torch.full((6, 6), 0.5, dtype=torch.float64) for k in range(4)}
    fig = G.preference_heatmaps(P)
    assert fig.layout.width is None or fig.layout.width <= 1200
    assert all(t.textfont.size >= 11 for t in fig.data)
    ex = G.explorer_figure(torch.full((3, 3), 0.5), {"π*_β": torch.full((3,), 1 / 3)}, ("a", "b", "c"))
    assert ex.layout.width is None
    assert [t.name for t in ex.data if t.type == "bar"] == ["π*<sub>β</sub>"]
    for fig in (G.equilibrium_path(np.array([0.1, 1.0]), np.full((2, 3), 1 / 3)), G.policy_bars({"μ": np.ones(3) / 3}),
                G.equilibrium_simplex(np.full((2, 3), 1 / 3))):
        assert (fig.layout.width or 0) <= 1200
        assert not [t.name for t in fig.data if t.name and "_" in t.name]


def test_share_vs_knob_band_is_an_outline_only():
    fig = G.share_vs_knob({"share": (np.linspace(0, 1, 5), np.random.default_rng(0).random((5, 7)))})
    band, line = fig.data
    assert band.fill == "toself" and band.mode == "lines"
    assert line.mode == "lines+markers" and line.name == "share"


def test_display_label():
    assert G.display_label("π*_β") == "π*<sub>β</sub>"
    assert G.display_label("KL(π*_β || μ)") == "KL(π*<sub>β</sub> || μ)"
    assert G.display_label("RLHF on BT fit") == "RLHF on BT fit"


def test_heatmap_text_shows_no_negative_zero():
    P = torch.tensor([[0.5, 1.0], [-1e-17, 0.5]], dtype=torch.float64)
    text = np.asarray(G.preference_heatmap(P).data[0].text, float)
    assert not np.signbit(text).any()


def test_simplex_points_that_coincide_say_so():
    mu = np.array([0.6, 0.3, 0.1])
    fig = G.equilibrium_simplex(None, {"μ": mu, "Nash": np.ones(3) / 3, "RLHF on BT fit": mu + 1e-9})
    assert [t.name for t in fig.data] == ["μ", "Nash", "RLHF on BT fit (coincides with μ)"]
