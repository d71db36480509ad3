"""Statistical rejection sampling from the Gibbs policy, and RSO-DPO (Liu et al. 2023, arXiv 2309.06657).

The KL-regularized optimum of a reward ``r`` is the Gibbs policy ``pi_r(y|x) ∝ mu(y|x) exp(r(x, y) / beta)``
(:func:`workbench.games.game.gibbs`). RSO samples it from the reference by rejection: draw candidates
``y ~ mu``, accept each with probability

    exp((r(y) - r_max) / beta),

where ``r_max >= r(y)`` for every ``y``. With a known bound (``r_max=``) this is textbook rejection sampling:
the accepted candidates are i.i.d. draws of ``pi_r`` (exact; the acceptance rate is
``E_mu exp((r - r_max) / beta)``, and a row may end with fewer accepted than asked, ``valid`` says so).
Without one (``r_max=None``) it is the paper's Algorithm 1: ``r_max`` is the best reward among the candidates
not yet taken, candidates are tested in draw order until ``num_samples`` are accepted, and the pass repeats
over the rest (the best remaining one is always accepted, so it ends); approximate, exact as the number of
candidates grows. ``tests/test_llm_best_of_n.py`` checks the exact mode against ``gibbs(mu, r, beta)``.

:class:`RSODPO` (``"RSO-DPO"``) is the paper's training recipe on the fly: per prompt ``num_candidates``
responses from ``mu`` scored by the reward judge (``num_candidates`` reward queries per prompt), two of them
drawn by rejection sampling, labelled by their rewards (``label="hard"``: the higher reward wins, the paper's
reward-ranking label; ``"soft"`` / ``"bernoulli"`` use ``sigmoid(r_a - r_b)``), and a DPO step against ``mu``
(:mod:`workbench.llm.dpo`). Its fixed point is the Gibbs policy of the judge's reward: the same target as
offline DPO on infinitely many labels, reached from better-placed pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from workbench.llm.loop import StepContext, StepOut
from workbench.llm.losses import LABEL_MODES, check_beta, dpo_step_out, draw_labels
from workbench.llm.policy import Policy
from workbench.llm.sampling import Rollout, sample


def rejection_sample_gibbs(
    rewards: torch.Tensor,
    beta: float,
    num_samples: int,
    generator: torch.Generator,
    r_max: float | torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pick ``num_samples`` of ``N`` candidates per row by RSO rejection sampling.

    Args:
        rewards: ``(B, N)`` rewards of candidates drawn i.i.d. from ``mu`` (in draw order).
        beta: temperature of the Gibbs target ``mu exp(r / beta)``, ``> 0``.
        num_samples: candidates to accept per row (``k``).
        generator: the uniforms' generator (on ``rewards``' device).
        r_max: a known bound ``>= every reward`` (a number or ``(B,)``): exact rejection sampling, one pass;
            ``None``: the paper's Algorithm 1 (``r_max`` = best remaining candidate, repeated passes).

    Returns:
        ``index`` ``(B, k)`` positions of the accepted candidates in acceptance order (0 where invalid) and
        ``valid`` ``(B, k)`` (all True when ``r_max is None``).
    """
    if not (beta > 0 and beta < float("inf")):
        raise ValueError(f"rejection_sample_gibbs: beta must be a finite number > 0; got {beta!r}")
    B, N = rewards.shape
    k = int(num_samples)
    if k < 1 or (r_max is None and k > N):
        raise ValueError(f"rejection_sample_gibbs: num_samples must lie in [1, {N}] (the candidates); "
                         f"got {num_samples!r}")
    pos = torch.arange(N, device=rewards.device).expand(B, N)  # (B, N)
    never = torch.full((B, N), 2 * N * (k + 1), dtype=torch.long, device=rewards.device)  # sorts last
    if r_max is not None:
        bound = torch.as_tensor(r_max, dtype=rewards.dtype, device=rewards.device).expand(B)  # (B,)
        over = rewards > bound[:, None] + 1e-6 * bound.abs().clamp_min(1.0)[:, None]
        if bool(over.any()):
            b, i = (int(v) for v in over.nonzero()[0])
            raise ValueError(f"rejection_sample_gibbs: reward {float(rewards[b, i])!r} of candidate ({b}, {i}) "
                             f"exceeds r_max = {float(bound[b])!r}; r_max must bound every reward")
        u = torch.rand((B, N), generator=generator, device=rewards.device)  # (B, N)
        accept = u < torch.exp((rewards - bound[:, None]) / beta)  # (B, N)
        key = torch.where(accept, pos, never)  # (B, N)
    else:
        key = never.clone()
        taken = torch.zeros((B, N), dtype=torch.bool, device=rewards.device)
        for t in range(k):  # each pass accepts at least the best remaining candidate of every row in need
            need = k - taken.sum(-1)  # (B,)
            if int(need.max()) == 0:
                break
            rem = torch.where(taken, torch.full_like(rewards, float("-inf")), rewards)  # (B, N)
            top = rem.max(-1, keepdim=True).values  # (B, 1) r_max of this pass
            u = torch.rand((B, N), generator=generator, device=rewards.device)  # (B, N)
            accept = ~taken & (u < torch.exp((rem - top) / beta)) & (need[:, None] > 0)  # (B, N)
            key = torch.where(accept, t * N + pos, key)  # the first k keys in (pass, position) order are kept
            taken |= accept
    order = key.argsort(dim=-1, stable=True)[:, :k]  # (B, k) accepted first, in acceptance order
    valid = key.gather(-1, order) < never[:, :k]  # (B, k)
    return torch.where(valid, order, torch.zeros_like(order)), valid


def select(rollout: Rollout, rows: torch.Tensor) -> Rollout:
    """The rows ``rows`` ``(M,)`` of a rollout."""
    r = rows.to(rollout.prompt_ids.device)
    idx = rows.tolist()
    return Rollout([rollout.prompts[i] for i in idx], rollout.prompt_ids[r], rollout.prompt_mask[r],
                   rollout.response_ids[r], rollout.response_mask[r], [rollout.responses[i] for i in idx])


@dataclass
class RSOSample:
    """Candidates from ``mu`` (``B * N`` rows, prompt-major), their rewards and the accepted positions."""

    candidates: Rollout
    rewards: torch.Tensor  # (B, N)
    index: torch.Tensor  # (B, k) accepted candidate positions
    valid: torch.Tensor  # (B, k)
    queries: int  # reward queries: B * N


@torch.no_grad()
def sample_rso(policy: Policy, judge, prompts: list[str], beta: float, num_candidates: int, num_samples: int,
               max_new_tokens: int, *, generator: torch.Generator, r_max=None,
               temperature: float = 1.0) -> RSOSample:
    """``num_candidates`` responses per prompt from ``mu``, scored by ``judge.reward``, ``num_samples`` of them
    kept by :func:`rejection_sample_gibbs`."""
    B, N = len(prompts), int(num_candidates)
    xs = [p for p in prompts for _ in range(N)]  # (B*N,) prompt-major
    cand = sample(policy, xs, max_new_tokens, reference=True, temperature=temperature, generator=generator)
    r = judge.reward(xs, cand.responses).to(generator.device).float().reshape(B, N)  # (B, N)
    index, valid = rejection_sample_gibbs(r, beta, num_samples, generator, r_max)
    return RSOSample(cand, r, index, valid, queries=B * N)


@dataclass(frozen=True)
class RSODPO:
    """Hyperparameters of RSO-DPO: ``beta`` (of both the Gibbs target and DPO, as in the paper),
    ``num_candidates`` drawn from ``mu`` per prompt, the label rule and an optional known reward bound."""

    beta: float = 0.1  # KL strength: Gibbs target mu exp(r / beta) and DPO's implicit reward beta log(pi / mu)
    num_candidates: int = 8  # responses from mu per prompt (reward queries per prompt); the paper uses 64
    label: str = "hard"  # "hard" (higher reward wins), "soft" (sigmoid(r_a - r_b)) or "bernoulli" (a draw of it)
    r_max: float | None = None  # known reward bound (exact rejection sampling); None = the paper's Algorithm 1
    name: str = "RSO-DPO"
    needs_reward: ClassVar[bool] = True  # the loop refuses a pairwise-only judge before training

    def __post_init__(self):
        check_beta(self.name, self.beta, positive=True)
        if self.num_candidates < 2:
            raise ValueError(f"{self.name}: num_candidates must be >= 2 (a pair is drawn); got {self.num_candidates!r}")
        if self.label not in LABEL_MODES:
            raise ValueError(f"{self.name}: label must be one of {LABEL_MODES}; got {self.label!r}")

    def loss(self, policy: Policy, judge, prompts: list[str], state, ctx: StepContext) -> StepOut:
        N = self.num_candidates
        rso = sample_rso(policy, judge, prompts, self.beta, N, 2, ctx.config.max_new_tokens,
                         generator=ctx.generator, r_max=self.r_max, temperature=ctx.config.temperature)
        keep = rso.valid.all(-1).nonzero().squeeze(-1)  # (M,) prompts with a pair
        if keep.numel() == 0:  # only possible with a known r_max: nothing accepted, no step
            zero = sum(p.sum() for _, p in policy.trainable()) * 0.0
            return StepOut(zero, queries=rso.queries, tokens=rso.candidates.n_tokens, stats={"pairs": 0.0})
        base = keep * N  # (M,) first candidate row of each kept prompt
        a, b = base + rso.index[keep, 0], base + rso.index[keep, 1]  # (M,)
        r_a, r_b = rso.rewards.reshape(-1)[a], rso.rewards.reshape(-1)[b]  # (M,)
        label = draw_labels(torch.sigmoid(r_a - r_b), self.label, ctx.generator)  # (M,)
        stats = {"pairs": float(keep.numel()), "reward_pair_mean": float(0.5 * (r_a + r_b).mean()),
                 "reward_candidates_mean": float(rso.rewards.mean())}
        return dpo_step_out(policy, select(rso.candidates, a), select(rso.candidates, b), label.to(policy.device),
                            self.beta, queries=rso.queries, tokens=rso.candidates.n_tokens, stats=stats)
