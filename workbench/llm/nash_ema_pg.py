"""Nash-EMA-PG: policy gradient against an EMA of the policy's own weights (Munos et al. 2023,
arXiv 2312.00886, Section 7).

Nash-MD-PG's twin with another opponent: instead of the token-level mixture with the reference, the
opponent ``y' ~ pi_bar(.|x)`` is the same network with an exponential moving average of the trainable
weights (the LoRA adapters by default),

    theta_bar <- decay * theta_bar + (1 - decay) * theta      (after every gradient step, from theta_bar = theta_0),

a smoothed copy of past policies, the parametric analogue of fictitious play's average opponent. Per
prompt ``x``: ``y ~ pi_theta``, ``y' ~ pi_bar``, one preference query, and the step

    g = grad log pi_theta(y|x) * A,      A = P(y ≻ y'|x) - 1/2 - beta * log(pi_theta(y|x) / mu(y|x)),

whose expectation is the exact gradient of ``P(pi_theta ≻ pi_bar) - beta KL(pi_theta || mu)`` with
``pi_bar`` held fixed (the KL term is the score-function estimator of the KL's gradient, as in
:mod:`workbench.llm.nash_md_pg`; ``tests/test_llm_gradients.py`` checks it against the exact gradient).

``y`` and ``y'`` are decoded in one loop (:func:`workbench.llm.sampling.sample_pair` with ``weights=ema``), which
also reads ``log mu(y)`` off the reference's forward: no second reference forward over prompt and response.

**The decay.** An EMA's memory is ``1 / (1 - decay)`` steps. The paper's runs are long (~10k steps) with
a slow EMA (decay ~0.999, a memory of ~1000 steps): the opponent trails the policy by about a tenth of the
run. Over a run shorter than its memory an EMA keeps the opponent near the initial policy ``mu``, so the
step drifts towards a best response to the reference rather than the equilibrium. The default 0.9 (a memory
of 10 steps) is the short memory for the lab's ~100-step runs, but no measurement here prefers it.
On the tiny task at notebook 06's quick profile (100 steps, batch 32, lr 5e-3, beta 0.1, seeds 0-4) the
exact regularized exploitability goes from 0.196 to 0.046-0.065 with decay 0.9 (median 0.049) and to
0.033-0.065 with decay 0.99 (median 0.044): both improve on the reference on every seed, and 0.99 ends
lower on 4 of the 5 (one of them a tie at 0.065). ``tests/test_llm_claims.py`` (slow) recomputes this
comparison. A rule of thumb, not measured here: scale ``1 / (1 - decay)`` with the run (0.99 for
~500-1000 steps, the paper's 0.999 for ~10k).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

from workbench.llm.loop import StepContext, StepOut
from workbench.llm.losses import check_beta, pg_advantage, pg_loss, sequence_logprobs
from workbench.llm.policy import Policy
from workbench.llm.sampling import sample_pair


class NashEMAState(NamedTuple):
    """Nash-EMA-PG's state: the EMA of the trainable weights (name -> tensor, like ``policy.snapshot()``)."""

    ema: dict[str, torch.Tensor]


def ema_update(ema: dict[str, torch.Tensor], weights: dict[str, torch.Tensor], decay: float) -> dict[str, torch.Tensor]:
    """``decay * ema + (1 - decay) * weights`` per tensor (new tensors; the inputs are left as they are)."""
    return {n: torch.lerp(e, weights[n].to(e), 1.0 - decay) for n, e in ema.items()}


@dataclass(frozen=True)
class NashEMAPG:
    """Hyperparameters: ``beta`` (KL strength) and ``decay`` (the opponent's EMA decay per step)."""

    beta: float = 0.1  # KL-regularization strength
    decay: float = 0.9  # EMA decay per step: memory 1/(1-decay) ~ a tenth of the run (module docstring)
    name: str = "Nash-EMA-PG"

    def __post_init__(self):
        check_beta(self.name, self.beta, positive=False)
        if not 0.0 <= self.decay < 1.0:
            raise ValueError(f"{self.name}: decay must lie in [0, 1) (1 would freeze the opponent at the start); "
                             f"got {self.decay!r}")

    def init(self, policy: Policy) -> NashEMAState:
        return NashEMAState(ema=policy.snapshot())

    def opponent(self, state: NashEMAState) -> dict:
        """Keyword arguments of :func:`~workbench.llm.sampling.sample_pair` (and of
        :func:`~workbench.llm.exact.enumerate_logprobs`) for the opponent: the EMA weights."""
        return {"weights": state.ema}

    def loss(self, policy: Policy, judge, prompts: list[str], state: NashEMAState, ctx: StepContext) -> StepOut:
        cfg = ctx.config
        # y ~ pi_theta and y' ~ pi_bar in one decoding loop; log mu(y) comes from the reference's forward there
        ys, opp, ref_tok = sample_pair(policy, prompts, cfg.max_new_tokens, temperature=cfg.temperature,
                                       generator=ctx.generator, **self.opponent(state))
        pref = judge.prob(prompts, ys.responses, opp.responses).to(policy.device).float()  # (B,)
        logp = sequence_logprobs(policy, ys)  # (B,) with grad: the step's one forward with grad
        logp_ref = ref_tok.sum(-1)  # (B,)
        adv = pg_advantage(pref, logp, logp_ref, self.beta)  # (B,)
        return StepOut(pg_loss(logp, adv), queries=len(prompts), tokens=ys.n_tokens + opp.n_tokens,
                       stats={"pref_vs_opponent": float(pref.mean()),
                              "kl_estimate": float((logp.detach() - logp_ref).mean())})

    def after_step(self, policy: Policy, state: NashEMAState) -> NashEMAState:
        return NashEMAState(ema=ema_update(state.ema, policy.snapshot(), self.decay))
