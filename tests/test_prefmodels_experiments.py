"""The preference-model lab's experiment frames are results frames: schema, cost columns, the summary table."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.analysis.summaries import mean_table
from workbench.prefdata import make_synthetic
from workbench.prefmodels import TrainConfig
from workbench.prefmodels import experiments as X
from workbench.results import check_frame

TINY = dict(hidden_size=8, num_layers=1, num_heads=2, intermediate_size=16, max_length=16)


def test_queries_seen_hand_computed():
    # n = 10 comparisons, batch 4 -> 3 steps per epoch (4, 4, 2)
    assert X.queries_seen(0, 10, 4) == 0
    assert X.queries_seen(2, 10, 4) == 8
    assert X.queries_seen(3, 10, 4) == 10  # the short last batch ends the epoch
    assert int(X.queries_seen(7, 10, 4)) == 24  # two epochs + one batch
    np.testing.assert_array_equal(X.queries_seen(np.arange(7), 10, 4), [0, 4, 8, 10, 14, 18, 20])


@pytest.fixture(scope="module")
def sweep():
    cfg = TrainConfig(epochs=2, batch_size=16, lr=1e-2, patience=0, progress=False)
    data = dict(n_prompts=12, responses_per_prompt=4, n_pairs=160)
    return X.transitivity_sweep([0.0, 1.0], ["bt", "skew"], data=data, tiny=TINY, config=cfg, seed=0, device="cpu", progress=False)


def test_results_and_history_follow_the_schema(sweep):
    check_frame(sweep.results, knobs="prefmodels", name="sweep.results")
    check_frame(sweep.history, knobs="prefmodels", name="sweep.history")
    assert set(sweep.results["split"]) == {"train", "test"} and set(sweep.history["split"]) == {"train", "val"}
    models = sweep.results[sweep.results["algo"].isin(["bt", "skew"])]
    # every row of a model carries the step of its evaluated (best-validation) weights and the comparisons seen
    for (algo, lam), g in models.groupby(["algo", "intransitivity"]):
        assert g["step"].nunique() == 1 and g["queries"].nunique() == 1
        steps = int(g.loc[g["metric"] == "steps", "value"].iloc[0])
        assert 1 <= g["step"].iloc[0] <= steps
        h = sweep.history[(sweep.history["algo"] == algo) & (sweep.history["intransitivity"] == lam)]
        assert h.loc[h["step"] == g["step"].iloc[0], "queries"].iloc[0] == g["queries"].iloc[0]
    ceilings = sweep.results[sweep.results["algo"].str.endswith("ceiling")]
    assert len(ceilings) == 4 and (ceilings[["step", "queries"]] == 0).all().all()


def test_mean_table_is_the_accuracy_table(sweep):
    acc = mean_table(sweep.results, "intransitivity", metric="expected_accuracy", split="test")
    assert list(acc.index) == [0.0, 1.0] and set(acc.columns) == {"bt", "skew", "BT ceiling", "Bayes ceiling"}
    r = sweep.results
    one = r[(r.algo == "skew") & (r.intransitivity == 1.0) & (r.metric == "expected_accuracy")]["value"]
    assert len(one) == 1 and acc.loc[1.0, "skew"] == one.iloc[0]
    assert (acc["bt"] <= acc["BT ceiling"] + 1e-9).all()


def test_figures_draw_the_summary_table(sweep):
    from workbench.plots import prefmodels as P

    fig = P.accuracy_vs_intransitivity(sweep.results)
    acc = mean_table(sweep.results, "intransitivity", metric="expected_accuracy", split="test")
    by_name = {t.name: t for t in fig.data}
    assert len(fig.data) == 4 and list(by_name["skew-bilinear"].y) == acc["skew"].tolist()
    assert list(by_name["Bayes ceiling"].x) == [0.0, 1.0] and by_name["Bayes ceiling"].line.dash == "dash"
    curves = P.training_curves(sweep.history)
    assert len(curves.data) == 4  # (bt, skew) x two levels
