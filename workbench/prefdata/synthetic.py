"""Synthetic text preferences with a known ground truth, tunable from transitive to strongly cyclic.

Responses are short token sequences (whitespace-separated words). Two features are readable from
the text:

* a transitive quality score ``r(y) = (#"good" - #"bad") / quality_slots`` in [-1, 1];
* a "style" token ``s(y)`` among ``K`` (odd) styles, default rock / paper / scissors, with the
  antisymmetric cyclic relation ``c(y, y') = +1`` if ``s(y)`` beats ``s(y')``, ``-1`` if it loses,
  ``0`` if the styles are equal. Style ``i`` beats style ``j`` iff ``(i - j) mod K`` is in
  ``{1, ..., (K-1)/2}`` (for K = 3: paper ≻ rock, scissors ≻ paper, rock ≻ scissors).

The ground truth (the same for every prompt ``x``; the prompt is accepted for a uniform signature) is

    P(y ≻ y' | x) = sigmoid( s * [ (1 - lam) * (r(y) - r(y')) + lam * c(y, y') ] ),

with ``lam = intransitivity`` in [0, 1] and ``s = sharpness``; labels are ``Bernoulli(P)`` (or ``P``
itself with ``soft_labels=True``). ``P(y ≻ y') + P(y' ≻ y) = 1`` by construction.

Known ceilings for the accuracy of predicting the observed label of a set of pairs:

* Bayes ceiling: ``mean max(P, 1 - P)`` (the best any model can do, including general P models);
* best-BT ceiling: the best expected accuracy of any transitive predictor ``r(x, y)`` (one reward per
  response, per prompt) on pairs drawn like the data (uniform over distinct pairs of a prompt's
  responses), i.e. the weighted linear-ordering optimum ``max_order mean_{i<j} P(order agrees)``,
  computed exactly by dynamic programming over subsets of each prompt's responses (up to 16 responses
  per prompt; above that a fitted BT reward gives a lower bound). Every Bradley–Terry model
  ``sigmoid(r(x,y) - r(x,y'))`` is such a predictor, so none can beat this number in expectation.

At ``intransitivity = 0`` the truth is a BT model and both ceilings coincide. At ``1`` the truth is a
pure K-cycle: for K = 3 a transitive order gets at most 2/3 of each decisive cycle right, so the BT
ceiling sits near ``2/3 * sigmoid(s) + 1/3 * (1 - sigmoid(s))`` on the pairs of different styles
(and 1/2 on pairs of equal style), while the Bayes ceiling is ``sigmoid(s)`` there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from workbench.prefdata.comparisons import Comparisons

DEFAULT_STYLES = ("rock", "paper", "scissors")
DEFAULT_FILLER = (
    "the", "answer", "is", "we", "note", "that", "here", "so", "then", "it", "this", "one", "a", "plan",
    "step", "idea", "point", "case", "more", "also",
)
DEFAULT_PROMPT_WORDS = (
    "explain", "summarize", "describe", "compare", "list", "plan", "write", "suggest", "fix", "review",
    "garden", "budget", "recipe", "trip", "email", "poem", "bug", "essay", "workout", "meeting",
)
_EXACT_MAX = 16  # largest per-prompt response set for the exact linear-ordering DP


def _as_list(x: str | Sequence[str]) -> list[str]:
    return [x] if isinstance(x, str) else list(x)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def best_order_value(W: np.ndarray) -> float:
    """Max over linear orders of ``sum_{i above j} W[i, j]`` (exact DP over subsets, m <= 16).

    ``W`` is ``(m, m)`` with ``W[i, j]`` the value gained when ``i`` is ranked above ``j``.
    Cost ``O(2^m m^2)`` vectorized numpy operations over popcount layers.
    """
    W = np.asarray(W, dtype=float)
    m = W.shape[0]
    if m > _EXACT_MAX:
        raise ValueError(f"best_order_value: m={m} > {_EXACT_MAX} is too large for the exact DP")
    if m <= 1:
        return 0.0
    n_sets = 1 << m
    G = np.zeros((n_sets, m))  # (2^m, m): G[S, v] = sum_{u in S} W[u, v]
    for u in range(m):
        G[1 << u: 2 << u] = G[: 1 << u] + W[u]
    idx = np.arange(n_sets)
    popcount = np.zeros(n_sets, dtype=int)
    for u in range(m):
        popcount += (idx >> u) & 1
    f = np.full(n_sets, -np.inf)  # (2^m,): best value with the set S ranked on top
    f[0] = 0.0
    for k in range(1, m + 1):
        T = idx[popcount == k]
        for v in range(m):
            sel = T[(T >> v) & 1 == 1]
            S = sel ^ (1 << v)
            f[sel] = np.maximum(f[sel], f[S] + G[S, v])  # v placed just below the set S
    return float(f[-1])


def _bt_fit_order_value(W: np.ndarray, steps: int = 500) -> float:
    """Lower bound for large m: fit BT rewards to the pairwise win weights, rank by them."""
    m = W.shape[0]
    tot = W + W.T
    with np.errstate(invalid="ignore", divide="ignore"):
        target = np.where(tot > 0, W / np.where(tot > 0, tot, 1.0), 0.5)  # (m, m)
    r = np.zeros(m)
    for _ in range(steps):
        p = _sigmoid(r[:, None] - r[None, :])
        grad = ((target - p) * tot).sum(1)
        r += 0.5 * grad / max(tot.sum(1).max(), 1e-12)
    order = np.argsort(-r)
    rank = np.empty(m, dtype=int)
    rank[order] = np.arange(m)
    return float(np.sum(W * (rank[:, None] < rank[None, :])))


@dataclasses.dataclass(frozen=True, eq=False)
class SyntheticTruth:
    """Ground truth of a `make_synthetic` dataset (see the module docstring for the formula).

    Attributes set by `make_synthetic`: ``responses`` (prompt -> tuple of its responses),
    ``bayes_ceiling`` / ``bt_ceiling`` (accuracy ceilings for all generated pairs, see `ceilings`) and
    ``cyclic_triple_fraction`` (fraction of response triples, within a prompt, whose majority
    relation ``P > 1/2`` is a directed 3-cycle). Use `ceilings` for the ceilings of a split.
    """

    intransitivity: float
    sharpness: float
    quality_slots: int
    styles: tuple[str, ...]
    good_token: str = "good"
    bad_token: str = "bad"
    neutral_token: str = "okay"
    responses: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    bayes_ceiling: float = float("nan")
    bt_ceiling: float = float("nan")
    cyclic_triple_fraction: float = float("nan")
    _ceiling_cache: dict[str, tuple[float, float]] = dataclasses.field(default_factory=dict, repr=False)

    # --------------------------------------------------------------- features
    def reward(self, texts: str | Sequence[str]) -> np.ndarray:
        """Transitive score ``r(y) = (#good - #bad) / quality_slots``, shape ``(N,)``."""
        toks = [t.split() for t in _as_list(texts)]
        return np.array(
            [(tk.count(self.good_token) - tk.count(self.bad_token)) / self.quality_slots for tk in toks],
            dtype=float,
        )

    def style_index(self, texts: str | Sequence[str]) -> np.ndarray:
        """Index of the first style token in each text (-1 when there is none), shape ``(N,)``."""
        lookup = {s: i for i, s in enumerate(self.styles)}
        out = []
        for t in _as_list(texts):
            out.append(next((lookup[w] for w in t.split() if w in lookup), -1))
        return np.array(out, dtype=int)

    def cyclic(self, a: str | Sequence[str], b: str | Sequence[str]) -> np.ndarray:
        """Antisymmetric cyclic term ``c(a, b)`` in {-1, 0, +1}, shape ``(N,)``."""
        sa, sb = self.style_index(a), self.style_index(b)
        K = len(self.styles)
        d = (sa - sb) % K
        c = np.where((d >= 1) & (d <= (K - 1) // 2), 1.0, -1.0)
        return np.where((sa == sb) | (sa < 0) | (sb < 0), 0.0, c)

    def logit(self, a, b, prompt=None) -> np.ndarray:
        """``s * [(1 - lam) (r(a) - r(b)) + lam c(a, b)]``, shape ``(N,)``."""
        a, b = _as_list(a), _as_list(b)
        if len(a) != len(b):
            raise ValueError(f"prob: {len(a)} responses a but {len(b)} responses b")
        lam = self.intransitivity
        return self.sharpness * ((1 - lam) * (self.reward(a) - self.reward(b)) + lam * self.cyclic(a, b))

    def prob(self, a: str | Sequence[str], b: str | Sequence[str], prompt: Any = None) -> np.ndarray:
        """Ground-truth ``P(a ≻ b | x)`` for batches of responses, shape ``(N,)``.

        ``prompt`` is accepted (a string or a sequence) for a uniform signature; this truth does
        not depend on it.
        """
        return _sigmoid(self.logit(a, b, prompt))

    def matrix(self, prompt: str) -> np.ndarray:
        """Preference matrix ``P[i, j] = P(y_i ≻ y_j | x)`` over the responses of ``prompt``, ``(m, m)``."""
        ys = list(self.responses[prompt])
        m = len(ys)
        A = [ys[i] for i in range(m) for _ in range(m)]
        B = ys * m
        return self.prob(A, B).reshape(m, m)

    # --------------------------------------------------------------- ceilings
    def prompt_ceilings(self, prompt: str, responses: Sequence[str] | None = None) -> tuple[float, float]:
        """``(bayes, bt)`` accuracy ceilings for one prompt under uniformly drawn distinct pairs.

        ``bayes = mean_{i<j} max(P_ij, P_ji)``; ``bt = max_order mean_{i<j} P(order agrees)``, exact
        (DP over subsets) for up to 16 responses, else a fitted-BT lower bound.
        """
        ys = list(self.responses[prompt] if responses is None else responses)
        m = len(ys)
        if m < 2:
            return 0.5, 0.5
        A = [ys[i] for i in range(m) for _ in range(m)]
        P = self.prob(A, ys * m).reshape(m, m)  # (m, m)
        np.fill_diagonal(P, 0.0)
        n = m * (m - 1) / 2
        bayes = float(np.maximum(P, P.T)[np.triu_indices(m, 1)].sum() / n)
        bt = best_order_value(P) if m <= _EXACT_MAX else _bt_fit_order_value(P)
        return bayes, float(bt / n)

    def ceilings(self, comparisons: Comparisons) -> dict[str, float]:
        """Accuracy ceilings for predicting the labels of ``comparisons`` (e.g. a test split).

        For every prompt the ceilings of `prompt_ceilings` (expected accuracy on a uniformly drawn pair
        of distinct responses, the distribution the pairs were drawn from) are averaged with weights
        = the number of comparisons of that prompt. So ``bayes_accuracy >= bt_accuracy`` always, with
        equality for a transitive truth. The best-BT order is chosen on the population, not on the
        realized pairs: with few pairs per prompt an order fitted to the pairs themselves could explain
        any cycle away. Also returned: ``bayes_accuracy_pairs`` = ``mean max(P, 1-P)`` over the realized
        pairs, ``bayes_log_loss`` = ``mean H(P)`` over them (the lowest expected cross-entropy),
        ``n_pairs``. Prompts unknown to this truth use the responses that appear in their pairs.
        """
        df = comparisons.frame
        if len(df) == 0:
            raise ValueError("ceilings: empty comparisons")
        p = self.prob(df["response_a"].tolist(), df["response_b"].tolist())  # (N,)
        pc = np.clip(p, 1e-12, 1 - 1e-12)
        bayes = bt = 0.0
        for prompt, cnt in df["prompt"].value_counts(sort=False).items():
            if prompt in self._ceiling_cache:
                b, t = self._ceiling_cache[prompt]
            elif prompt in self.responses:
                b, t = self.prompt_ceilings(prompt)
            else:
                g = df[df["prompt"] == prompt]
                b, t = self.prompt_ceilings(prompt, pd.unique(pd.concat([g["response_a"], g["response_b"]])))
            bayes += cnt * b
            bt += cnt * t
        return {
            "bayes_accuracy": bayes / len(df),
            "bt_accuracy": bt / len(df),
            "bayes_accuracy_pairs": float(np.mean(np.maximum(p, 1 - p))),
            "bayes_log_loss": float(np.mean(-(pc * np.log(pc) + (1 - pc) * np.log(1 - pc)))),
            "n_pairs": int(len(df)),
        }

    def cyclic_triples(self) -> float:
        """Fraction of response triples (within each prompt) whose relation ``P > 1/2`` is a 3-cycle."""
        cyc, tot = 0.0, 0
        for prompt, ys in self.responses.items():
            m = len(ys)
            if m < 3:
                continue
            A = (self.matrix(prompt) > 0.5).astype(float)  # (m, m) strict-majority adjacency
            cyc += np.trace(A @ A @ A) / 3.0
            tot += m * (m - 1) * (m - 2) // 6
        return float(cyc / tot) if tot else 0.0


def make_synthetic(
    n_prompts: int = 50,
    responses_per_prompt: int = 3,
    n_pairs: int = 1000,
    intransitivity: float = 0.0,
    seed: int = 0,
    *,
    sharpness: float = 4.0,
    quality_slots: int = 3,
    response_len: int = 8,
    styles: Sequence[str] = DEFAULT_STYLES,
    filler: Sequence[str] = DEFAULT_FILLER,
    prompt_words: Sequence[str] = DEFAULT_PROMPT_WORDS,
    soft_labels: bool = False,
) -> tuple[Comparisons, SyntheticTruth]:
    """Generate synthetic comparisons and their ground truth (formula in the module docstring).

    Args:
        n_prompts: number of prompts ``x`` ("prompt 7: compare budget trip").
        responses_per_prompt: distinct responses per prompt; styles are assigned round-robin so
            every style is present when ``responses_per_prompt >= len(styles)``.
        n_pairs: total number of comparisons, spread round-robin over prompts; each is a uniformly
            drawn pair of distinct responses of that prompt in random order.
        intransitivity: ``lam`` in [0, 1]; 0 = Bradley–Terry truth, 1 = pure cycle over styles.
        seed: seed of the numpy generator (everything is reproducible from it).
        sharpness: ``s``, the inverse temperature of the truth (larger = less label noise).
        quality_slots: number of quality tokens ("good" / "okay" / "bad", uniform) per response.
        response_len: total tokens per response (quality + 1 style + filler), >= quality_slots + 1.
        styles: the cyclic style tokens, an odd number >= 3 of distinct words.
        filler, prompt_words: neutral vocabularies for filler tokens and prompts.
        soft_labels: if True the label is ``P`` itself instead of a Bernoulli draw.

    Returns:
        ``(comparisons, truth)``; ``comparisons`` has columns prompt, response_a, response_b, label,
        p_true, source="synthetic", plus ``prompt_id``, ``a_id``, ``b_id`` (response index in the prompt).
    """
    styles = tuple(styles)
    _check_synthetic_args(n_prompts, responses_per_prompt, n_pairs, intransitivity, quality_slots, response_len,
                          styles, filler, prompt_words)
    rng = np.random.default_rng(seed)  # one stream, drawn in this order: prompts and responses, pairs, labels
    prompts, responses = _draw_responses(rng, n_prompts, responses_per_prompt, quality_slots, response_len, styles,
                                         filler, prompt_words)
    truth = SyntheticTruth(float(intransitivity), float(sharpness), int(quality_slots), styles)
    df = _draw_comparisons(rng, truth, prompts, responses, n_pairs, soft_labels)
    params = dict(n_prompts=n_prompts, responses_per_prompt=responses_per_prompt, n_pairs=n_pairs,
                  intransitivity=float(intransitivity), seed=seed, sharpness=float(sharpness),
                  quality_slots=quality_slots, response_len=response_len, styles=styles, soft_labels=soft_labels)
    comps = Comparisons.from_frame(df, source="synthetic", info={"format": "synthetic", "params": params})
    return comps, _with_ceilings(truth, prompts, responses, comps)


def _check_synthetic_args(n_prompts, responses_per_prompt, n_pairs, intransitivity, quality_slots, response_len,
                          styles, filler, prompt_words) -> None:
    """Every `make_synthetic` argument error, named with its value."""
    if not 0.0 <= float(intransitivity) <= 1.0:
        raise ValueError(f"intransitivity must be in [0, 1], got {intransitivity}")
    if len(styles) < 3 or len(styles) % 2 == 0 or len(set(styles)) != len(styles):
        raise ValueError(f"styles must be an odd number >= 3 of distinct tokens, got {styles}")
    if n_prompts < 1 or n_pairs < 1 or responses_per_prompt < 2:
        raise ValueError(
            f"need n_prompts >= 1, n_pairs >= 1, responses_per_prompt >= 2; got {n_prompts}, {n_pairs},"
            f" {responses_per_prompt}"
        )
    if response_len < quality_slots + 1 or quality_slots < 1:
        raise ValueError(f"need quality_slots >= 1 and response_len >= quality_slots + 1, got {quality_slots}, "
                         f"{response_len}")
    special = {"good", "bad", "okay", *styles}
    clash = special & (set(filler) | set(prompt_words))
    if clash:
        raise ValueError(f"filler / prompt words must not contain quality or style tokens: {sorted(clash)}")
    if response_len - quality_slots - 1 > 0 and not filler:
        raise ValueError("filler vocabulary is empty but response_len leaves room for filler tokens")


def _draw_responses(rng: np.random.Generator, n_prompts: int, responses_per_prompt: int, quality_slots: int,
                    response_len: int, styles: tuple[str, ...], filler: Sequence[str], prompt_words: Sequence[str]
                    ) -> tuple[list[str], dict[str, tuple[str, ...]]]:
    """Prompts ``"prompt i: w1 w2 w3"`` and, per prompt, distinct responses: ``quality_slots`` quality
    tokens, one style (round-robin from a random offset) and filler, shuffled."""
    quality_vocab = np.array(["good", "okay", "bad"])
    filler_arr = np.array(list(filler)) if filler else np.array([], dtype=str)
    n_filler = response_len - quality_slots - 1
    responses: dict[str, tuple[str, ...]] = {}
    prompts = []
    for i in range(n_prompts):
        words = rng.choice(np.array(list(prompt_words)), size=3)
        prompt = f"prompt {i}: " + " ".join(words)
        prompts.append(prompt)
        offset = int(rng.integers(len(styles)))
        ys: list[str] = []
        for j in range(responses_per_prompt):
            for _attempt in range(1000):
                toks = [*rng.choice(quality_vocab, size=quality_slots), styles[(j + offset) % len(styles)]]
                if n_filler:
                    toks += list(rng.choice(filler_arr, size=n_filler))
                text = " ".join(rng.permutation(np.array(toks)))
                if text not in ys:
                    break
            else:  # pragma: no cover - only with a degenerate tiny vocabulary
                raise ValueError("could not draw distinct responses: enlarge the filler vocabulary or response_len")
            ys.append(text)
        responses[prompt] = tuple(ys)
    return prompts, responses


def _draw_comparisons(rng: np.random.Generator, truth: SyntheticTruth, prompts: list[str],
                      responses: dict[str, tuple[str, ...]], n_pairs: int, soft_labels: bool) -> pd.DataFrame:
    """``n_pairs`` comparisons, prompts round-robin, a uniform pair of distinct responses in random order,
    label ``Bernoulli(P)`` (or ``P`` with ``soft_labels``)."""
    n_prompts, m = len(prompts), len(responses[prompts[0]])
    pid = np.arange(n_pairs) % n_prompts  # (N,)
    ia = rng.integers(m, size=n_pairs)
    ib = (ia + rng.integers(1, m, size=n_pairs)) % m  # distinct from ia, uniform over the others
    A = [responses[prompts[p]][i] for p, i in zip(pid, ia)]
    B = [responses[prompts[p]][i] for p, i in zip(pid, ib)]
    p_true = truth.prob(A, B)  # (N,)
    labels = p_true.copy() if soft_labels else (rng.random(n_pairs) < p_true).astype(float)
    return pd.DataFrame({
        "prompt": [prompts[p] for p in pid], "response_a": A, "response_b": B, "label": labels,
        "p_true": p_true, "source": "synthetic", "prompt_id": pid, "a_id": ia, "b_id": ib,
    })


def _with_ceilings(truth: SyntheticTruth, prompts: list[str], responses: dict[str, tuple[str, ...]],
                   comps: Comparisons) -> SyntheticTruth:
    """``truth`` with its responses, per-prompt ceiling cache, dataset ceilings and cyclic-triple fraction."""
    truth = dataclasses.replace(truth, responses=responses)
    truth = dataclasses.replace(truth, _ceiling_cache={x: truth.prompt_ceilings(x) for x in prompts})
    ceil = truth.ceilings(comps)
    return dataclasses.replace(
        truth, bayes_ceiling=ceil["bayes_accuracy"], bt_ceiling=ceil["bt_accuracy"],
        cyclic_triple_fraction=truth.cyclic_triples(),
    )
