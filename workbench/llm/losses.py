"""The trainers' loss pieces, in one module: small functions on tensors, each tested against a hand-computed
tensor (``tests/test_llm_losses.py``, ``tests/test_llm_dpo.py``), shared by the trainer modules (which no longer
import each other).

**Policy gradient** (Nash-MD-PG, self-play, Nash-EMA-PG: Munos et al. 2023, arXiv 2312.00886, Section 7; Nash-MP:
Tiapkin et al. 2025, arXiv 2505.19731 v1; RLOO: Ahmadian et al. 2024, arXiv 2402.14740). With ``A`` held fixed,

    loss = -mean(A * log pi(y|x)),                                             (pg_loss)
    A = P(y ≻ y') - 1/2 - beta (log pi(y) - log mu(y))                         (pg_advantage)
      - prox_weight (log pi(y) - log c(y))                                     (prox_advantage, Nash-MP)
    R_i = r(y_i) - beta (log pi(y_i) - log mu(y_i)),  A_i = R_i - mean_{j != i} R_j   (RLOO)

whose expected gradient is the exact gradient of the regularized objective (the log-ratio terms are the
score-function estimators of the KLs' gradients; ``tests/test_llm_gradients.py``).

**DPO** (Rafailov et al. 2023, arXiv 2305.18290, Eq. 7; online: Xiong et al. 2023, arXiv 2312.11456; RSO: Liu et
al. 2023, arXiv 2309.06657): for a pair ``(y_a, y_b)`` with label ``l = P(y_a ≻ y_b)``,

    h = beta [(log pi(y_a) - log mu(y_a)) - (log pi(y_b) - log mu(y_b))],      (dpo_margin)
    loss = -[l log sigmoid(h) + (1 - l) log sigmoid(-h)].                      (dpo_loss)

Shapes: ``(B,)`` per prompt (``(B, k)`` for RLOO's groups); log-probabilities are sequence sums
(:func:`sequence_logprobs`).
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F

from workbench.llm.loop import StepOut
from workbench.llm.policy import Policy
from workbench.llm.sampling import Rollout

LABEL_MODES = ("bernoulli", "soft", "hard")


def check_beta(name: str, beta, *, positive: bool) -> None:
    """The trainers' one check of ``beta``: a finite real number, ``> 0`` where it divides (``positive``: DPO's
    implicit reward, the Gibbs target, Nash-MP's proximal weight ``beta / eta``), else ``>= 0``."""
    real = isinstance(beta, numbers.Real) and not isinstance(beta, bool)
    if not (real and math.isfinite(beta) and (beta > 0 if positive else beta >= 0)):
        raise ValueError(f"{name}: beta must be a finite number {'> 0' if positive else '>= 0'}; got {beta!r}")


# ---------------------------------------------------------------------------- log-probabilities
def sequence_logprobs(policy: Policy, rollout: Rollout, *, reference: bool = False, weights=None) -> torch.Tensor:
    """``log pi(y|x)`` of each rolled-out response, ``(B,)`` (grad unless ``reference``)."""
    tok = policy.response_logprobs(rollout.prompt_ids, rollout.prompt_mask, rollout.response_ids,
                                   rollout.response_mask, reference=reference, weights=weights)  # (B, Tr)
    return tok.sum(-1)


# ---------------------------------------------------------------------------- policy gradient
def pg_advantage(pref: torch.Tensor, logp: torch.Tensor, logp_ref: torch.Tensor, beta: float) -> torch.Tensor:
    """``A = P(y ≻ y') - 1/2 - beta (log pi(y) - log mu(y))``, ``(B,)``, detached (a fixed weight)."""
    return (pref - 0.5 - beta * (logp - logp_ref)).detach()


def prox_advantage(pref: torch.Tensor, logp: torch.Tensor, logp_ref: torch.Tensor, logp_centre: torch.Tensor,
                   beta: float, prox_weight: float) -> torch.Tensor:
    """``A = P - 1/2 - beta (log pi - log mu) - prox_weight (log pi - log c)``, ``(B,)``, detached;
    ``prox_weight = beta / eta`` (Nash-MP)."""
    return (pg_advantage(pref, logp, logp_ref, beta) - prox_weight * (logp - logp_centre)).detach()


def pg_loss(logp: torch.Tensor, advantage: torch.Tensor) -> torch.Tensor:
    """REINFORCE surrogate ``-mean(A * log pi(y))``: its gradient is ``-mean(A grad log pi(y))``."""
    return -(advantage.detach() * logp).mean()


def kl_penalized_reward(reward: torch.Tensor, logp: torch.Tensor, logp_ref: torch.Tensor, beta: float) -> torch.Tensor:
    """``R = r - beta (log pi - log mu)``, same shape as ``reward``, detached."""
    return (reward - beta * (logp - logp_ref)).detach()


def loo_advantage(returns: torch.Tensor) -> torch.Tensor:
    """Leave-one-out advantage ``A_i = R_i - mean_{j != i} R_j`` over the last dim ``(B, k)`` (``k >= 2``)."""
    k = returns.shape[-1]
    if k < 2:
        raise ValueError(f"loo_advantage: needs k >= 2 samples per prompt; got returns of shape {tuple(returns.shape)}")
    others = (returns.sum(-1, keepdim=True) - returns) / (k - 1)  # (B, k)
    return returns - others


# ---------------------------------------------------------------------------- DPO
def dpo_margin(logp_a: torch.Tensor, logp_ref_a: torch.Tensor, logp_b: torch.Tensor, logp_ref_b: torch.Tensor,
               beta: float) -> torch.Tensor:
    """``h = beta [(log pi(y_a) - log mu(y_a)) - (log pi(y_b) - log mu(y_b))]``, ``(B,)`` (grad through pi)."""
    return beta * ((logp_a - logp_ref_a) - (logp_b - logp_ref_b))  # (B,)


def dpo_loss(margin: torch.Tensor, label: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """``-[l log sigmoid(h) + (1 - l) log sigmoid(-h)]`` with ``l = P(y_a ≻ y_b)`` in [0, 1] (hard or soft).

    ``reduction="mean"`` gives a scalar, ``"none"`` the per-pair losses ``(B,)``."""
    label = torch.as_tensor(label).to(margin)
    if label.shape != margin.shape:
        raise ValueError(f"dpo_loss: label shape {tuple(label.shape)} differs from margin shape {tuple(margin.shape)}")
    if label.numel() and not bool(((label >= 0) & (label <= 1)).all()):
        bad = label[~((label >= 0) & (label <= 1))][0]
        raise ValueError(f"dpo_loss: labels must lie in [0, 1] (P(y_a ≻ y_b)); got {float(bad)!r}")
    per = -(label * F.logsigmoid(margin) + (1 - label) * F.logsigmoid(-margin))  # (B,)
    if reduction == "none":
        return per
    if reduction == "mean":
        return per.mean()
    raise ValueError(f"dpo_loss: reduction must be 'mean' or 'none'; got {reduction!r}")


def draw_labels(pref: torch.Tensor, mode: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """Labels from the judge's ``P(y_a ≻ y_b)`` ``(B,)``: ``"bernoulli"`` draws ``1[u < P]`` with ``generator``
    (a human's vote), ``"soft"`` keeps ``P`` (same expected gradient, less noise), ``"hard"`` is
    ``1[P > 1/2]`` (1/2 on ties, the reward-ranking label of RSO)."""
    if mode == "bernoulli":
        return torch.bernoulli(pref, generator=generator)  # (B,)
    if mode == "soft":
        return pref
    if mode == "hard":
        return (pref > 0.5).to(pref) + 0.5 * (pref == 0.5).to(pref)  # (B,)
    raise ValueError(f"draw_labels: mode must be one of {LABEL_MODES}; got {mode!r}")


def _right_pad(ids: torch.Tensor, width: int, value: int) -> torch.Tensor:
    return F.pad(ids, (0, width - ids.shape[1]), value=value)  # (B, width)


def pair_rollout(ra: Rollout, rb: Rollout, pad_id: int) -> Rollout:
    """The two sides of ``B`` pairs (same prompts) stacked into one batch of ``2B`` rows (a first, then b)."""
    if ra.prompts != rb.prompts:
        raise ValueError("pair_rollout: both sides of a pair must have the same prompts")
    width = max(ra.response_ids.shape[1], rb.response_ids.shape[1])
    return Rollout(
        ra.prompts + rb.prompts,
        torch.cat([ra.prompt_ids, rb.prompt_ids]), torch.cat([ra.prompt_mask, rb.prompt_mask]),  # (2B, Tp)
        torch.cat([_right_pad(ra.response_ids, width, pad_id), _right_pad(rb.response_ids, width, pad_id)]),
        torch.cat([_right_pad(ra.response_mask, width, 0), _right_pad(rb.response_mask, width, 0)]),  # (2B, Tr)
        ra.responses + rb.responses,
    )


def pair_logprobs(policy: Policy, ra: Rollout, rb: Rollout) -> tuple[torch.Tensor, ...]:
    """``(log pi(y_a), log mu(y_a), log pi(y_b), log mu(y_b))``, each ``(B,)``: one policy forward (grad) and one
    reference forward over the ``2B`` stacked responses."""
    both = pair_rollout(ra, rb, policy.tokenizer.pad_token_id)
    logp = sequence_logprobs(policy, both)  # (2B,)
    logp_ref = sequence_logprobs(policy, both, reference=True)  # (2B,)
    B = len(ra)
    return logp[:B], logp_ref[:B], logp[B:], logp_ref[B:]


def dpo_step_out(policy: Policy, ra: Rollout, rb: Rollout, label: torch.Tensor, beta: float, *, queries: int,
                 tokens: int, stats: dict[str, float] | None = None) -> StepOut:
    """The DPO loss of the pairs ``(ra, rb)`` with labels ``P(a ≻ b)`` ``(B,)`` and its diagnostics."""
    lpa, lra, lpb, lrb = pair_logprobs(policy, ra, rb)
    margin = dpo_margin(lpa, lra, lpb, lrb, beta)  # (B,)
    label = label.to(margin)
    agree = ((margin.detach() > 0) == (label > 0.5)).float()[label != 0.5]  # implicit-reward accuracy
    # log_ratio: mean log(pi / mu) of the pair's responses (a KL(pi || mu) estimate when they come from pi)
    out = {"margin": float(margin.detach().mean()), "label_mean": float(label.mean()),
           "reward_accuracy": float(agree.mean()) if agree.numel() else float("nan"),
           "log_ratio": float(0.5 * ((lpa.detach() - lra) + (lpb.detach() - lrb)).mean()), **(stats or {})}
    return StepOut(dpo_loss(margin, label), queries=queries, tokens=tokens, stats=out)
