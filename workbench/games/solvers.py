"""Exact solvers for the tabular preference game.

Regularized game (``beta > 0``, Munos et al. 2023, Prop. 1): the unique Nash equilibrium is the fixed
point ``pi*(y) ∝ mu(y) exp(P(y ≻ pi*)/beta)``. We find it by minimizing the regularized
exploitability

    f(pi) = beta log sum_y mu(y) exp((P pi)_y / beta) + beta KL(pi || mu) - 1/2,

which is convex on the simplex (a log-sum-exp of an affine map plus a KL), strongly convex through the
KL term, and zero exactly at ``pi*``. With ``q`` the Gibbs best response:

    grad f = P^T q + beta (log(pi/mu) + 1)
    hess f = P^T (diag q - q q^T) P / beta + beta diag(1/pi)

1. Damped Newton on ``f``: the equality-constrained Newton direction ``d`` on the simplex (system scaled
   by ``diag(sqrt pi)``), applied in log space, ``z = log pi <- normalize(z + t d/pi)``, with Armijo
   backtracking on ``f`` (:func:`workbench.optim.backtracking`). The multiplicative step keeps ``pi > 0`` without a step cap; ``d/pi`` is
   computed from the Newton system's rows without dividing by ``pi``, so entries of ``pi*`` that
   underflow (``~ exp(-gap/beta)``) still move by the fixed-point update ``log mu + P q/beta``.
2. Once ``f <= tol``: Newton on the fixed-point equation in log space,
   ``F(z) = z - log mu - P pi/beta = const``, ``(I - P S/beta) dz = -F`` with ``S = diag pi - pi pi^T``
   (``P S = K S`` with ``K = P - 1/2`` skew, so ``I - P S/beta`` has eigenvalues ``1 - i lambda/beta``
   and is always invertible). It converges quadratically to machine precision where ``f`` (computed
   with ``O(1)`` cancellation) can no longer measure progress.
3. Continuation for small ``beta``: ``beta_k = max(beta, 0.3/3^k)``, each level warm-started.

Everything is batched over the leading dimensions (``torch.linalg.solve``). Supported: ``beta >= BETA_MIN
= 1e-4`` (``n`` up to ~1000, near-deterministic ``mu``); smaller positive ``beta`` raise
:class:`SolverError` at once (the Newton systems' condition grows like ``1/beta^2``).

Unregularized game (``beta = 0``): a symmetric Nash equilibrium of the zero-sum game ``P - 1/2`` (value
0) solves the linear program ``max v  s.t.  (P - 1/2)^T pi >= v, pi in simplex`` (scipy's HiGHS). It may
be non-unique; the LP returns one vertex solution.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from workbench.games.game import GameError, PreferenceGame
from workbench.optim import backtracking

__all__ = ["solve", "solve_regularized", "solve_unregularized", "SolverError", "BETA_MIN"]


class SolverError(RuntimeError):
    """A solver did not reach its tolerance; the message says which games and how far it got."""


BETA_MIN = 1e-4
"""Smallest ``beta > 0`` the regularized solver accepts: at ``beta = 1e-5`` it stalls around exploitability
1e-6 on random ``n = 100`` games (float64 round-off in systems whose condition grows like ``1/beta^2``).
Use ``beta = 0`` (the LP) for the unregularized limit."""


def _normalize(z: torch.Tensor) -> torch.Tensor:
    """Log-policy with ``logsumexp(z) = 0``; ``(*B, n)``."""
    return z - torch.logsumexp(z, -1, keepdim=True)


def _objective(P, log_mu, beta, z):
    """Regularized exploitability ``f``, Gibbs best response ``q`` and ``pi = exp(z)`` from the log-policy.

    Shapes (*B,), (*B, n), (*B, n). The KL term uses ``z`` itself, so entries of ``pi`` that underflow to 0
    contribute exactly 0 instead of ``0 * log 0``.
    """
    pi = z.exp()  # (*B, n)
    logits = log_mu + torch.einsum("...ij,...j->...i", P, pi) / beta[..., None]  # (*B, n)
    lse = torch.logsumexp(logits, -1)  # (*B,)
    q = (logits - lse[..., None]).exp()  # (*B, n)
    f = beta * lse + beta * (pi * (z - log_mu)).sum(-1) - 0.5
    return f, q, pi


def solve_regularized(
    game: PreferenceGame,
    tol: float = 1e-12,
    max_iter: int = 100,
    pi0: torch.Tensor | None = None,
    continuation: float = 3.0,
) -> torch.Tensor:
    """Regularized Nash equilibrium ``pi*_beta`` of every game in the batch (all ``beta > 0``).

    Returns ``(*B, n)`` policies whose regularized exploitability is below ``tol`` (the duality gap
    below ``2 tol``), polished by Newton steps on the log-space fixed-point equation until its residual stops
    shrinking (near machine precision); raises :class:`SolverError` otherwise, and for
    ``0 < beta < BETA_MIN``. Computed in float64 on ``game.device``. Small ``beta`` are reached by
    continuation: ``beta_k = max(beta, 0.3 / continuation^k)``, each level warm-started from the last;
    a given ``pi0`` skips the continuation and starts Newton at the target ``beta`` from ``pi0``.
    """
    if (game.beta <= 0).any():
        raise GameError("solve_regularized needs beta > 0 for every game; use solve() for beta = 0")
    if (game.beta < BETA_MIN).any():
        bad = game.beta.flatten()
        k = int(bad.argmin())
        raise SolverError(
            f"beta = {bad[k].item():.3g} (flat index {k}) is below the smallest beta the regularized solver "
            f"supports ({BETA_MIN:g}): the equilibrium's logits span ~1/beta and the Newton systems lose "
            f"float64 accuracy; use beta >= {BETA_MIN:g}, or beta = 0 for the unregularized game (LP)"
        )
    g64 = game.to(dtype=torch.float64)
    # f = beta (lse + KL) - 1/2 sums O(1) terms scaled by beta: its round-off is ~ beta eps (1 + max |log mu|), so
    # below that floor "f <= tol" cannot be decided (beta >= 1e4 stalled at f ~ 1e-12..1e-10 and raised before);
    # there the fixed-point polish, which is scale-free, sets the accuracy.
    floor = 16 * torch.finfo(torch.float64).eps * g64.beta * (1 + torch.log(g64.mu).abs().amax(-1))  # (*B,)
    tol = torch.clamp(floor, min=tol) if tol > 0 else torch.full_like(floor, tol)  # (*B,); tol <= 0: never met
    # Solve the nearest exactly antisymmetric game (P + P^T = 1 to round-off): validation allows 1e-6 and a
    # float32 game is off by ~1e-8, which would put the minimum of f at -1e-8 instead of 0.
    P = (g64.P + 1 - g64.P.transpose(-1, -2)) / 2  # (*B, n, n)
    log_mu = torch.log(g64.mu)  # (*B, n)
    start = g64.mu if pi0 is None else pi0.to(g64.P)
    z = _normalize(torch.log(start.clamp_min(torch.finfo(torch.float64).tiny)).expand(*game.batch_shape, game.n))
    level = 0.3 if pi0 is None else 0.0  # a warm start goes straight to the target beta
    while True:
        beta_k = torch.clamp(g64.beta, min=level)
        last = bool((beta_k == g64.beta).all())
        z = _newton(P, log_mu, beta_k, z, tol if last else torch.clamp(tol, min=1e-8), max_iter, polish=10 if last else 0)
        if last:
            return z.exp().to(game.dtype)
        level /= continuation


def _newton(P, log_mu, beta, z, tol, max_iter, polish: int = 8):
    """Damped Newton on the regularized exploitability, stepped in log space (module docstring); ``(*B, n)``.

    The direction is the Newton step ``d`` of ``f`` on the simplex; it is applied multiplicatively,
    ``z <- normalize(z + t d / pi)``, with ``d / pi`` computed without dividing by ``pi`` (so entries that
    underflow are still moved, by the fixed-point update ``log mu + P q / beta``). Armijo backtracking on ``f``.
    """
    n = P.shape[-1]
    f, q, pi = _objective(P, log_mu, beta, z)
    eye = torch.eye(n, dtype=P.dtype, device=P.device)
    b1 = beta[..., None]  # (*B, 1)
    t_last = torch.ones_like(f)  # (*B,)
    steps = 0
    while steps < max_iter:
        active = f > tol  # (*B,)
        if not active.any():
            break
        steps += 1
        grad = torch.einsum("...ji,...j->...i", P, q) + b1 * (z - log_mu + 1)  # (*B, n)
        # Newton system scaled by D = diag(sqrt(pi)) for conditioning: (D H D) (D^-1 d) = -D (grad - nu).
        d_sqrt = pi.sqrt()  # (*B, n)
        PD = P * d_sqrt[..., None, :]  # P D, (*B, n, n)
        QPD = q[..., :, None] * PD - q[..., :, None] * (q[..., None, :] @ PD)  # (diag q - q q^T) P D
        Hs = PD.transpose(-1, -2) @ QPD / beta[..., None, None] + beta[..., None, None] * eye  # (*B, n, n)
        rhs = torch.stack([d_sqrt * grad, d_sqrt], -1)  # (*B, n, 2)
        sol = torch.linalg.solve(Hs, rhs) * d_sqrt[..., None]  # H^-1 [grad, 1], (*B, n, 2)
        a, b = sol[..., 0], sol[..., 1]
        nu = a.sum(-1, keepdim=True) / b.sum(-1, keepdim=True)  # (*B, 1)
        d = -(a - nu * b)  # (*B, n), pi-space Newton step, sums to 0
        # Row i of H d = nu - grad reads A d + beta d / pi = nu - grad with A = P^T (diag q - q q^T) P / beta,
        # so the log-space step d / pi = (nu - grad - A d) / beta needs no division by pi.
        Pd = torch.einsum("...ij,...j->...i", P, d)  # (*B, n)
        SPd = q * Pd - q * (q * Pd).sum(-1, keepdim=True)
        Ad = torch.einsum("...ji,...j->...i", P, SPd) / b1
        dz = (nu - grad - Ad) / b1  # (*B, n)
        dz = dz - (pi * dz).sum(-1, keepdim=True)
        slope = (grad * pi * dz).sum(-1)  # (*B,) directional derivative of f along z + t dz
        ls = backtracking(  # Armijo on f, first trying 4x the last step (capped at 1)
            lambda cand: _objective(P, log_mu, beta, cand), z, dz, f, slope, t0=torch.clamp(4 * t_last, max=1.0),
            c=1e-4, max_halvings=60, active=active, flat_tol=1e-15, retract=_normalize,
        )
        q_new, pi_new = ls.aux
        improved = active & (ls.f < f)  # (*B,)
        if not improved.any():  # stalled where f's round-off hides progress: the polish takes over
            break
        z = torch.where(improved[..., None], ls.x, z)
        f = torch.where(improved, ls.f, f)
        q = torch.where(improved[..., None], q_new, q)
        pi = torch.where(improved[..., None], pi_new, pi)
        t_last = torch.where(improved, ls.t, t_last)
    # Newton on the fixed-point equation: to machine precision, and past a stall of the damped phase.
    z, f = _polish(P, log_mu, beta, z, f, tol, polish if not (f > tol).any() else max(polish, 10))
    if not (f > tol).any():
        return z
    worst = int((f - tol).flatten().argmax())
    raise SolverError(
        f"regularized solver did not reach exploitability {tol.flatten()[worst].item():g} in {steps} Newton steps (max_iter = {max_iter}): "
        f"{int((f > tol).sum())} game(s) left, worst flat index {worst} at {f.flatten()[worst].item():.3g} "
        f"(beta = {beta.flatten()[worst].item():.3g})"
    )


def _fixed_point_residual(P, log_mu, beta, z):
    """``F(z) = z - log mu - P pi / beta`` centred (the fixed point has ``F = const``), its sup norm; (*B, n), (*B,)."""
    F = z - log_mu - torch.einsum("...ij,...j->...i", P, z.exp()) / beta[..., None]  # (*B, n)
    F = F - F.mean(-1, keepdim=True)
    return F, F.abs().amax(-1)


def _polish(P, log_mu, beta, z, f, tol, steps):
    """Newton on the fixed-point equation in log space, ``(I - P S / beta) dz = -F(z)`` with
    ``S = diag(pi) - pi pi^T``; a step is kept only while it shrinks ``|F|`` and does not raise ``f``
    above ``max(f, tol)``. Returns ``(z, f)``. ``I - P S / beta = I - K S / beta`` (``K = P - 1/2`` skew) has
    eigenvalues ``1 - i lambda / beta``, so the system is always solvable. Quadratic to machine precision."""
    n = P.shape[-1]
    eye = torch.eye(n, dtype=P.dtype, device=P.device)
    F, r = _fixed_point_residual(P, log_mu, beta, z)
    live = torch.ones_like(r, dtype=torch.bool)  # (*B,) games still converging quadratically
    for _ in range(steps):
        pi = z.exp()  # (*B, n)
        PS = P * pi[..., None, :] - (P @ pi[..., :, None]) * pi[..., None, :]  # P (diag pi - pi pi^T), (*B, n, n)
        J = eye - PS / beta[..., None, None]
        dz = torch.linalg.solve(J, -F)  # (*B, n)
        cand = _normalize(z + dz)
        F_new, r_new = _fixed_point_residual(P, log_mu, beta, cand)
        f_new = _objective(P, log_mu, beta, cand)[0]
        ok = live & (r_new < r) & (f_new <= torch.clamp(f, min=tol))
        # Once f <= tol, less than a 4x gain means round-off: keep this step, then stop that game.
        live = ok & ((r_new < 0.25 * r) | (f_new > tol))
        z = torch.where(ok[..., None], cand, z)
        F = torch.where(ok[..., None], F_new, F)
        r = torch.where(ok, r_new, r)
        f = torch.where(ok, f_new, f)
        if not live.any():
            break
    return z, f


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
    """Equilibrium of every game in the batch: Newton where ``beta > 0``, the LP where ``beta = 0``.

    ``(*B, n)`` in the game's dtype; mixed batches are split. The game is validated first (NaN or inf,
    ``P`` outside [0, 1], ``mu`` not positive or not summing to 1 raise :class:`GameError`, also for a game
    built with ``validate=False``; ``P + P^T = 1`` is not required, the solver uses ``(P + 1 - P^T)/2``).
    ``0 < beta < BETA_MIN`` raises :class:`SolverError` at once, as does a game the Newton solver cannot
    bring below ``tol`` (or below the round-off floor ``~ 16 eps beta (1 + max |log mu|)`` of the
    exploitability when ``beta`` is large).
    """
    if not isinstance(game, PreferenceGame):
        raise TypeError(f"solve needs a PreferenceGame (PreferenceGame.create(P, mu, beta)); got {type(game).__name__}")
    # A game built with validate=False is checked here (the solver symmetrizes P, so P + P^T = 1 is not
    # required): a NaN P or a mu that does not sum to 1 would otherwise give a plausible-looking answer.
    game.validate(tol=math.inf)
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
