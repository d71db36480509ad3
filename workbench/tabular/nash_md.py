"""Nash-MD: Nash mirror descent (Munos et al. 2023, arXiv 2312.00886, Section 5, tabular).

One preference query per iteration: first the geometric mixture between the current policy and ``mu``

    pi_t^mu(y) ∝ pi_t(y)^(1 - eta_t beta) mu(y)^(eta_t beta)

then a mirror-descent step against it

    pi_{t+1}(y) ∝ pi_t^mu(y) exp(eta_t P(y ≻ pi_t^mu)),        with eta_t beta <= 1.

Theorem 1: ``KL(pi*, pi_{t+1}) <= (1 - eta_t beta) KL(pi*, pi_t) + 2 eta_t^2``; the schedule
``eta_t = 2 / (beta (t + 2))`` gives ``KL(pi*, pi_T) <= 8 / (beta^2 (T + 1))`` for the last iterate.
A constant ``eta`` contracts linearly down to a floor of order ``eta / beta``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from workbench.games.game import PreferenceGame
from workbench.schedules import ScalarOrSchedule, nash_md_theory
from workbench.tabular.base import ExactOracle, SteppedMethod, TabularState


@dataclass(frozen=True)
class NashMD(SteppedMethod):
    """``eta``: a constant step or a schedule (default :func:`workbench.schedules.nash_md_theory`,
    ``eta_t = 2/(beta (t+2))``, Theorem 1), clipped so that ``eta_t beta <= 1``."""

    eta: ScalarOrSchedule = field(default_factory=nash_md_theory)
    name: str = "Nash-MD"
    cap_inverse_beta: ClassVar[bool] = True

    def step(self, game: PreferenceGame, state: TabularState, oracle=None, generator=None) -> TabularState:
        oracle = oracle or ExactOracle()
        eta = self.step_size(game, state.t)[..., None]  # (*B, 1)
        w = (eta * game.beta[..., None]).clamp(max=1.0)  # (*B, 1) weight of mu; the cap can leave 1 + 1 ulp
        # pi^(1 - w): at w = 1 it is 1 even where pi underflowed to 0 (0 * log 0 would be NaN)
        own = torch.where(w < 1, (1 - w) * torch.log(state.pi), torch.zeros_like(state.pi))  # (*B, n)
        mix_logits = own + w * torch.log(game.mu)  # (*B, n)
        pi_mix = torch.softmax(mix_logits, -1)  # (*B, n)
        win, cost = oracle(game, pi_mix, generator)  # (*B, n) ≈ P(y ≻ pi_t^mu)
        pi_next = torch.softmax(torch.log(pi_mix) + eta * win, -1)
        return state.advance(pi_next, state.queries + cost)
