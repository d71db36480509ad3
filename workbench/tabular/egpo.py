"""Extragradient on the regularized game: EGPO (Zhou, Fazel & Du 2025, arXiv 2503.08942,
"Extragradient Preference Optimization"), the tabular update of Cen, Wei & Chi 2021 ("PU", Fast
Policy Extragradient Methods for Competitive Games with Entropy Regularization) with the entropy
replaced by ``KL(.||mu)``.

Two preference queries per iteration; both steps start from ``pi_t``:

    pi_{t+1/2}(y) ∝ pi_t(y)^(1 - eta beta) mu(y)^(eta beta) exp(eta P(y ≻ pi_t)),
    pi_{t+1}(y)   ∝ pi_t(y)^(1 - eta beta) mu(y)^(eta beta) exp(eta P(y ≻ pi_{t+1/2})),   eta beta <= 1.

Last-iterate linear convergence to ``pi*_beta`` (rate ``1 - eta beta`` per iteration for small
enough ``eta``, Cen et al. need ``eta <= 1/(beta + 2 max|P - 1/2|)``), and to the unregularized
equilibrium at a polynomial rate when ``beta -> 0``. Nash-MP is the same extragradient scheme written
with the implicit (proximal) step, ``prox`` instead of the explicit ``1 - eta beta`` exponent.
EGPO's LLM form replaces each step by gradients of an online IPO loss; this is the tabular form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from workbench.games.game import PreferenceGame
from workbench.schedules import ScalarOrSchedule
from workbench.tabular.base import SteppedMethod, ExactOracle, TabularState


@dataclass(frozen=True)
class EGPO(SteppedMethod):
    """``eta``: a constant step or a schedule (clipped so that ``eta beta <= 1``)."""

    eta: ScalarOrSchedule = 0.5
    name: str = "EGPO"
    cap_inverse_beta: ClassVar[bool] = True

    def step(self, game: PreferenceGame, state: TabularState, oracle=None, generator=None) -> TabularState:
        oracle = oracle or ExactOracle()
        eta = self.step_size(game, state.t)[..., None]  # (*B, 1)
        eb = eta * game.beta[..., None]  # (*B, 1)
        base = (1 - eb) * torch.log(state.pi) + eb * torch.log(game.mu)  # (*B, n)
        win, cost1 = oracle(game, state.pi, generator)  # (*B, n) ≈ P(y ≻ pi_t)
        pi_half = torch.softmax(base + eta * win, -1)
        win, cost2 = oracle(game, pi_half, generator)  # (*B, n) ≈ P(y ≻ pi_{t+1/2})
        return state.advance(torch.softmax(base + eta * win, -1), state.queries + (cost1 + cost2))
