"""Evaluation of a free-text run on held-out prompts, by a judge: the LLM papers' win rate and KL axes.

On your own prompts there is no enumerable response set, so no exact distance to the equilibrium. What the
papers report instead (Munos et al. 2023, Section 8; GSHF, Section 5) is measured here every ``eval_every``
steps by :func:`workbench.llm.train` (``evaluator=JudgedEvaluator(...)``):

* ``win_rate_vs_mu``: the judged ``P(pi ≻ mu)`` on the held-out prompts, ``mean_i P(y_i ≻ y'_i | x_i)`` with
  ``y_i ~ pi``, ``y'_i ~ mu`` (``samples`` pairs per prompt), and its normal-approximation 95 % interval
  ``win_rate_ci_low`` / ``win_rate_ci_high`` (``mean ± 1.96 sd / sqrt(N)``, clipped to [0, 1]);
* ``kl_to_mu_estimate``: ``mean_i [log pi(y_i|x_i) - log mu(y_i|x_i)]``, the unbiased Monte-Carlo estimate of
  the sequence-level ``KL(pi || mu)`` (``y_i ~ pi`` at temperature 1);
* ``response_length``: the mean number of generated tokens (EOS included).

Every evaluation draws from a generator seeded by ``seed`` alone, so all evaluations of a run (and of runs of
other methods) compare policies on the same prompts with common random numbers, and a resumed run scores its
evaluations as the uninterrupted one does. The judge's calls here are evaluation, not training cost: they are
not counted in ``queries``. :meth:`JudgedEvaluator.generations` returns the last evaluation's responses side by
side (prompt, policy, reference, judged preference).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd
import torch

from workbench.device import make_generator
from workbench.llm.losses import sequence_logprobs
from workbench.llm.policy import Policy
from workbench.llm.sampling import sample


@dataclass
class JudgedEvaluator:
    """Judged held-out evaluation of a policy (module doc). ``beta`` is the run's game (checked against the
    trainer's by the loop); ``max_new_tokens`` must be the loop's."""

    judge: object
    prompts: list[str]
    beta: float
    max_new_tokens: int
    samples: int = 1  # pairs per held-out prompt
    seed: int = 0
    last: pd.DataFrame | None = field(default=None, repr=False)

    def __post_init__(self):
        if not callable(getattr(self.judge, "prob", None)):
            raise TypeError(f"JudgedEvaluator: the judge must have a prob(prompts, a, b) method; got "
                            f"{type(self.judge).__name__}")
        if isinstance(self.prompts, str) or not self.prompts or not all(isinstance(p, str) and p.strip()
                                                                        for p in self.prompts):
            raise ValueError("JudgedEvaluator: prompts must be a non-empty list of non-empty held-out prompts")
        for name in ("max_new_tokens", "samples"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"JudgedEvaluator: {name} must be an integer >= 1; got {v!r}")
        if not (isinstance(self.beta, (int, float)) and math.isfinite(self.beta) and self.beta >= 0):
            raise ValueError(f"JudgedEvaluator: beta must be a finite number >= 0; got {self.beta!r}")

    @torch.no_grad()
    def score(self, policy: Policy) -> dict[str, float]:
        """The metrics of the module doc for ``policy`` now (no gradient; the policy's mode is restored)."""
        was = policy.model.training
        policy.model.eval()
        try:
            gen = make_generator(self.seed, policy.device)
            xs = [p for p in self.prompts for _ in range(self.samples)]  # (N,)
            ys = sample(policy, xs, self.max_new_tokens, generator=gen)
            ref = sample(policy, xs, self.max_new_tokens, reference=True, generator=gen)
            pref = self.judge.prob(xs, ys.responses, ref.responses).double().cpu()  # (N,)
            log_ratio = (sequence_logprobs(policy, ys) - sequence_logprobs(policy, ys, reference=True)).double()
        finally:
            policy.model.train(was)
        n = pref.numel()
        mean = float(pref.mean())
        half = 1.96 * float(pref.std(unbiased=True)) / math.sqrt(n) if n > 1 else float("nan")
        self.last = pd.DataFrame({"prompt": xs, "policy": ys.responses, "reference": ref.responses,
                                  "P(policy ≻ reference)": pref.tolist()})
        return {
            "win_rate_vs_mu": mean,
            "win_rate_ci_low": max(0.0, mean - half),
            "win_rate_ci_high": min(1.0, mean + half),
            "kl_to_mu_estimate": float(log_ratio.mean()),
            "response_length": float(ys.response_mask.sum(1).double().mean()),
        }

    def generations(self, n: int = 5) -> pd.DataFrame:
        """The last evaluation's first ``n`` held-out prompts with the policy's and the reference's responses."""
        if self.last is None:
            raise RuntimeError("JudgedEvaluator.generations: no evaluation yet (call score first)")
        return self.last.head(n).reset_index(drop=True)
