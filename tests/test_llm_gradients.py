"""Each policy-gradient trainer's estimator is unbiased: the mean of its stochastic gradient over many samples
equals the exact gradient of its objective on the enumerable task.

Set-up: the tiny model with its LoRA adapters moved away from zero (so ``pi != mu`` and the KL terms have a
non-zero gradient), ``enumerate_logprobs(grad=True)`` gives ``log pi(y|x)`` of all ``X n`` responses with
grad. The exact objective ``J(pi)`` is written out from the enumerated distributions and differentiated
by autograd. The estimator: ``N_PER_PROMPT`` responses per prompt drawn from the enumerated ``pi``, opponents
drawn from the distribution the trainer says it samples from (its ``mixture`` / ``opponent(state)``), the
oracle's ``P`` looked up, and the trainer's own loss pieces on these samples; one backward per group of
samples gives the estimator's mean (over all samples) and its spread.

**Tolerance, from the CLT.** The estimator is a mean of ``N = X * N_PER_PROMPT = 1,600,000`` i.i.d. per-sample
gradient vectors with covariance ``Sigma``; its error is about ``Normal(0, Sigma / N)``, so
``E ||g_hat - g||^2 = tr(Sigma) / N``, the squared standard error ``SE^2``. ``SE`` is estimated from
``GROUPS = 16`` group means (``sum_coords var(group means) / GROUPS``); it is about 1 % of ``||g||`` here
(0.7-1.4 % measured). The per-sample gradients take at most ``X n = 108`` distinct directions (one per
response), so the error is a low-dimensional Gaussian whose norm need not concentrate at ``SE``; its tail is
at worst the one-dimensional one, ``P(||g_hat - g|| > c SE) <= P(|z| > c)``. We require a relative L2 error
``||g_hat - g|| / ||g|| < TOL = 0.05`` and check ``SE < TOL / 2.5``, so a correct estimator fails with
probability below ~1 % (and the fixed seeds make each test deterministic; measured errors are 0.4-0.6 %),
while a biased estimator, whose error does not shrink with ``N``, is caught: the ``*_planted_bug_is_caught``
tests feed known-wrong variants (the KL term dropped, the mixture on the wrong side, the proximal term
dropped, a baseline that includes the sample itself) through the same check and require it to reject them
(measured errors 10 %, 93 %, 87-89 % and 25 %).
"""

from types import SimpleNamespace

import pytest
import torch

from workbench.device import make_generator
from workbench.llm.exact import enumerate_logprobs
from workbench.llm.judges import bt_oracle_rewards
from workbench.llm.losses import kl_penalized_reward, pg_advantage, pg_loss, prox_advantage
from workbench.llm.models import TinyLMConfig, load_policy
from workbench.llm.nash_ema_pg import NashEMAPG, NashEMAState
from workbench.llm.nash_md_pg import NashMDPG, self_play
from workbench.llm.nash_mp import NashMPPG, NashMPState
from workbench.llm.rlhf import RLOO

N_PER_PROMPT = 400_000  # sampled responses per prompt
GROUPS = 16  # group means for the standard error
TOL = 0.05  # relative L2 error allowed (at least 2.5 standard errors, see the module docstring)
SCALE = 0.3  # LoRA perturbation: KL(pi || mu) ~ 1 nat, so the opponent and KL terms matter
BETA = 0.1


@pytest.fixture(scope="module")
def lab():
    task = TinyLMConfig().task()
    policy = load_policy("tiny", device="cpu", seed=0).constrain(task.words)
    base = policy.snapshot()

    def perturbed(seed):
        g = make_generator(seed)
        return {n: w + SCALE * torch.randn(w.shape, generator=g) for n, w in base.items()}

    policy.load_snapshot(perturbed(1))
    return SimpleNamespace(
        task=task, policy=policy, perturbed=perturbed, params=[p for _, p in policy.trainable()],
        P=task.preference_matrix().float(),  # (X, n, n)
        log_mu=enumerate_logprobs(policy, task, reference=True),  # (X, n)
    )


def flat_grad(loss, params):
    return torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params, retain_graph=True)])


def draw(log_probs, seed):
    """``N_PER_PROMPT`` response indices per prompt from ``exp(log_probs)`` ``(X, n)`` -> ``(X, S)``."""
    return torch.multinomial(log_probs.detach().exp(), N_PER_PROMPT, replacement=True, generator=make_generator(seed))


def kl(logp, log_q):
    """``KL(pi || q)`` per prompt with grad through ``pi``, ``(X,)``."""
    return (logp.exp() * (logp - log_q.detach())).sum(-1)


def relative_error(lab, objective, group_loss):
    """``(||g_hat - g|| / ||g||, standard error / ||g||)``: ``g`` the gradient of ``-objective`` (a loss),
    ``g_hat`` the mean of ``group_loss(sl)``'s gradients over ``GROUPS`` slices of the samples."""
    exact = flat_grad(-objective, lab.params)
    per = N_PER_PROMPT // GROUPS
    grads = torch.stack([flat_grad(group_loss(slice(k * per, (k + 1) * per)), lab.params) for k in range(GROUPS)])
    err = (grads.mean(0) - exact).norm() / exact.norm()
    se = (grads.var(0).sum() / GROUPS).sqrt() / exact.norm()
    return float(err), float(se)


def assert_unbiased(err, se):
    assert se < TOL / 2.5, f"standard error {se:.3f} too large for TOL={TOL}: raise N_PER_PROMPT"
    assert err < TOL, f"relative L2 error {err:.3f} >= {TOL} (standard error {se:.3f})"


def pg_estimate(lab, logp, y, y_opp, beta):
    """Nash-MD-PG / self-play / Nash-EMA-PG's loss pieces on samples ``y``, ``y_opp`` ``(X, S)``."""
    x = torch.arange(lab.task.n_prompts)[:, None].expand_as(y)  # (X, S)

    def group_loss(sl):
        lp = logp[x[:, sl], y[:, sl]].reshape(-1)  # (X s,) with grad
        pref = lab.P[x[:, sl], y[:, sl], y_opp[:, sl]].reshape(-1)  # (X s,)
        return pg_loss(lp, pg_advantage(pref, lp, lab.log_mu[x[:, sl], y[:, sl]].reshape(-1), beta))
    return group_loss


def preference_objective(lab, logp, log_opp, beta):
    """``mean_x [ sum_y pi(y) P(y ≻ o) - beta KL(pi || mu) ]`` with the opponent ``o`` held fixed."""
    win = (lab.P @ log_opp.detach().exp().unsqueeze(-1)).squeeze(-1)  # (X, n) P(y ≻ o)
    return ((logp.exp() * win).sum(-1) - beta * kl(logp, lab.log_mu)).mean()


# ---------------------------------------------------------------- Nash-MD-PG and self-play
def nash_md_errors(lab, trainer, exact_mixture, beta_in_estimator):
    logp = enumerate_logprobs(lab.policy, lab.task, grad=True)  # (X, n)
    objective = preference_objective(lab, logp, enumerate_logprobs(lab.policy, lab.task, mixture=exact_mixture),
                                     trainer.beta)
    y = draw(logp, 10)
    y_opp = draw(enumerate_logprobs(lab.policy, lab.task, mixture=trainer.mixture), 11)  # the trainer's opponent
    return relative_error(lab, objective, pg_estimate(lab, logp, y, y_opp, beta_in_estimator))


def test_nash_md_pg_estimator_is_the_exact_gradient(lab):
    trainer = NashMDPG(beta=BETA, mixture=0.25)
    assert_unbiased(*nash_md_errors(lab, trainer, exact_mixture=0.25, beta_in_estimator=trainer.beta))


def test_nash_md_pg_planted_bug_is_caught(lab):
    # the opponent's mixture on the wrong side (m weighting the policy) and the KL term dropped
    err, _ = nash_md_errors(lab, NashMDPG(beta=BETA, mixture=0.75), exact_mixture=0.25, beta_in_estimator=BETA)
    assert err > TOL, err
    err, _ = nash_md_errors(lab, NashMDPG(beta=BETA, mixture=0.25), exact_mixture=0.25, beta_in_estimator=0.0)
    assert err > TOL, err


def test_self_play_estimator_is_the_exact_gradient(lab):
    trainer = self_play(beta=BETA)
    assert trainer.mixture == 0.0
    assert_unbiased(*nash_md_errors(lab, trainer, exact_mixture=0.0, beta_in_estimator=trainer.beta))


# ---------------------------------------------------------------- Nash-EMA-PG
def test_nash_ema_pg_estimator_is_the_exact_gradient(lab):
    trainer = NashEMAPG(beta=BETA)
    ema = lab.perturbed(2)
    state = NashEMAState(ema=ema)
    logp = enumerate_logprobs(lab.policy, lab.task, grad=True)  # (X, n)
    objective = preference_objective(lab, logp, enumerate_logprobs(lab.policy, lab.task, weights=ema), BETA)
    y = draw(logp, 20)
    y_opp = draw(enumerate_logprobs(lab.policy, lab.task, **trainer.opponent(state)), 21)
    assert_unbiased(*relative_error(lab, objective, pg_estimate(lab, logp, y, y_opp, trainer.beta)))


# ---------------------------------------------------------------- Nash-MP's inner (proximal) objective
def nash_mp_errors(lab, trainer, state, drop_prox=False):
    """Exact: ``mean_x [ sum pi P(y ≻ o) - beta KL(pi||mu) - (beta/eta) KL(pi||c) ]``, ``o`` = ``pi_t`` (half
    phase) or ``pi_{t+1/2}`` (full phase), ``c = pi_t``."""
    eta = trainer.eta_at(state.outer)
    opponent = state.centre if state.phase == "half" else state.half
    logp = enumerate_logprobs(lab.policy, lab.task, grad=True)  # (X, n)
    log_c = enumerate_logprobs(lab.policy, lab.task, weights=state.centre)  # (X, n)
    objective = (preference_objective(lab, logp, enumerate_logprobs(lab.policy, lab.task, weights=opponent), BETA)
                 - (BETA / eta) * kl(logp, log_c).mean())
    y = draw(logp, 30)
    y_opp = draw(enumerate_logprobs(lab.policy, lab.task, **trainer.opponent(state)), 31)
    x = torch.arange(lab.task.n_prompts)[:, None].expand_as(y)  # (X, S)

    def group_loss(sl):
        xs, ys = x[:, sl], y[:, sl]
        lp = logp[xs, ys].reshape(-1)  # (X s,) with grad
        pref = lab.P[xs, ys, y_opp[:, sl]].reshape(-1)
        lr, lc = lab.log_mu[xs, ys].reshape(-1), log_c[xs, ys].reshape(-1)
        if drop_prox:
            return pg_loss(lp, prox_advantage(pref, lp, lr, lc, trainer.beta, 0.0))
        return trainer.surrogate(pref, lp, lr, lc, eta)
    return relative_error(lab, objective, group_loss)


@pytest.mark.parametrize("phase", ["half", "full"])
def test_nash_mp_inner_estimator_is_the_exact_gradient(lab, phase):
    trainer = NashMPPG(beta=BETA)  # eta = 2 beta: the proximal term weighs beta / eta = 1/2
    if phase == "half":  # centre = opponent = pi_t away from the current weights: the proximal term matters
        state = NashMPState(phase="half", inner=1, outer=3, centre=lab.perturbed(2), half=None)
    else:  # centre = the current weights (the proximal gradient vanishes there), so that the opponent
        # pi_{t+1/2} matters: sampling pi_t instead moves the exact gradient by 15 %
        state = NashMPState(phase="full", inner=1, outer=3, centre=lab.perturbed(1), half=lab.perturbed(3))
    assert_unbiased(*nash_mp_errors(lab, trainer, state))


def test_nash_mp_planted_bug_is_caught(lab):
    trainer = NashMPPG(beta=BETA)
    state = NashMPState(phase="full", inner=0, outer=0, centre=lab.perturbed(2), half=lab.perturbed(3))
    err, _ = nash_mp_errors(lab, trainer, state, drop_prox=True)  # KL(pi || pi_t) left out
    assert err > TOL, err


# ---------------------------------------------------------------- RLOO
def rloo_errors(lab, trainer, include_self=False):
    """Exact: ``mean_x [ sum_y pi(y) r(x, y) - beta KL(pi || mu) ]`` with the BT rewards of the oracle."""
    r = bt_oracle_rewards(lab.task).float()  # (X, n)
    logp = enumerate_logprobs(lab.policy, lab.task, grad=True)  # (X, n)
    objective = ((logp.exp() * r).sum(-1) - trainer.beta * kl(logp, lab.log_mu)).mean()
    y = draw(logp, 40)
    x = torch.arange(lab.task.n_prompts)[:, None].expand_as(y)  # (X, S): groups of k consecutive samples
    k = trainer.k

    def group_loss(sl):
        xs, ys = x[:, sl], y[:, sl]
        lp = logp[xs, ys].reshape(-1, k)  # (X s / k, k) with grad
        reward, lr = r[xs, ys].reshape(-1, k), lab.log_mu[xs, ys].reshape(-1, k)
        if include_self:  # the planted bug: a baseline that includes the sample itself
            ret = kl_penalized_reward(reward, lp, lr, trainer.beta)
            return pg_loss(lp.reshape(-1), (ret - ret.mean(-1, keepdim=True)).reshape(-1))
        return trainer.surrogate(reward, lp, lr)
    return relative_error(lab, objective, group_loss)


def test_rloo_estimator_is_the_exact_gradient(lab):
    assert_unbiased(*rloo_errors(lab, RLOO(beta=BETA, k=4)))


def test_rloo_planted_bug_is_caught(lab):
    err, _ = rloo_errors(lab, RLOO(beta=BETA, k=4), include_self=True)  # shrinks the gradient by (k-1)/k
    assert err > TOL, err
