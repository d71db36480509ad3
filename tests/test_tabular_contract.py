"""The tabular methods' contract: step sizes ``float | Schedule`` validated at construction, the named
default schedules, typed per-method state, and the frame's numeric ``eta`` column."""

import math
from dataclasses import fields

import numpy as np
import pytest
import torch

from workbench.games import random_game, rock_paper_scissors
from workbench.results import CORE_COLUMNS, check_frame
from workbench.schedules import Constant, InverseTime, constant, nash_md_theory, two_beta
from workbench.tabular import METHODS, NashMP, NashMPState, OMWU, OMWUState, TabularState, make_method
from workbench.tabular.driver import COLUMNS, KNOB_COLUMNS, final_state, iterate, run, trajectory

STEPPED = [name for name in METHODS if name != "FP"]  # FP has no step size


@pytest.mark.parametrize("name", STEPPED)
@pytest.mark.parametrize("bad", [0.0, -0.5, math.nan, math.inf, True, "0.1"])
def test_every_method_refuses_a_bad_eta_at_construction(name, bad):
    cls = METHODS[name]
    with pytest.raises(ValueError, match=rf"^{name} \({cls.__name__}\): eta must be a positive") as err:
        make_method(name, eta=bad)
    assert repr(bad) in str(err.value)
    with pytest.raises(ValueError, match="eta must be a positive"):
        cls(eta=bad)  # the class itself, not only the registry


@pytest.mark.parametrize("name", STEPPED)
@pytest.mark.parametrize("word,ctor", [("theory", "nash_md_theory()"), ("2beta", "two_beta()")])
def test_removed_schedule_strings_name_their_constructor(name, word, ctor):
    with pytest.raises(ValueError, match=f"eta='{word}' is no longer accepted") as err:
        make_method(name, eta=word)
    assert f"workbench.schedules.{ctor}" in str(err.value)


def test_fp_has_no_step_size():
    with pytest.raises(TypeError, match="bad hyperparameters for 'FP'"):
        make_method("FP", eta=0.1)


def test_named_defaults_and_their_numbers():
    assert make_method("Nash-MD").eta == nash_md_theory() and make_method("Nash-MP").eta == two_beta()
    game = random_game(4, beta=0.1, batch=3, seed=0).sweep_beta([0.1, 0.5])  # beta (2, 3)
    beta = game.beta
    for t in (0, 1, 9):  # Munos et al. Thm 1: 2/(beta (t+2)) <= 1/beta, so the cap never binds
        torch.testing.assert_close(make_method("Nash-MD").step_size(game, t), 2 / (beta * (t + 2)), rtol=0, atol=0)
    torch.testing.assert_close(make_method("Nash-MP").step_size(game, 5), 2 * beta, rtol=0, atol=0)
    # constant steps: clipped to 1/beta by Nash-MD, OMD, EGPO, OMWU; not by Nash-MP, MMD, MWU
    for name, capped in [("Nash-MD", True), ("OMD", True), ("EGPO", True), ("OMWU", True), ("Nash-MP", False), ("MMD", False), ("MWU", False)]:
        want = torch.minimum(torch.full_like(beta, 5.0), 1 / beta) if capped else torch.full_like(beta, 5.0)
        torch.testing.assert_close(make_method(name, eta=5.0).step_size(game, 3), want, rtol=0, atol=0, msg=name)
    assert OMWU(eta=5.0, regularized=False).step_size(game, 0).eq(5.0).all()  # plain OMWU: no clipping


def test_numbers_are_normalized_to_float():
    assert make_method("MMD", eta=1).eta == 1.0 and isinstance(make_method("MMD", eta=1).eta, float)
    assert isinstance(make_method("OMD", eta=np.float32(0.5)).eta, float)


@pytest.mark.parametrize("name", STEPPED)
def test_a_constant_schedule_is_the_same_as_the_number(name):
    game = random_game(5, beta=0.3, batch=2, seed=1, mu="random").sweep_beta([0.3, 2.0])
    a = trajectory(make_method(name, eta=0.7), game, 12)
    b = trajectory(make_method(name, eta=constant(0.7)), game, 12)
    assert torch.equal(a, b)


def test_schedule_needing_beta_refused_at_beta_zero_with_its_label():
    with pytest.raises(ValueError, match=r"MMD: the step schedule eta_t = 2beta needs beta > 0"):
        make_method("MMD", eta=two_beta()).init(rock_paper_scissors(0.0))


def test_nash_mp_time_varying_schedule_recomputes_its_constants():
    """With a schedule that varies with t, iteration t uses eta_t (not the constants of t = 0)."""
    game = random_game(5, beta=0.4, seed=2, mu="random")
    sched = InverseTime(scale=1.0, offset=1.0)  # eta_t = 1 / (beta (t + 1))
    got = trajectory(NashMP(eta=sched), game, 6)
    state = NashMP().init(game)
    want = [state.pi]
    for t in range(6):
        plain = TabularState(state.pi, state.avg, state.t, state.queries)  # no cached constants
        state = NashMP(eta=float(sched(t, game.beta))).step(game, plain)
        want.append(state.pi)
    torch.testing.assert_close(got, torch.stack(want), rtol=1e-13, atol=1e-15)


def test_typed_states_have_named_fields():
    game = random_game(5, beta=0.3, batch=2, seed=3)
    mp = NashMP().init(game)
    assert type(mp) is NashMPState and [f.name for f in fields(mp)] == ["pi", "avg", "t", "queries", "inv", "mu_term", "scale"]
    eta = 2 * game.beta[:, None]  # (B, 1)
    torch.testing.assert_close(mp.inv, 1 / (1 + eta))
    torch.testing.assert_close(mp.scale, eta / (1 + eta) / game.beta[:, None])
    torch.testing.assert_close(mp.mu_term, eta / (1 + eta) * torch.log(game.mu))
    om = OMWU().init(game)
    assert type(om) is OMWUState and om.prev_win is None
    om = OMWU().step(game, om)
    torch.testing.assert_close(om.prev_win, game.win_prob(game.mu))  # g_0 = P(. ≻ pi_0), pi_0 = mu
    pi_1 = om.pi
    om = OMWU().step(game, om)
    torch.testing.assert_close(om.prev_win, game.win_prob(pi_1))  # then g_1 = P(. ≻ pi_1)
    for name in METHODS:  # every step keeps the type its init made
        m = make_method(name)
        s0 = m.init(game)
        assert type(m.step(game, s0)) is type(s0)


@pytest.mark.parametrize("name", ["Nash-MP", "OMWU", "MMD"])
def test_typed_state_round_trip(name):
    """``tensors()`` + ``t`` rebuild the state, so a state can be split and stitched along the batch."""
    game = random_game(5, beta=0.3, batch=4, seed=4)
    method = make_method(name)
    state = list(iterate(method, game, 3))[-1]
    rebuilt = type(state)(t=state.t, **state.tensors())
    for key, value in state.tensors().items():
        assert torch.equal(getattr(rebuilt, key), value)
    halves = [type(state)(t=state.t, **{k: v[i:i + 2] for k, v in state.tensors().items()}) for i in (0, 2)]
    glued = type(state)(t=state.t, **{k: torch.cat([h.tensors()[k] for h in halves]) for k in state.tensors()})
    a, b = method.step(game, state), method.step(game, glued)
    assert torch.equal(a.pi, b.pi) and torch.equal(a.queries, b.queries)


def test_final_state_keeps_the_typed_state():
    game = random_game(5, beta=0.3, batch=6, seed=5).sweep_beta([0.2, 0.5])  # batch (2, 6)
    state = final_state(NashMP(), game, 4, chunk=4)
    assert type(state) is NashMPState and state.inv.shape == (2, 6, 1) and state.mu_term.shape == (2, 6, 5)
    torch.testing.assert_close(state.inv, NashMP().init(game).inv, rtol=0, atol=0)
    assert final_state(OMWU(), game, 0).prev_win is None  # no step taken: no previous gradient


def test_methods_accept_a_plain_tabular_state():
    game = random_game(5, beta=0.3, batch=2, seed=6)
    plain = make_method("MMD").init(game)
    assert type(plain) is TabularState
    for name in ("Nash-MP", "OMWU"):
        method = make_method(name)
        got = method.step(game, plain)
        assert torch.equal(got.pi, method.step(game, method.init(game)).pi)


def test_frame_eta_is_numeric_with_a_label_column():
    game = random_game(5, beta=0.1, batch=2, seed=7).sweep_beta([0.1, 0.4])  # beta per game: 0.1 0.1 0.4 0.4
    df = run({"md": make_method("Nash-MD"), "mp": make_method("Nash-MP"), "mmd": make_method("MMD", eta=0.3),
              "fp": make_method("FP")}, game, 2, progress=False)
    assert df.eta.dtype == np.float64 and df.eta_schedule.map(type).eq(str).all()
    check_frame(df, "tabular")
    labels = df.groupby("algo").eta_schedule.unique().map(list).to_dict()
    assert labels == {"md": ["2/(beta(t+2))"], "mp": ["2beta"], "mmd": ["0.3"], "fp": ["none"]}
    assert df[df.algo.isin(["md", "fp"])].eta.isna().all()
    mp = df[df.algo == "mp"]
    np.testing.assert_array_equal(mp.eta.to_numpy(), 2 * mp.beta.to_numpy())  # per game, from its beta
    assert (df[df.algo == "mmd"].eta == 0.3).all()


def test_columns_are_core_plus_tabular_knobs():
    assert KNOB_COLUMNS == ("game", "beta", "eta", "eta_schedule")
    assert set(COLUMNS) == set(CORE_COLUMNS) | set(KNOB_COLUMNS) and len(COLUMNS) == len(set(COLUMNS))
    assert COLUMNS[0] == "algo" and COLUMNS[-5:] == CORE_COLUMNS[1:]
