"""The stepwise solver API shared by every tabular method (Optax style: ``init`` then ``step``).

A method is a small frozen dataclass of hyperparameters with

    state = method.init(game, oracle)            # TabularState at t = 0 (pi_0 = mu unless given)
    state = method.step(game, state, oracle)     # one iteration, batched over the game's batch dims

``TabularState.pi`` is the last iterate ``(*B, n)``, ``avg`` the running average iterate, ``t`` the
iteration count and ``queries`` the preference queries spent so far ``(*B,)`` (Nash-MP's ``N``). The
methods never evaluate ``P`` directly: they ask an oracle for ``P(y ≻ opponent)`` for all ``y``, so the
same code runs exactly (:class:`ExactOracle`) or from sampled comparisons (:class:`SampledOracle`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import torch

from workbench.games.game import PreferenceGame


@dataclass(frozen=True)
class TabularState:
    pi: torch.Tensor  # (*B, n) last iterate
    avg: torch.Tensor  # (*B, n) uniform average of the iterates pi_0..pi_t
    t: int
    queries: torch.Tensor  # (*B,) preference queries spent
    extra: dict | None = None  # method-specific tensors (e.g. optimistic gradients, FP counts)

    def advance(self, pi_next: torch.Tensor, queries: torch.Tensor, **extra) -> "TabularState":
        t = self.t + 1
        avg = torch.lerp(self.avg, pi_next, 1.0 / (t + 1))  # running mean of pi_0..pi_t
        return replace(self, pi=pi_next, avg=avg, t=t, queries=queries, extra={**(self.extra or {}), **extra} or None)


class ExactOracle:
    """``P(y ≻ opponent)`` for every ``y`` exactly; one query per (game, call) by convention: the
    exact expectation stands for a large sample, and ``n`` queries would be a full matrix-vector product.
    Counting one call as ``n`` queries (``per_call="n"``) matches "query every response once"."""

    def __init__(self, per_call: str = "one"):
        if per_call not in ("one", "n"):
            raise ValueError(f"per_call must be 'one' or 'n'; got {per_call!r}")
        self.per_call = per_call

    def __call__(self, game: PreferenceGame, opponent: torch.Tensor, generator=None) -> tuple[torch.Tensor, int]:
        cost = 1 if self.per_call == "one" else game.n
        return game.win_prob(opponent), cost  # (*B, n)


class SampledOracle:
    """Unbiased estimate of ``P(y ≻ opponent)`` for all ``y`` from ``samples`` comparisons each.

    For every response ``y``: draw ``y'_1..y'_k ~ opponent``, then Bernoulli outcomes with mean
    ``P(y ≻ y'_i)``; the estimate is their mean. Cost: ``n * samples`` preference queries per call.
    """

    def __init__(self, samples: int = 1):
        if samples < 1:
            raise ValueError(f"samples must be >= 1; got {samples}")
        self.samples = int(samples)

    def __call__(self, game: PreferenceGame, opponent: torch.Tensor, generator: torch.Generator | None = None):
        n, k = game.n, self.samples
        flat_opp = opponent.reshape(-1, n)  # (B', n)
        idx = torch.multinomial(flat_opp, n * k, replacement=True, generator=generator)  # (B', n*k)
        idx = idx.reshape(*opponent.shape[:-1], n, k)  # (*B, n, k) opponents of each y
        p = torch.gather(game.P, -1, idx)  # (*B, n, k) = P(y ≻ y'_i)
        wins = torch.bernoulli(p, generator=generator)
        return wins.mean(-1), n * k  # (*B, n)


def constant_step(eta, game: PreferenceGame, cap_inverse_beta: bool = False) -> torch.Tensor:
    """A constant step ``eta`` per game, shape ``B``; ``cap_inverse_beta`` clips it to ``eta beta <= 1``
    (needed where ``1 - eta beta`` is an exponent)."""
    if isinstance(eta, str) or not float(eta) > 0:
        raise ValueError(f"eta must be a positive number; got {eta!r}")
    out = torch.full_like(game.beta, float(eta))  # (*B,)
    if cap_inverse_beta:
        out = torch.minimum(out, 1.0 / game.beta.clamp_min(1e-12))
    return out


def init_state(game: PreferenceGame, pi0: torch.Tensor | None = None, **extra) -> TabularState:
    """The state at ``t = 0``: ``pi_0 = mu`` unless ``pi0`` is given (broadcast to the batch), no queries."""
    if pi0 is None:
        pi = game.mu.clone()  # (*B, n)
    else:
        pi0 = torch.as_tensor(pi0).to(game.mu)
        if pi0.shape[-1] != game.n:
            raise ValueError(f"pi0 must have {game.n} entries (last dim); got shape {tuple(pi0.shape)}")
        if (pi0 < 0).any() or ((pi0.sum(-1) - 1).abs() > 1e-5).any():
            raise ValueError("pi0 must be a probability vector (non-negative, summing to 1 over the last dim)")
        pi = pi0.expand_as(game.mu).clone()
    return TabularState(pi=pi, avg=pi.clone(), t=0, queries=torch.zeros_like(game.beta), extra=extra or None)


class ConstantStepMethod:
    """Shared pieces of the constant-step methods: ``step_size`` (``eta`` per game, shape ``B``, clipped
    to ``eta beta <= 1`` when the class sets ``cap_inverse_beta``) and ``init`` (``pi_0 = mu`` unless given)."""

    cap_inverse_beta: ClassVar[bool] = False

    def step_size(self, game: PreferenceGame, t: int) -> torch.Tensor:
        return constant_step(self.eta, game, cap_inverse_beta=self.cap_inverse_beta)

    def init(self, game: PreferenceGame, oracle=None, pi0: torch.Tensor | None = None) -> TabularState:
        return init_state(game, pi0)


def normalize_log(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dim: a policy from unnormalized log-probabilities."""
    return torch.softmax(logits, dim=-1)
