"""The stepwise solver API shared by every tabular method (Optax style: ``init`` then ``step``).

A method is a small frozen dataclass of hyperparameters with

    state = method.init(game, oracle)            # a TabularState at t = 0 (pi_0 = mu unless given)
    state = method.step(game, state, oracle)     # one iteration, batched over the game's batch dims

``TabularState.pi`` is the last iterate ``(*B, n)``, ``avg`` the running average iterate, ``t`` the
iteration count and ``queries`` the preference queries spent so far ``(*B,)`` (Nash-MP's ``N``). A method
that carries more between iterations has its own typed state, a subclass with named fields (in the spirit
of optax's ``ScaleByAdamState``): :class:`workbench.tabular.omwu.OMWUState` (the previous gradient),
:class:`workbench.tabular.nash_mp.NashMPState` (the per-game prox constants). The methods never evaluate
``P`` directly: they ask an oracle for ``P(y ≻ opponent)`` for all ``y``, so the same code runs exactly
(:class:`ExactOracle`) or from sampled comparisons (:class:`SampledOracle`).

Step sizes are ``eta: float | Schedule`` (:mod:`workbench.schedules`), validated when the method is built.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import ClassVar

import torch

from workbench.games.game import PreferenceGame
from workbench.schedules import Schedule, as_schedule, inverse_beta_cap


@dataclass(frozen=True)
class TabularState:
    pi: torch.Tensor  # (*B, n) last iterate
    avg: torch.Tensor  # (*B, n) uniform average of the iterates pi_0..pi_t
    t: int
    queries: torch.Tensor  # (*B,) preference queries spent

    def advance(self, pi_next: torch.Tensor, queries: torch.Tensor, **fields_) -> "TabularState":
        """The state at ``t + 1``: ``pi_next``, the running mean of ``pi_0..pi_{t+1}``, ``queries`` and
        the subclass's own fields given by name (same type as ``self``)."""
        t = self.t + 1
        avg = torch.lerp(self.avg, pi_next, 1.0 / (t + 1))  # running mean of pi_0..pi_t
        return replace(self, pi=pi_next, avg=avg, t=t, queries=queries, **fields_)

    def tensors(self) -> dict[str, torch.Tensor | None]:
        """Every tensor field by name (``pi, avg, queries`` and the subclass's), for code that splits or
        concatenates states along the batch (e.g. :func:`workbench.tabular.driver.final_state`)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "t"}


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


def init_state(game: PreferenceGame, pi0: torch.Tensor | None = None, state_type: type = TabularState,
               **fields_) -> TabularState:
    """The state at ``t = 0``: ``pi_0 = mu`` unless ``pi0`` is given (broadcast to the batch), no queries;
    ``state_type`` a :class:`TabularState` subclass whose own fields are given by name."""
    if pi0 is None:
        pi = game.mu.clone()  # (*B, n)
    else:
        pi0 = torch.as_tensor(pi0).to(game.mu)
        if pi0.shape[-1] != game.n:
            raise ValueError(f"pi0 must have {game.n} entries (last dim); got shape {tuple(pi0.shape)}")
        if (pi0 < 0).any() or ((pi0.sum(-1) - 1).abs() > 1e-5).any():
            raise ValueError("pi0 must be a probability vector (non-negative, summing to 1 over the last dim)")
        pi = pi0.expand_as(game.mu).clone()
    return state_type(pi=pi, avg=pi.clone(), t=0, queries=torch.zeros_like(game.beta), **fields_)


class SteppedMethod:
    """Shared pieces of the methods with a step size ``eta: float | Schedule``:

    - ``__post_init__`` validates ``eta`` when the method is built (:func:`workbench.schedules.as_schedule`:
      ``eta > 0``, finite, not a bool or a string; a ``ValueError`` naming the method and the value);
    - :attr:`schedule`, the step as a :class:`~workbench.schedules.Schedule`, clipped to ``eta_t beta <= 1``
      when :attr:`cap_inverse_beta` (needed where ``1 - eta beta`` is an exponent);
    - ``step_size(game, t)``: ``eta_t`` per game, shape ``(*B,)``;
    - ``init`` (``pi_0 = mu`` unless given); methods with a schedule that needs ``beta > 0`` check it there.
    """

    cap_inverse_beta: ClassVar[bool] = False

    def __post_init__(self):
        schedule = as_schedule(self.eta, owner=f"{self.name} ({type(self).__name__})")
        if not isinstance(self.eta, Schedule):
            object.__setattr__(self, "eta", schedule.eta)  # a plain float (ints, numpy scalars normalized)
        object.__setattr__(self, "_schedule", inverse_beta_cap(schedule) if self.cap_inverse_beta else schedule)

    @property
    def schedule(self) -> Schedule:
        """The step actually used: ``eta`` as a schedule, capped at ``1/beta`` when the method needs it."""
        return self._schedule

    def step_size(self, game: PreferenceGame, t: int) -> torch.Tensor:
        """``eta_t`` per game, shape ``(*B,)``."""
        return self._schedule(t, game.beta)

    def check_beta(self, game: PreferenceGame) -> None:
        """A schedule that divides by or scales with ``beta`` needs ``beta > 0`` in every game."""
        if self._schedule.needs_positive_beta and bool((game.beta <= 0).any()):
            raise ValueError(f"{self.name}: the step schedule eta_t = {getattr(self.eta, 'label', self.eta)} needs beta > 0 in every "
                             f"game; got min beta = {game.beta.min().item():g} (use a constant eta)")

    def init(self, game: PreferenceGame, oracle=None, pi0: torch.Tensor | None = None) -> TabularState:
        self.check_beta(game)
        return init_state(game, pi0)
