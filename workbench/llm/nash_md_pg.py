"""Nash-MD-PG: Nash mirror descent by policy gradient (Munos et al. 2023, arXiv 2312.00886, Section 7).

The parametric version of tabular Nash-MD. Per prompt ``x``: sample ``y ~ pi_theta(.|x)`` and the opponent
``y' ~ pi^m(.|x)``, the token-level geometric mixture of the policy and the reference
(:mod:`workbench.llm.sampling`: ``m`` weights ``mu``; ``m = 0`` is self-play), ask the judge for
``P(y ≻ y' | x)`` (one preference query per prompt) and step along

    g = grad log pi_theta(y|x) * A,      A = P(y ≻ y'|x) - 1/2 - beta * log(pi_theta(y|x) / mu(y|x)),

with ``A`` held fixed (no gradient). In expectation ``g`` is the exact gradient of the regularized
objective against the (fixed) mixture opponent,

    E[g] = grad_theta [ P(pi_theta ≻ pi^m) - beta KL(pi_theta || mu) ]      (pi^m held fixed),

because ``E_y[grad log pi_theta(y)] = 0`` turns ``-beta log(pi/mu)`` into the KL's gradient (the KL term is
the score-function estimator of the KL's own gradient, not a per-token penalty whose gradient differs).
``tests/test_llm_gradients.py`` checks this against the exact gradient on the enumerable task.

**Cost per step** (:func:`workbench.llm.sampling.sample_pair`): ``y`` and ``y'`` are decoded in one loop
(``2B`` rows per model forward; with LoRA one mixed-adapter forward of ``4B`` rows per token; with full
fine-tuning on a multi-threaded CPU the policy's and the frozen reference's forwards side by side), the
reference's log-probabilities of ``y`` are read off the reference forward the mixture needs anyway, and
the policy's ``log pi_theta(y|x)`` takes the step's single forward with grad. ``benchmarks/bench_llm.py``
measures this against TRL's ``NashMDTrainer``.

**Self-play** (the paper's SP baseline) is ``mixture = 0``: the opponent is the policy itself; registered
as ``"Self-play"`` (:func:`self_play`).
"""

from __future__ import annotations

from dataclasses import dataclass


from workbench.llm.loop import StepContext, StepOut
from workbench.llm.losses import check_beta, pg_advantage, pg_loss, sequence_logprobs
from workbench.llm.policy import Policy
from workbench.llm.sampling import sample_pair


@dataclass(frozen=True)
class NashMDPG:
    """Hyperparameters: ``beta`` (KL strength) and ``mixture`` (``m``, the reference's weight in the opponent)."""

    beta: float = 0.1  # KL-regularization strength
    mixture: float = 0.125  # m in [0, 1]; the paper's best range is 0.125-0.375; 0 = self-play
    name: str = "Nash-MD-PG"

    def __post_init__(self):
        check_beta(self.name, self.beta, positive=False)
        if not 0.0 <= self.mixture <= 1.0:
            raise ValueError(f"{self.name}: mixture must lie in [0, 1]; got {self.mixture!r}")

    def opponent(self, state=None) -> dict:
        """Keyword arguments of :func:`~workbench.llm.sampling.sample_pair` (and of
        :func:`~workbench.llm.exact.enumerate_logprobs`) for the opponent: the mixture ``pi^m``."""
        return {"mixture": self.mixture}

    def loss(self, policy: Policy, judge, prompts: list[str], state, ctx: StepContext) -> StepOut:
        # y ~ pi_theta and y' ~ pi^m in one decoding loop; log mu(y) comes from the reference's forward there
        ys, opp, ref_tok = sample_pair(policy, prompts, ctx.config.max_new_tokens, temperature=ctx.config.temperature,
                                       generator=ctx.generator, **self.opponent(state))
        pref = judge.prob(prompts, ys.responses, opp.responses).to(policy.device).float()  # (B,)
        logp = sequence_logprobs(policy, ys)  # (B,) with grad: the step's one forward with grad
        logp_ref = ref_tok.sum(-1)  # (B,)
        adv = pg_advantage(pref, logp, logp_ref, self.beta)
        kl = float((logp.detach() - logp_ref).mean())
        return StepOut(pg_loss(logp, adv), queries=len(prompts), tokens=ys.n_tokens + opp.n_tokens,
                       stats={"pref_vs_opponent": float(pref.mean()), "kl_estimate": kl})


def self_play(beta: float = 0.1) -> NashMDPG:
    """Self-play policy gradient: Nash-MD-PG with ``mixture = 0`` (the opponent is the policy itself)."""
    return NashMDPG(beta=beta, mixture=0.0, name="Self-play")
