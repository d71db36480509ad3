"""Synthetic preference generator: ground truth, ceilings, reproducibility."""

import numpy as np
import pytest

from workbench.prefdata import best_order_value, make_synthetic


def test_labels_match_p_true_and_truth_is_antisymmetric():
    comps, truth = make_synthetic(40, 4, 4000, intransitivity=0.5, seed=3)
    p = comps.p_true
    np.testing.assert_allclose(p, truth.prob(comps.responses_a, comps.responses_b), atol=1e-12)
    np.testing.assert_allclose(truth.prob(comps.responses_b, comps.responses_a), 1 - p, atol=1e-12)
    # Bernoulli(P) labels: the mean label and the calibration in bins follow p_true (4000 draws: se ~ 0.008)
    assert abs(comps.labels.mean() - p.mean()) < 0.03
    hi = p > 0.8
    assert hi.sum() > 200 and abs(comps.labels[hi].mean() - p[hi].mean()) < 0.05
    assert set(np.unique(comps.labels)) <= {0.0, 1.0}


def test_soft_labels_equal_p_true():
    comps, _ = make_synthetic(10, 3, 50, intransitivity=0.3, seed=0, soft_labels=True)
    np.testing.assert_allclose(comps.labels, comps.p_true)


def test_truth_formula_on_handwritten_texts():
    _, truth = make_synthetic(2, 3, 4, intransitivity=1.0, seed=0, sharpness=2.0)
    # pure cycle: paper beats rock, scissors beats paper, rock beats scissors
    p = truth.prob(["paper good", "scissors", "rock bad bad"], ["rock", "paper good good", "scissors"])
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-2.0)))
    _, truth0 = make_synthetic(2, 3, 4, intransitivity=0.0, seed=0, sharpness=2.0, quality_slots=2)
    # transitive: r = (#good - #bad) / 2 -> r(a) - r(b) = 1 - (-0.5) = 1.5
    np.testing.assert_allclose(truth0.prob("good good rock", "bad okay paper"), 1 / (1 + np.exp(-3.0)))


@pytest.mark.parametrize("lam", [0.0, 0.5, 1.0])
def test_ceilings_ordered(lam):
    comps, truth = make_synthetic(30, 4, 600, intransitivity=lam, seed=1)
    assert truth.bayes_ceiling >= truth.bt_ceiling - 1e-12
    assert truth.bt_ceiling >= 0.5 - 1e-12
    if lam == 0.0:
        assert truth.bt_ceiling == pytest.approx(truth.bayes_ceiling, abs=1e-9)
        assert truth.cyclic_triple_fraction == 0.0
    if lam == 1.0:
        assert truth.bayes_ceiling - truth.bt_ceiling > 0.15
        assert truth.cyclic_triple_fraction > 0.3


def test_pure_three_cycle_has_known_ceilings():
    s = 4.0
    comps, truth = make_synthetic(20, 3, 300, intransitivity=1.0, seed=2, sharpness=s)
    sig = 1 / (1 + np.exp(-s))
    assert truth.bayes_ceiling == pytest.approx(sig)
    # a transitive order gets 2 of the 3 cycle edges right
    assert truth.bt_ceiling == pytest.approx(2 / 3 * sig + 1 / 3 * (1 - sig))
    assert truth.cyclic_triple_fraction == 1.0


def test_gap_grows_with_intransitivity():
    gaps = [
        (lambda t: t.bayes_ceiling - t.bt_ceiling)(make_synthetic(30, 3, 300, intransitivity=lam, seed=0)[1])
        for lam in (0.0, 0.6, 1.0)
    ]
    assert gaps[0] == pytest.approx(0.0, abs=1e-9) and gaps[0] < gaps[1] < gaps[2]


def test_split_ceilings_are_weighted_by_prompt():
    comps, truth = make_synthetic(30, 4, 600, intransitivity=0.7, seed=4)
    parts = comps.split((0.5, 0.5), seed=0)
    c = [truth.ceilings(p) for p in parts]
    total = sum(len(p) * x["bayes_accuracy"] for p, x in zip(parts, c)) / len(comps)
    assert total == pytest.approx(truth.bayes_ceiling)
    for x in c:
        assert x["bayes_accuracy"] >= x["bt_accuracy"]
        assert 0 < x["bayes_log_loss"] < np.log(2)


def test_best_order_value_matches_brute_force():
    import itertools

    rng = np.random.default_rng(0)
    W = rng.random((6, 6))
    np.fill_diagonal(W, 0)
    brute = max(
        sum(W[o[i], o[j]] for i in range(6) for j in range(i + 1, 6)) for o in itertools.permutations(range(6))
    )
    assert best_order_value(W) == pytest.approx(brute)


def test_reproducible_by_seed_and_distinct_responses():
    a, ta = make_synthetic(10, 5, 100, intransitivity=0.4, seed=7)
    b, tb = make_synthetic(10, 5, 100, intransitivity=0.4, seed=7)
    c, _ = make_synthetic(10, 5, 100, intransitivity=0.4, seed=8)
    assert a.to_frame().equals(b.to_frame()) and ta.bt_ceiling == tb.bt_ceiling
    assert not a.to_frame().equals(c.to_frame())
    assert all(len(set(ys)) == 5 for ys in ta.responses.values())
    assert (a.frame["response_a"] != a.frame["response_b"]).all()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(intransitivity=1.5), "intransitivity"),
        (dict(styles=("rock", "paper")), "odd"),
        (dict(filler=("good", "word")), "filler"),
        (dict(response_len=2), "response_len"),
    ],
)
def test_bad_parameters_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_synthetic(5, 3, 10, **{"seed": 0, **kwargs})
