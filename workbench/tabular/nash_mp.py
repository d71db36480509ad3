"""Nash-MP: Nash mirror prox (Tiapkin et al. 2025, arXiv 2505.19731 v1, "Accelerating Nash Learning
from Human Feedback via Mirror Prox"), tabular (exact prox) version.

Two preference queries per iteration. With the paper's step ``eta`` (KL terms
``KL(pi||mu) + (1/eta) KL(pi||pi_t)``, preference scaled by ``1/beta``), the proximal step centred
on ``c`` against the opponent ``o`` is

    prox(c, o) = argmax_pi  P(pi ≻ o)/beta - KL(pi||mu) - (1/eta) KL(pi||c)
    prox(c, o)(y) ∝ c(y)^(1/(1+eta)) mu(y)^(eta/(1+eta)) exp(eta P(y ≻ o) / (beta (1+eta)))

and one iteration is the extragradient pair, both steps centred on ``pi_t``:

    pi_{t+1/2} = prox(pi_t, pi_t),        pi_{t+1} = prox(pi_t, pi_{t+1/2}).

Headline (Theorem 1 of v1): ``KL(pi*, pi_t)`` decreases linearly like ``(1 + 2 beta)^(-N/2)`` with
``N`` preference queries (contraction ``(1 + eta)^(-1)`` per iteration for ``eta <= 2 beta``), the
exploitability and the span semi-norm of ``log pi_t - log pi*`` linearly too, with no dependence on
the number of responses. For KL this factor is a bound, not the rate: KL is of the order of the squared
span near ``pi*``, and the measured KL contraction per iteration at ``eta = 2 beta`` tends to
``(1 + 2 beta)^(-2)``, the square of the stated factor; for the span semi-norm the factor
``(1 + 2 beta)^(-1)`` is tight (``tests/test_tabular_one_step.py``, beta 0.05..1, within 3%). ``eta = 2 beta`` (the default, :func:`workbench.schedules.two_beta`) is the
largest step: the operator ``P/beta`` is ``1/(2 beta)``-Lipschitz in the l1/l-infinity pair.
A later version (retitled *Proximal Point Nash Learning from Human Feedback*) calls the stabilized
practical method Nash Prox; this module implements the v1 tabular mirror-prox iteration.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from workbench.games.game import PreferenceGame
from workbench.schedules import ScalarOrSchedule, two_beta
from workbench.tabular.base import ExactOracle, SteppedMethod, TabularState, init_state


@dataclass(frozen=True)
class NashMPState(TabularState):
    """Nash-MP's state: the common fields plus the per-game prox constants of
    ``prox(pi_t, o) = softmax(inv * log(pi_t) + mu_term + scale * P(. ≻ o))``, computed once at ``init``
    for a step that does not vary with ``t`` (recomputed every step for one that does). The constants are
    those of the method whose ``init`` made the state: step it with that method."""

    inv: torch.Tensor  # (*B, 1) 1 / (1 + eta)
    mu_term: torch.Tensor  # (*B, n) eta / (1 + eta) * log(mu)
    scale: torch.Tensor  # (*B, 1) eta / (beta (1 + eta))


@dataclass(frozen=True)
class NashMP(SteppedMethod):
    """``eta``: the paper's proximal step, a number or a schedule (default
    :func:`workbench.schedules.two_beta`, ``eta = 2 beta`` per game, Theorem 1)."""

    eta: ScalarOrSchedule = field(default_factory=two_beta)
    name: str = "Nash-MP"

    def init(self, game: PreferenceGame, oracle=None, pi0: torch.Tensor | None = None) -> NashMPState:
        if bool((game.beta <= 0).any()):
            raise ValueError("Nash-MP needs beta > 0 in every game (its step scales P by 1/beta); "
                             f"got min beta = {game.beta.min().item():g}")
        return init_state(game, pi0, NashMPState, **self.constants(game, 0))

    def constants(self, game: PreferenceGame, t: int) -> dict[str, torch.Tensor]:
        """Per-game constants of the prox step at iteration ``t`` (the :class:`NashMPState` fields):
        ``logits = inv * log(pi_t) + mu_term + scale * P(. ≻ o)``."""
        eta = self.step_size(game, t)[..., None]  # (*B, 1)
        inv = 1 / (1 + eta)  # (*B, 1)
        return {"inv": inv, "mu_term": eta * inv * torch.log(game.mu), "scale": eta * inv / game.beta[..., None]}

    def step(self, game: PreferenceGame, state: TabularState, oracle=None, generator=None) -> NashMPState:
        oracle = oracle or ExactOracle()
        if not isinstance(state, NashMPState) or self.schedule.varies_with_t:  # e.g. a state from another method
            state = NashMPState(state.pi, state.avg, state.t, state.queries, **self.constants(game, state.t))
        # prox(pi_t, o) = softmax(centre + scale * P(. ≻ o)), the centre shared by both half steps
        centre = torch.addcmul(state.mu_term, torch.log(state.pi), state.inv)  # (*B, n)
        win, cost1 = oracle(game, state.pi, generator)  # (*B, n) ≈ P(y ≻ pi_t)
        pi_half = torch.softmax(torch.addcmul(centre, state.scale, win), -1)
        win, cost2 = oracle(game, pi_half, generator)  # (*B, n) ≈ P(y ≻ pi_{t+1/2})
        pi_next = torch.softmax(torch.addcmul(centre, state.scale, win), -1)
        return state.advance(pi_next, state.queries + (cost1 + cost2))
