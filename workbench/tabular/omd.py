"""Online mirror descent self-play on the regularized game (Munos et al. 2023, arXiv 2312.00886,
the self-play baseline of Section 5; Online IPO in its policy-gradient form).

Like Nash-MD but the opponent is the current policy itself (no mixture): one preference query per
iteration, the entropic mirror-descent step on ``P_beta(. ≻ pi_t)``,

    pi_{t+1}(y) ∝ pi_t(y)^(1 - eta beta) mu(y)^(eta beta) exp(eta P(y ≻ pi_t)),     eta beta <= 1.

For a small enough constant ``eta`` the last iterate converges linearly to ``pi*_beta`` (the
regularization makes the game strongly monotone); for large ``eta`` it can oscillate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from workbench.games.game import PreferenceGame
from workbench.schedules import ScalarOrSchedule
from workbench.tabular.base import SteppedMethod, ExactOracle, TabularState


@dataclass(frozen=True)
class OMD(SteppedMethod):
    """``eta``: a constant step or a schedule (clipped so that ``eta beta <= 1``)."""

    eta: ScalarOrSchedule = 0.1
    name: str = "OMD"
    cap_inverse_beta: ClassVar[bool] = True

    def step(self, game: PreferenceGame, state: TabularState, oracle=None, generator=None) -> TabularState:
        oracle = oracle or ExactOracle()
        eta = self.step_size(game, state.t)[..., None]  # (*B, 1)
        eb = eta * game.beta[..., None]  # (*B, 1)
        win, cost = oracle(game, state.pi, generator)  # (*B, n) ≈ P(y ≻ pi_t)
        logits = (1 - eb) * torch.log(state.pi) + eb * torch.log(game.mu) + eta * win  # (*B, n)
        return state.advance(torch.softmax(logits, -1), state.queries + cost)
