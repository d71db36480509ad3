"""Multiplicative weights / SPPO-style self-play on the unregularized game (Freund & Schapire 1999;
Wu et al. 2024, arXiv 2405.00675, SPPO is its policy-space form with ``eta`` as the step).

One preference query per iteration, ``beta`` is ignored:

    pi_{t+1}(y) ∝ pi_t(y) exp(eta P(y ≻ pi_t)).

No-regret, so the *average* iterate converges to a Nash equilibrium of the unregularized game
(exploitability ``O(sqrt(log n / T))`` with a tuned ``eta``), but the *last* iterate does not: on
rock–paper–scissors it cycles away from the uniform equilibrium towards the boundary.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from workbench.games.game import PreferenceGame
from workbench.schedules import ScalarOrSchedule
from workbench.tabular.base import SteppedMethod, ExactOracle, TabularState


@dataclass(frozen=True)
class MWU(SteppedMethod):
    """``eta``: a constant step or a schedule."""

    eta: ScalarOrSchedule = 0.1
    name: str = "MWU"

    def step(self, game: PreferenceGame, state: TabularState, oracle=None, generator=None) -> TabularState:
        oracle = oracle or ExactOracle()
        eta = self.step_size(game, state.t)[..., None]  # (*B, 1)
        win, cost = oracle(game, state.pi, generator)  # (*B, n) ≈ P(y ≻ pi_t)
        return state.advance(torch.softmax(torch.log(state.pi) + eta * win, -1), state.queries + cost)
