"""Magnetic mirror descent (Sokota et al. 2022, arXiv 2206.05825, "A Unified Approach to
Reinforcement Learning, Quantal Response Equilibria, and Two-Player Zero-Sum Games").

The proximal (implicit-regularizer) mirror-descent step with magnet ``mu``: maximize
``eta [P(pi ≻ pi_t) - beta KL(pi||mu)] - KL(pi||pi_t)``, whose closed form is

    pi_{t+1}(y) ∝ [pi_t(y) mu(y)^(eta beta) exp(eta P(y ≻ pi_t))]^(1 / (1 + eta beta)).

One preference query per iteration (Nash-MP's half step used alone, with Nash-MP's ``eta`` equal to
``eta beta`` here). Sokota et al. prove linear last-iterate convergence to ``pi*_beta`` for
``eta <= beta / L^2`` (``L = 1/2`` for ``P - 1/2``); in practice much larger steps work.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from workbench.games.game import PreferenceGame
from workbench.schedules import ScalarOrSchedule
from workbench.tabular.base import SteppedMethod, ExactOracle, TabularState


@dataclass(frozen=True)
class MMD(SteppedMethod):
    """``eta``: a constant step or a schedule (any ``eta > 0``; the proximal form is always well defined)."""

    eta: ScalarOrSchedule = 0.1
    name: str = "MMD"

    def step(self, game: PreferenceGame, state: TabularState, oracle=None, generator=None) -> TabularState:
        oracle = oracle or ExactOracle()
        eta = self.step_size(game, state.t)[..., None]  # (*B, 1)
        eb = eta * game.beta[..., None]  # (*B, 1)
        win, cost = oracle(game, state.pi, generator)  # (*B, n) ≈ P(y ≻ pi_t)
        logits = (torch.log(state.pi) + eb * torch.log(game.mu) + eta * win) / (1 + eb)  # (*B, n)
        return state.advance(torch.softmax(logits, -1), state.queries + cost)
