"""Optimistic multiplicative weights on the regularized game (Daskalakis & Panageas 2019; Wei, Lee,
Zhang & Luo 2021 for the unregularized last iterate; Chen, Zhou, Zhang, Fazel & Du 2025, arXiv
2512.24818, for NLHF).

One preference query per iteration: the extragradient's second query is replaced by the previous
iteration's, i.e. the gradient is extrapolated optimistically, ``g_t = P(. ≻ pi_t)``,

    pi_{t+1}(y) ∝ pi_t(y)^(1 - eta beta) mu(y)^(eta beta) exp(eta (2 g_t(y) - g_{t-1}(y))),

with ``g_{-1} = g_0``. ``beta = 0`` gives plain OMWU, whose last iterate converges on games with a
unique fully mixed equilibrium such as rock–paper–scissors (where MWU cycles); ``beta > 0`` converges
linearly to ``pi*_beta`` for small enough ``eta``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from workbench.games.game import PreferenceGame
from workbench.schedules import ScalarOrSchedule
from workbench.tabular.base import ExactOracle, SteppedMethod, TabularState, init_state


@dataclass(frozen=True)
class OMWUState(TabularState):
    """OMWU's state: the common fields plus the previous gradient ``g_{t-1} = P(. ≻ pi_{t-1})``
    (``None`` at ``t = 0``, where ``g_{-1} = g_0``)."""

    prev_win: torch.Tensor | None = None  # (*B, n)


@dataclass(frozen=True)
class OMWU(SteppedMethod):
    """``eta``: a constant step or a schedule (clipped so that ``eta beta <= 1``); ``regularized=False``
    ignores ``beta`` (plain OMWU, no clipping)."""

    eta: ScalarOrSchedule = 0.1
    regularized: bool = True
    name: str = "OMWU"

    @property
    def cap_inverse_beta(self) -> bool:
        return self.regularized

    def init(self, game: PreferenceGame, oracle=None, pi0: torch.Tensor | None = None) -> OMWUState:
        self.check_beta(game)
        return init_state(game, pi0, OMWUState)

    def step(self, game: PreferenceGame, state: TabularState, oracle=None, generator=None) -> OMWUState:
        oracle = oracle or ExactOracle()
        eta = self.step_size(game, state.t)[..., None]  # (*B, 1)
        eb = eta * game.beta[..., None] if self.regularized else torch.zeros_like(eta)  # (*B, 1)
        win, cost = oracle(game, state.pi, generator)  # (*B, n) ≈ P(y ≻ pi_t)
        prev = getattr(state, "prev_win", None)  # (*B, n) g_{t-1}; a plain TabularState has none
        prev = win if prev is None else prev
        logits = (1 - eb) * torch.log(state.pi) + eb * torch.log(game.mu) + eta * (2 * win - prev)
        if not isinstance(state, OMWUState):
            state = OMWUState(state.pi, state.avg, state.t, state.queries)
        return state.advance(torch.softmax(logits, -1), state.queries + cost, prev_win=win)
