"""Notebook 05's figures: display names, λ levels drawn apart, the Explore figure (one slider step per level)."""

import numpy as np
import pandas as pd
import pytest

from workbench.plots import prefmodels as P
from workbench.plots.explore import stepped_figure

LEVELS = [0.0, 1.0]
ALGOS = ["bt", "pairwise", "skew"]


@pytest.fixture(scope="module")
def frames():
    rows = [(a, "expected_accuracy", "test", lam, 0.6 + 0.1 * i + 0.05 * lam) for lam in LEVELS for i, a in enumerate(ALGOS)]
    rows += [(c, "expected_accuracy", "test", lam, v) for lam in LEVELS for c, v in (("Bayes ceiling", 0.9), ("BT ceiling", 0.9 - 0.25 * lam))]
    results = pd.DataFrame(rows, columns=["algo", "metric", "split", "intransitivity", "value"]).assign(seed=0)
    bins = np.arange(10)
    calibration = pd.concat([pd.DataFrame({"algo": a, "intransitivity": lam, "bin": bins, "count": (bins % 3) * 5,
                                           "mean_pred": (bins + 0.5) / 10, "mean_label": (bins + 0.5) / 10})
                             for lam in LEVELS for a in ALGOS], ignore_index=True)
    history = pd.concat([pd.DataFrame({"algo": a, "intransitivity": lam, "metric": "val_log_loss", "step": [7, 14, 21],
                                       "value": [0.69, 0.5, 0.4]}) for lam in LEVELS for a in ALGOS], ignore_index=True)
    return results, calibration, history


def test_display_names_are_words():
    for name in ALGOS + ["Bayes ceiling", "BT ceiling", "truth", "data", "pairwise (SmolLM2)"]:
        assert "_" not in P.display_name(name)
    assert P.display_name("bt") == "BT reward" and P.display_name("bt (SmolLM2)") == "BT reward (SmolLM2)"
    for metric in ("expected_accuracy", "val_log_loss", "log_loss", "ece", "train_loss", "val_accuracy"):
        assert "_" not in P.metric_name(metric)


def test_figures_have_no_snake_case_and_no_fixed_width(frames):
    results, calibration, history = frames
    figs = [P.accuracy_vs_intransitivity(results), P.reliability_diagram(calibration), P.training_curves(history),
            P.level_summary(results, calibration, 1.0)]
    for fig in figs:
        assert fig.layout.width is None or fig.layout.width <= 1200
        texts = [fig.layout.title.text, fig.layout.xaxis.title.text, fig.layout.yaxis.title.text] + [t.name for t in fig.data]
        assert not any("_" in t for t in texts if t), texts


def test_levels_of_one_model_are_drawn_differently(frames):
    _, _, history = frames
    fig = P.training_curves(history)
    by_name = {t.name: t for t in fig.data}
    a, b = by_name["BT reward, λ = 0"], by_name["BT reward, λ = 1"]
    assert a.line.color == b.line.color and a.line.dash != b.line.dash


def test_coinciding_models_keep_distinct_markers(frames):
    results, _, _ = frames
    fig = P.accuracy_vs_intransitivity(results)
    marks = {t.name: (t.marker.symbol, t.marker.size) for t in fig.data if "ceiling" not in t.name}
    assert len(set(marks.values())) == len(ALGOS)
    dashes = {t.name: t.line.dash for t in fig.data if "ceiling" in t.name}
    assert len(set(dashes.values())) == 2  # the two ceilings coincide at λ = 0: dash vs dot


def test_explore_figure_has_one_step_per_level(frames):
    results, calibration, _ = frames
    figs = {f"{lam:g}": P.level_summary(results, calibration, lam) for lam in LEVELS}
    fig = stepped_figure(figs, label="λ")
    steps = fig.layout.sliders[0].steps
    assert [s.label for s in steps] == ["0", "1"]
    shown = [np.array(s.args[0]["visible"]) for s in steps]
    assert not np.array_equal(shown[0], shown[1])
    # the bars of the shown level carry that level's accuracies
    bars = [t for t, v in zip(fig.data, shown[1]) if v and t.type == "bar"]
    want = results[(results.intransitivity == 1.0) & results.algo.isin(ALGOS)].value.to_numpy()
    assert len(bars) == 1 and np.allclose(bars[0].y, want)
