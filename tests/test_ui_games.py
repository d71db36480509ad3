"""The games explorer (headless: no browser) and the game figures."""

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from workbench.games import rock_paper_scissors, solve
from workbench.plots.games import equilibrium_path, equilibrium_simplex, preference_heatmap, preference_heatmaps, share_vs_knob
from workbench.ui.games import GAMES, explorer_view, games_explorer, make_game, skewed_mu

pytest.importorskip("ipywidgets")


def _bars(fig):
    return {t.name: np.asarray(t.y) for t in fig.data if t.type == "bar"}


def test_widget_redraws_when_controls_change():
    box = games_explorer(game="RPS", beta=0.1, mu="skewed")
    assert box.controls["intransitivity"].disabled
    first = box.view.figure
    assert np.asarray(first.data[0].z).shape == (3, 3)
    pi_01 = _bars(first)["π*_β"].copy()

    box.controls["beta"].value = 10.0  # observe -> update: large beta pulls pi* to mu
    bars = _bars(box.view.figure)
    assert not np.allclose(bars["π*_β"], pi_01)
    assert np.abs(bars["π*_β"] - bars["μ"]).max() < 0.05

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
    line = [t for t in fig.data if t.name == "π*_β(rock)"][0]
    np.testing.assert_allclose(line.y, path[:, 0].numpy())  # sorted by beta already
    assert isinstance(equilibrium_simplex(path, {"μ": game.mu, "Nash": lp}, game.names), go.Figure)
    assert isinstance(preference_heatmap(game.P, game.names), go.Figure)
    assert len(preference_heatmaps({"P": game.P, "BT": torch.full((3, 3), 0.5)}).data) == 2
    fig = share_vs_knob({"share": (np.linspace(0, 1, 3), np.random.default_rng(0).random((3, 5)))})
    assert len(fig.data) == 2
    with pytest.raises(ValueError, match="K = len"):
        equilibrium_path(betas, path[:3])
