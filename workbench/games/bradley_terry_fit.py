"""The best Bradley–Terry approximation of a preference matrix, and how cyclic a game is.

**BT fit (maximum likelihood).** A Bradley–Terry (BT) model ``P_r(y ≻ y') = sigmoid(r(y) - r(y'))``
can only express *transitive* preferences. The best BT approximation of a general ``P`` minimizes the
weighted cross-entropy over all ordered pairs ``i != j`` (the population log-likelihood of pairwise
comparisons drawn with probability ``w_ij``):

    L(r) = - sum_{i != j} w_ij [ P_ij log sigmoid(r_i - r_j) + P_ji log sigmoid(r_j - r_i) ]

    grad_i L = 2 sum_j w_ij (sigmoid(r_i - r_j) - P_ij)
    hess L   = 2 (diag(A 1) - A),   A_ij = w_ij s_ij (1 - s_ij),  s_ij = sigmoid(r_i - r_j)

with ``w = mu ⊗ mu`` (comparisons between two draws of the reference policy, as in RLHF data) or
uniform. ``L`` is convex (its Hessian is a weighted graph Laplacian) and invariant to adding a constant
to ``r``; we fix ``sum_i r_i = 0`` and run damped Newton (Armijo backtracking, :mod:`workbench.optim`),
batched over leading dimensions. At the optimum ``sum_j w_ij (P_BT - P)_ij = 0`` for every ``i`` (a
"moment matching" condition): on rock–paper–scissors with uniform weights every row of ``P - 1/2`` sums
to zero, so ``r = 0`` and the best BT model predicts 1/2 everywhere (with ``w = mu ⊗ mu`` for a skewed
``mu`` the data over-sample some match-ups and the fit tilts towards whoever wins those). Its RLHF
optimum ``mu exp(r/beta)/Z`` (:func:`workbench.games.gibbs`) is then ``mu`` itself, while the Nash
equilibrium of RPS is uniform: a BT reward cannot see the cycle. The maximum-likelihood estimate does not exist when a group of responses beats all others with probability exactly 1: the rewards then
grow until the gradient is below ``tol`` (gaps of about ``log(1/tol)``); pass ``l2 > 0`` (a ridge
``l2 ||r||^2``) for finite, comparable rewards.

**Hodge decomposition (HodgeRank; Jiang, Lim, Yao & Ye 2011, Math. Programming 127).** An edge flow
on the complete graph, a skew-symmetric ``Y``, splits orthogonally (in the ``w``-weighted inner product
``<X, Y>_w = sum_{i,j} w_ij X_ij Y_ij``) into a *gradient* flow ``s_i - s_j`` and a *curl* (cyclic)
flow; on a complete graph with positive weights the harmonic part is zero, so the residual is all curl.
The potential ``s`` solves the weighted least-squares problem ``min_s sum w_ij (Y_ij - s_i + s_j)^2``,
i.e. the Laplacian system ``(diag(W 1) - W) s = div Y`` with ``(div Y)_i = sum_j w_ij Y_ij``. The
**cyclic share** is ``||Y - grad s||_w^2 / ||Y||_w^2`` in [0, 1]: 0 for a transitive game, 1 for a pure
cycle. Two flows are offered:

- ``flow="logit"`` (default): ``Y = log(P / P^T)``; for a BT game ``Y_ij = r_i - r_j`` exactly, so its
  share is 0. Entries are clipped to ``[eps, 1 - eps]`` first so 0/1 preferences stay finite (a BT game whose
  probabilities reach ``eps`` gets a tiny nonzero share from the clipping).
- ``flow="linear"``: ``Y = P - 1/2`` (bounded, needs no clipping; a BT game then has a small nonzero
  share because ``sigmoid`` is not additive).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from workbench.games.game import GameError, PreferenceGame
from workbench.optim import backtracking, newton_step

__all__ = [
    "BTFit",
    "BTFitError",
    "HodgeDecomposition",
    "fit_bradley_terry",
    "bt_matrix",
    "bt_game",
    "hodge_decomposition",
    "cyclic_share",
]


class BTFitError(RuntimeError):
    """The Bradley–Terry fit did not converge (typically: the MLE does not exist; use ``l2 > 0``)."""


@dataclass(frozen=True)
class BTFit:
    """Result of :func:`fit_bradley_terry` (batch shape ``B``).

    Attributes:
        rewards: ``(*B, n)`` fitted rewards, centred (``sum_i r_i = 0``).
        P: ``(*B, n, n)`` the BT preference matrix ``sigmoid(r_i - r_j)``.
        cross_entropy: ``(*B,)`` weighted cross-entropy ``L(r) / sum_{i != j} w_ij`` per pair.
        kl: ``(*B,)`` weighted mean KL between the Bernoulli ``P_ij`` and ``P_BT,ij`` (0 iff ``P`` is BT).
        grad_norm: ``(*B,)`` max-norm of the normalized gradient at the solution.
        iterations: Newton steps taken.
    """

    rewards: torch.Tensor
    P: torch.Tensor
    cross_entropy: torch.Tensor
    kl: torch.Tensor
    grad_norm: torch.Tensor
    iterations: int


@dataclass(frozen=True)
class HodgeDecomposition:
    """Result of :func:`hodge_decomposition` (batch shape ``B``).

    Attributes:
        flow: ``(*B, n, n)`` the skew-symmetric edge flow ``Y``.
        potential: ``(*B, n)`` the gradient potential ``s`` (centred), the HodgeRank score.
        gradient: ``(*B, n, n)`` ``s_i - s_j``.
        curl: ``(*B, n, n)`` ``Y - gradient`` (cyclic part; the harmonic part is 0 on a complete graph).
        cyclic_share: ``(*B,)`` ``||curl||_w^2 / ||Y||_w^2`` in [0, 1] (0 when ``Y = 0``).
    """

    flow: torch.Tensor
    potential: torch.Tensor
    gradient: torch.Tensor
    curl: torch.Tensor
    cyclic_share: torch.Tensor


def _as_P(P) -> torch.Tensor:
    if isinstance(P, PreferenceGame):
        return P.P
    P = torch.as_tensor(P)
    if not P.is_floating_point():
        P = P.to(torch.float64)
    if P.ndim < 2 or P.shape[-1] != P.shape[-2]:
        raise GameError(f"P must be square (*batch, n, n); got shape {tuple(P.shape)}")
    return P


def _weights(P: torch.Tensor, weights, mu) -> torch.Tensor:
    """Symmetric pair weights ``(*B, n, n)`` with a zero diagonal, normalized to sum 1 per game."""
    n = P.shape[-1]
    if isinstance(weights, str):
        if weights == "uniform":
            W = torch.ones_like(P)
        elif weights == "mu":
            if mu is None:
                raise GameError("weights='mu' needs mu (pass a PreferenceGame or mu=...)")
            mu = torch.as_tensor(mu, dtype=P.dtype, device=P.device)
            if mu.shape[-1] != n:
                raise GameError(f"mu must have {n} entries (last dim) to match P; got shape {tuple(mu.shape)}")
            if (mu <= 0).any():
                raise GameError("weights='mu' needs a strictly positive mu (a zero weight can disconnect the graph)")
            W = mu[..., :, None] * mu[..., None, :]
        else:
            raise GameError(f"weights must be 'uniform', 'mu' or a tensor; got {weights!r}")
    else:
        W = torch.as_tensor(weights, dtype=P.dtype, device=P.device)
        if W.shape[-2:] != (n, n):
            raise GameError(f"weights must be (*batch, {n}, {n}); got shape {tuple(W.shape)}")
        if (W < 0).any() or not torch.allclose(W, W.transpose(-1, -2)):
            raise GameError("weights must be symmetric and non-negative")
    eye = torch.eye(n, dtype=P.dtype, device=P.device)
    W = torch.broadcast_to(W * (1 - eye), torch.broadcast_shapes(W.shape, P.shape))  # (*B, n, n)
    return W / W.sum((-1, -2), keepdim=True)


def bt_matrix(rewards: torch.Tensor) -> torch.Tensor:
    """``sigmoid(r_i - r_j)``: ``(*B, n)`` rewards to a ``(*B, n, n)`` BT preference matrix."""
    return torch.sigmoid(rewards[..., :, None] - rewards[..., None, :])


def _bt_loss(P, W, r, l2):
    d = r[..., :, None] - r[..., None, :]  # (*B, n, n)
    ce = -(W * (P * torch.nn.functional.logsigmoid(d) + (1 - P) * torch.nn.functional.logsigmoid(-d))).sum((-1, -2))
    return ce + l2 * (r * r).sum(-1)  # (*B,)


def fit_bradley_terry(
    P,
    weights: str | torch.Tensor = "uniform",
    mu: torch.Tensor | None = None,
    *,
    l2: float = 0.0,
    tol: float = 1e-12,
    max_iter: int = 100,
) -> BTFit:
    """Maximum-likelihood Bradley–Terry rewards of ``P`` (a tensor ``(*B, n, n)`` or a PreferenceGame).

    Args:
        P: preference matrix (or a game; its ``mu`` is then used for ``weights="mu"``).
        weights: ``"uniform"`` over pairs, ``"mu"`` (``mu ⊗ mu``) or a symmetric ``(*B, n, n)`` tensor.
        mu: reference policy for ``weights="mu"`` when ``P`` is a tensor.
        l2: ridge on the rewards (0 = plain MLE); needed when some responses always win.
        tol: stop when the max-norm of the (pair-normalized) gradient is below ``tol``.
        max_iter: Newton steps before :class:`BTFitError`.

    Returns:
        A :class:`BTFit` with centred rewards, the BT matrix and the fit's cross-entropy / KL.
    """
    if isinstance(P, PreferenceGame) and mu is None:
        mu = P.mu
    P = _as_P(P)
    if ((P < 0) | (P > 1)).any():
        raise GameError("P entries must lie in [0, 1]")
    if (P + P.transpose(-1, -2) - 1).abs().max() > 1e-6:
        raise GameError("P must satisfy P + P^T = 1")
    if l2 < 0:
        raise GameError(f"l2 must be >= 0; got {l2}")
    W = _weights(P, weights, mu)  # (*B, n, n), sums to 1
    P = P.expand_as(W)
    n = P.shape[-1]
    r = torch.zeros(P.shape[:-1], dtype=P.dtype, device=P.device)  # (*B, n)
    ones = torch.ones(n, dtype=P.dtype, device=P.device)
    gauge = ones[:, None] * ones[None, :] / n  # (n, n): fixes the constant direction of the Laplacian
    eye = torch.eye(n, dtype=P.dtype, device=P.device)
    f = _bt_loss(P, W, r, l2)
    it = 0
    for it in range(max_iter + 1):
        s = bt_matrix(r)  # (*B, n, n)
        grad = 2 * (W * (s - P)).sum(-1) + 2 * l2 * r  # (*B, n)
        gnorm = grad.abs().amax(-1)  # (*B,)
        active = gnorm > tol
        if not active.any() or it == max_iter:
            break
        A = W * s * (1 - s)  # (*B, n, n)
        H = 2 * (torch.diag_embed(A.sum(-1)) - A) + 2 * l2 * eye + gauge  # (*B, n, n)
        step = newton_step(H, grad)  # (*B, n), sums to ~0
        step = step - step.mean(-1, keepdim=True)
        slope = (grad * step).sum(-1)  # (*B,)
        ls = backtracking(lambda cand: _bt_loss(P, W, cand, l2), r, step, f, slope,
                          c=1e-4, max_halvings=50, active=active, flat_tol=1e-15)
        r = torch.where(active[..., None], ls.x, r)
        f = torch.where(active, ls.f, f)
    if (gnorm > tol).any():
        worst = int(gnorm.flatten().argmax())
        raise BTFitError(
            f"Bradley–Terry fit did not reach gradient {tol:g} in {max_iter} Newton steps "
            f"({int((gnorm > tol).sum())} game(s) left, worst flat index {worst} at {gnorm.flatten()[worst].item():.3g}, "
            f"max |r| = {r.abs().max().item():.3g}); the MLE may not exist (some responses always win): try l2 > 0"
        )
    r = r - r.mean(-1, keepdim=True)
    P_bt = bt_matrix(r)
    ce = _bt_loss(P, W, r, 0.0)
    ent = -(W * torch.special.xlogy(P, P) + W * torch.special.xlogy(1 - P, 1 - P)).sum((-1, -2))  # (*B,)
    return BTFit(rewards=r, P=P_bt, cross_entropy=ce, kl=(ce - ent).clamp_min(0), grad_norm=gnorm, iterations=it)


def bt_game(fit: BTFit, game: PreferenceGame) -> PreferenceGame:
    """The game with ``P`` replaced by its BT fit (same ``mu``, ``beta`` and names)."""
    return PreferenceGame.create(fit.P, game.mu, game.beta, names=game.names, dtype=game.dtype, device=game.device, validate=False)


def hodge_decomposition(
    P,
    weights: str | torch.Tensor = "uniform",
    mu: torch.Tensor | None = None,
    *,
    flow: str = "logit",
    eps: float = 1e-9,
) -> HodgeDecomposition:
    """Split the skew part of ``P`` into a gradient (transitive) and a curl (cyclic) flow; see the module
    docstring. ``P`` is ``(*B, n, n)`` or a PreferenceGame (whose ``mu`` serves ``weights="mu"``)."""
    if isinstance(P, PreferenceGame) and mu is None:
        mu = P.mu
    P = _as_P(P)
    if flow == "logit":
        Pc = P.clamp(eps, 1 - eps)
        Y = torch.log(Pc) - torch.log(Pc.transpose(-1, -2))  # (*B, n, n), skew
    elif flow == "linear":
        Y = P - 0.5
        Y = 0.5 * (Y - Y.transpose(-1, -2))
    else:
        raise GameError(f"flow must be 'logit' or 'linear'; got {flow!r}")
    W = _weights(P, weights, mu)  # (*B, n, n)
    Y = Y.expand_as(W)
    n = P.shape[-1]
    lap = torch.diag_embed(W.sum(-1)) - W + torch.ones(n, n, dtype=P.dtype, device=P.device) / n  # (*B, n, n)
    div = (W * Y).sum(-1)  # (*B, n)
    s = torch.linalg.solve(lap, div[..., None])[..., 0]  # (*B, n)
    s = s - s.mean(-1, keepdim=True)
    G = s[..., :, None] - s[..., None, :]  # (*B, n, n)
    C = Y - G
    total = (W * Y * Y).sum((-1, -2))  # (*B,)
    curl = (W * C * C).sum((-1, -2))
    share = torch.where(total > 0, curl / torch.where(total > 0, total, torch.ones_like(total)), torch.zeros_like(total))
    return HodgeDecomposition(flow=Y, potential=s, gradient=G, curl=C, cyclic_share=share.clamp(0, 1))


def cyclic_share(P, weights: str | torch.Tensor = "uniform", mu: torch.Tensor | None = None, *, flow: str = "logit", eps: float = 1e-9) -> torch.Tensor:
    """``(*B,)`` share of the skew part of ``P`` that is cyclic (curl), see :func:`hodge_decomposition`."""
    return hodge_decomposition(P, weights, mu, flow=flow, eps=eps).cyclic_share
