"""Exact solvers for the tabular preference game.

Regularized game (``beta > 0``, Munos et al. 2023, Prop. 1): the unique Nash equilibrium is the fixed
point ``pi*(y) ∝ mu(y) exp(P(y ≻ pi*)/beta)``. We find it by minimizing the regularized
exploitability

    f(pi) = beta log sum_y mu(y) exp((P pi)_y / beta) + beta KL(pi || mu) - 1/2,

which is convex on the simplex (a log-sum-exp of an affine map plus a KL), strongly convex through the
KL term, and zero exactly at ``pi*``. Damped Newton with an Armijo line search on the simplex (equality-
constrained Newton step, a step cap that keeps ``pi > 0``) converges globally and then quadratically;
batched over all leading dimensions with ``torch.linalg.solve``. With ``q`` the Gibbs best response:

    grad f = P^T q + beta (log(pi/mu) + 1)
    hess f = P^T (diag q - q q^T) P / beta + beta diag(1/pi)

Unregularized game (``beta = 0``): a symmetric Nash equilibrium of the zero-sum game ``P - 1/2`` (value
0) solves the linear program ``max v  s.t.  (P - 1/2)^T pi >= v, pi in simplex`` (scipy's HiGHS). It may
be non-unique; the LP returns one vertex solution.
"""

from __future__ import annotations

import numpy as np
import torch

from workbench.games.game import GameError, PreferenceGame, kl

__all__ = ["solve", "solve_regularized", "solve_unregularized", "SolverError"]


class SolverError(RuntimeError):
    """A solver did not reach its tolerance; the message says which games and how far it got."""


def _objective(P, log_mu, beta, pi):
    """Regularized exploitability ``f(pi)`` and the Gibbs best response ``q``; shapes (*B,), (*B, n)."""
    logits = log_mu + torch.einsum("...ij,...j->...i", P, pi) / beta[..., None]  # (*B, n)
    q = torch.softmax(logits, -1)
    f = beta * torch.logsumexp(logits, -1) + beta * kl(pi, log_mu.exp()) - 0.5
    return f, q


def solve_regularized(
    game: PreferenceGame,
    tol: float = 1e-12,
    max_iter: int = 100,
    pi0: torch.Tensor | None = None,
    continuation: float = 3.0,
) -> torch.Tensor:
    """Regularized Nash equilibrium ``pi*_beta`` of every game in the batch (all ``beta > 0``).

    Returns ``(*B, n)`` policies whose regularized exploitability is below ``tol`` (the duality gap
    below ``2 tol``), polished by extra Newton steps to near machine precision; raises
    :class:`SolverError` otherwise. Computed in float64 on ``game.device``. Small ``beta`` are reached
    by continuation: ``beta_k = max(beta, 0.3 / continuation^k)``, each level warm-started from the last.
    """
    if (game.beta <= 0).any():
        raise GameError("solve_regularized needs beta > 0 for every game; use solve() for beta = 0")
    g64 = game.to(dtype=torch.float64)
    pi = (g64.mu if pi0 is None else pi0.to(g64.P)).expand(*game.batch_shape, game.n).clone()  # (*B, n)
    level = 0.3
    while True:
        beta_k = torch.clamp(g64.beta, min=level)
        last = bool((beta_k == g64.beta).all())
        pi = _newton(g64.P, torch.log(g64.mu), beta_k, pi, tol if last else 1e-6, max_iter, polish=3 if last else 0)
        if last:
            return pi.to(game.dtype)
        level /= continuation


def _newton(P, log_mu, beta, pi, tol, max_iter, polish: int = 3):
    """Damped Newton on the regularized exploitability (see the module docstring); ``(*B, n)``."""
    n = P.shape[-1]
    f, q = _objective(P, log_mu, beta, pi)
    eye = torch.eye(n, dtype=P.dtype, device=P.device)
    ones = torch.ones_like(pi)
    polished = 0
    for _ in range(max_iter + polish):
        active = f > tol  # (*B,)
        if not active.any():
            if polished >= polish:
                return pi
            polished += 1
            active = torch.ones_like(active)  # quadratic phase: full Newton steps to machine precision
        grad = torch.einsum("...ji,...j->...i", P, q) + beta[..., None] * (torch.log(pi) - log_mu + 1)  # (*B, n)
        # Newton system scaled by D = diag(sqrt(pi)) for conditioning: (D H D) (D^-1 d) = -D grad.
        d_sqrt = pi.sqrt()  # (*B, n)
        PD = P * d_sqrt[..., None, :]  # P D, (*B, n, n)
        QPD = q[..., :, None] * PD - q[..., :, None] * (q[..., None, :] @ PD)  # (diag q - q q^T) P D
        Hs = PD.transpose(-1, -2) @ QPD / beta[..., None, None] + beta[..., None, None] * eye  # (*B, n, n)
        rhs = torch.stack([d_sqrt * grad, d_sqrt * ones], -1)  # (*B, n, 2)
        sol = torch.linalg.solve(Hs, rhs) * d_sqrt[..., None]  # H^-1 [grad, 1], (*B, n, 2)
        a, b = sol[..., 0], sol[..., 1]
        nu = a.sum(-1, keepdim=True) / b.sum(-1, keepdim=True)
        step = -(a - nu * b)  # (*B, n), sums to 0
        slope = (grad * step).sum(-1)  # (*B,) < 0 away from the optimum
        # Largest step keeping pi > 0, capped at the full Newton step.
        neg = step < 0
        ratio = torch.where(neg, -pi / torch.where(neg, step, -ones), torch.full_like(pi, torch.inf))
        t = torch.clamp((1 - 1e-9) * ratio.amin(-1), max=1.0)  # (*B,)
        t = torch.where(active, t, torch.zeros_like(t))
        for _ in range(60):
            cand = pi + t[..., None] * step
            f_new, q_new = _objective(P, log_mu, beta, cand)
            ok = (f_new <= f + 1e-4 * t * slope) | ~active | torch.isclose(f_new, f, rtol=0, atol=1e-15)
            if ok.all():
                break
            t = torch.where(ok, t, 0.5 * t)
        cand = (cand.clamp_min(torch.finfo(P.dtype).tiny) / cand.sum(-1, keepdim=True))
        f_new, q_new = _objective(P, log_mu, beta, cand)
        improved = active & ((f_new < f) | ((f <= tol) & (f_new <= tol)))
        if not improved.any():  # stalled at round-off
            break
        pi = torch.where(improved[..., None], cand, pi)
        f = torch.where(improved, f_new, f)
        q = torch.where(improved[..., None], q_new, q)
    if (f > tol).any():
        worst = int(f.flatten().argmax())
        raise SolverError(
            f"regularized solver did not reach exploitability {tol:g} in {max_iter} Newton steps: "
            f"{int((f > tol).sum())} game(s) left, worst flat index {worst} at {f.flatten()[worst].item():.3g} "
            f"(beta = {beta.flatten()[worst].item():.3g})"
        )
    return pi


def solve_unregularized(game: PreferenceGame) -> torch.Tensor:
    """A symmetric Nash equilibrium of the unregularized game (ignores ``beta``), via scipy's LP."""
    from scipy.optimize import linprog

    n = game.n
    P = game.P.detach().to("cpu", torch.float64).reshape(-1, n, n).numpy()
    out = np.empty((P.shape[0], n))
    c = np.zeros(n + 1)
    c[-1] = -1.0  # maximize v
    A_eq = np.concatenate([np.ones((1, n)), np.zeros((1, 1))], 1)
    bounds = [(0, None)] * n + [(None, None)]
    for k, Pk in enumerate(P):
        A_ub = np.concatenate([-(Pk - 0.5).T, np.ones((n, 1))], 1)  # v - ((P - 1/2)^T pi)_j <= 0
        res = linprog(c, A_ub=A_ub, b_ub=np.zeros(n), A_eq=A_eq, b_eq=[1.0], bounds=bounds, method="highs")
        if res.status != 0:
            raise SolverError(f"LP for game {k} failed: {res.message}")
        x = np.clip(res.x[:n], 0, None)
        out[k] = x / x.sum()
    return torch.as_tensor(out, dtype=game.dtype, device=game.device).reshape(*game.batch_shape, n)


def solve(game: PreferenceGame, tol: float = 1e-12) -> torch.Tensor:
    """Equilibrium of every game in the batch: Newton where ``beta > 0``, the LP where ``beta = 0``."""
    zero = game.beta == 0
    if not zero.any():
        return solve_regularized(game, tol=tol)
    if zero.all():
        return solve_unregularized(game)
    out = torch.empty_like(game.mu)
    flat = PreferenceGame(game.P.reshape(-1, game.n, game.n), game.mu.reshape(-1, game.n), game.beta.reshape(-1))
    z = zero.reshape(-1)
    res = torch.empty_like(flat.mu)
    res[z] = solve_unregularized(flat[z])
    res[~z] = solve_regularized(flat[~z], tol=tol)
    out.copy_(res.reshape(out.shape))
    return out
