"""Evaluation of trained LLM policies: the pairwise win-rate matrix, the win-rate / KL frontier, generations.

Munos et al. (2023, arXiv 2312.00886, Section 7, Table 1) compare methods by the **pairwise win-rate matrix**
``W[i, j] = P(pi_i ≻ pi_j)`` among all trained policies and the SFT reference, judged by a preference model.
On an enumerable task (:class:`~workbench.llm.task.RPSTask`) it is exact: with the policies' full
distributions ``pi_i`` ``(X, n)`` and the oracle ``P`` ``(X, n, n)``,

    W[i, j] = mean_x  pi_i(.|x)^T P_x pi_j(.|x)          (the game's ``preference``, averaged over prompts),

so ``W + W^T = 1`` and ``W[i, i] = 1/2`` exactly. For free text it is estimated through any judge
(``judge.prob``): ``N`` responses per prompt from each policy, paired index by index,

    W_hat[i, j] = mean_k  P(y_i^k ≻ y_j^k | x^k),          ``N * |prompts|`` judge queries per pair,

an unbiased estimate of ``W[i, j]`` under the judge. The **frontier** of Munos et al. and Gao et al. is the
win rate against the reference ``P(pi ≻ mu)`` vs ``KL(pi || mu)``: exact from the distributions
(:mod:`workbench.metrics`), or from samples (``KL`` by the mean of ``log pi(y) - log mu(y)`` over
``y ~ pi``, an unbiased estimate).

Every result is a tidy frame of the shared schema (:mod:`workbench.results`, knobs ``model, beta``); the
win-rate frames carry one more column, ``opponent``. Means and confidence intervals over seeds come from
:mod:`workbench.analysis.summaries` (:func:`win_rate_table`, :func:`frontier_table`). A policy is named by a
:class:`Trained` record (label, seed, adapter snapshot, step and queries of its run); ``weights=None`` is
the reference ``mu`` (adapters off).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
import torch

from workbench.analysis.summaries import seed_ci
from workbench.llm.exact import ExactEvaluator
from workbench.llm.policy import Policy
from workbench.llm.sampling import sample
from workbench.results import KNOBS, make_frame

__all__ = [
    "Trained", "reference", "WIN_RATE_KNOBS", "exact_distributions", "exact_win_rates", "sampled_win_rates",
    "exact_frontier", "sampled_frontier", "win_rate_table", "frontier_table", "generations",
]

#: the win-rate frames' columns beyond the core ones: the LLM lab's knobs and the column player.
WIN_RATE_KNOBS = {**KNOBS["llm"], "opponent": "str"}

REFERENCE = "reference"


@dataclass(frozen=True)
class Trained:
    """One policy to evaluate: its label (``algo``), seed, adapter snapshot (``None`` = the reference
    ``mu``, adapters off), and the step and preference queries of the run that produced it."""

    algo: str
    seed: int
    weights: dict[str, torch.Tensor] | None
    step: int = 0
    queries: int = 0

    @property
    def is_reference(self) -> bool:
        return self.weights is None


def reference(seed: int = 0, label: str = REFERENCE) -> Trained:
    """The reference policy ``mu`` as a :class:`Trained` record (no weights: adapters off)."""
    return Trained(label, int(seed), None)


def _by_seed(policies: Sequence[Trained], include_reference: bool) -> dict[int, list[Trained]]:
    """Group the policies by seed (each seed's matrix is among that seed's runs), adding ``mu`` per seed."""
    if not policies:
        raise ValueError("evaluation: no policies given")
    out: dict[int, list[Trained]] = {}
    for p in policies:
        if not isinstance(p, Trained):
            raise TypeError(f"evaluation: expected Trained records; got {type(p).__name__}")
        out.setdefault(int(p.seed), []).append(p)
    for seed, group in out.items():
        labels = [p.algo for p in group]
        dupes = sorted({a for a in labels if labels.count(a) > 1})
        if dupes:
            raise ValueError(f"evaluation: seed {seed} has several policies labelled {dupes}; labels must be unique per seed")
        if include_reference and not any(p.is_reference for p in group):
            group.insert(0, reference(seed))
    return out


def exact_distributions(policy: Policy, evaluator: ExactEvaluator, policies: Sequence[Trained]) -> list[torch.Tensor]:
    """Each policy's exact distribution over the task's responses, ``(X, n)`` float64 (``mu`` for the reference)."""
    return [evaluator.game.mu.clone() if p.is_reference else evaluator.distribution(policy, p.weights) for p in policies]


def exact_win_rates(
    policy: Policy,
    evaluator: ExactEvaluator,
    policies: Sequence[Trained],
    *,
    include_reference: bool = True,
    model_name: str = "tiny",
) -> pd.DataFrame:
    """The exact pairwise win-rate matrix per seed, long: one row per ``(algo, opponent, seed)``.

    ``value = mean_x pi_algo(.|x)^T P_x pi_opponent(.|x)`` (metric ``"win_rate"``), with the oracle ``P`` and
    ``beta`` of ``evaluator.game``; ``step`` / ``queries`` are the row policy's. The reference ``mu`` joins
    every seed's matrix unless ``include_reference=False``.
    """
    beta = float(evaluator.game.beta.reshape(-1)[0])
    rows = []
    for seed, group in _by_seed(policies, include_reference).items():
        dists = torch.stack(exact_distributions(policy, evaluator, group))  # (K, X, n)
        P = evaluator.game.P  # (X, n, n)
        W = torch.einsum("ixa,xab,jxb->ijx", dists, P, dists).mean(-1)  # (K, K)
        for i, a in enumerate(group):
            for j, b in enumerate(group):
                rows.append((a.algo, seed, a.step, a.queries, "win_rate", float(W[i, j]), model_name, beta, b.algo))
    return make_frame(rows, knobs=WIN_RATE_KNOBS)


def _sample_responses(policy: Policy, p: Trained, prompts: list[str], max_new_tokens: int, generator) -> list[str]:
    return sample(policy, prompts, max_new_tokens, reference=p.is_reference, weights=p.weights,
                  generator=generator).responses


def _other_sample(responses: list[str], n_samples: int) -> list[str] | None:
    """Another independent sample of the same policy for the same prompt: the next sample of each prompt's
    block of ``n_samples`` (cyclically); ``None`` when there is one sample per prompt."""
    if n_samples < 2:
        return None
    return [responses[(k // n_samples) * n_samples + (k % n_samples + 1) % n_samples] for k in range(len(responses))]


def sampled_win_rates(
    policy: Policy,
    judge,
    prompts: Sequence[str],
    policies: Sequence[Trained],
    *,
    n_samples: int = 16,
    max_new_tokens: int = 24,
    generator: torch.Generator,
    include_reference: bool = True,
    model_name: str = "tiny",
    beta: float = float("nan"),
) -> pd.DataFrame:
    """The pairwise win-rate matrix estimated through ``judge.prob``, long like :func:`exact_win_rates`.

    Each policy samples ``n_samples`` responses to every prompt (one batch of ``n_samples * len(prompts)``);
    the pair ``(i, j)`` is judged on the responses with the same index, so ``value = mean_k P(y_i^k ≻ y_j^k)``
    over ``N = n_samples * len(prompts)`` judge queries. The diagonal compares two independent samples of the
    same policy (1/2 in expectation for an antisymmetric judge): each prompt's next sample, or a fresh batch
    when ``n_samples = 1``. Extra metric ``"win_rate_se"``: the standard error of that mean
    (sample standard deviation of the judged probabilities / ``sqrt(N)``).
    """
    if n_samples < 1:
        raise ValueError(f"sampled_win_rates: n_samples must be >= 1; got {n_samples}")
    batch = [x for x in prompts for _ in range(n_samples)]  # (N,)
    rows = []
    for seed, group in _by_seed(policies, include_reference).items():
        first = {p.algo: _sample_responses(policy, p, batch, max_new_tokens, generator) for p in group}
        for a in group:
            for b in group:
                opp = first[b.algo] if a.algo != b.algo else _other_sample(first[a.algo], n_samples) or \
                    _sample_responses(policy, a, batch, max_new_tokens, generator)
                pr = judge.prob(batch, first[a.algo], opp).double().cpu()  # (N,)
                se = float(pr.std() / len(batch) ** 0.5) if len(batch) > 1 else float("nan")
                for metric, value in (("win_rate", float(pr.mean())), ("win_rate_se", se)):
                    rows.append((a.algo, seed, a.step, a.queries, metric, value, model_name, float(beta), b.algo))
    return make_frame(rows, knobs=WIN_RATE_KNOBS)


def exact_frontier(policy: Policy, evaluator: ExactEvaluator, policies: Sequence[Trained], *,
                   include_reference: bool = True, model_name: str = "tiny") -> pd.DataFrame:
    """Frontier rows per policy: every :func:`workbench.metrics.evaluate` metric of its exact distribution
    (``win_rate_vs_mu``, ``kl_to_mu``, ``kl_to_eq``, ``reg_exploitability``, ...), averaged over prompts."""
    beta = float(evaluator.game.beta.reshape(-1)[0])
    rows = []
    for seed, group in _by_seed(policies, include_reference).items():
        for p, pi in zip(group, exact_distributions(policy, evaluator, group)):
            for metric, value in evaluator.evaluate(pi).items():
                rows.append((p.algo, seed, p.step, p.queries, metric, value, model_name, beta))
    return make_frame(rows, knobs="llm")


def sampled_frontier(
    policy: Policy,
    judge,
    prompts: Sequence[str],
    policies: Sequence[Trained],
    *,
    n_samples: int = 16,
    max_new_tokens: int = 24,
    generator: torch.Generator,
    include_reference: bool = True,
    model_name: str = "tiny",
    beta: float = float("nan"),
) -> pd.DataFrame:
    """Frontier rows from samples: ``win_rate_vs_mu`` = mean judged ``P(y ≻ y_mu)`` (``y ~ pi``, ``y_mu ~ mu``)
    and ``kl_to_mu`` = mean ``log pi(y) - log mu(y)`` over ``y ~ pi`` (unbiased for ``KL(pi || mu)``)."""
    batch = [x for x in prompts for _ in range(n_samples)]  # (N,)
    rows = []
    for seed, group in _by_seed(policies, include_reference).items():
        y_mu = _sample_responses(policy, reference(seed), batch, max_new_tokens, generator)
        for p in group:
            roll = sample(policy, batch, max_new_tokens, reference=p.is_reference, weights=p.weights, generator=generator)
            with torch.no_grad():
                lp = policy.response_logprobs(roll.prompt_ids, roll.prompt_mask, roll.response_ids, roll.response_mask,
                                              reference=p.is_reference, weights=p.weights).sum(-1)  # (N,)
                lq = policy.response_logprobs(roll.prompt_ids, roll.prompt_mask, roll.response_ids, roll.response_mask,
                                              reference=True).sum(-1)  # (N,)
            win = judge.prob(batch, roll.responses, y_mu).double().mean()
            for metric, value in (("win_rate_vs_mu", float(win)), ("kl_to_mu", float((lp - lq).double().mean()))):
                rows.append((p.algo, seed, p.step, p.queries, metric, value, model_name, float(beta)))
    return make_frame(rows, knobs="llm")


def win_rate_table(frame: pd.DataFrame, *, metric: str = "win_rate", order: Sequence[str] | None = None,
                   level: float = 0.95, interval: str = "t") -> dict[str, pd.DataFrame]:
    """The win-rate matrix as wide tables ``{"mean", "lo", "hi"}`` (rows: ``algo``, the row player;
    columns: ``opponent``), mean and ``level`` CI over seeds (:func:`workbench.analysis.summaries.seed_ci`)."""
    sub = frame[frame["metric"] == metric]
    if sub.empty:
        raise ValueError(f"win_rate_table: no {metric!r} rows; metrics are {sorted(frame['metric'].unique())}")
    summ = seed_ci(sub, by=("algo", "opponent"), level=level, interval=interval)
    order = list(order) if order is not None else list(dict.fromkeys(sub["algo"]))
    return {k: summ.pivot(index="algo", columns="opponent", values=k).reindex(index=order, columns=order)
            for k in ("mean", "lo", "hi")}


def frontier_table(frame: pd.DataFrame, metrics_: Sequence[str] = ("win_rate_vs_mu", "kl_to_mu"), *,
                   level: float = 0.95, interval: str = "t") -> pd.DataFrame:
    """One row per ``algo``: mean and CI over seeds of each frontier metric (columns ``<metric>``,
    ``<metric>_lo``, ``<metric>_hi``), from a frontier frame (or a training frame's last step per run)."""
    sub = frame[frame["metric"].isin(list(metrics_))]
    last = sub.groupby(["algo", "seed"])["step"].transform("max")
    summ = seed_ci(sub[sub["step"] == last], by=("algo", "metric"), level=level, interval=interval)
    out = summ.pivot(index="algo", columns="metric", values=["mean", "lo", "hi"])
    cols = {}
    for m in metrics_:
        cols[m], cols[f"{m}_lo"], cols[f"{m}_hi"] = out[("mean", m)], out[("lo", m)], out[("hi", m)]
    return pd.DataFrame(cols).reindex(list(dict.fromkeys(sub["algo"])))


def generations(
    policy: Policy,
    prompts: Sequence[str],
    policies: Sequence[Trained] | Mapping[str, Trained],
    *,
    n_samples: int = 1,
    max_new_tokens: int = 24,
    generator: torch.Generator,
    temperature: float = 1.0,
) -> pd.DataFrame:
    """Generations side by side: a frame ``prompt, policy, sample, response`` (one row per prompt, policy and
    sample), the same prompts for every policy, for a wide view with ``frame.pivot(index=["prompt",
    "sample"], columns="policy", values="response")``."""
    items = list(policies.values()) if isinstance(policies, Mapping) else list(policies)
    batch = [x for x in prompts for _ in range(n_samples)]
    rows = []
    for p in items:
        roll = sample(policy, batch, max_new_tokens, reference=p.is_reference, weights=p.weights,
                      temperature=temperature, generator=generator)
        for k, (x, y) in enumerate(zip(batch, roll.responses)):
            rows.append({"prompt": x, "policy": p.algo, "sample": k % n_samples, "response": y})
    return pd.DataFrame(rows, columns=["prompt", "policy", "sample", "response"])
