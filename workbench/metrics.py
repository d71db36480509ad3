"""One metrics module scores every method (as OpenSpiel's ``exploitability.py`` does).

All functions broadcast over leading batch dimensions: a game with batch shape ``B`` and policies of
shape ``(*B, n)`` give metrics of shape ``B``. Definitions (docs/ALGORITHMS.md, "Metrics"):

- regularized exploitability  ``max_pi' P_beta(pi' ≻ pi) - 1/2
  = beta log sum_y mu(y) exp(P(y ≻ pi)/beta) + beta KL(pi||mu) - 1/2`` (best response is Gibbs);
  zero exactly at the regularized Nash equilibrium; the symmetric game's duality gap is twice it.
  At ``beta = 0`` it is the unregularized exploitability.
- unregularized exploitability ``max_y P(y ≻ pi) - 1/2``.
- ``KL(pi* || pi)`` (Nash-MD's and Nash-MP's Lyapunov quantity) and the span semi-norm
  ``max_y log(pi/pi*) - min_y log(pi/pi*)`` (Nash-MP's uniform rate).
- win rate ``P(pi ≻ mu)`` and ``KL(pi || mu)``, the two axes of the LLM papers' frontier.
"""

from __future__ import annotations

import torch

from workbench.games.game import PreferenceGame, kl

__all__ = [
    "kl",
    "regularized_exploitability",
    "duality_gap",
    "exploitability",
    "kl_to_equilibrium",
    "span_seminorm",
    "win_rate",
    "kl_to_reference",
    "evaluate",
    "check_distribution",
]


def check_distribution(pi, shape: tuple[int, ...] | torch.Size | None = None, *, name: str = "pi",
                       where: str = "evaluate", tol: float = 1e-4) -> torch.Tensor:
    """``pi`` as a tensor after checking that it is a batch of distributions over the last dim: a floating
    tensor (of ``shape`` when given), finite, non-negative, each row summing to 1 within ``tol``. Every error
    names ``where``, ``name`` and the offending entry or row."""
    if not isinstance(pi, torch.Tensor):
        raise TypeError(f"{where}: {name} must be a torch.Tensor of probabilities; got {type(pi).__name__}")
    if not pi.is_floating_point():
        raise TypeError(f"{where}: {name} must be a floating tensor of probabilities; got dtype {pi.dtype}")
    if shape is not None and tuple(pi.shape) != tuple(shape):
        raise ValueError(f"{where}: {name} has shape {tuple(pi.shape)}; expected {tuple(shape)}")
    if pi.ndim == 0 or pi.shape[-1] == 0:
        raise ValueError(f"{where}: {name} has shape {tuple(pi.shape)}; expected (..., n) with n >= 1")
    bad = ~torch.isfinite(pi)
    if bool(bad.any()):
        idx = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(f"{where}: {name}{list(idx)} is {float(pi[idx])!r}; probabilities must be finite")
    if bool((pi < 0).any()):
        idx = tuple(int(i) for i in (pi < 0).nonzero()[0])
        raise ValueError(f"{where}: {name}{list(idx)} = {float(pi[idx]):.6g} is negative; not a distribution")
    off = (pi.sum(-1) - 1).abs()  # (*B,)
    if bool((off > tol).any()):
        row = tuple(int(i) for i in (off > tol).nonzero()[0]) if off.ndim else ()
        raise ValueError(f"{where}: {name}{list(row) if row else ''} sums to {float(pi.sum(-1)[row]):.6g}, not 1 "
                         f"(tolerance {tol:g}); normalize it over the last dimension")
    return pi


def regularized_exploitability(game: PreferenceGame, pi: torch.Tensor) -> torch.Tensor:
    """``max_pi' P_beta(pi' ≻ pi) - 1/2``, shape ``B``; reduces to :func:`exploitability` at beta = 0."""
    beta = game.beta  # (*B,)
    win = game.win_prob(pi)  # (*B, n)
    safe = torch.where(beta > 0, beta, torch.ones_like(beta))[..., None]  # (*B, 1)
    soft = safe[..., 0] * torch.logsumexp(torch.log(game.mu) + win / safe, dim=-1)  # (*B,)
    reg = soft + beta * kl(pi, game.mu) - 0.5
    return torch.where(beta > 0, reg, win.amax(-1) - 0.5)


def duality_gap(game: PreferenceGame, pi: torch.Tensor) -> torch.Tensor:
    """Duality gap of the symmetric regularized game at ``(pi, pi)``: twice the exploitability."""
    return 2.0 * regularized_exploitability(game, pi)


def exploitability(game: PreferenceGame, pi: torch.Tensor) -> torch.Tensor:
    """Unregularized exploitability ``max_y P(y ≻ pi) - 1/2`` (>= 0, zero at a Nash equilibrium)."""
    return game.win_prob(pi).amax(-1) - 0.5


def kl_to_equilibrium(pi_star: torch.Tensor, pi: torch.Tensor) -> torch.Tensor:
    """``KL(pi* || pi)``, shape ``B``."""
    return kl(pi_star, pi)


def span_seminorm(pi: torch.Tensor, pi_star: torch.Tensor) -> torch.Tensor:
    """``max_y log(pi/pi*) - min_y log(pi/pi*)`` over the support of ``pi*``, shape ``B``."""
    d = torch.log(pi) - torch.log(pi_star)  # (*B, n)
    inside = pi_star > 0
    hi = torch.where(inside, d, torch.full_like(d, -torch.inf)).amax(-1)
    lo = torch.where(inside, d, torch.full_like(d, torch.inf)).amin(-1)
    return hi - lo


def win_rate(game: PreferenceGame, pi: torch.Tensor, opponent: torch.Tensor | None = None) -> torch.Tensor:
    """``P(pi ≻ opponent)``, against ``mu`` by default, shape ``B``."""
    return game.preference(pi, game.mu if opponent is None else opponent)


def kl_to_reference(game: PreferenceGame, pi: torch.Tensor) -> torch.Tensor:
    """``KL(pi || mu)``, shape ``B``."""
    return kl(pi, game.mu)


def evaluate(game: PreferenceGame, pi: torch.Tensor, pi_star: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Every metric of ``pi`` in one dict of ``B``-shaped tensors (the equilibrium ones need ``pi_star``)."""
    out = {
        "reg_exploitability": regularized_exploitability(game, pi),
        "exploitability": exploitability(game, pi),
        "win_rate_vs_mu": win_rate(game, pi),
        "kl_to_mu": kl_to_reference(game, pi),
    }
    if pi_star is not None:
        out["kl_to_eq"] = kl_to_equilibrium(pi_star, pi)
        out["span_log_ratio"] = span_seminorm(pi, pi_star)
    return out
