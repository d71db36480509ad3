"""The policy-gradient trainers' loss pieces against hand-computed tensors (no model: pure tensor maths),
their hyperparameter validation, the EMA update and Nash-MP's phase machine."""

import math

import pytest
import torch

from workbench.llm.losses import check_beta, kl_penalized_reward, loo_advantage, pg_advantage, pg_loss, prox_advantage
from workbench.llm.nash_ema_pg import NashEMAPG, NashEMAState, ema_update
from workbench.llm.nash_md_pg import NashMDPG
from workbench.llm.nash_mp import NashMPPG, NashMPState
from workbench.llm.rlhf import RLOO
from workbench.schedules import constant


def close(a, b):
    torch.testing.assert_close(a, torch.as_tensor(b, dtype=a.dtype), rtol=0, atol=1e-6)


# ---------------------------------------------------------------- Nash-MD-PG / self-play / Nash-EMA-PG pieces
def test_pg_advantage_by_hand():
    pref = torch.tensor([0.9, 0.2])
    logp, logp_ref = torch.tensor([-1.0, -2.0]), torch.tensor([-1.5, -1.0])
    # 0.9 - 0.5 - 0.1 * (-1 + 1.5) = 0.35 ;  0.2 - 0.5 - 0.1 * (-2 + 1) = -0.2
    close(pg_advantage(pref, logp, logp_ref, beta=0.1), [0.35, -0.2])


def test_pg_loss_value_and_gradient_by_hand():
    logp = torch.tensor([-1.0, -2.0], requires_grad=True)
    adv = torch.tensor([0.35, -0.2], requires_grad=True)  # a weight: no gradient may flow into it
    loss = pg_loss(logp, adv)
    close(loss.detach(), -(0.35 * -1.0 + -0.2 * -2.0) / 2)  # -0.025
    loss.backward()
    close(logp.grad, [-0.35 / 2, 0.2 / 2])  # -A / B
    assert adv.grad is None


def test_pg_advantage_is_detached():
    logp = torch.tensor([-1.0], requires_grad=True)
    assert not pg_advantage(torch.tensor([0.7]), logp, torch.tensor([-1.0]), 0.3).requires_grad


def test_ema_update_by_hand():
    ema = {"w": torch.tensor([0.0, 1.0])}
    new = ema_update(ema, {"w": torch.tensor([1.0, 3.0])}, decay=0.9)
    close(new["w"], [0.1, 1.2])  # 0.9 * ema + 0.1 * w
    close(ema["w"], [0.0, 1.0])  # the old state is not modified


class FakePolicy:
    """Only ``snapshot()``: its ``k``-th call returns weights ``{"w": k}``."""

    def __init__(self):
        self.calls = 0

    def snapshot(self):
        self.calls += 1
        return {"w": torch.tensor([float(self.calls)])}


def test_nash_ema_state_tracks_the_weights():
    trainer, pol = NashEMAPG(beta=0.1, decay=0.5), FakePolicy()
    state = trainer.init(pol)  # ema = 1
    assert isinstance(state, NashEMAState)
    assert trainer.opponent(state) == {"weights": state.ema}
    state = trainer.after_step(pol, state)  # 0.5 * 1 + 0.5 * 2
    close(state.ema["w"], [1.5])
    state = trainer.after_step(pol, state)  # 0.5 * 1.5 + 0.5 * 3
    close(state.ema["w"], [2.25])


# ---------------------------------------------------------------- Nash-MP pieces and phases
def test_prox_advantage_by_hand():
    pref = torch.tensor([0.9, 0.4])
    logp, logp_ref, logp_c = torch.tensor([-1.0, -3.0]), torch.tensor([-1.5, -2.0]), torch.tensor([-0.5, -3.5])
    # 0.4 - 0.1 * 0.5 - 0.5 * (-0.5) = 0.6 ;  -0.1 - 0.1 * (-1) - 0.5 * 0.5 = -0.25
    close(prox_advantage(pref, logp, logp_ref, logp_c, beta=0.1, prox_weight=0.5), [0.6, -0.25])


def test_nash_mp_surrogate_uses_beta_over_eta():
    trainer = NashMPPG(beta=0.1)  # eta = 2 beta = 0.2 (two_beta), prox weight beta / eta = 0.5
    assert math.isclose(trainer.eta_at(0), 0.2) and math.isclose(trainer.eta_at(7), 0.2)
    logp = torch.tensor([-1.0, -3.0], requires_grad=True)
    loss = trainer.surrogate(torch.tensor([0.9, 0.4]), logp, torch.tensor([-1.5, -2.0]), torch.tensor([-0.5, -3.5]),
                             eta=trainer.eta_at(0))
    close(loss.detach(), -(0.6 * -1.0 + -0.25 * -3.0) / 2)
    loss.backward()
    close(logp.grad, [-0.6 / 2, 0.25 / 2])
    assert math.isclose(NashMPPG(beta=0.1, eta=0.5).eta_at(3), 0.5)
    assert math.isclose(NashMPPG(beta=0.1, eta=constant(0.3)).eta_at(0), 0.3)


def test_nash_mp_phases_walk_half_then_full():
    trainer, pol = NashMPPG(beta=0.1, inner_steps=2), FakePolicy()
    s = trainer.init(pol)  # centre = 1
    assert (s.phase, s.inner, s.outer, s.half) == ("half", 0, 0, None)
    assert trainer.opponent(s)["weights"] is s.centre  # half step: the opponent is pi_t
    s = trainer.after_step(pol, s)
    assert (s.phase, s.inner, s.outer) == ("half", 1, 0) and pol.calls == 1
    s = trainer.after_step(pol, s)  # M steps done: pi_{t+1/2} frozen (snapshot 2)
    assert (s.phase, s.inner, s.outer) == ("full", 0, 0)
    close(s.half["w"], [2.0]), close(s.centre["w"], [1.0])
    assert trainer.opponent(s)["weights"] is s.half  # full step: the opponent is pi_{t+1/2}, centre still pi_t
    s = trainer.after_step(pol, s)
    s = trainer.after_step(pol, s)  # pi_{t+1} (snapshot 3) is the new centre
    assert (s.phase, s.inner, s.outer, s.half) == ("half", 0, 1, None)
    close(s.centre["w"], [3.0])
    with pytest.raises(ValueError, match="state.phase must be one of"):
        trainer.opponent(NashMPState("quarter", 0, 0, {}, None))


# ---------------------------------------------------------------- RLOO pieces
def test_kl_penalized_reward_by_hand():
    r, logp, logp_ref = torch.tensor([1.0, 2.0]), torch.tensor([-1.0, -2.0]), torch.tensor([-2.0, -1.0])
    close(kl_penalized_reward(r, logp, logp_ref, beta=0.5), [0.5, 2.5])  # 1 - 0.5 * 1 ; 2 - 0.5 * (-1)


def test_loo_advantage_by_hand():
    returns = torch.tensor([[1.0, 2.0, 3.0, 6.0], [0.0, 0.0, 1.0, 1.0]])
    # row 0: 1 - 11/3, 2 - 10/3, 3 - 9/3, 6 - 6/3 ; row 1: 0 - 2/3, 0 - 2/3, 1 - 1/3, 1 - 1/3
    close(loo_advantage(returns), [[-8 / 3, -4 / 3, 0.0, 4.0], [-2 / 3, -2 / 3, 2 / 3, 2 / 3]])
    with pytest.raises(ValueError, match="k >= 2"):
        loo_advantage(torch.ones(3, 1))


def test_rloo_surrogate_by_hand():
    trainer = RLOO(beta=0.5, k=2)
    reward = torch.tensor([[1.0, 2.0]])  # (B=1, k=2)
    logp = torch.tensor([[-1.0, -2.0]], requires_grad=True)
    logp_ref = torch.tensor([[-2.0, -1.0]])
    # R = [0.5, 2.5]; A = [0.5 - 2.5, 2.5 - 0.5] = [-2, 2]; loss = -(-2 * -1 + 2 * -2) / 2 = 1
    loss = trainer.surrogate(reward, logp, logp_ref)
    close(loss.detach(), 1.0)
    loss.backward()
    close(logp.grad, [[1.0, -1.0]])  # -A / (B k)


# ---------------------------------------------------------------- hyperparameter validation
@pytest.mark.parametrize("make, match", [
    (lambda: NashEMAPG(beta=-0.1), "Nash-EMA-PG: beta must be"),
    (lambda: NashEMAPG(decay=1.0), "Nash-EMA-PG: decay must lie in"),
    (lambda: NashMPPG(beta=0.0), "Nash-MP: beta must be a finite number > 0"),
    (lambda: NashMPPG(eta=-1.0), "Nash-MP: eta must be a positive finite number"),
    (lambda: NashMPPG(eta="2beta"),
     r"Nash-MP: eta='2beta' is no longer accepted; pass eta=workbench.schedules.two_beta"),
    (lambda: NashMPPG(inner_steps=0), "Nash-MP: inner_steps must be an integer >= 1; got 0"),
    (lambda: NashMPPG(inner_steps=1.5), "Nash-MP: inner_steps must be an integer >= 1; got 1.5"),
    (lambda: RLOO(k=1), "RLHF: k must be an integer >= 2"),
    (lambda: RLOO(beta=float("nan")), "RLHF: beta must be"),
    (lambda: NashMDPG(mixture=1.5), "Nash-MD-PG: mixture must lie in"),
])
def test_bad_hyperparameters_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("beta", [float("nan"), float("inf"), -0.1, "0.1", True, None])
def test_one_beta_check_for_every_trainer(beta):
    from workbench.llm import TRAINERS, make_trainer

    for name in TRAINERS:
        if name == "DPO":  # needs a comparison set: its check is the same call
            continue
        with pytest.raises(ValueError, match=rf"{name}: beta must be a finite number >= 0|{name}: beta must be a "
                                             rf"finite number > 0"):
            make_trainer(name, beta=beta)
    check_beta("X", 0.0, positive=False)
    with pytest.raises(ValueError, match=r"X: beta must be a finite number > 0; got 0.0"):
        check_beta("X", 0.0, positive=True)


def test_trainer_names():
    assert (NashEMAPG().name, NashMPPG().name, RLOO().name) == ("Nash-EMA-PG", "Nash-MP", "RLHF")
