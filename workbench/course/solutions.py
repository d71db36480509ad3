"""Reference solutions of the graded exercises, one per exercise id (``REFERENCES``).

The instructor's copy of each notebook holds the same code in its solution cells; these are what
:func:`workbench.course.check` compares a student's answer with. Function answers work on plain tensors with
leading batch dimensions (``P (*B, n, n)``, ``mu (*B, n)``, ``beta (*B,)``); number answers are functions of no
arguments that compute the number (exactly, with the package's solvers) for the inputs the exercise states.
"""

from __future__ import annotations

import torch

# --------------------------------------------------------------------------------------------------------------
# 01 · preference games


def equilibrium_2x2(p: torch.Tensor, mu0: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """``pi*_beta(y0)`` of the 2x2 game ``P = [[1/2, p], [1-p, 1/2]]`` with ``mu = (mu0, 1-mu0)``, shape ``(*B,)``.

    ``P(y0 ≻ pi) - P(y1 ≻ pi) = p - 1/2`` for every ``pi``, so the fixed point ``pi ∝ mu exp(P pi / beta)`` is
    explicit: ``logit pi*(y0) = logit mu0 + (p - 1/2) / beta``.
    """
    return torch.sigmoid(torch.logit(mu0) + (p - 0.5) / beta)


def regularized_exploitability(P: torch.Tensor, mu: torch.Tensor, beta: torch.Tensor, pi: torch.Tensor) -> torch.Tensor:
    """``max_pi' P_beta(pi' ≻ pi) - 1/2 = beta log sum_y mu(y) exp(P(y ≻ pi)/beta) + beta KL(pi||mu) - 1/2``, ``(*B,)``."""
    win = (P @ pi[..., None])[..., 0]  # (*B, n) P(y ≻ pi)
    soft = beta * torch.logsumexp(torch.log(mu) + win / beta[..., None], -1)  # (*B,)
    kl = (pi * (torch.log(pi) - torch.log(mu))).sum(-1)  # (*B,)
    return soft + beta * kl - 0.5


def rps_exploitability_at_beta_03() -> float:
    """Exercise 01.3: unregularized exploitability of pi*_0.3 on RPS with mu = (0.6, 0.3, 0.1)."""
    from workbench import games as G, metrics as M

    rps = G.rock_paper_scissors(beta=0.3, mu=[0.6, 0.3, 0.1])
    return M.exploitability(rps, G.solve(rps)).item()


def beta_at_kl_01() -> float:
    """Exercise 01.4: the beta with KL(pi*_beta || mu) = 0.1 on RPS with mu = (0.6, 0.3, 0.1) (bisection in log beta;
    the KL decreases in beta)."""
    from workbench import games as G, metrics as M

    rps = G.rock_paper_scissors(beta=1.0, mu=[0.6, 0.3, 0.1])
    lo, hi = -3.0, 2.0  # log10 beta
    for _ in range(60):
        mid = (lo + hi) / 2
        g = rps.with_beta(10**mid)
        if M.kl_to_reference(g, G.solve(g)).item() > 0.1:
            lo = mid
        else:
            hi = mid
    return 10 ** ((lo + hi) / 2)


def mu_weighted_bt_exploitability() -> float:
    """Exercise 01.5: exploitability of the RLHF policy (beta = 0.1) of the BT fit with comparisons from mu ⊗ mu on
    RPS with mu = (0.6, 0.3, 0.1)."""
    from workbench import games as G, metrics as M

    rps = G.rock_paper_scissors(beta=0.1, mu=[0.6, 0.3, 0.1])
    fit = G.fit_bradley_terry(rps, weights="mu")
    return M.exploitability(rps, G.gibbs(rps.mu, fit.rewards, rps.beta)).item()


# --------------------------------------------------------------------------------------------------------------
# 02 · Nash-MD vs Nash-MP


def nash_md_step(P: torch.Tensor, mu: torch.Tensor, beta: torch.Tensor, pi: torch.Tensor, eta: torch.Tensor) -> torch.Tensor:
    """One exact Nash-MD step (``eta beta <= 1``): ``pi^mu ∝ pi^(1 - eta beta) mu^(eta beta)``, then
    ``pi' ∝ pi^mu exp(eta P(. ≻ pi^mu))``; shape ``(*B, n)``."""
    w = (eta * beta)[..., None]  # (*B, 1) weight of mu
    pi_mix = torch.softmax((1 - w) * torch.log(pi) + w * torch.log(mu), -1)  # (*B, n)
    win = (P @ pi_mix[..., None])[..., 0]  # (*B, n) P(y ≻ pi^mu)
    return torch.softmax(torch.log(pi_mix) + eta[..., None] * win, -1)


def nash_mp_step(P: torch.Tensor, mu: torch.Tensor, beta: torch.Tensor, pi: torch.Tensor, eta: torch.Tensor) -> torch.Tensor:
    """One exact Nash-MP iteration: ``pi_half = prox(pi, pi)``, ``pi' = prox(pi, pi_half)`` with
    ``prox(c, o) ∝ c^(1/(1+eta)) mu^(eta/(1+eta)) exp(eta P(. ≻ o) / (beta (1+eta)))``; shape ``(*B, n)``."""
    e = eta[..., None]  # (*B, 1)
    centre = (torch.log(pi) + e * torch.log(mu)) / (1 + e)  # (*B, n)
    scale = e / (beta[..., None] * (1 + e))  # (*B, 1)

    def prox(o):
        return torch.softmax(centre + scale * (P @ o[..., None])[..., 0], -1)

    return prox(prox(pi))


def mwu_last_iterate_exploitability() -> float:
    """Exercise 02.3: exploitability of MWU's *last* iterate (eta = 0.3, 1000 steps from mu = (0.5, 0.3, 0.2)) on RPS."""
    from workbench import metrics as M
    from workbench.games import rock_paper_scissors
    from workbench.tabular import make_method

    rps = rock_paper_scissors(beta=0.0, mu=[0.5, 0.3, 0.2])
    m = make_method("MWU", eta=0.3)
    state = m.init(rps)
    for _ in range(1000):
        state = m.step(rps, state)
    return M.exploitability(rps, state.pi).item()


# --------------------------------------------------------------------------------------------------------------
# 03 · offline bandits


def bt_nll(theta: torch.Tensor, Z: torch.Tensor, labels: torch.Tensor, lam: float) -> torch.Tensor:
    """Ridge-penalized negative log-likelihood of the linear BT model, ``(*B,)``:
    ``sum_i [softplus(<theta, z_i>) - l_i <theta, z_i>] + lam/2 ||theta||^2`` for ``theta (*B, D)``, ``Z (*B, N, D)``,
    ``labels (*B, N)`` in [0, 1] (``-log sigma(s) = softplus(-s)``, ``-log(1 - sigma(s)) = softplus(s)``)."""
    s = (Z @ theta[..., None])[..., 0]  # (*B, N)
    return (torch.nn.functional.softplus(s) - labels * s).sum(-1) + 0.5 * lam * (theta**2).sum(-1)


def pessimistic_reward(theta: torch.Tensor, phi: torch.Tensor, nu: torch.Tensor, Sigma_inv: torch.Tensor,
                       gamma: float) -> torch.Tensor:
    """GSHF's pointwise pessimistic reward ``<theta, phi> - gamma ||phi - nu||_{Sigma^-1}``, shape ``phi.shape[:-1]``,
    for ``theta (D,)``, ``phi (..., D)``, ``nu (D,)``, ``Sigma_inv (D, D)``."""
    v = phi - nu  # (..., D)
    bonus = torch.einsum("...d,de,...e->...", v, Sigma_inv, v).clamp_min(0).sqrt()  # (...,)
    return phi @ theta - gamma * bonus


def sample_csv_plug_in_gap() -> float:
    """Exercise 03.3: suboptimality of the plug-in (BT MLE, lam = 1) policy fitted on data/bandits/sample_comparisons.csv,
    which was generated from ``random_linear(10, 8, 4, 0.1, seed=0)``."""
    from pathlib import Path

    from workbench import bandits as B

    env = B.random_linear(10, 8, 4, 0.1, seed=0)
    data = B.load_bandit_comparisons(Path(__file__).resolve().parents[2] / "data/bandits/sample_comparisons.csv", env)
    return env.gap(B.plug_in(env, B.fit(env, data))).item()


# --------------------------------------------------------------------------------------------------------------
# 04 · online bandits


def gshf_uncertainty(phi: torch.Tensor, pi: torch.Tensor, pi_main: torch.Tensor, Sigma_inv: torch.Tensor,
                     gamma: float) -> torch.Tensor:
    """GSHF's ``Gamma(pi) = gamma || E_x[phi(x, pi) - phi(x, pi_main)] ||_{Sigma^-1}``, ``(*B,)``, for features
    ``phi (K, n, D)``, policies ``pi, pi_main (*B, K, n)`` and ``Sigma_inv (*B, D, D)`` (contexts uniform)."""
    m = torch.einsum("...kn,knd->...d", pi - pi_main, phi) / phi.shape[0]  # (*B, D) E_x[phi(x,pi) - phi(x,pi_main)]
    return gamma * torch.einsum("...d,...de,...e->...", m, Sigma_inv, m).clamp_min(0).sqrt()


def exploit_gap_at_ref_mass_02() -> float:
    """Exercise 04.2: exploit-only's mean gap after the last round on ``hidden_good_actions(10, 8, 4, 0.1, 0.2, seed=0)``,
    10 rounds of 50 comparisons, 4 runs (``online_curves(..., n_seeds=4, gamma=1, lam=1, seed=0)``)."""
    from workbench import bandits as B
    from workbench.analysis import summaries as sm

    easy = B.hidden_good_actions(10, 8, 4, 0.1, 0.2, seed=0)
    frame = B.online_curves(easy, ("enhancer", "exploit"), n_rounds=10, batch_size=50, n_seeds=4, gamma=1.0, lam=1.0, seed=0)
    return float(sm.final_means(frame, "gap")["exploit"])


def enhancer_gap_at_gamma_01() -> float:
    """Exercise 04.3: the enhancer's mean gap after the last round on ``hidden_good_actions(10, 8, 4, 0.1, 0.01, seed=0)``
    with a narrow uncertainty budget ``gamma = 0.1`` (10 rounds of 50 comparisons, 4 runs, ``lam = 1``, ``seed = 0``)."""
    from workbench import bandits as B
    from workbench.analysis import summaries as sm

    hid = B.hidden_good_actions(10, 8, 4, 0.1, 0.01, seed=0)
    frame = B.online_curves(hid, ("enhancer", "exploit"), n_rounds=10, batch_size=50, n_seeds=4, gamma=0.1, lam=1.0, seed=0)
    return float(sm.final_means(frame, "gap")["enhancer"])


# --------------------------------------------------------------------------------------------------------------
# 05 · preference models


def expected_accuracy(p_hat: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """Expected accuracy of thresholding predictions ``p_hat`` at 1/2 against true probabilities ``P`` (both
    ``(*B, N)``), ``(*B,)``: ``mean(1[p_hat > 1/2] P + 1[p_hat < 1/2] (1 - P) + 1[p_hat = 1/2] / 2)``."""
    hit = torch.where(p_hat > 0.5, P, torch.where(p_hat < 0.5, 1 - P, torch.full_like(P, 0.5)))
    return hit.mean(-1)


def bt_ceiling_cycle(s: torch.Tensor) -> torch.Tensor:
    """Best-BT expected accuracy on a uniformly drawn pair of a pure rock-paper-scissors truth
    ``P = sigma(s c(y, y'))`` over three responses: any order agrees with two of the three pairs (each right with
    probability ``sigma(s)``) and reverses the third (right with ``1 - sigma(s)``): ``(1 + sigma(s)) / 3``."""
    return (1 + torch.sigmoid(s)) / 3


def length_baseline_accuracy() -> float:
    """Exercise 05.3: accuracy of "the longer response is preferred" on all records of the four shipped samples
    (``workbench.prefmodels.evaluation.accuracy``: soft labels, a tie in length scores 1/2)."""
    from pathlib import Path

    from workbench.prefdata import Comparisons, load_comparisons
    from workbench.prefmodels.evaluation import accuracy

    d = Path(__file__).resolve().parents[2] / "data/prefs"
    names = ("tldr_sample.jsonl", "hh_sample.jsonl", "ultrafeedback_sample.jsonl", "plain.csv")
    df = Comparisons.concat([load_comparisons(d / n) for n in names]).frame
    la, lb = df["response_a"].str.len(), df["response_b"].str.len()
    return accuracy(((la > lb).astype(float) + (la == lb) * 0.5).to_numpy().copy(), df["label"].to_numpy().copy())


# --------------------------------------------------------------------------------------------------------------
# 06 · LLM lab (the pieces of the trainers, on plain tensors)


def mixture_logprobs(policy_logp: torch.Tensor, ref_logp: torch.Tensor, m: float) -> torch.Tensor:
    """Token-level geometric mixture ``log_softmax((1 - m) log pi + m log mu)`` over the last dim ``(..., V)``
    (``m`` weights the reference), as :func:`workbench.llm.sampling.mixture_logprobs`."""
    return torch.log_softmax((1 - m) * policy_logp + m * ref_logp, dim=-1)


def loo_advantage(returns: torch.Tensor) -> torch.Tensor:
    """RLOO's leave-one-out advantage ``A_i = R_i - mean_{j != i} R_j`` over the last dim ``(B, k)``, ``k >= 2``."""
    k = returns.shape[-1]
    return returns - (returns.sum(-1, keepdim=True) - returns) / (k - 1)


def pg_advantage(pref: torch.Tensor, logp: torch.Tensor, logp_ref: torch.Tensor, beta: float) -> torch.Tensor:
    """Nash-MD-PG's advantage ``A = P(y ≻ y') - 1/2 - beta (log pi(y) - log mu(y))``, ``(B,)``."""
    return pref - 0.5 - beta * (logp - logp_ref)
