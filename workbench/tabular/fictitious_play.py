"""Fictitious play in self-play on the unregularized game (Brown 1951; Robinson 1951).

The policy is the empirical average of past best responses, starting from ``pi_0 = mu``:

    b_t = argmax_y P(y ≻ pi_t),        pi_{t+1} = pi_t + (e_{b_t} - pi_t) / (t + 2).

One preference query per iteration, ``beta`` is ignored. Robinson: in zero-sum games the
exploitability of ``pi_t`` tends to 0 (slowly, ``O(t^(-1/(2n-2)))`` worst case, often ``~ 1/sqrt(t)``).
Ties in the argmax go to the smallest index. With a sampled oracle the best response is to the
estimated win rates. Since ``pi_t`` is already an average, the ``avg`` iterate is an average of
averages and not the usual object of study here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from workbench.games.game import PreferenceGame
from workbench.tabular.base import ExactOracle, TabularState, init_state


@dataclass(frozen=True)
class FictitiousPlay:
    """No step size: the averaging weight ``1/(t+2)`` is fixed by the method."""

    name: str = "FP"

    def init(self, game: PreferenceGame, oracle=None, pi0: torch.Tensor | None = None) -> TabularState:
        return init_state(game, pi0)

    def step(self, game: PreferenceGame, state: TabularState, oracle=None, generator=None) -> TabularState:
        oracle = oracle or ExactOracle()
        win, cost = oracle(game, state.pi, generator)  # (*B, n) ≈ P(y ≻ pi_t)
        best = torch.nn.functional.one_hot(win.argmax(-1), game.n).to(state.pi)  # (*B, n) best response
        pi_next = state.pi + (best - state.pi) / (state.t + 2)
        return state.advance(pi_next, state.queries + cost)
