"""Online (iterative) DPO: GSHF's practical algorithm with the judge in the loop (Xiong et al. 2023,
arXiv 2312.11456, the online iterative setting in its DPO implementation: the main agent trained on the
preference oracle's labels of its own samples).

Per prompt ``x``: sample two responses ``y_a, y_b ~ pi_theta(.|x)`` from the current policy (no gradient
through the sampling), ask the judge once for ``p = P(y_a ≻ y_b | x)``, draw the label ``l ~ Bernoulli(p)``
with the loop's generator (``label="soft"`` uses ``l = p``, same expected gradient, less noise) and take a
DPO step against the reference ``mu`` (:mod:`workbench.llm.dpo`):

    loss = -[ l log sigmoid(h) + (1 - l) log sigmoid(-h) ],
    h = beta [ log(pi_theta(y_a|x) / mu(y_a|x)) - log(pi_theta(y_b|x) / mu(y_b|x)) ].

The expected gradient of one step, with the sampling distribution held fixed at the current policy, is

    E[g] = sum_{a, b} pi(a|x) pi(b|x) grad_theta loss(h_ab, P(a ≻ b | x))        (pi detached),

because the loss is linear in ``l`` and ``E[l | a, b] = P(a ≻ b)``; ``tests/test_llm_dpo.py`` checks the sampled
estimator against this sum on the enumerable task. Cost: one preference query per prompt (``queries = B``).
With a Bradley–Terry judge the fixed point is the Gibbs policy ``mu exp(r / beta)`` (GSHF's target); with
an intransitive judge it is not a Nash equilibrium, which is what the LLM notebook shows.
"""

from __future__ import annotations

from dataclasses import dataclass


from workbench.llm.loop import StepContext, StepOut
from workbench.llm.losses import LABEL_MODES, check_beta, dpo_step_out, draw_labels
from workbench.llm.policy import Policy
from workbench.llm.sampling import Rollout, sample


@dataclass(frozen=True)
class OnlineDPO:
    """Hyperparameters: ``beta`` (KL strength of the implicit reward) and ``label`` (how the judge's
    probability becomes a label: ``"bernoulli"``, ``"soft"`` or ``"hard"``)."""

    beta: float = 0.1  # KL strength: the implicit reward is beta * log(pi / mu)
    label: str = "bernoulli"  # "bernoulli" (a vote drawn from P), "soft" (P itself), "hard" (1[P > 1/2])
    name: str = "Online DPO"

    def __post_init__(self):
        check_beta(self.name, self.beta, positive=True)
        if self.label not in LABEL_MODES:
            raise ValueError(f"{self.name}: label must be one of {LABEL_MODES}; got {self.label!r}")

    def pairs(self, policy: Policy, prompts: list[str], ctx: StepContext) -> tuple[Rollout, Rollout]:
        """``y_a, y_b ~ pi_theta`` per prompt (no gradient), drawn with ``ctx.generator`` (a first, then b)."""
        kw = dict(temperature=ctx.config.temperature, generator=ctx.generator)
        ya = sample(policy, prompts, ctx.config.max_new_tokens, **kw)
        yb = sample(policy, prompts, ctx.config.max_new_tokens, **kw)
        return ya, yb

    def loss(self, policy: Policy, judge, prompts: list[str], state, ctx: StepContext) -> StepOut:
        ya, yb = self.pairs(policy, prompts, ctx)
        pref = judge.prob(prompts, ya.responses, yb.responses).to(policy.device).float()  # (B,) one query each
        label = draw_labels(pref, self.label, ctx.generator)  # (B,)
        return dpo_step_out(policy, ya, yb, label, self.beta, queries=len(prompts),
                            tokens=ya.n_tokens + yb.n_tokens, stats={"pref_a_over_b": float(pref.mean())})
