"""Best-of-n sampling from the reference under a reward: the training-free baseline, with its exact law.

Draw ``n`` responses ``y_1..y_n ~ mu(.|x)`` independently, score each with the reward judge (``n`` reward
queries per prompt) and keep the best. On an enumerable task its distribution is known in closed form
(Beirami et al. 2024, arXiv 2401.01879, Lemma 1): order the responses by reward, ties going to the lower
enumeration index, let ``F(y) = mu(y' <= y)`` be the reference CDF in that order and ``F_<(y) = F(y) - mu(y)``;
the best of ``n`` is ``y`` exactly when all ``n`` draws are ``<= y`` and not all are ``< y``:

    P(best = y | x) = F(y)^n - F_<(y)^n.

``n = 1`` gives ``mu``; ``n -> inf`` the reward's argmax on the support of ``mu``. Its KL to ``mu`` is at most
``log n - (n - 1) / n`` (Beirami et al.), a cheap stand-in for the Gibbs policy ``mu exp(r / beta)`` that
:mod:`workbench.llm.rso` samples exactly. :func:`best_of_n_distribution` gives the law ``(X, n)`` to score with
:class:`~workbench.llm.exact.ExactEvaluator`; :func:`sample_best_of_n` draws from it with a policy and a judge
(its argmax keeps the first of tied candidates, which has the closed form's law whenever rewards are distinct).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from workbench.llm.policy import Policy
from workbench.llm.sampling import sample
from workbench.metrics import check_distribution


def reward_order(rewards: torch.Tensor) -> torch.Tensor:
    """Indices that sort the last dim from worst to best, ``(..., n)``: ascending reward, and among equal
    rewards the lower index counts as better (so it comes later)."""
    n = rewards.shape[-1]
    flip = torch.arange(n - 1, -1, -1, device=rewards.device)  # (n,)
    o = torch.sort(rewards[..., flip], dim=-1, stable=True).indices  # (..., n) positions in the flipped order
    return flip[o]  # (..., n)


def best_of_n_distribution(mu: torch.Tensor, rewards: torch.Tensor, n: int) -> torch.Tensor:
    """Exact law of the best of ``n`` i.i.d. draws from ``mu`` under ``rewards``, ``(X, n_resp)``.

    Args:
        mu: ``(X, n_resp)`` reference distribution per prompt (rows summing to 1, checked).
        rewards: ``(X, n_resp)`` reward of every response (ties go to the lower index).
        n: number of draws, ``>= 1``.
    """
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"best_of_n_distribution: n must be an integer >= 1; got {n!r}")
    check_distribution(mu, name="mu", where="best_of_n_distribution")
    if not isinstance(rewards, torch.Tensor) or rewards.shape != mu.shape:
        raise ValueError(f"best_of_n_distribution: rewards must be a tensor of mu's shape {tuple(mu.shape)}; got "
                         f"{tuple(rewards.shape) if isinstance(rewards, torch.Tensor) else type(rewards).__name__}")
    if not bool(torch.isfinite(rewards).all()):
        raise ValueError("best_of_n_distribution: rewards has a non-finite entry")
    mu = mu / mu.sum(-1, keepdim=True)  # remove the round-off that check_distribution tolerates
    order = reward_order(rewards)  # (X, n_resp) worst .. best
    mu_s = mu.gather(-1, order)  # (X, n_resp)
    F = mu_s.cumsum(-1).clamp(max=1.0)  # (X, n_resp) CDF in reward order
    F_lt = torch.cat([torch.zeros_like(F[..., :1]), F[..., :-1]], -1)  # (X, n_resp) exclusive CDF
    p_s = F.pow(int(n)) - F_lt.pow(int(n))  # (X, n_resp)
    return torch.zeros_like(mu).scatter(-1, order, p_s)  # (X, n_resp)


def best_candidate(rewards: torch.Tensor) -> torch.Tensor:
    """Position of the best of each row's candidates, ``(B,)`` from ``(B, n)`` (the first of tied maxima)."""
    return rewards.argmax(-1)  # (B,)


@dataclass
class BestOfN:
    """The kept responses of best-of-n sampling and what they cost."""

    prompts: list[str]
    responses: list[str]  # the best candidate per prompt
    rewards: torch.Tensor  # (B,) its reward
    candidate_rewards: torch.Tensor  # (B, n) rewards of all candidates, in draw order
    queries: int  # reward queries spent: B * n


@torch.no_grad()
def sample_best_of_n(
    policy: Policy,
    judge,
    prompts: list[str],
    n: int,
    max_new_tokens: int,
    *,
    generator: torch.Generator,
    reference: bool = True,
    temperature: float = 1.0,
) -> BestOfN:
    """Best of ``n`` responses per prompt, drawn from ``mu`` (``reference=True``) or the current policy and
    scored by ``judge.reward`` (``n`` reward queries per prompt)."""
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"sample_best_of_n: n must be an integer >= 1; got {n!r}")
    B = len(prompts)
    xs = [p for p in prompts for _ in range(n)]  # (B*n,) prompt-major
    cand = sample(policy, xs, max_new_tokens, reference=reference, temperature=temperature, generator=generator)
    r = judge.reward(xs, cand.responses).float().reshape(B, n)  # (B, n)
    best = best_candidate(r)  # (B,)
    rows = (torch.arange(B) * n + best.cpu()).tolist()
    return BestOfN(list(prompts), [cand.responses[i] for i in rows], r.gather(-1, best[:, None]).squeeze(-1), r,
                   queries=B * n)
