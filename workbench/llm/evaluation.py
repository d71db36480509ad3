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

**Ranking the policies.** :func:`regularized_win_rates` turns ``W`` into the payoff of the game NLHF solves,
``W_beta[i, j] = W[i, j] - beta KL(pi_i || mu) + beta KL(pi_j || mu)``. :func:`meta_game_ranking` ranks by
"Nash averaging" (Balduzzi et al. 2018): the maximum-entropy Nash equilibrium of the antisymmetric meta-game
``A = W - 1/2`` (:func:`meta_nash`, solved with :func:`workbench.games.solve`) and each policy's win rate
against it, beside the naive average win rate, with one sentence on why they differ:

    W = win_rate_table(exact_win_rates(policy, ev, runs.finals))["mean"]
    kl = frontier_table(exact_frontier(policy, ev, runs.finals))["kl_to_mu"]
    meta_game_ranking(regularized_win_rates(W, kl, beta=0.1)).table    # nash_mass, nash_rating, average_win_rate
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
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
    "regularized_win_rates", "meta_nash", "average_win_rates", "MetaGameRanking", "meta_game_ranking",
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


# ---------------------------------------------------------------- the regularized win-rate matrix and the meta-game
def _matrix(W, what: str) -> tuple[np.ndarray, list[str]]:
    """``W`` as a float64 ``(K, K)`` array and its labels (a wide DataFrame's index, else ``"0", "1", ...``)."""
    if isinstance(W, pd.DataFrame):
        if list(map(str, W.index)) != list(map(str, W.columns)):
            raise ValueError(f"{what}: the rows {list(W.index)} and columns {list(W.columns)} must name the same "
                             "policies in the same order")
        labels, arr = [str(i) for i in W.index], W.to_numpy(dtype=float)
    else:
        arr = W.detach().cpu().double().numpy() if isinstance(W, torch.Tensor) else np.asarray(W, dtype=float)
        labels = [str(i) for i in range(arr.shape[0])] if arr.ndim == 2 else []
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] < 1:
        raise ValueError(f"{what}: the win-rate matrix must be square (K, K) with K >= 1; got shape {arr.shape}")
    if not np.isfinite(arr).all():
        i, j = map(int, np.argwhere(~np.isfinite(arr))[0])
        raise ValueError(f"{what}: the win-rate matrix has a NaN or inf entry at [{labels[i]}, {labels[j]}]")
    return arr, labels


def _like(W, arr: np.ndarray):
    """``arr`` in the container type of ``W`` (DataFrame with its labels, tensor, or array)."""
    if isinstance(W, pd.DataFrame):
        return pd.DataFrame(arr, index=W.index, columns=W.columns)
    if isinstance(W, torch.Tensor):
        return torch.as_tensor(arr, dtype=torch.float64)
    return arr


def regularized_win_rates(W, kl_to_mu, beta: float):
    """The regularized win-rate matrix ``W_beta[i, j] = W[i, j] - beta KL(pi_i || mu) + beta KL(pi_j || mu)``.

    This is the payoff of the game NLHF actually solves (Munos et al. 2023, ``P_beta(pi ≻ pi')``): a policy's
    win rate minus its KL price, plus its opponent's. ``W_beta + W_beta^T = W + W^T`` (``= 1`` for an exact
    matrix), so it is again an antisymmetric game around 1/2, but its entries may leave ``[0, 1]``.

    Args:
        W: the ``(K, K)`` win-rate matrix ``P(row ≻ column)``: a wide DataFrame (e.g.
            ``win_rate_table(frame)["mean"]``; rows and columns name the same policies), a tensor or an array.
        kl_to_mu: each policy's ``KL(pi_i || mu)``: a Series / mapping keyed by the DataFrame's labels (e.g.
            ``frontier_table(exact_frontier(...))["kl_to_mu"]``; the reference ``mu`` has 0), or a length-K
            sequence in the matrix's order.
        beta: the KL strength, ``>= 0`` (``0`` returns ``W`` unchanged).

    Returns ``W_beta`` in ``W``'s type (a DataFrame keeps its labels).
    """
    arr, labels = _matrix(W, "regularized_win_rates")
    beta = float(beta)
    if not (beta >= 0 and math.isfinite(beta)):
        raise ValueError(f"regularized_win_rates: beta must be a finite number >= 0; got {beta!r}")
    if isinstance(kl_to_mu, (Mapping, pd.Series)):
        kl_map = {str(k): v for k, v in dict(kl_to_mu).items()}
        missing = [a for a in labels if a not in kl_map]
        if missing:
            raise KeyError(f"regularized_win_rates: no KL(pi || mu) for {missing}; it has {sorted(kl_map)}")
        kl_vec = np.array([float(kl_map[a]) for a in labels])
    else:
        kl_vec = np.asarray(kl_to_mu.detach().cpu() if isinstance(kl_to_mu, torch.Tensor) else kl_to_mu, dtype=float).reshape(-1)
        if kl_vec.shape != (arr.shape[0],):
            raise ValueError(f"regularized_win_rates: {kl_vec.shape[0]} KL values for a {arr.shape[0]}x{arr.shape[0]} matrix")
    if not np.isfinite(kl_vec).all() or (kl_vec < -1e-12).any():
        raise ValueError(f"regularized_win_rates: KL(pi || mu) must be finite and >= 0; got {kl_vec.tolist()}")
    return _like(W, arr - beta * kl_vec[:, None] + beta * kl_vec[None, :])


#: the ``beta`` ladder of :func:`meta_nash`, relative to the meta-game's largest payoff (``max |A| = 1/2``).
META_BETA = 1e-4


def meta_nash(W, *, solver=None, beta: float = META_BETA) -> np.ndarray:
    """The maximum-entropy Nash equilibrium of the antisymmetric meta-game of ``W`` (Balduzzi et al. 2018).

    The meta-game is the symmetric zero-sum game with payoff ``A = (W - W^T) / 2`` (``= W - 1/2`` when
    ``W + W^T = 1``; a judged matrix's diagonal and round-off are averaged out): player one picks a policy
    ``i``, player two ``j``, and one wins ``A[i, j]``. Its value is 0 and its Nash equilibria are the mixtures
    ``p`` with ``A p <= 0`` (no policy beats the mixture). There may be many (clones, ties); "Nash
    averaging" takes the one of maximum entropy, which is unique and treats copies of a policy alike.

    It is computed with the project's game solver (:func:`workbench.games.solve`) as the limit of the
    KL-regularized equilibrium with a uniform reference: ``p_beta`` of the game ``P = 1/2 + A / (2 max|A|)``
    (payoffs scaled to fill ``[0, 1]``, which changes no equilibrium) tends to the maximum-entropy Nash
    equilibrium as ``beta -> 0``, with an ``O(beta)`` error; a Richardson step ``2 p_beta - p_{2 beta}``
    removes that term (``beta = 1e-4``: error ~1e-6 on the test games). The result is checked: its
    exploitability ``max_i (A p)_i`` must be below ``1e-4 max|A|``, else :class:`~workbench.games.SolverError`
    (so a wrong ``solver`` is caught). ``solver``: any ``game -> (n,)`` equilibrium function (default
    :func:`workbench.games.solve`). Returns ``p`` ``(K,)`` float64 (uniform when every entry of ``A`` is 0).
    """
    from workbench.games import PreferenceGame, SolverError, solve

    arr, labels = _matrix(W, "meta_nash")
    A = (arr - arr.T) / 2  # (K, K) antisymmetric
    K, scale = A.shape[0], float(np.abs(A).max())
    if scale == 0.0:
        return np.full(K, 1.0 / K)
    P = 0.5 + A / (2 * scale)  # entries in [0, 1], P + P^T = 1
    solver = solve if solver is None else solver
    p = []
    for b in (beta, 2 * beta):
        game = PreferenceGame.create(torch.as_tensor(P), None, b, names=labels)
        p.append(np.asarray(torch.as_tensor(solver(game), dtype=torch.float64).detach().cpu()).reshape(-1))
    if p[0].shape != (K,):
        raise SolverError(f"meta_nash: the solver returned shape {p[0].shape} for {K} policies")
    out = np.clip(2 * p[0] - p[1], 0.0, None)  # Richardson: removes the O(beta) term of p_beta - p*
    if not (np.isfinite(out).all() and out.sum() > 0):
        raise SolverError(f"meta_nash: the solver returned {p[0].tolist()}, not a distribution")
    out = out / out.sum()
    gap = float((A @ out).max()) / scale  # exploitability in units of the largest payoff
    if gap > 1e-4:
        worst = int(np.argmax(A @ out))
        raise SolverError(f"meta_nash: the solver's mixture is not a Nash equilibrium of the meta-game: policy "
                          f"{labels[worst]!r} beats it by {gap * scale:.3g} (allowed {1e-4 * scale:.3g})")
    return out


def average_win_rates(W) -> np.ndarray:
    """The naive ranking score: each policy's mean win rate ``W[i, j]`` over the OTHER policies ``j != i``
    (a 1x1 matrix scores 1/2)."""
    arr, _ = _matrix(W, "average_win_rates")
    K = arr.shape[0]
    if K == 1:
        return np.array([0.5])
    return (arr.sum(1) - np.diag(arr)) / (K - 1)


@dataclass(frozen=True)
class MetaGameRanking:
    """:func:`meta_game_ranking`'s outcome.

    ``table``: one row per policy (index: its label), best first by the Nash averaging, columns
    ``nash_mass`` (its probability in the maximum-entropy Nash mixture), ``nash_rating`` (its win rate against
    that mixture, ``1/2 + (A p)_i``: exactly 1/2 for every policy in the mixture's support, below 1/2 outside),
    ``average_win_rate`` (the naive score), ``nash_rank`` and ``average_rank`` (1 = best; ties share a rank).
    ``explanation``: one sentence on why the two rankings differ (or that they agree)."""

    table: pd.DataFrame
    nash: pd.Series
    agree: bool
    explanation: str


def _ranks(score: np.ndarray, tol: float) -> np.ndarray:
    """Competition ranks (1 = best) of ``score``, values within ``tol`` of each other tied."""
    return np.array([1 + int((score > s + tol).sum()) for s in score])


def meta_game_ranking(W, *, solver=None, tol: float = 1e-6) -> MetaGameRanking:
    """A ranking that survives intransitivity ("Nash averaging", Balduzzi et al. 2018), beside the naive one.

    ``W``: the ``(K, K)`` win-rate matrix ``P(row ≻ column)`` (a wide DataFrame such as
    ``win_rate_table(frame)["mean"]``, or the regularized one of :func:`regularized_win_rates`; a tensor or an
    array gets labels ``"0" .. "K-1"``). The meta-game's maximum-entropy Nash mixture ``p`` (:func:`meta_nash`,
    ``solver`` passed on) rates each policy by its win rate against ``p``; the naive ranking is the average win
    rate (:func:`average_win_rates`). On a transitive matrix both order the policies alike (the best policy is
    the whole mixture); on a cycle (rock, paper, scissors) the mixture is uniform and all three tie, where the
    average would reward whoever beats the most of the others; copies of a policy share its mass and change no
    rating. ``tol``: scores closer than this tie.
    """
    arr, labels = _matrix(W, "meta_game_ranking")
    p = meta_nash(W, solver=solver)
    A = (arr - arr.T) / 2
    rating = 0.5 + A @ p  # win rate against the Nash mixture
    avg = average_win_rates(W)
    tol_r = max(tol, 1e-4 * float(np.abs(A).max()))  # the mixture's own accuracy (meta_nash's check)
    nash_rank, avg_rank = _ranks(rating, tol_r), _ranks(avg, tol)
    table = pd.DataFrame({"nash_mass": p, "nash_rating": rating, "average_win_rate": avg, "nash_rank": nash_rank,
                          "average_rank": avg_rank}, index=pd.Index(labels, name="policy"))
    order = sorted(range(len(labels)), key=lambda i: (nash_rank[i], -p[i], avg_rank[i]))
    table = table.iloc[order]
    agree = bool((nash_rank == avg_rank).all())
    explanation = _explain(labels, A, p, rating, avg, nash_rank, avg_rank, tol_r)
    return MetaGameRanking(table, pd.Series(p, index=pd.Index(labels, name="policy"), name="nash_mass"), agree,
                           explanation)


def _explain(labels, A, p, rating, avg, nash_rank, avg_rank, tol) -> str:
    """One sentence on why the Nash averaging and the average win rate rank the policies differently."""
    K = len(labels)
    if (nash_rank == avg_rank).all():
        return ("Both rankings agree: the win rates are consistent with one order here, so averaging over the "
                "opponents and scoring against the equilibrium mixture name the same leaders.")
    # the pair the two rankings order most differently: i ahead by the average, j ahead (or tied) by Nash
    pairs = [(i, j) for i in range(K) for j in range(K)
             if avg_rank[i] < avg_rank[j] and nash_rank[i] >= nash_rank[j]]
    i, j = max(pairs, key=lambda ij: avg[ij[0]] - avg[ij[1]])
    support = [labels[k] for k in range(K) if p[k] > 1e-3]
    beaten = [labels[k] for k in range(K) if A[i, k] > tol and p[k] <= 1e-3]
    tie = abs(rating[i] - rating[j]) <= tol
    where = (f"its wins come against {', '.join(beaten[:3])}, which the equilibrium mixture does not use"
             if beaten else "its wins are against opponents that the equilibrium mixture weighs little")
    if len(support) > 1 and all(p[k] > 1e-3 for k in (i, j)) and tie:
        where = (f"{labels[i]} and {labels[j]} are both in the equilibrium mixture of "
                 f"{', '.join(support[:5])}{', ...' if len(support) > 5 else ''}, where the win rates cycle, so "
                 "neither beats the mixture")
    return (f"The average win rate puts {labels[i]} ({avg[i]:.3f}) ahead of {labels[j]} ({avg[j]:.3f}), but against "
            f"the equilibrium mixture {labels[i]} scores {rating[i]:.3f} and {labels[j]} {rating[j]:.3f}"
            f"{' (a tie)' if tie else ''}: {where}.")
