"""The games explorer (headless: no browser) and the game figures."""

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from workbench.games import rock_paper_scissors, solve
from workbench.plots.games import equilibrium_path, equilibrium_simplex, preference_heatmap, preference_heatmaps, share_vs_knob
from workbench.ui.games import GAMES, explorer_view, figures_explorer, games_explorer, games_explorer_static, make_game, shown, skewed_mu

pytest.importorskip("ipywidgets")


PI_STAR = "π*<sub>β</sub>"  # the legend name of pi*_beta (typeset subscript)


def _bars(fig, visible_only=False):
    return {t.name: np.asarray(t.y) for t in fig.data if t.type == "bar" and (not visible_only or t.visible)}


def test_widget_redraws_when_controls_change():
    box = games_explorer(game="RPS", beta=0.1, mu="skewed")
    assert box.controls["intransitivity"].disabled
    first = box.view.figure
    assert np.asarray(first.data[0].z).shape == (3, 3)
    pi_01 = _bars(first)[PI_STAR].copy()

    box.controls["beta"].value = 10.0  # observe -> update: large beta pulls pi* to mu
    bars = _bars(box.view.figure)
    assert not np.allclose(bars[PI_STAR], pi_01)
    assert np.abs(bars[PI_STAR] - bars["μ"]).max() < 0.05

    box.controls["game"].value = "mixture"
    assert not box.controls["intransitivity"].disabled
    assert np.asarray(box.view.figure.data[0].z).shape == (6, 6)
    share_half = box.view.numbers["cyclic share of P"]
    box.controls["intransitivity"].value = 0.0
    assert box.view.numbers["cyclic share of P"] < 1e-6 < share_half
    assert "intransitivity = 0.00" in box.view.figure.layout.title.text


def test_explorer_view_numbers_are_consistent():
    for name in GAMES:
        v = explorer_view(name, 0.05, 0.5, n=5, seed=1, mu="skewed")
        num = v.numbers
        assert abs(num["regularized exploitability of π*_β"]) < 1e-10, name
        assert num["exploitability of LP Nash"] < 1e-7, name
        for pi in v.policies.values():
            assert abs(pi.sum().item() - 1) < 1e-12
    # RPS: the BT fit is all ties, so the RLHF policy is mu and as exploitable as mu
    v = explorer_view("RPS", 0.05, mu="skewed")
    torch.testing.assert_close(v.policies["RLHF on BT fit"], skewed_mu(3))
    assert abs(v.numbers["exploitability of RLHF-on-BT"] - v.numbers["exploitability of μ"]) < 1e-12


def test_make_game_errors():
    with pytest.raises(ValueError, match="unknown game"):
        make_game("chess", 0.1)
    with pytest.raises(ValueError, match="unknown mu"):
        make_game("RPS", 0.1, mu="peaked")
    with pytest.raises(ValueError, match="beta > 0"):
        explorer_view("RPS", 0.0)


def test_game_figures_build():
    game = rock_paper_scissors(mu=skewed_mu(3))
    betas = torch.logspace(-2, 1, 7, dtype=torch.float64)
    path = solve(game.sweep_beta(betas))  # (7, 3)
    lp = solve(game.with_beta(0.0))
    fig = equilibrium_path(betas, path, game.mu, lp, game.names)
    assert isinstance(fig, go.Figure) and fig.layout.xaxis.type == "log"
    line = [t for t in fig.data if t.name == PI_STAR + "(rock)"][0]
    np.testing.assert_allclose(line.y, path[:, 0].numpy())  # sorted by beta already
    assert isinstance(equilibrium_simplex(path, {"μ": game.mu, "Nash": lp}, game.names), go.Figure)
    assert isinstance(preference_heatmap(game.P, game.names), go.Figure)
    assert len(preference_heatmaps({"P": game.P, "BT": torch.full((3, 3), 0.5)}).data) == 2
    fig = share_vs_knob({"share": (np.linspace(0, 1, 3), np.random.default_rng(0).random((3, 5)))})
    assert len(fig.data) == 2
    with pytest.raises(ValueError, match="K = len"):
        equilibrium_path(betas, path[:3])


def test_static_explorer_has_one_step_per_beta_and_each_step_shows_its_solution():
    betas = (0.01, 0.1, 1.0, 10.0)
    fig = games_explorer_static("RPS", betas, mu="skewed")
    (slider,) = fig.layout.sliders
    assert [s.label for s in slider.steps] == ["0.01", "0.1", "1", "10"]
    assert slider.active == 1  # the beta closest to 0.1 is shown first
    assert fig.layout.width is None
    pis = []
    for step, beta in zip(slider.steps, betas):
        visible = step.args[0]["visible"]
        shown_fig = fig.data
        bars = {t.name: np.asarray(t.y) for t, v in zip(shown_fig, visible) if v and t.type == "bar"}
        expected = explorer_view("RPS", beta, mu="skewed").policies["π*_β"].numpy()
        np.testing.assert_allclose(bars[PI_STAR], expected)
        pis.append(bars[PI_STAR])
        assert "exploitability" in step.args[1]["title.text"] and "e-1" not in step.args[1]["title.text"]
    assert np.abs(pis[-1] - skewed_mu(3).numpy()).max() < 0.05 < np.abs(pis[0] - skewed_mu(3).numpy()).max()
    with pytest.raises(ValueError, match="at least one beta"):
        games_explorer_static("RPS", ())


def test_round_off_is_shown_as_zero():
    assert shown(-1.1e-16) == 0.0 and shown(3e-12) == 3e-12 and shown(-0.25) == -0.25
    html = games_explorer(game="RPS", beta=0.1).children[2].value  # the numbers table
    assert "e-1" not in html and "π*<sub>β</sub>" in html


def test_figures_explorer_switches_the_figure():
    figs = {"a": go.Figure(go.Scatter(y=[1])), "b": go.Figure(go.Scatter(y=[2]))}
    box = figures_explorer(figs, label="η")
    assert box.shown == "a" and list(box.slider.options) == ["a", "b"]
    box.slider.value = "b"
    assert box.shown == "b"
    with pytest.raises(ValueError, match="at least one figure"):
        figures_explorer({}, label="η")
