"""Nash-MP with approximate proximal steps (Tiapkin et al. 2025, arXiv 2505.19731 **v1**, *Accelerating
Nash Learning from Human Feedback via Mirror Prox*: its approximate Nash-MP, proximal steps estimated by
stochastic policy gradients).

Tabular Nash-MP (:mod:`workbench.tabular.nash_mp`, same ``eta`` convention) takes two proximal steps per
iteration, both centred on ``pi_t``:

    pi_{t+1/2} = prox(pi_t, pi_t),        pi_{t+1} = prox(pi_t, pi_{t+1/2}),
    prox(c, o) = argmax_pi  P(pi ≻ o) - beta KL(pi || mu) - (beta / eta) KL(pi || c).

For a neural policy the prox has no closed form; each one is solved approximately by ``M`` (``inner_steps``)
policy-gradient steps on the proximal objective (v1's approximate version). Per prompt: ``y ~ pi_theta``,
``y' ~ o``, one preference query, and the step ``grad log pi_theta(y|x) * A`` with

    A = P(y ≻ y'|x) - 1/2 - beta log(pi_theta(y|x) / mu(y|x)) - (beta / eta) log(pi_theta(y|x) / c(y|x)),

whose expectation is the exact gradient of the proximal objective with ``o`` and ``c`` held fixed (the two
log-ratio terms are score-function estimators of the two KLs' gradients; ``tests/test_llm_gradients.py``
checks it against the exact gradient). ``P`` may be the probability (as here, the judges return it) or a
Bernoulli draw of it: the same expectation.

**One loop step = one inner gradient step.** The typed state walks through the iteration:

* phase ``"half"``: centre ``c = pi_t`` (a ``policy.snapshot()`` taken when the iteration starts), opponent
  ``o = pi_t``; after ``M`` steps the weights are ``pi_{t+1/2}``, snapshotted as ``half``;
* phase ``"full"``: the same centre ``pi_t``, opponent the frozen ``pi_{t+1/2}``; after ``M`` steps the
  weights are ``pi_{t+1}``, the next centre.

The full step's inner optimisation starts from ``pi_{t+1/2}`` (the current weights), not from ``pi_t``:
both proximal problems have the same centre and differ only in the opponent, so ``pi_{t+1/2}`` is the
closer warm start, and the loop's optimizer (AdamW, with its moments) runs on uninterrupted. ``M = 1``
is close to extragradient (EGPO). Cost: one query per prompt per inner step, ``2 M B`` per iteration;
``y`` and ``y'`` are decoded in one loop (:func:`workbench.llm.sampling.sample_pair` with the opponent's
weights), which reads ``log mu(y)`` off the reference's forward; ``log c(y)`` takes one forward without grad.

``eta`` is a number or a :mod:`workbench.schedules` schedule evaluated at the outer iteration ``t``
(default :func:`~workbench.schedules.two_beta`, ``eta = 2 beta``, v1 Theorem 1's largest step, which
makes the proximal weight ``beta / eta = 1/2``). The paper's later version (v2, retitled *Proximal Point
Nash Learning from Human Feedback*) analyses a proximal-point "Nash Prox" instead; this is v1's method.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import torch

from workbench.llm.loop import StepContext, StepOut
from workbench.llm.losses import check_beta, pg_loss, prox_advantage, sequence_logprobs
from workbench.llm.policy import Policy
from workbench.llm.sampling import sample_pair
from workbench.schedules import ScalarOrSchedule, Schedule, as_schedule, two_beta

PHASES = ("half", "full")


class NashMPState(NamedTuple):
    """Where approximate Nash-MP is in its iteration (picklable: strings, ints and weight snapshots)."""

    phase: str  # "half" (solving pi_{t+1/2}) or "full" (solving pi_{t+1})
    inner: int  # inner gradient steps done in this phase, 0 .. M-1
    outer: int  # the iteration t
    centre: dict[str, torch.Tensor]  # pi_t's trainable weights
    half: dict[str, torch.Tensor] | None  # pi_{t+1/2}'s trainable weights (None during the half phase)


@dataclass(frozen=True)
class NashMPPG:
    """Hyperparameters: ``beta`` (KL to ``mu``), ``eta`` (proximal step: KL to the centre weighs
    ``beta / eta``) and ``inner_steps`` (``M`` gradient steps per proximal step)."""

    beta: float = 0.1  # KL-regularization strength (> 0: the proximal weight is beta / eta)
    eta: ScalarOrSchedule = field(default_factory=two_beta)  # number or Schedule; default 2 beta (v1 Theorem 1)
    inner_steps: int = 4  # M: policy-gradient steps per proximal step (2 M per iteration)
    name: str = "Nash-MP"

    def __post_init__(self):
        check_beta(self.name, self.beta, positive=True)  # the proximal weight is beta / eta
        as_schedule(self.eta, self.name)  # a bad eta fails here, naming the trainer
        if isinstance(self.inner_steps, bool) or int(self.inner_steps) != self.inner_steps or self.inner_steps < 1:
            raise ValueError(f"{self.name}: inner_steps must be an integer >= 1; got {self.inner_steps!r}")

    @property
    def schedule(self) -> Schedule:
        return as_schedule(self.eta, self.name)

    def eta_at(self, t: int) -> float:
        """The proximal step of iteration ``t``."""
        return float(self.schedule(t, float(self.beta)))

    def init(self, policy: Policy) -> NashMPState:
        return NashMPState(phase="half", inner=0, outer=0, centre=policy.snapshot(), half=None)

    def opponent(self, state: NashMPState) -> dict:
        """Keyword arguments of :func:`~workbench.llm.sampling.sample_pair` (and of
        :func:`~workbench.llm.exact.enumerate_logprobs`) for the opponent: ``pi_t`` in the half phase,
        ``pi_{t+1/2}`` in the full phase."""
        if state.phase not in PHASES:
            raise ValueError(f"{self.name}: state.phase must be one of {PHASES}; got {state.phase!r}")
        return {"weights": state.centre if state.phase == "half" else state.half}

    def surrogate(self, pref: torch.Tensor, logp: torch.Tensor, logp_ref: torch.Tensor, logp_centre: torch.Tensor,
                  eta: float) -> torch.Tensor:
        """The loss from ``(B,)`` preferences and log-probabilities under pi (with grad), mu and the centre."""
        return pg_loss(logp, prox_advantage(pref, logp, logp_ref, logp_centre, self.beta, self.beta / eta))

    def loss(self, policy: Policy, judge, prompts: list[str], state: NashMPState, ctx: StepContext) -> StepOut:
        cfg = ctx.config
        eta = self.eta_at(state.outer)
        # y ~ pi_theta and y' ~ o in one decoding loop; log mu(y) comes from the reference's forward there
        ys, opp, ref_tok = sample_pair(policy, prompts, cfg.max_new_tokens, temperature=cfg.temperature,
                                       generator=ctx.generator, **self.opponent(state))
        pref = judge.prob(prompts, ys.responses, opp.responses).to(policy.device).float()  # (B,)
        logp = sequence_logprobs(policy, ys)  # (B,) with grad
        logp_ref = ref_tok.sum(-1)  # (B,)
        with torch.no_grad():
            logp_centre = sequence_logprobs(policy, ys, weights=state.centre)  # (B,)
        return StepOut(self.surrogate(pref, logp, logp_ref, logp_centre, eta), queries=len(prompts),
                       tokens=ys.n_tokens + opp.n_tokens,
                       stats={"pref_vs_opponent": float(pref.mean()),
                              "kl_estimate": float((logp.detach() - logp_ref).mean()),
                              "kl_to_centre_estimate": float((logp.detach() - logp_centre).mean()),
                              "eta": eta, "full_phase": float(state.phase == "full")})

    def after_step(self, policy: Policy, state: NashMPState) -> NashMPState:
        inner = state.inner + 1
        if inner < self.inner_steps:
            return state._replace(inner=inner)
        if state.phase == "half":  # pi_{t+1/2} reached: freeze it as the full step's opponent
            return state._replace(phase="full", inner=0, half=policy.snapshot())
        # pi_{t+1} reached: it is the next iteration's centre
        return NashMPState(phase="half", inner=0, outer=state.outer + 1, centre=policy.snapshot(), half=None)
