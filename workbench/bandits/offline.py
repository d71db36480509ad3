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
  the version space is the ellipsoid of :mod:`~workbench.bandits.estimators`. ``W(pi) = min_theta V`` is
  concave in ``pi``; we run supergradient mirror ascent on it with an estimated inner minimum (the inner
  problem is not convex), keep the best iterate and never return worse than plug-in under the same estimate;
  :func:`maxmin_certificate` reports ``1/2 - W(pi)`` (an approximate solver, NOTES.md choice 4).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from workbench.bandits.env import BanditEnv
from workbench.bandits.estimators import Estimate, elliptic_norm
from workbench.device import make_generator
from workbench.games import gibbs, solve

__all__ = [
    "plug_in", "plug_in_nash", "pessimistic_pointwise", "pessimistic_policy_level", "pessimistic_maxmin",
    "maxmin_worst_case", "maxmin_certificate", "MaxminCertificate",
]


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


def _maxmin_value(env: BanditEnv, model: str, pi: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """``V(pi, theta)`` of the module docstring, ``(*R, S)`` for ``pi`` ``(S, K, n)`` and ``theta`` ``(*R, S, D)``."""
    P = env.preference(theta, model)  # (*R, S, K, n, n)
    loss_to = torch.einsum("...kab,...ka->...kb", P, pi)  # P(pi ≻ y') for each y', (*R, S, K, n)
    br = -env.beta * torch.logsumexp(torch.log(env.mu) - loss_to / env.beta, -1)  # min_pi' [.. + beta KL(pi'||mu)]
    klp = (pi * (torch.log(pi.clamp_min(1e-300)) - torch.log(env.mu))).sum(-1)  # (S, K)
    return (br - env.beta * klp).mean(-1)


class _VersionSpace:
    """The whitened ellipsoid ``theta = theta_hat + gamma L^-T u``, ``||u|| <= 1``, and projected gradient
    descent of ``V(pi, .)`` on a population of ``R`` points ``u`` ``(R, S, D)`` per dataset."""

    def __init__(self, env: BanditEnv, est: Estimate, gamma: float, restarts: int, seed: int):
        self.env, self.est, self.gamma = env, est, gamma
        self.Linv_T = torch.linalg.inv(torch.linalg.cholesky(est.Sigma)).transpose(-1, -2)  # (S, D, D)
        lam_min = torch.linalg.eigvalsh(est.Sigma)[:, 0]  # (S,)
        psi_max2 = (env.psi(est.model) ** 2).sum(-1).max()
        self.lr = (lam_min / (gamma**2 * psi_max2)).clamp(max=1.0)[:, None]  # (S, 1)
        S, D = est.theta.shape
        gen = make_generator(seed, est.theta.device)
        u = torch.randn(restarts, S, D, generator=gen, dtype=est.theta.dtype, device=est.theta.device)
        radius = torch.rand(restarts, S, 1, generator=gen, dtype=u.dtype, device=u.device)
        self.u = u / u.norm(dim=-1, keepdim=True) * radius  # (R, S, D) random points of the ellipsoid
        self.u[0] = 0.0  # and its centre theta_hat

    def theta(self, u: torch.Tensor) -> torch.Tensor:
        return self.est.theta + self.gamma * torch.einsum("sde,rse->rsd", self.Linv_T, u)  # (R, S, D)

    def descend(self, pi: torch.Tensor, steps: int) -> torch.Tensor:
        """``steps`` projected gradient steps on every point; returns ``V(pi, theta_r)`` ``(R, S)``."""
        for _ in range(steps):
            u = self.u.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(_maxmin_value(self.env, self.est.model, pi, self.theta(u)).sum(), u)
            self.u = _ball_project(u - self.lr * g * self.env.n_contexts).detach()
        return _maxmin_value(self.env, self.est.model, pi, self.theta(self.u)).detach()


def maxmin_worst_case(
    env: BanditEnv, est: Estimate, pi: torch.Tensor, gamma: float, restarts: int = 8, steps: int = 200, seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``W(pi) = min_{||theta - theta_hat||_Sigma <= gamma} V(pi, theta)``: value ``(S,)``; argmin ``(S, D)``.

    ``V(pi, .)`` is not convex in ``theta`` (``P`` is a sigmoid of it), so this is an estimate from above: projected
    gradient descent from ``restarts`` points (the centre and random points of the ellipsoid), the best kept.
    """
    vs = _VersionSpace(env, est, gamma, restarts, seed)
    v = vs.descend(pi, steps)  # (R, S)
    W, i = v.min(0)
    return W, vs.theta(vs.u)[i, torch.arange(v.shape[1], device=v.device)]


def pessimistic_maxmin(
    env: BanditEnv, est: Estimate, gamma: float, iters: int = 30, inner: int = 5, restarts: int = 6,
    lr_pi: float = 1.0, seed: int = 0,
) -> torch.Tensor:
    """Ye et al. Alg. 1: ``argmax_pi W(pi)``, ``W(pi) = min_{theta in version space} V(pi, theta)``; ``(S, K, n)``.

    ``W`` is concave in ``pi`` (a minimum of concave functions: ``V(., theta)`` is ``-beta KL`` plus a
    ``-beta logsumexp`` of a linear map). We run supergradient (Danskin) mirror ascent from the plug-in Nash
    policy, ``logits += lr_pi / sqrt(t + 1) * K grad_pi V(pi, theta_t)`` with ``theta_t`` the current worst case
    of a warm-started population of ``restarts`` points (``inner`` projected steps per outer step), and keep the
    best iterate. The inner problem is not convex, so ``W`` is estimated (:func:`maxmin_worst_case`): the
    returned policy is, per dataset, the better of the best iterate and plug-in under one fresh evaluation, so
    its estimated worst-case value is never below plug-in's. Certificate: every antisymmetric game has value
    1/2, so ``max_pi W <= 1/2`` and ``1/2 - W(pi)`` bounds the returned policy's suboptimality in the max-min
    objective (:func:`maxmin_certificate`). The objective is nearly flat (``W`` moves by ~1e-4 around plug-in
    at ``gamma = 2``), so this is an approximate solver of a problem whose solution is close to plug-in.
    """
    if gamma == 0:
        return plug_in_nash(env, est)
    start = plug_in_nash(env, est)  # (S, K, n)
    logits = torch.log(start) - torch.log(env.mu)
    vs = _VersionSpace(env, est, gamma, restarts, seed)
    best, best_W = start, vs.descend(start, 10 * inner).min(0).values  # (S, K, n), (S,)
    for t in range(iters):
        pi = torch.softmax(torch.log(env.mu) + logits, -1)  # (S, K, n)
        v = vs.descend(pi, inner)  # (R, S)
        W, i = v.min(0)
        take = W > best_W
        best, best_W = torch.where(take[:, None, None], pi, best), torch.maximum(W, best_W)
        theta = vs.theta(vs.u)[i, torch.arange(v.shape[1], device=v.device)]  # (S, D) the current worst case
        p = pi.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(_maxmin_value(env, est.model, p, theta).sum(), p)  # (S, K, n)
        logits = logits + lr_pi / (t + 1) ** 0.5 * g * env.n_contexts
    W_best, _ = maxmin_worst_case(env, est, best, gamma, seed=seed + 1)
    W_plug, _ = maxmin_worst_case(env, est, start, gamma, seed=seed + 1)
    return torch.where((W_best >= W_plug)[:, None, None], best, start).detach()


@dataclass(frozen=True)
class MaxminCertificate:
    """Certificate of a policy for the max-min objective (per dataset, ``(S,)`` each).

    Attributes:
        worst_case: estimated ``W(pi)`` (:func:`maxmin_worst_case`; an estimate from above).
        upper: ``1/2 >= max_pi W`` (every antisymmetric regularized game has value 1/2).
        gap: ``upper - worst_case >= max_pi W - W(pi)`` (given the inner minimum).
    """

    worst_case: torch.Tensor
    upper: torch.Tensor
    gap: torch.Tensor


def maxmin_certificate(
    env: BanditEnv, est: Estimate, pi: torch.Tensor, gamma: float, seed: int = 0,
) -> MaxminCertificate:
    """:class:`MaxminCertificate` of ``pi`` ``(S, K, n)`` at radius ``gamma``."""
    W, _ = maxmin_worst_case(env, est, pi, gamma, seed=seed)
    upper = torch.full_like(W, 0.5)
    return MaxminCertificate(W, upper, upper - W)
