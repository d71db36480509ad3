"""Every exercise's check accepts its reference solution and rejects at least two plausible wrong answers
(a sign error, a missing factor, a transposed matrix, the average instead of the last iterate, ...); a stub is
"not attempted"; a wrong type, shape or dtype gets a message that says what was expected; a failure never
prints the reference's value."""

from __future__ import annotations

import re

import pytest
import torch

from workbench.course import CHECKS, ExerciseFailed, NotAttempted, check
from workbench.course import solutions as S


def _win(P, pi):
    return (P @ pi[..., None])[..., 0]


def _md_wrong_transposed(P, mu, beta, pi, eta):
    return S.nash_md_step(P.transpose(-1, -2), mu, beta, pi, eta)


def _md_wrong_opponent(P, mu, beta, pi, eta):  # plays against pi_t instead of the mixture pi^mu
    w = (eta * beta)[..., None]
    pi_mix = torch.softmax((1 - w) * torch.log(pi) + w * torch.log(mu), -1)
    return torch.softmax(torch.log(pi_mix) + eta[..., None] * _win(P, pi), -1)


def _mp_half(P, mu, beta, pi, eta):  # one proximal step only
    e = eta[..., None]
    return torch.softmax((torch.log(pi) + e * torch.log(mu)) / (1 + e) + e / (beta[..., None] * (1 + e)) * _win(P, pi), -1)


def _mwu_average() -> float:
    from workbench import metrics as M
    from workbench.games import rock_paper_scissors
    from workbench.tabular import make_method

    rps = rock_paper_scissors(beta=0.0, mu=[0.5, 0.3, 0.2])
    m = make_method("MWU", eta=0.3)
    state, total = m.init(rps), torch.zeros(3, dtype=torch.float64)
    for _ in range(1000):
        state = m.step(rps, state)
        total += state.pi
    return M.exploitability(rps, total / 1000).item()


def _rps(beta, weights="uniform"):
    from workbench import games as G, metrics as M

    rps = G.rock_paper_scissors(beta=beta, mu=[0.6, 0.3, 0.1])
    return G, M, rps


def _mu_exploitability() -> float:
    G, M, rps = _rps(0.3)
    return M.exploitability(rps, rps.mu).item()


def _reg_expl_at_03() -> float:
    G, M, rps = _rps(0.3)
    return M.regularized_exploitability(rps, G.solve(rps)).item()


def _uniform_bt_exploitability() -> float:
    G, M, rps = _rps(0.1)
    fit = G.fit_bradley_terry(rps)
    return M.exploitability(rps, G.gibbs(rps.mu, fit.rewards, rps.beta)).item()


#: exercise id -> {description: wrong answer}; every registered exercise needs >= 2 entries.
WRONG = {
    "01.1": {
        "sign error": lambda p, mu0, beta: torch.sigmoid(torch.logit(mu0) + (0.5 - p) / beta),
        "missing factor 1/2 (2p - 1)": lambda p, mu0, beta: torch.sigmoid(torch.logit(mu0) + (2 * p - 1) / beta),
        "mu forgotten": lambda p, mu0, beta: torch.sigmoid((p - 0.5) / beta),
    },
    "01.2": {
        "KL term missing": lambda P, mu, beta, pi: beta * torch.logsumexp(torch.log(mu) + _win(P, pi) / beta[..., None], -1) - 0.5,
        "KL sign flipped": lambda P, mu, beta, pi: S.regularized_exploitability(P, mu, beta, pi)
        - 2 * beta * (pi * torch.log(pi / mu)).sum(-1),
        "transposed matrix": lambda P, mu, beta, pi: S.regularized_exploitability(P.transpose(-1, -2), mu, beta, pi),
    },
    "01.3": {"mu's exploitability": _mu_exploitability, "the regularized exploitability (0)": _reg_expl_at_03},
    "01.4": {"KL(mu || pi*) instead": lambda: 0.2, "beta where KL = 0.01": lambda: S.beta_at_kl_01() * 3},
    "01.5": {"uniform weights (RLHF returns mu)": _uniform_bt_exploitability, "the regularized one": lambda: 0.0},
    "02.1": {"transposed matrix": _md_wrong_transposed, "opponent pi_t, not the mixture": _md_wrong_opponent,
             "eta missing": lambda P, mu, beta, pi, eta: S.nash_md_step(P, mu, beta, pi, torch.ones_like(eta) / beta.clamp_min(1))},
    "02.2": {"one proximal step only": _mp_half,
             "sign error": lambda P, mu, beta, pi, eta: S.nash_mp_step(1 - P, mu, beta, pi, eta),
             "two plain steps (second centred on pi_half)": lambda P, mu, beta, pi, eta: _mp_half(P, mu, beta, _mp_half(P, mu, beta, pi, eta), eta)},
    "02.3": {"the average iterate": _mwu_average, "the start mu": lambda: 0.15},
    "03.1": {
        "sign of the label term": lambda theta, Z, labels, lam: S.bt_nll(theta, Z, labels, lam) + 2 * (labels * (Z @ theta[..., None])[..., 0]).sum(-1),
        "ridge without 1/2": lambda theta, Z, labels, lam: S.bt_nll(theta, Z, labels, lam) + 0.5 * lam * (theta**2).sum(-1),
        "labels ignored (every comparison won)": lambda theta, Z, labels, lam: S.bt_nll(theta, Z, torch.ones_like(labels), lam),
    },
    "03.2": {
        "bonus added (optimism)": lambda theta, phi, nu, Sigma_inv, gamma: S.pessimistic_reward(theta, phi, nu, Sigma_inv, -gamma),
        "Sigma instead of Sigma^-1": lambda theta, phi, nu, Sigma_inv, gamma: S.pessimistic_reward(theta, phi, nu, torch.linalg.inv(Sigma_inv), gamma),
        "nu forgotten": lambda theta, phi, nu, Sigma_inv, gamma: S.pessimistic_reward(theta, phi, 0 * nu, Sigma_inv, gamma),
        "no square root": lambda theta, phi, nu, Sigma_inv, gamma: phi @ theta - gamma * torch.einsum("...d,de,...e->...", phi - nu, Sigma_inv, phi - nu),
    },
    "03.3": {"the reference policy's gap": lambda: 1.98, "the gap with lam = 10": lambda: 0.0566},
    "04.1": {
        "mean of the per-context norms": lambda phi, pi, pi_main, Sigma_inv, gamma: torch.stack([S.gshf_uncertainty(phi[k:k + 1], pi[..., k:k + 1, :], pi_main[..., k:k + 1, :], Sigma_inv, gamma) for k in range(phi.shape[0])]).mean(0),
        "Sigma instead of Sigma^-1": lambda phi, pi, pi_main, Sigma_inv, gamma: S.gshf_uncertainty(phi, pi, pi_main, torch.linalg.inv(Sigma_inv), gamma),
        "pi_main not subtracted": lambda phi, pi, pi_main, Sigma_inv, gamma: S.gshf_uncertainty(phi, pi, 0 * pi_main, Sigma_inv, gamma),
    },
    "04.2": {"the hidden instance's (ref_mass 0.01)": lambda: 0.515, "the enhancer's": lambda: 3.8e-5},
    "04.3": {"at gamma = 1": lambda: 1.04e-4, "exploit-only's": lambda: 0.5154},
    "05.1": {
        "ties count 0": lambda p_hat, P: (torch.where(p_hat > 0.5, P, torch.zeros_like(P)) + torch.where(p_hat < 0.5, 1 - P, torch.zeros_like(P))).mean(-1),
        "p_hat instead of the indicator": lambda p_hat, P: (p_hat * P + (1 - p_hat) * (1 - P)).mean(-1),
        "swapped": lambda p_hat, P: S.expected_accuracy(1 - p_hat, P),
    },
    "05.2": {
        "third pair forgotten": lambda s: 2 * torch.sigmoid(s) / 3,
        "the Bayes ceiling": lambda s: torch.sigmoid(s),
        "a constant 2/3": lambda s: torch.full_like(s, 2 / 3),
    },
    "05.3": {"the share of records with the longer response preferred (hard labels)": lambda: 0.9667,
             "response_a longer": lambda: 0.5, "one minus it": lambda: 1 - S.length_baseline_accuracy()},
    "06.1": {
        "m weights the policy": lambda policy_logp, ref_logp, m: S.mixture_logprobs(policy_logp, ref_logp, 1 - m),
        "not renormalized": lambda policy_logp, ref_logp, m: (1 - m) * policy_logp + m * ref_logp,
        "arithmetic mixture": lambda policy_logp, ref_logp, m: torch.log((1 - m) * policy_logp.exp() + m * ref_logp.exp()),
    },
    "06.2": {
        "mean includes the sample itself": lambda returns: returns - returns.mean(-1, keepdim=True),
        "divides by k, not k - 1": lambda returns: returns - (returns.sum(-1, keepdim=True) - returns) / returns.shape[-1],
        "sign error": lambda returns: -S.loo_advantage(returns),
    },
    "06.3": {
        "missing -1/2": lambda pref, logp, logp_ref, beta: pref - beta * (logp - logp_ref),
        "KL term sign": lambda pref, logp, logp_ref, beta: pref - 0.5 + beta * (logp - logp_ref),
        "beta missing": lambda pref, logp, logp_ref, beta: pref - 0.5 - (logp - logp_ref),
    },
}


def _reference_answer(ex):
    return ex.reference if ex.kind == "function" else ex.reference()


@pytest.mark.parametrize("exercise_id", sorted(CHECKS))
def test_check_accepts_reference_and_rejects_wrong_answers(exercise_id):
    ex = CHECKS[exercise_id]
    for seed in (0, 1):
        verdict = check(exercise_id, _reference_answer(ex), seed=seed)
        assert verdict.status == "passed" and str(verdict).startswith(f"Exercise {exercise_id} passed")
    wrong = WRONG.get(exercise_id, {})
    assert len(wrong) >= 2, f"exercise {exercise_id}: list at least two plausible wrong answers in WRONG"
    for name, answer in wrong.items():
        answer = answer if ex.kind == "function" else answer()
        with pytest.raises(ExerciseFailed) as err:
            check(exercise_id, answer, seed=0)
        assert not isinstance(err.value, NotAttempted), name
        assert str(err.value).startswith(f"Exercise {exercise_id} failed"), (name, str(err.value))
        if ex.kind == "number":  # the message never shows the expected value
            expected = ex.reference()
            assert f"{expected:.4g}" not in str(err.value) and f"{expected:.3g}" not in str(err.value), name


@pytest.mark.parametrize("exercise_id", sorted(CHECKS))
def test_stub_is_not_attempted(exercise_id):
    with pytest.raises(NotAttempted, match=f"Exercise {re.escape(exercise_id)} not attempted"):
        check(exercise_id, None)
    if CHECKS[exercise_id].kind == "function":
        def stub(*args, **kwargs):
            """The student copy's stub: the body was replaced by a comment."""
        def raising(*args, **kwargs):
            raise NotImplementedError()
        with pytest.raises(NotAttempted, match="returned None.*stub is still in place, or a `return` is missing"):
            check(exercise_id, stub)
        with pytest.raises(NotAttempted, match="still the stub"):
            check(exercise_id, raising)


def test_wrong_type_shape_dtype_messages():
    with pytest.raises(ExerciseFailed, match=r"returned a numpy.ndarray .*expected a torch.Tensor of shape \(4,\) and dtype torch.float64"):
        check("01.1", lambda p, mu0, beta: S.equilibrium_2x2(p, mu0, beta).numpy(), seed=0)
    with pytest.raises(ExerciseFailed, match=r"returned shape .* expected \(5,\)"):
        check("01.2", lambda P, mu, beta, pi: S.regularized_exploitability(P, mu, beta, pi)[..., None] if P.dim() == 3 else
              S.regularized_exploitability(P, mu, beta, pi), seed=0)
    with pytest.raises(ExerciseFailed, match=r"dtype torch.float32 .*expected torch.float64"):
        check("02.1", lambda **kw: S.nash_md_step(**kw).float(), seed=0)
    with pytest.raises(ExerciseFailed, match=r"expected a function .*got a float"):
        check("06.3", 0.5)
    with pytest.raises(ExerciseFailed, match=r"is a str; expected a number"):
        check("01.3", "0.2")
    with pytest.raises(ExerciseFailed, match=r"tensor of shape \(2,\); expected one number"):
        check("01.3", torch.zeros(2))
    with pytest.raises(ExerciseFailed, match=r"raised ZeroDivisionError: .* on input a tie"):
        check("01.1", lambda p, mu0, beta: 1 / 0, seed=0)
    with pytest.raises(KeyError, match="no exercise '09.1'; known exercises: 01.1"):
        check("09.1", None)


def test_property_failure_names_the_property_and_input():
    with pytest.raises(ExerciseFailed, match=r"breaks the property 'no preference \(p = 1/2\) leaves pi\* = mu' on input a tie"):
        check("01.1", lambda p, mu0, beta: torch.sigmoid((p - 0.5) / beta), seed=0)
    with pytest.raises(ExerciseFailed, match=r"breaks the property 'normalized"):
        check("06.1", WRONG["06.1"]["not renormalized"], seed=0)


def test_fresh_inputs_differ_between_calls():
    seen = []
    check("01.1", lambda p, mu0, beta: seen.append(p) or S.equilibrium_2x2(p, mu0, beta))
    check("01.1", lambda p, mu0, beta: seen.append(p) or S.equilibrium_2x2(p, mu0, beta))
    assert not torch.equal(seen[1], seen[5])  # the same case (unbatched) of two calls: new random inputs
