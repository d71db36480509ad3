"""The tabular driver: frame layout, recorded steps, seeding, trajectories."""

import math

import numpy as np
import pytest
import torch

from workbench.games import random_game, rock_paper_scissors, solve
from workbench.metrics import evaluate
from workbench.tabular import METHODS, SampledOracle, make_method
from workbench.tabular.driver import COLUMNS, final_state, recorded_steps, run, trajectory


def test_frame_columns_and_recorded_steps():
    game = random_game(6, beta=0.2, batch=3, seed=1)
    df = run([make_method("Nash-MD"), make_method("Nash-MP", eta=0.3)], game, 10, record_every=4, progress=False)
    assert list(df.columns) == list(COLUMNS)
    assert sorted(df.step.unique()) == [0, 4, 8, 10]  # every 4 steps and always the last
    assert set(df.algo) == {"Nash-MD", "Nash-MP"}
    assert set(df.game) == {0, 1, 2}
    assert set(df.metric) == {"reg_exploitability", "exploitability", "win_rate_vs_mu", "kl_to_mu", "kl_to_eq", "span_log_ratio"}
    assert len(df) == 2 * 4 * 3 * 6  # methods x records x games x metrics
    assert df[df.algo == "Nash-MD"].eta.isna().all()  # the theory schedule varies with t
    assert set(df[df.algo == "Nash-MD"].eta_schedule) == {"2/(beta(t+2))"}
    assert set(df[df.algo == "Nash-MP"].eta) == {0.3} and set(df[df.algo == "Nash-MP"].eta_schedule) == {"0.3"}
    np.testing.assert_allclose(df.beta, 0.2)
    mp = df[(df.algo == "Nash-MP") & (df.metric == "kl_to_eq") & (df.game == 0)]
    assert list(mp.queries) == [0, 8, 16, 20]  # two exact queries per iteration


def test_frame_values_match_metrics_of_trajectory():
    game = random_game(5, beta=0.3, batch=2, seed=2)
    method = make_method("Nash-MP")
    pis = trajectory(method, game, 7)
    assert pis.shape == (8, 2, 5)
    df = run({"mp": method}, game, 7, record_every=7, progress=False, average=True)
    pi_star = solve(game)
    for step in (0, 7):
        want = evaluate(game, pis[step], pi_star)
        for name, val in want.items():
            got = df[(df.step == step) & (df.metric == name)].sort_values("game").value.to_numpy()
            np.testing.assert_allclose(got, val.numpy(), rtol=1e-10, atol=1e-14)
    avg = trajectory(method, game, 7, average=True)
    torch.testing.assert_close(avg[-1], pis.mean(0))
    got = df[(df.step == 7) & (df.metric == "avg_kl_to_eq")].sort_values("game").value.to_numpy()
    np.testing.assert_allclose(got, evaluate(game, avg[-1], pi_star)["kl_to_eq"].numpy(), rtol=1e-10)


def test_unregularized_game_has_no_equilibrium_metrics_unless_given():
    game = rock_paper_scissors(beta=0.0)
    df = run([make_method("MWU", eta=0.1)], game, 3, progress=False)
    assert "kl_to_eq" not in set(df.metric)
    df = run([make_method("MWU", eta=0.1)], game, 3, progress=False, pi_star=torch.full((3,), 1 / 3))
    assert "kl_to_eq" in set(df.metric)
    assert (df.game == 0).all()


def test_seed_controls_sampled_runs():
    game = random_game(5, beta=0.2, batch=2, seed=3)
    kw = dict(oracle=SampledOracle(2), progress=False)
    a = run([make_method("Nash-MD")], game, 5, seed=1, **kw)
    b = run([make_method("Nash-MD")], game, 5, seed=1, **kw)
    c = run([make_method("Nash-MD")], game, 5, seed=2, **kw)
    assert a.equals(b)
    assert not np.allclose(a.value, c.value)
    assert set(a.seed) == {1}
    assert a[a.step == 5].queries.iloc[0] == 5 * 5 * 2  # n * samples per call, one call per step


def test_bad_input_errors():
    game = random_game(4, beta=0.2)
    with pytest.raises(ValueError, match="record_every"):
        run([make_method("Nash-MD")], game, 3, record_every=0, progress=False)
    with pytest.raises(ValueError, match="share the label"):
        run([make_method("Nash-MD"), make_method("Nash-MD", eta=0.1)], game, 3, progress=False)
    with pytest.raises(KeyError, match="unknown tabular method"):
        make_method("Nash-XX")
    with pytest.raises(TypeError, match="bad hyperparameters"):
        make_method("Nash-MP", step=0.1)
    assert recorded_steps(0) == [0]
    assert math.isnan(run({"x": make_method("Nash-MD")}, game, 0, progress=False).value.iloc[0]) is False
    assert {"Nash-MD", "Nash-MP"} <= set(METHODS)


@pytest.mark.parametrize("name", ["Nash-MP", "OMWU", "FP"])
def test_final_state_is_chunk_independent(name):
    game = random_game(5, beta=0.3, batch=7, seed=4).sweep_beta([0.2, 0.5])  # batch (2, 7)
    method = make_method(name)
    want = trajectory(method, game, 12)[-1]
    for chunk in (None, 1, 3, "auto"):
        state = final_state(method, game, 12, chunk=chunk)
        assert state.t == 12 and state.pi.shape == (2, 7, 5) and state.queries.shape == (2, 7)
        torch.testing.assert_close(state.pi, want, rtol=1e-12, atol=1e-15)
        if name == "OMWU":
            assert state.prev_win.shape == (2, 7, 5)
    with pytest.raises(ValueError, match="chunk"):
        final_state(method, game, 2, chunk=0)


def test_float32_game_runs_every_method():
    game = random_game(6, beta=0.3, batch=2, seed=0, dtype=torch.float32)
    df = run([make_method(k) for k in METHODS], game, 30, record_every=30, progress=False)
    assert np.isfinite(df.value).all()
    last = df[(df.step == 30) & (df.metric == "kl_to_eq")].groupby("algo").value.max()
    assert last["Nash-MP"] < 1e-5 and last["EGPO"] < 1e-5  # float32 round-off level
