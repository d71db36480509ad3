"""Experiment drivers for notebook 05: fit BT / pairwise / skew models across the transitivity knob.

Everything returns tidy pandas frames (``algo, seed, intransitivity, metric, value``) and the trained
judges; plotting lives in :mod:`workbench.plots.prefmodels`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from workbench.prefmodels.backbones import load_backbone
from workbench.prefmodels.evaluation import accuracy, cyclic_triple_fraction, empirical_triples, metrics, reliability_bins, triple_is_cyclic
from workbench.prefmodels.judge import ModelJudge
from workbench.prefmodels.models import build_model
from workbench.prefmodels.training import TrainConfig, predict, train


@dataclass
class FitResult:
    """Trained judges and tidy frames of one experiment."""

    results: pd.DataFrame  # algo, seed, intransitivity, split, metric, value
    calibration: pd.DataFrame  # reliability bins: algo, intransitivity, bin, lo, hi, count, mean_pred, mean_label
    cycles: pd.DataFrame  # algo (incl. "truth"/"data"), intransitivity, cyclic_fraction
    history: pd.DataFrame  # training curves: algo, seed, step, epoch, metric, value, intransitivity
    judges: dict[Any, ModelJudge] = field(default_factory=dict)  # kind (fit_models) or (kind, λ) (sweep) -> judge


def fit_models(
    train_data,
    val_data,
    test_data,
    kinds=("bt", "pairwise", "skew"),
    *,
    backbone: str = "tiny",
    tiny: dict | None = None,
    backbone_kw: dict | None = None,
    heads: dict | None = None,
    config: TrainConfig | None = None,
    seed: int = 0,
    device="auto",
    tag: float = float("nan"),
) -> FitResult:
    """Train one model per kind (same backbone recipe, same seed) and evaluate it on ``test_data``.

    ``tag`` is written into the ``intransitivity`` column (NaN for real data).
    """
    texts = train_data.prompts + train_data.responses_a + train_data.responses_b
    rows, cal, hist, judges = [], [], [], {}
    for kind in kinds:
        bb = load_backbone(backbone, texts=texts, tiny=tiny, device=device, seed=seed, **(backbone_kw or {}))
        model = build_model(kind, bb, seed=seed, **((heads or {}).get(kind, {})))
        res = train(model, train_data, val_data, config, seed=seed, name=kind)
        hist.append(res.history.assign(intransitivity=tag))
        for split, data in (("train", train_data), ("test", test_data)):
            p = predict(model, data)
            y = torch.tensor(data.labels)
            for metric, value in metrics(p, y).items():
                rows.append((kind, seed, tag, split, metric, value))
            if split == "test":
                cal.append(reliability_bins(p, y).assign(algo=kind, intransitivity=tag))
        rows.append((kind, seed, tag, "train", "steps", float(res.steps)))
        judges[kind] = ModelJudge(model)
    return FitResult(
        pd.DataFrame(rows, columns=["algo", "seed", "intransitivity", "split", "metric", "value"]),
        pd.concat(cal, ignore_index=True), pd.DataFrame(columns=["algo", "intransitivity", "cyclic_fraction"]),
        pd.concat(hist, ignore_index=True), judges,
    )


def synthetic_population(judges: dict, truth, comparisons, tag: float, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Judge vs truth on the full response sets of the prompts of ``comparisons`` (e.g. the test split).

    Returns ``(results_rows, cycles)``: the metric ``expected_accuracy`` - for each prompt the accuracy in
    expectation over the label noise on a uniformly drawn pair of distinct responses,
    ``mean_{i<j} 1[p̂_ij > ½] P_ij + 1[p̂_ij < ½] (1 - P_ij)`` (ties ½), averaged with weights = the prompt's
    number of comparisons - which is exactly what ``SyntheticTruth.ceilings`` bounds (so a BT model can
    never exceed the BT ceiling, nor any model the Bayes ceiling); and the mean cyclic-triple fraction of
    the predicted matrices next to the truth's.
    """
    counts = comparisons.frame["prompt"].value_counts(sort=False)
    truths = {x: torch.as_tensor(truth.matrix(x), dtype=torch.float64) for x in counts.index}
    iu = {x: torch.triu_indices(len(P), len(P), 1) for x, P in truths.items()}
    cyc = [("truth", tag, float(np.mean([float(cyclic_triple_fraction(P)) for P in truths.values()])))]
    rows = []
    for key, judge in judges.items():
        kind = key[0] if isinstance(key, tuple) else key
        acc_sum, fracs = 0.0, []
        for x, cnt in counts.items():
            Phat = judge.matrix(x, list(truth.responses[x])).double()  # (m, m)
            i, j = iu[x]
            acc_sum += cnt * accuracy(Phat[i, j], truths[x][i, j])
            fracs.append(float(cyclic_triple_fraction(Phat)))
        rows.append((kind, seed, tag, "test", "expected_accuracy", acc_sum / counts.sum()))
        cyc.append((kind, tag, float(np.mean(fracs))))
    return (pd.DataFrame(rows, columns=["algo", "seed", "intransitivity", "split", "metric", "value"]),
            pd.DataFrame(cyc, columns=["algo", "intransitivity", "cyclic_fraction"]))


def data_cycles(judges: dict, comparisons, tag: float = float("nan")) -> pd.DataFrame:
    """Cyclic-triple fraction on the fully compared triples of real data: empirical majority vs judges."""
    t = empirical_triples(comparisons)
    rows = [("data", tag, float(t["cyclic"].mean()) if len(t) else float("nan"), len(t))]
    for key, judge in judges.items():
        kind = key[0] if isinstance(key, tuple) else key
        if not len(t):
            rows.append((kind, tag, float("nan"), 0))
            continue
        x = t["prompt"].tolist()
        pab = judge.prob(x, t["a"].tolist(), t["b"].tolist()).numpy()
        pbc = judge.prob(x, t["b"].tolist(), t["c"].tolist()).numpy()
        pca = judge.prob(x, t["c"].tolist(), t["a"].tolist()).numpy()
        rows.append((kind, tag, float(triple_is_cyclic(pab, pbc, pca).mean()), len(t)))
    return pd.DataFrame(rows, columns=["algo", "intransitivity", "cyclic_fraction", "n_triples"])


def transitivity_sweep(
    levels=(0.0, 0.5, 1.0),
    kinds=("bt", "pairwise", "skew"),
    *,
    data: dict | None = None,
    split=(0.7, 0.15, 0.15),
    tiny: dict | None = None,
    heads: dict | None = None,
    config: TrainConfig | None = None,
    seed: int = 0,
    device="auto",
    progress: bool = True,
) -> FitResult:
    """For each intransitivity level: synthetic data (``make_synthetic(**data)``), split by prompt, fit
    every kind, evaluate on the test prompts; adds the Bayes / best-BT ceilings of the test split as
    rows ``algo="Bayes ceiling"`` / ``"BT ceiling"`` (metric ``expected_accuracy``, see
    :func:`synthetic_population`: the quantity the ceilings bound) and the cyclic-triple fractions (truth vs models)."""
    from tqdm.auto import tqdm

    from workbench.prefdata import make_synthetic

    parts = []
    cfg = config or TrainConfig()
    for lam in tqdm(list(levels), desc="intransitivity", disable=not progress):
        comps, truth = make_synthetic(intransitivity=float(lam), seed=seed, **(data or {}))
        tr, va, te = comps.split(split, seed=seed)
        fit = fit_models(tr, va, te, kinds, tiny=tiny, heads=heads, config=cfg, seed=seed, device=device, tag=float(lam))
        ceil = truth.ceilings(te)
        extra = [("Bayes ceiling", seed, float(lam), "test", "expected_accuracy", ceil["bayes_accuracy"]),
                 ("BT ceiling", seed, float(lam), "test", "expected_accuracy", ceil["bt_accuracy"])]
        fit.judges = {(k, float(lam)): j for k, j in fit.judges.items()}
        pop, fit.cycles = synthetic_population(fit.judges, truth, te, float(lam), seed)
        fit.results = pd.concat([fit.results, pop, pd.DataFrame(extra, columns=fit.results.columns)], ignore_index=True)
        parts.append(fit)
    return FitResult(
        pd.concat([p.results for p in parts], ignore_index=True),
        pd.concat([p.calibration for p in parts], ignore_index=True),
        pd.concat([p.cycles for p in parts], ignore_index=True),
        pd.concat([p.history for p in parts], ignore_index=True),
        {k: v for p in parts for k, v in p.judges.items()},
    )


def accuracy_table(results: pd.DataFrame, metric: str = "expected_accuracy", split: str = "test") -> pd.DataFrame:
    """Wide table: rows intransitivity, columns algo (models and ceilings), values ``metric`` on ``split``."""
    r = results[(results["metric"] == metric) & (results["split"] == split)]
    return r.pivot_table(index="intransitivity", columns="algo", values="value")
