"""Experiment drivers for notebook 05: fit BT / pairwise / skew models across the transitivity knob.

Results and training histories are frames of the one results schema (:mod:`workbench.results`):
``algo, seed, step, queries, metric, value`` plus the knobs ``intransitivity`` (the synthetic level, NaN for
real data) and ``split`` (``train`` / ``val`` / ``test``). ``step`` is the optimizer step of the evaluated
weights (the best validation step when early stopping restores them) and ``queries`` the training
comparisons seen by then; the oracle ceilings have ``step = queries = 0``. Summaries (tables of means over
seeds) come from :mod:`workbench.analysis.summaries`; plotting lives in :mod:`workbench.plots.prefmodels`.
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
from workbench.prefmodels.training import TrainConfig, TrainResult, predict, train
from workbench.results import make_frame


@dataclass
class FitResult:
    """Trained judges and tidy frames of one experiment."""

    results: pd.DataFrame  # results schema: algo, seed, step, queries, metric, value, intransitivity, split
    calibration: pd.DataFrame  # reliability bins: algo, intransitivity, bin, lo, hi, count, mean_pred, mean_label
    cycles: pd.DataFrame  # algo (incl. "truth"/"data"), intransitivity, cyclic_fraction
    history: pd.DataFrame  # training curves, results schema (+ epoch): split "train" (train_loss) / "val" (val_*)
    judges: dict[Any, ModelJudge] = field(default_factory=dict)  # kind (fit_models) or (kind, λ) (sweep) -> judge


def queries_seen(step, n: int, batch_size: int):
    """Training comparisons seen after ``step`` optimizer steps of :func:`~workbench.prefmodels.training.train`.

    Each epoch is ``spe = ceil(n / batch_size)`` steps over a permutation of the ``n`` comparisons (the last
    batch may be short, so a finished epoch counts ``n``): ``(step // spe) * n + (step % spe) * batch_size``.
    ``step`` may be an array.
    """
    spe = -(-n // batch_size)
    epochs, pos = np.divmod(np.asarray(step, dtype=np.int64), spe)
    return epochs * n + pos * batch_size


def _evaluated_step(res: TrainResult) -> int:
    """The optimizer step of the weights ``train`` leaves in the model (best validation step if restored)."""
    restored = res.config["restore_best"] and np.isfinite(res.best_val_loss)
    return int(res.best_step if restored else res.steps)


def _history(res: TrainResult, n: int, tag: float) -> pd.DataFrame:
    """``res.history`` in the results schema: ``queries`` added, ``split`` train (train_loss) / val (val_*)."""
    h = res.history
    return h.assign(queries=queries_seen(h["step"].to_numpy(), n, res.config["batch_size"]).astype(np.int64),
                    intransitivity=float(tag),
                    split=np.where(h["metric"].str.startswith("val_"), "val", "train").astype(object))


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
        hist.append(_history(res, len(train_data), tag))
        step = _evaluated_step(res)
        queries = int(queries_seen(step, len(train_data), res.config["batch_size"]))
        for split, data in (("train", train_data), ("test", test_data)):
            p = predict(model, data)
            y = torch.tensor(data.labels)
            for metric, value in metrics(p, y).items():
                rows.append((kind, seed, step, queries, metric, value, tag, split))
            if split == "test":
                cal.append(reliability_bins(p, y).assign(algo=kind, intransitivity=tag))
        rows.append((kind, seed, step, queries, "steps", float(res.steps), tag, "train"))
        judges[kind] = ModelJudge(model)
    return FitResult(
        make_frame(rows, knobs="prefmodels"),
        pd.concat(cal, ignore_index=True), pd.DataFrame(columns=["algo", "intransitivity", "cyclic_fraction"]),
        pd.concat(hist, ignore_index=True), judges,
    )


def synthetic_population(judges: dict, truth, comparisons, tag: float, seed: int = 0,
                         cost: dict | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Judge vs truth on the full response sets of the prompts of ``comparisons`` (e.g. the test split).

    Returns ``(results_rows, cycles)``: the metric ``expected_accuracy`` - for each prompt the accuracy in
    expectation over the label noise on a uniformly drawn pair of distinct responses,
    ``mean_{i<j} 1[p̂_ij > ½] P_ij + 1[p̂_ij < ½] (1 - P_ij)`` (ties ½), averaged with weights = the prompt's
    number of comparisons - which is exactly what ``SyntheticTruth.ceilings`` bounds (so a BT model can
    never exceed the BT ceiling, nor any model the Bayes ceiling); and the mean cyclic-triple fraction of
    the predicted matrices next to the truth's. ``cost`` maps a model kind to the ``(step, queries)`` of
    its evaluated weights for the results schema (``(0, 0)`` when left out).
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
        step, queries = (cost or {}).get(kind, (0, 0))
        rows.append((kind, seed, step, queries, "expected_accuracy", acc_sum / counts.sum(), tag, "test"))
        cyc.append((kind, tag, float(np.mean(fracs))))
    return (make_frame(rows, knobs="prefmodels"),
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
        extra = make_frame([("Bayes ceiling", seed, 0, 0, "expected_accuracy", ceil["bayes_accuracy"], float(lam), "test"),
                            ("BT ceiling", seed, 0, 0, "expected_accuracy", ceil["bt_accuracy"], float(lam), "test")],
                           knobs="prefmodels")
        fit.judges = {(k, float(lam)): j for k, j in fit.judges.items()}
        first = fit.results.drop_duplicates("algo").set_index("algo")
        cost = {k: (int(first.loc[k, "step"]), int(first.loc[k, "queries"])) for k in first.index}
        pop, fit.cycles = synthetic_population(fit.judges, truth, te, float(lam), seed, cost=cost)
        fit.results = pd.concat([fit.results, pop, extra], ignore_index=True)
        parts.append(fit)
    return FitResult(
        pd.concat([p.results for p in parts], ignore_index=True),
        pd.concat([p.calibration for p in parts], ignore_index=True),
        pd.concat([p.cycles for p in parts], ignore_index=True),
        pd.concat([p.history for p in parts], ignore_index=True),
        {k: v for p in parts for k, v in p.judges.items()},
    )

