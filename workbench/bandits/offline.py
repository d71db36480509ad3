"""Offline algorithms: plug-in (greedy on the MLE) and pessimistic policies from a fixed dataset.

All functions take the environment (for ``phi``, ``pi_0``, ``beta``; never the true ``theta``) and an
:class:`~workbench.bandits.estimators.Estimate` for ``S`` datasets and return ``(S, K, n)`` policies.

* :func:`plug_in` -- GSHF setting: the Gibbs policy of ``r_hat = <theta_hat, phi>`` (what DPO computes
  for this policy class); general setting: the regularized Nash policy of ``P_hat`` per context. It is
  also the batch-online main agent (:mod:`~workbench.bandits.online`).
* :func:`plug_in_nash` -- the Nash policy of the fitted game, whatever the fitted model (with a BT fit
  of an intransitive truth this is "the BT-based policy").
* :func:`pessimistic_pointwise` -- GSHF Algorithm 1, Option II: Gibbs policy of
  ``r_hat(x, y) - gamma ||phi(x, y) - nu||_{Sigma^-1}``.
* :func:`pessimistic_policy_level` -- GSHF Algorithm 1, Option I:
  ``argmax_pi <theta_hat, E_x phi(x, pi) - nu> - gamma ||E_x phi(x, pi) - nu||_{Sigma^-1} - beta E_x KL``.
  Solved through its dual (Sion): ``min_{||theta - theta_hat||_Sigma <= gamma} g(theta)`` with
  ``g(theta) = E_x beta log sum_y pi_0 exp(<theta, phi>/beta) - <theta, nu>`` (convex), by accelerated
  projected gradient in whitened coordinates; the policy is the Gibbs policy of the minimizer.
* :func:`pessimistic_maxmin` -- Ye et al. 2024, Algorithm 1 (offline): ``argmax_pi min_{P in version space}
  min_pi' J_P(pi, pi')``. The inner ``min_pi'`` is closed form (a Gibbs best response),
  ``V(pi, theta) = E_x[-beta KL(pi||pi_0) - beta log sum_y' pi_0(y') exp(-(P_theta^T pi)(y')/beta)]``;
  the version space is the ellipsoid of :mod:`~workbench.bandits.estimators`; we run mirror ascent on
  ``pi`` against projected gradient descent on ``theta`` (pure torch, autograd), a choice.
"""

from __future__ import annotations

import torch

from workbench.bandits.env import BanditEnv
from workbench.bandits.estimators import Estimate, elliptic_norm
from workbench.device import make_generator
from workbench.games import gibbs, solve

__all__ = ["plug_in", "plug_in_nash", "pessimistic_pointwise", "pessimistic_policy_level", "pessimistic_maxmin"]


def plug_in(env: BanditEnv, est: Estimate) -> torch.Tensor:
    """Greedy on the MLE: Gibbs policy of ``r_hat`` (bt fit) or Nash policy of ``P_hat`` (general fit)."""
    if est.model == "bt":
        return gibbs(env.mu, env.reward(est.theta), env.beta)
    return plug_in_nash(env, est)


def plug_in_nash(env: BanditEnv, est: Estimate) -> torch.Tensor:
    """Regularized Nash policy of the fitted game ``P_theta_hat`` in every context, ``(S, K, n)``."""
    return solve(env.game(est.theta, est.model))


def pessimistic_pointwise(env: BanditEnv, est: Estimate, gamma: float) -> torch.Tensor:
    """GSHF Alg. 1 Option II: Gibbs policy of ``r_hat - gamma ||phi - nu||_{Sigma^-1}`` (BT fits).

    For a general fit the same bonus is subtracted from the fitted game's logits of every pair (both
    ``P(a, b)`` and ``P(b, a)`` are lowered, which is why pointwise pessimism is ill-suited there); here we
    only support the BT reward it was defined for.
    """
    if est.model != "bt":
        raise ValueError("pointwise pessimism is defined for a BT (reward) fit; use pessimistic_maxmin for a general preference")
    v = env.phi[None] - est.nu[:, None, None, :]  # (S, K, n, d)
    bonus = elliptic_norm(v, est.Sigma_inv)  # (S, K, n)
    return gibbs(env.mu, env.reward(est.theta) - gamma * bonus, env.beta)


def _ball_project(u: torch.Tensor) -> torch.Tensor:
    return u / u.norm(dim=-1, keepdim=True).clamp_min(1.0)


def pessimistic_policy_level(env: BanditEnv, est: Estimate, gamma: float, iters: int = 300) -> torch.Tensor:
    """GSHF Alg. 1 Option I via its convex dual over the confidence ellipsoid (BT fits); ``(S, K, n)``."""
    if est.model != "bt":
        raise ValueError("policy-level pessimism is GSHF's (BT reward) algorithm; use pessimistic_maxmin for a general fit")
    if gamma == 0:
        return plug_in(env, est)
    L = torch.linalg.cholesky(est.Sigma)  # Sigma = L L^T, (S, d, d)
    Linv_T = torch.linalg.inv(L).transpose(-1, -2)  # theta = theta_hat + gamma L^-T u, ||u|| <= 1
    lam_min = torch.linalg.eigvalsh(est.Sigma)[:, 0]  # (S,)
    phi_max2 = (env.phi**2).sum(-1).max()
    step = (env.beta * lam_min / (gamma**2 * 4 * phi_max2))[:, None]  # 1/L of the whitened objective
    S, d = est.theta.shape
    u = torch.zeros(S, d, dtype=est.theta.dtype, device=est.theta.device)
    w, t_prev = u.clone(), 1.0

    def grad_u(u):
        theta = est.theta + gamma * torch.einsum("sde,se->sd", Linv_T, u)
        pi = gibbs(env.mu, env.reward(theta), env.beta)  # (S, K, n)
        g_theta = torch.einsum("skn,knd->sd", pi, env.phi) / env.n_contexts - est.nu  # grad g = E phi(pi) - nu
        return gamma * torch.einsum("sed,se->sd", Linv_T, g_theta)  # L^-1 grad

    for _ in range(iters):  # FISTA on the unit ball
        u_new = _ball_project(w - step * grad_u(w))
        t = (1 + (1 + 4 * t_prev**2) ** 0.5) / 2
        w = u_new + ((t_prev - 1) / t) * (u_new - u)
        u, t_prev = u_new, t
    theta = est.theta + gamma * torch.einsum("sde,se->sd", Linv_T, u)
    return gibbs(env.mu, env.reward(theta), env.beta)


def _maxmin_value(env: BanditEnv, model: str, logits: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """``V(pi, theta)`` of the module docstring, per dataset ``(S,)``; ``pi = softmax(log pi_0 + logits)``."""
    pi = torch.softmax(torch.log(env.mu) + logits, -1)  # (S, K, n)
    P = env.preference(theta, model)  # (S, K, n, n)
    loss_to = torch.einsum("skab,ska->skb", P, pi)  # P(pi ≻ y') for each y'
    br = -env.beta * torch.logsumexp(torch.log(env.mu) - loss_to / env.beta, -1)  # min_pi' [.. + beta KL(pi'||mu)]
    klp = (pi * (torch.log(pi.clamp_min(1e-300)) - torch.log(env.mu))).sum(-1)
    return (br - env.beta * klp).mean(-1)


def pessimistic_maxmin(
    env: BanditEnv, est: Estimate, gamma: float, iters: int = 200, inner: int = 5, lr_pi: float | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """Ye et al. Alg. 1: max over ``pi`` of the worst case over the version space and competitors.

    Mirror ascent on ``pi`` (step ``lr_pi``, default ``1/(beta + 1/beta)``) with ``inner`` projected
    gradient steps on the whitened parameter ``u`` (``theta = theta_hat + gamma L^-T u``) per outer step;
    the returned policy is the average of the iterates' logits over the second half (stabilizes GDA).
    Caveat: the objective is nearly flat around the plug-in Nash policy (``max_pi V(pi, theta) = 1/2`` for
    every ``theta``), and this solver is not certified to improve on plug-in's worst-case value (NOTES.md).

    ``u`` starts at a random point of the half-radius sphere (``seed``): at ``theta_hat`` and its Nash
    policy the gradient in ``theta`` vanishes (``V(pi, theta) <= 1/2 = V(pi_hat, theta_hat)`` since
    ``J_theta(pi, pi) = 1/2`` for every antisymmetric model), so gradient descent cannot leave ``u = 0``.
    """
    if gamma == 0:
        return plug_in_nash(env, est)
    lr_pi = 1.0 / (env.beta + 1.0 / env.beta) if lr_pi is None else lr_pi
    L = torch.linalg.cholesky(est.Sigma)
    Linv_T = torch.linalg.inv(L).transpose(-1, -2)
    lam_min = torch.linalg.eigvalsh(est.Sigma)[:, 0]
    psi_max2 = (env.psi(est.model) ** 2).sum(-1).max()
    lr_u = (lam_min / (gamma**2 * psi_max2)).clamp(max=1.0)[:, None]
    start = plug_in_nash(env, est)
    logits = (torch.log(start) - torch.log(env.mu)).detach()
    S, D = est.theta.shape
    gen = make_generator(seed, est.theta.device)
    u = torch.randn(S, D, generator=gen, dtype=est.theta.dtype, device=est.theta.device)
    u = 0.5 * u / u.norm(dim=-1, keepdim=True)
    avg, count = torch.zeros_like(logits), 0
    for it in range(iters):
        for _ in range(inner):
            u = u.detach().requires_grad_(True)
            theta = est.theta + gamma * torch.einsum("sde,se->sd", Linv_T, u)
            val = _maxmin_value(env, est.model, logits, theta).sum()
            (g,) = torch.autograd.grad(val, u)
            u = _ball_project(u - lr_u * g * env.n_contexts).detach()
        theta = est.theta + gamma * torch.einsum("sde,se->sd", Linv_T, u)
        lg = logits.detach().requires_grad_(True)
        val = _maxmin_value(env, est.model, lg, theta).sum()
        (g,) = torch.autograd.grad(val, lg)
        pi = torch.softmax(torch.log(env.mu) + logits, -1)
        # mirror ascent in pi: grad wrt logits is pi * (g_pi - <pi, g_pi>) / K; recover g_pi-direction step
        logits = (logits + lr_pi * g * env.n_contexts / pi.clamp_min(1e-12)).detach()
        logits = logits - logits.mean(-1, keepdim=True)
        if it >= iters // 2:
            avg, count = avg + logits, count + 1
    return torch.softmax(torch.log(env.mu) + avg / count, -1).detach()

