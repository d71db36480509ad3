"""Evaluation of preference predictions: accuracy, log-loss, calibration (ECE) and intransitivity.

Conventions: ``p`` is a ``(N,)`` tensor of predicted ``P(a ≻ b)``, ``y`` a ``(N,)`` tensor of labels in
[0, 1] (1 = ``a`` preferred; soft labels allowed).

* accuracy ``= mean( 1[p > 1/2] y + 1[p < 1/2] (1 - y) + 1/2 * 1[p = 1/2] )`` - for hard labels the usual
  accuracy, for soft labels the expected accuracy against a label drawn from ``y``;
* log-loss ``= -mean( y log p + (1 - y) log(1 - p) )``;
* ECE (Naeini et al. 2015; Guo et al. 2017): bin ``p`` into ``n_bins`` equal-width bins,
  ``ECE = sum_b |B_b|/N * |mean_{B_b} p - mean_{B_b} y|``; the bins are the reliability diagram.
* cyclic-triple fraction of a preference matrix ``P`` (n responses): with the strict majority tournament
  ``W = 1[P > 1/2]``, the number of directed 3-cycles is ``trace(W^3) / 3``; divided by ``C(n, 3)``.
  Compared between the model's predicted matrix and the truth (synthetic) or the empirical majority
  relation of the comparisons (real data, only on triples whose three pairs were all compared).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

EPS = 1e-7


def _t(x) -> torch.Tensor:
    return torch.as_tensor(np.array(x) if not isinstance(x, torch.Tensor) else x, dtype=torch.float64).flatten()


def accuracy(p, y) -> float:
    """Expected accuracy of thresholding ``p`` at 1/2 against (soft) labels ``y``; ties score 1/2."""
    p, y = _t(p), _t(y)
    if p.shape != y.shape:
        raise ValueError(f"accuracy: p has shape {tuple(p.shape)} but y has {tuple(y.shape)}")
    hit = torch.where(p > 0.5, y, torch.where(p < 0.5, 1 - y, torch.full_like(y, 0.5)))  # (N,)
    return float(hit.mean())


def log_loss(p, y, eps: float = EPS) -> float:
    """Mean binary cross-entropy of ``p`` against ``y`` (``p`` clipped to ``[eps, 1-eps]``)."""
    p, y = _t(p).clamp(eps, 1 - eps), _t(y)
    if p.shape != y.shape:
        raise ValueError(f"log_loss: p has shape {tuple(p.shape)} but y has {tuple(y.shape)}")
    return float(-(y * p.log() + (1 - y) * (1 - p).log()).mean())


def reliability_bins(p, y, n_bins: int = 10) -> pd.DataFrame:
    """Reliability-diagram table: one row per bin with ``lo, hi, count, mean_pred, mean_label``.

    Bins are ``[0, 1/n), [1/n, 2/n), ..., [(n-1)/n, 1]``; empty bins have count 0 and NaN means.
    """
    p, y = _t(p), _t(y)
    idx = torch.clamp((p * n_bins).long(), 0, n_bins - 1)  # (N,)
    count = torch.bincount(idx, minlength=n_bins).double()  # (n_bins,)
    sp = torch.bincount(idx, weights=p, minlength=n_bins)
    sy = torch.bincount(idx, weights=y, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_pred = (sp / count).numpy()
        mean_label = (sy / count).numpy()
    edges = np.linspace(0, 1, n_bins + 1)
    return pd.DataFrame({
        "bin": np.arange(n_bins), "lo": edges[:-1], "hi": edges[1:], "count": count.numpy().astype(int),
        "mean_pred": mean_pred, "mean_label": mean_label,
    })


def expected_calibration_error(p, y, n_bins: int = 10) -> float:
    """ECE: count-weighted mean gap ``|mean p - mean y|`` over equal-width bins."""
    b = reliability_bins(p, y, n_bins)
    n = b["count"].sum()
    if n == 0:
        raise ValueError("expected_calibration_error: no predictions")
    gap = (b["mean_pred"] - b["mean_label"]).abs().fillna(0.0)
    return float((b["count"] * gap).sum() / n)


def metrics(p, y, n_bins: int = 10) -> dict[str, float]:
    """``{"accuracy", "log_loss", "ece"}`` in one call."""
    return {"accuracy": accuracy(p, y), "log_loss": log_loss(p, y), "ece": expected_calibration_error(p, y, n_bins)}


# ---------------------------------------------------------------------------------------- cycles
def count_cyclic_triples(P) -> torch.Tensor:
    """Number of directed 3-cycles of the strict majority relation ``P > 1/2``; ``P`` is ``(*B, n, n)``."""
    P = torch.as_tensor(P, dtype=torch.float64)
    W = (P > 0.5).double()  # (*B, n, n)
    return torch.diagonal(W @ W @ W, dim1=-2, dim2=-1).sum(-1) / 3.0  # (*B,)


def cyclic_triple_fraction(P) -> torch.Tensor:
    """Fraction of the ``C(n, 3)`` triples whose majority relation is a cycle; ``(*B,)``."""
    P = torch.as_tensor(P, dtype=torch.float64)
    n = P.shape[-1]
    if n < 3:
        return torch.zeros(P.shape[:-2], dtype=torch.float64)
    return count_cyclic_triples(P) / math.comb(n, 3)


def empirical_triples(comparisons) -> pd.DataFrame:
    """Triples of responses (same prompt) whose three pairs were all compared, with the data's cycle flag.

    Returns a frame ``prompt, a, b, c, cyclic`` (``cyclic`` = the empirical majority over the comparisons of
    each pair is strict on all three pairs and forms a 3-cycle; ties are not cycles).
    """
    df = comparisons.frame if hasattr(comparisons, "frame") else comparisons
    rows = []
    for prompt, g in df.groupby("prompt", sort=False):
        wins: dict[tuple[str, str], float] = {}
        cnt: dict[tuple[str, str], int] = {}
        for a, b, lab in zip(g["response_a"], g["response_b"], g["label"]):
            if a == b:
                continue
            key, v = ((a, b), lab) if a < b else ((b, a), 1 - lab)
            wins[key] = wins.get(key, 0.0) + float(v)
            cnt[key] = cnt.get(key, 0) + 1
        ys = sorted({y for k in cnt for y in k})
        if len(ys) < 3:
            continue
        pos = {y: i for i, y in enumerate(ys)}
        M = np.full((len(ys), len(ys)), np.nan)
        for (a, b), c in cnt.items():
            M[pos[a], pos[b]] = wins[(a, b)] / c
            M[pos[b], pos[a]] = 1 - wins[(a, b)] / c
        n = len(ys)
        for i in range(n):
            for j in range(i + 1, n):
                if np.isnan(M[i, j]):
                    continue
                for k in range(j + 1, n):
                    if np.isnan(M[i, k]) or np.isnan(M[j, k]):
                        continue
                    cyc = (M[i, j] > 0.5 and M[j, k] > 0.5 and M[k, i] > 0.5) or (
                        M[j, i] > 0.5 and M[k, j] > 0.5 and M[i, k] > 0.5)
                    rows.append((prompt, ys[i], ys[j], ys[k], bool(cyc)))
    return pd.DataFrame(rows, columns=["prompt", "a", "b", "c", "cyclic"])


def triple_is_cyclic(p_ab, p_bc, p_ca) -> np.ndarray:
    """Cycle flags of triples from the three pair probabilities ``P(a≻b), P(b≻c), P(c≻a)``, ``(N,)``."""
    p_ab, p_bc, p_ca = (np.asarray(x, dtype=float) for x in (p_ab, p_bc, p_ca))
    fwd = (p_ab > 0.5) & (p_bc > 0.5) & (p_ca > 0.5)
    bwd = (p_ab < 0.5) & (p_bc < 0.5) & (p_ca < 0.5)
    return fwd | bwd
