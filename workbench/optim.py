"""Batched damped Newton: the Newton step and the Armijo backtracking line search shared by every solver.

Used by the regularized Nash solver (``workbench.games.solvers``), the Bradley–Terry fit
(``workbench.games.bradley_terry_fit``) and the bandit MLE (``workbench.bandits.estimators``). Each solver
keeps what is its own (the objective, the Newton direction, the stopping rule); the step along the
direction is found here, the same way for all three.

**Armijo backtracking** (Nocedal & Wright, *Numerical Optimization*, 2nd ed., Alg. 3.1, condition (3.4)).
Given ``x``, a descent direction ``d`` and the directional derivative ``slope = <grad f(x), d> < 0``, try
``t = t0, t0/2, t0/4, ...`` until the sufficient-decrease condition

    f(R(x + t d)) <= f(x) + c t slope,       0 < c < 1

holds, with ``R`` an optional retraction (e.g. renormalizing a log-policy). Every problem in the batch
has its own ``t``; a problem that already passes keeps its ``t`` while the others halve. Two optional
escapes mark a problem as passing: it is not ``active`` (converged: it gets ``t = 0``), or
``|f_new - f| <= flat_tol`` (near the optimum ``f`` is flat to round-off, and its decrease can no longer
be measured). For a Newton direction on a convex ``f`` the full step ``t = 1`` is accepted once near the
minimizer when ``c < 1/2`` (N&W Thm. 3.6), giving quadratic convergence.

Shapes: ``x`` and ``d`` are ``(*B, n)``; ``f``, ``slope``, ``t`` and the masks are ``(*B,)``.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch

__all__ = ["LineSearch", "backtracking", "newton_step"]


class LineSearch(NamedTuple):
    """Result of :func:`backtracking` (batch shape ``B``).

    Attributes:
        t: ``(*B,)`` step of the last candidate (0 where not active).
        x: ``(*B, n)`` the last candidate ``R(x + t d)``.
        f: ``(*B,)`` the objective there.
        aux: what the objective returned beyond ``f`` (a tuple, ``()`` if it returned ``f`` alone).
        ok: ``(*B,)`` whether the candidate passed (Armijo, flat or inactive). Where False every halving
            failed: the caller decides (keep ``x``, or stop).
        evaluations: objective evaluations (batched calls).
    """

    t: torch.Tensor
    x: torch.Tensor
    f: torch.Tensor
    aux: tuple
    ok: torch.Tensor
    evaluations: int


def newton_step(H: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """Newton direction ``-H^-1 grad``: ``H`` ``(*B, n, n)``, ``grad`` ``(*B, n)`` -> ``(*B, n)``."""
    return -torch.linalg.solve(H, grad[..., None])[..., 0]


def backtracking(
    objective: Callable[[torch.Tensor], torch.Tensor | tuple],
    x: torch.Tensor,
    d: torch.Tensor,
    f: torch.Tensor,
    slope: torch.Tensor,
    *,
    t0: float | torch.Tensor = 1.0,
    c: float = 1e-4,
    max_halvings: int = 50,
    active: torch.Tensor | None = None,
    flat_tol: float | None = None,
    retract: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> LineSearch:
    """Batched Armijo backtracking from ``x`` along ``d`` (module docstring); returns a :class:`LineSearch`.

    Args:
        objective: ``x (*B, n) -> f (*B,)``, or a tuple ``(f, *aux)`` whose extras are handed back.
        x: ``(*B, n)`` current points; ``d``: ``(*B, n)`` descent directions.
        f: ``(*B,)`` ``objective(x)``; ``slope``: ``(*B,)`` ``<grad f(x), d>`` (negative for descent).
        t0: first step tried, a number or ``(*B,)`` (e.g. from the last accepted step).
        c: sufficient-decrease constant in ``(0, 1)``.
        max_halvings: most objective evaluations; after them ``ok`` says which problems passed.
        active: ``(*B,)`` problems to move; the others get ``t = 0`` and pass (None: all).
        flat_tol: also pass where ``|f_new - f| <= flat_tol`` (None: never).
        retract: map applied to ``x + t d`` before evaluating (None: identity).
    """
    if not 0 < c < 1:
        raise ValueError(f"backtracking: c must lie in (0, 1) (Armijo constant); got {c!r}")
    if int(max_halvings) < 1:
        raise ValueError(f"backtracking: max_halvings must be >= 1; got {max_halvings!r}")
    t = torch.as_tensor(t0, dtype=f.dtype, device=f.device).expand_as(f)  # (*B,)
    if active is not None:
        t = torch.where(active, t, torch.zeros_like(f))
    for k in range(int(max_halvings)):
        cand = x + t[..., None] * d  # (*B, n)
        if retract is not None:
            cand = retract(cand)
        out = objective(cand)
        f_new, aux = (out[0], tuple(out[1:])) if isinstance(out, tuple) else (out, ())  # (*B,)
        ok = f_new <= f + c * t * slope  # (*B,)
        if active is not None:
            ok = ok | ~active
        if flat_tol is not None:
            ok = ok | (f_new - f).abs().le(flat_tol)
        if bool(ok.all()) or k == int(max_halvings) - 1:
            return LineSearch(t=t, x=cand, f=f_new, aux=aux, ok=ok, evaluations=k + 1)
        t = torch.where(ok, t, 0.5 * t)
    raise AssertionError("unreachable")
