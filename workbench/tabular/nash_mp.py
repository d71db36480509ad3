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
the number of responses. ``eta = 2 beta`` (the default, ``"2beta"``) is the largest step: the
operator ``P/beta`` is ``1/(2 beta)``-Lipschitz in the l1/l-infinity pair.
A later version (retitled *Proximal Point Nash Learning from Human Feedback*) calls the stabilized
practical method Nash Prox; this module implements the v1 tabular mirror-prox iteration.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from workbench.games.game import PreferenceGame
from workbench.tabular.base import ExactOracle, TabularState, init_state


@dataclass(frozen=True)
class NashMP:
    """``eta``: the paper's proximal step (a float), or ``"2beta"`` for ``eta = 2 beta`` per game."""

    eta: float | str = "2beta"
    name: str = "Nash-MP"

    def step_size(self, game: PreferenceGame, t: int) -> torch.Tensor:
        """``eta`` per game, shape ``B``."""
        if self.eta == "2beta":
            return 2.0 * game.beta
        if isinstance(self.eta, str):
            raise ValueError(f"Nash-MP eta must be a float or '2beta'; got {self.eta!r}")
        return torch.full_like(game.beta, float(self.eta))

    def init(self, game: PreferenceGame, oracle=None, pi0: torch.Tensor | None = None) -> TabularState:
        if bool((game.beta <= 0).any()):
            raise ValueError("Nash-MP needs beta > 0 in every game (its step scales P by 1/beta); "
                             f"got min beta = {game.beta.min().item():g}")
        return init_state(game, pi0, **self.constants(game))

    def constants(self, game: PreferenceGame) -> dict[str, torch.Tensor]:
        """Per-game constants of the prox step, computed once (kept in ``state.extra``):
        ``logits = inv * log(pi_t) + mu_term + scale * P(. ≻ o)``."""
        eta = self.step_size(game, 0)[..., None]  # (*B, 1)
        inv = 1 / (1 + eta)  # (*B, 1)
        return {"inv": inv, "mu_term": eta * inv * torch.log(game.mu), "scale": eta * inv / game.beta[..., None]}

    def step(self, game: PreferenceGame, state: TabularState, oracle=None, generator=None) -> TabularState:
        oracle = oracle or ExactOracle()
        c = state.extra if state.extra and "mu_term" in state.extra else self.constants(game)
        # prox(pi_t, o) = softmax(centre + scale * P(. ≻ o)), the centre shared by both half steps
        centre = torch.addcmul(c["mu_term"], torch.log(state.pi), c["inv"])  # (*B, n)
        win, cost1 = oracle(game, state.pi, generator)  # (*B, n) ≈ P(y ≻ pi_t)
        pi_half = torch.softmax(torch.addcmul(centre, c["scale"], win), -1)
        win, cost2 = oracle(game, pi_half, generator)  # (*B, n) ≈ P(y ≻ pi_{t+1/2})
        pi_next = torch.softmax(torch.addcmul(centre, c["scale"], win), -1)
        return state.advance(pi_next, state.queries + (cost1 + cost2))
