"""The RLHF baseline: REINFORCE with a leave-one-out baseline on a KL-penalized reward (RLOO; Ahmadian et
al. 2024, *Back to Basics: Revisiting REINFORCE Style Optimization for Learning from Human Feedback in
LLMs*, arXiv 2402.14740).

RLHF maximizes a reward model's score with a KL penalty to the reference,

    J(pi) = E_{y ~ pi}[ r(x, y) ] - beta KL(pi || mu),

the objective whose optimum is the Gibbs policy ``mu exp(r / beta) / Z``. With a Bradley–Terry reward of
an intransitive preference (e.g. :func:`~workbench.llm.judges.bt_oracle_judge`, the BT projection of the
oracle) this optimum differs from the Nash equilibrium of ``P``: the comparison the lab is built for.

Per prompt ``x``: ``k`` samples ``y_1..y_k ~ pi_theta``, one reward query each, the KL-penalized reward
and its leave-one-out baseline (both held fixed),

    R_i = r(x, y_i) - beta (log pi_theta(y_i|x) - log mu(y_i|x)),      A_i = R_i - 1/(k-1) sum_{j != i} R_j,

and the step ``grad log pi_theta(y_i|x) * A_i`` averaged over the ``B k`` samples (loss ``-mean(A log pi)``).
The baseline of ``y_i`` uses the other samples only, so it leaves the expectation unchanged, and
``E_y[grad log pi] = 0`` turns ``-beta log(pi/mu)`` into the KL's gradient: the mean of the estimator is
``grad J`` exactly (``tests/test_llm_gradients.py``). Cost: ``B k`` reward queries per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from workbench.llm.loop import StepContext, StepOut
from workbench.llm.losses import check_beta, kl_penalized_reward, loo_advantage, pg_loss, sequence_logprobs
from workbench.llm.policy import Policy
from workbench.llm.sampling import sample


@dataclass(frozen=True)
class RLOO:
    """Hyperparameters: ``beta`` (KL penalty) and ``k`` (samples per prompt, the leave-one-out group)."""

    beta: float = 0.1  # KL-penalty strength
    k: int = 4  # samples per prompt (>= 2); B k reward queries per step
    name: str = "RLHF"
    needs_reward: ClassVar[bool] = True  # the loop refuses a pairwise-only judge before training

    def __post_init__(self):
        check_beta(self.name, self.beta, positive=False)
        if isinstance(self.k, bool) or int(self.k) != self.k or self.k < 2:
            raise ValueError(f"{self.name}: k must be an integer >= 2 (the leave-one-out baseline needs another "
                             f"sample); got {self.k!r}")

    def surrogate(self, reward: torch.Tensor, logp: torch.Tensor, logp_ref: torch.Tensor) -> torch.Tensor:
        """The loss from ``(B, k)`` rewards and log-probabilities (``logp`` with grad)."""
        adv = loo_advantage(kl_penalized_reward(reward, logp, logp_ref, self.beta))  # (B, k)
        return pg_loss(logp.reshape(-1), adv.reshape(-1))

    def loss(self, policy: Policy, judge, prompts: list[str], state, ctx: StepContext) -> StepOut:
        if not hasattr(judge, "reward"):
            raise TypeError(f"{self.name}: the judge must have a reward(prompts, responses) method "
                            f"(e.g. workbench.llm.judges.bt_oracle_judge); got {type(judge).__name__}")
        cfg = ctx.config
        B, k = len(prompts), self.k
        rep = [p for p in prompts for _ in range(k)]  # (B k,) each prompt k times, consecutively
        ys = sample(policy, rep, cfg.max_new_tokens, temperature=cfg.temperature, generator=ctx.generator)
        reward = judge.reward(rep, ys.responses).to(policy.device).float().reshape(B, k)  # (B, k)
        logp = sequence_logprobs(policy, ys).reshape(B, k)  # (B, k) with grad
        logp_ref = sequence_logprobs(policy, ys, reference=True).reshape(B, k)  # (B, k)
        return StepOut(self.surrogate(reward, logp, logp_ref), queries=B * k, tokens=ys.n_tokens,
                       stats={"reward": float(reward.mean()), "kl_estimate": float((logp.detach() - logp_ref).mean())})
