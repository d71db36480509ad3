"""The papers' convergence guarantees as plain functions, to draw beside the measured curves.

Every function takes scalars or numpy arrays (``beta``, ``eta``, ``T`` iterations or ``N`` preference
queries) and returns numpy arrays; nothing here runs an algorithm. Sources, and what each implements:

Nash-MD (Munos et al. 2023, *Nash Learning from Human Feedback*, arXiv 2312.00886, Section 5,
Theorem 1; tabular, exact preferences, one query per iteration):

- one-step recursion  ``KL(pi*, pi_{t+1}) <= (1 - eta_t beta) KL(pi*, pi_t) + 2 eta_t^2`` (eta_t beta <= 1);
  :func:`nash_md_recursion` iterates it with equality (the bound it implies for any ``eta_t``).
- with ``eta_t = 2 / (beta (t + 2))``: ``KL(pi*, pi_T) <= 8 / (beta^2 (T + 1))``
  (:func:`nash_md_theorem1_bound`), independent of ``pi_0``.
- a constant ``eta`` unrolls to ``K_T <= (1 - eta beta)^T (K_0 - 2 eta / beta) + 2 eta / beta``
  (:func:`nash_md_constant_step_bound`): linear contraction down to the floor ``2 eta / beta``
  (:func:`nash_md_floor`), the fixed point of the recursion. Measured constant-step Nash-MD plateaus
  far below it (its fixed point is biased away from ``pi*`` by an amount that grows with ``eta``).

Nash-MP (Tiapkin et al. 2025, *Accelerating Nash Learning from Human Feedback via Mirror Prox*,
arXiv 2505.19731 v1; later versions are retitled *Proximal Point Nash Learning from Human Feedback*).
Abstract and main theorem of v1 (exact mirror-prox version, two preference queries per iteration). In
the paper's parametrization (also ``workbench.tabular.nash_mp``: KL terms ``KL(pi||mu) + (1/eta)
KL(pi||pi_t)``, preference scaled by ``1/beta``) one iteration contracts ``KL(pi*, pi_t)`` by
``(1 + eta)^(-1)`` for ``eta <= 2 beta`` (the operator ``P/beta`` is ``1/(2 beta)``-Lipschitz); at the
largest step ``eta = 2 beta`` this is the abstract's headline "the KL-divergence to the optimal policy
decreases at a rate of order ``(1 + 2 beta)^(-N/2)``, where ``N`` is the number of preference queries",
with the exploitability gap at a rate of order ``(1 + 2 beta)^(-N/2) / beta`` and the span semi-norm of
``log pi_t - log pi*`` linear as well, none depending on the number of actions.

- :func:`nash_mp_contraction`: the per-iteration factor ``(1 + eta)^(-1)`` (``eta = 2 beta`` by default):
  a *bound* for the KL contraction (measured: about its square, ``(1 + 2 beta)^(-2)``) and tight for the
  span semi-norm of ``log pi_t - log pi*``.
- :func:`nash_mp_kl_bound`: ``KL(pi*, pi_T) <= (1 + eta)^(-T) KL(pi*, pi_0)`` with ``T = N / 2`` iterations.
  The abstract (the statement we could check with the search tool; the theorem body was not retrievable,
  so the general-``eta`` factor ``(1 + eta)^(-1)`` follows ``workbench.tabular.nash_mp`` and the workbench's
  notes) gives the rate "of order"; we draw it with constant 1 in front of ``KL(pi*, pi_0)``, which is
  what iterating the one-step contraction gives.
- :func:`nash_mp_exploitability_rate`: ``C (1 + 2 beta)^(-N/2) / beta`` with a user-chosen constant
  ``C`` (default 1): the ORDER of the exploitability rate, a slope to compare with, not a bound.

Unregularized multiplicative weights (Hedge; Freund & Schapire 1997, Cesa-Bianchi & Lugosi 2006,
Thm 2.2 with rewards in [0, 1]): regret after ``T`` rounds ``<= log(n) / eta + eta T / 8`` from a
uniform start (``log(1/min_y pi_0(y))`` in place of ``log n`` from another start). In a symmetric
preference game the learner's own payoff is ``P(pi_t ≻ pi_t) = 1/2``, so the regret over ``T`` rounds divided by ``T`` is exactly the exploitability of the average of ``pi_0..pi_{T-1}``:
:func:`mwu_average_bound` ``= log(n) / (eta T) + eta / 8``. No such bound holds for the last iterate
(it cycles on rock–paper–scissors).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "nash_md_theorem1_bound",
    "nash_md_theory_step",
    "nash_md_recursion",
    "nash_md_constant_step_bound",
    "nash_md_floor",
    "nash_mp_contraction",
    "nash_mp_kl_bound",
    "nash_mp_exploitability_rate",
    "mwu_average_bound",
]


def _pos(name: str, value) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if np.any(~np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{name} must be finite and > 0; got {value!r}")
    return arr


def _nonneg(name: str, value) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if np.any(~np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{name} must be finite and >= 0; got {value!r}")
    return arr


# ---------------------------------------------------------------------------------------------- Nash-MD
def nash_md_theory_step(beta, t) -> np.ndarray:
    """Theorem 1's schedule ``eta_t = 2 / (beta (t + 2))`` (so ``eta_0 beta = 1``)."""
    return 2.0 / (_pos("beta", beta) * (_nonneg("t", t) + 2.0))


def nash_md_theorem1_bound(beta, T) -> np.ndarray:
    """Munos et al. Theorem 1: ``KL(pi*, pi_T) <= 8 / (beta^2 (T + 1))`` for ``eta_t = 2/(beta(t+2))``."""
    beta = _pos("beta", beta)
    return 8.0 / (beta**2 * (_nonneg("T", T) + 1.0))


def nash_md_recursion(kl0, beta, etas) -> np.ndarray:
    """Iterate ``K_{t+1} = (1 - eta_t beta) K_t + 2 eta_t^2`` from ``K_0 = kl0``; returns ``K_0..K_T``.

    ``etas`` is the sequence ``eta_0..eta_{T-1}`` (each with ``eta_t beta <= 1``, as Theorem 1 requires).
    """
    beta = float(_pos("beta", beta))
    etas = _nonneg("etas", etas).reshape(-1)
    if np.any(etas * beta > 1 + 1e-12):
        raise ValueError(f"Nash-MD needs eta_t * beta <= 1; got max eta_t * beta = {float(np.max(etas * beta)):.4g}")
    out = np.empty(len(etas) + 1)
    out[0] = float(_nonneg("kl0", kl0))
    for t, eta in enumerate(etas):
        out[t + 1] = (1 - eta * beta) * out[t] + 2 * eta**2
    return out


def nash_md_floor(beta, eta) -> np.ndarray:
    """Fixed point ``2 eta / beta`` of the constant-step recursion: where the bound stops decreasing."""
    return 2.0 * _pos("eta", eta) / _pos("beta", beta)


def nash_md_constant_step_bound(kl0, beta, eta, T) -> np.ndarray:
    """Closed form of the recursion at a constant ``eta``: ``(1 - eta beta)^T (K_0 - 2eta/beta) + 2eta/beta``."""
    beta, eta = _pos("beta", beta), _pos("eta", eta)
    if np.any(eta * beta > 1 + 1e-12):
        raise ValueError(f"Nash-MD needs eta * beta <= 1; got eta * beta = {eta * beta}")
    floor = nash_md_floor(beta, eta)
    return (1 - eta * beta) ** _nonneg("T", T) * (_nonneg("kl0", kl0) - floor) + floor


# ---------------------------------------------------------------------------------------------- Nash-MP
def nash_mp_contraction(beta, eta=None) -> np.ndarray:
    """Per-iteration contraction factor ``(1 + eta)^(-1)`` of exact Nash-MP, ``eta = 2 beta`` by default.

    For ``KL(pi*, pi_t)`` it is a bound (the measured KL factor is about its square); for the span
    semi-norm of ``log pi_t - log pi*`` it is tight (``tests/test_tabular_one_step.py``).

    The paper's analysis needs ``eta <= 2 beta``; a larger ``eta`` raises (no guarantee to draw).
    """
    beta = _pos("beta", beta)
    eta = 2.0 * beta if eta is None else _pos("eta", eta)
    if np.any(eta > 2.0 * beta * (1 + 1e-12)):
        raise ValueError(f"Nash-MP's rate needs eta <= 2 beta; got eta = {eta}, beta = {beta}")
    return 1.0 / (1.0 + eta)


def nash_mp_kl_bound(kl0, beta, N=None, *, T=None, eta=None, queries_per_iteration: int = 2) -> np.ndarray:
    """``KL(pi*, pi) <= (1 + eta)^(-T) KL(pi*, pi_0)`` after ``T = N / 2`` iterations (``eta = 2 beta``:
    the headline ``(1 + 2 beta)^(-N/2)``). Give exactly one of ``N`` (queries) or ``T`` (iterations)."""
    if (N is None) == (T is None):
        raise ValueError("give exactly one of N (preference queries) or T (iterations)")
    T = _nonneg("T", T) if T is not None else _nonneg("N", N) / queries_per_iteration
    return nash_mp_contraction(beta, eta) ** T * _nonneg("kl0", kl0)


def nash_mp_exploitability_rate(beta, N, C: float = 1.0) -> np.ndarray:
    """Order of Nash-MP's exploitability rate, ``C (1 + 2 beta)^(-N/2) / beta`` (a slope, not a bound)."""
    beta = _pos("beta", beta)
    return C * (1.0 + 2.0 * beta) ** (-_nonneg("N", N) / 2.0) / beta


# ---------------------------------------------------------------------------------------------- MWU
def mwu_average_bound(eta, T, *, n: int | None = None, pi0_min: float | None = None) -> np.ndarray:
    """Hedge: exploitability of the average of ``T`` iterates ``<= log(1/pi0_min)/(eta T) + eta/8``.

    From a uniform start (give ``n``) the log term is ``log n``; from any start ``pi_0`` it is
    ``log(1 / min_y pi_0(y))`` (the KL from a point mass to ``pi_0``; give ``pi0_min``). The driver's
    average iterate at step ``t`` averages ``pi_0..pi_t``, i.e. ``T = t + 1`` rounds.
    """
    if (n is None) == (pi0_min is None):
        raise ValueError("give exactly one of n (uniform start) or pi0_min (smallest start probability)")
    if n is not None:
        if int(n) < 2:
            raise ValueError(f"n must be >= 2 responses; got {n}")
        log_term = np.log(int(n))
    else:
        if not 0 < pi0_min <= 0.5:
            raise ValueError(f"pi0_min must lie in (0, 1/2]; got {pi0_min}")
        log_term = -np.log(pi0_min)
    eta = _pos("eta", eta)
    return log_term / (eta * _pos("T", T)) + eta / 8.0
