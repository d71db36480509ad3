"""Evaluation metrics of preference models on hand-made tensors."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from workbench.prefmodels.evaluation import (
    accuracy,
    count_cyclic_triples,
    cyclic_triple_fraction,
    empirical_triples,
    expected_calibration_error,
    log_loss,
    reliability_bins,
    triple_is_cyclic,
)


def test_accuracy_hard_soft_and_ties():
    p = torch.tensor([0.9, 0.2, 0.6, 0.5])
    y = torch.tensor([1.0, 0.0, 0.0, 1.0])
    assert accuracy(p, y) == pytest.approx((1 + 1 + 0 + 0.5) / 4)
    # soft labels: expected accuracy against a label drawn from y
    assert accuracy(torch.tensor([0.8, 0.3]), torch.tensor([0.7, 0.4])) == pytest.approx((0.7 + 0.6) / 2)
    with pytest.raises(ValueError, match="shape"):
        accuracy(torch.ones(3), torch.ones(2))


def test_log_loss_by_hand():
    p = torch.tensor([0.8, 0.25])
    y = torch.tensor([1.0, 0.0])
    assert log_loss(p, y) == pytest.approx(-(math.log(0.8) + math.log(0.75)) / 2)
    assert log_loss(torch.tensor([0.5]), torch.tensor([0.3])) == pytest.approx(math.log(2))


def test_ece_and_reliability_bins_by_hand():
    # two bins used: [0.1,0.2) holds 0.15,0.15 with labels 0,1 -> gap |0.15-0.5|=0.35
    #                [0.9,1.0] holds 0.95,1.0 with labels 1,1 -> gap |0.975-1|=0.025
    p = torch.tensor([0.15, 0.15, 0.95, 1.0])
    y = torch.tensor([0.0, 1.0, 1.0, 1.0])
    b = reliability_bins(p, y, n_bins=10)
    assert list(b["count"]) == [0, 2, 0, 0, 0, 0, 0, 0, 0, 2]
    assert b.loc[1, "mean_label"] == pytest.approx(0.5)
    assert b.loc[9, "mean_pred"] == pytest.approx(0.975)
    assert expected_calibration_error(p, y, 10) == pytest.approx(0.5 * 0.35 + 0.5 * 0.025)
    # perfectly calibrated in every bin -> 0
    assert expected_calibration_error(torch.tensor([0.25, 0.25, 0.25, 0.25]), torch.tensor([1.0, 0, 0, 0]), 4) == pytest.approx(0.0)


def test_cyclic_triples_hand_made_matrix():
    # 4 responses: 0 -> 1 -> 2 -> 0 is a cycle, 3 loses to everyone -> 1 cyclic triple of C(4,3)=4
    W = np.array([[0, 1, 0, 1], [0, 0, 1, 1], [1, 0, 0, 1], [0, 0, 0, 0]], dtype=float)
    P = 0.5 + 0.4 * (W - W.T)
    assert float(count_cyclic_triples(P)) == pytest.approx(1.0)
    assert float(cyclic_triple_fraction(P)) == pytest.approx(0.25)
    # a transitive order has none; ties are not cycles; batched input
    order = np.triu(np.ones((4, 4)), 1)
    T = 0.5 + 0.3 * (order - order.T)
    ties = np.full((3, 3), 0.5)
    out = cyclic_triple_fraction(torch.tensor(np.stack([P, T])))
    assert out.tolist() == pytest.approx([0.25, 0.0])
    assert float(cyclic_triple_fraction(ties)) == 0.0
    assert triple_is_cyclic([0.9, 0.1, 0.9], [0.8, 0.2, 0.6], [0.7, 0.3, 0.2]).tolist() == [True, True, False]


def test_empirical_triples_from_comparisons():
    rows = [("x", "a", "b", 1.0), ("x", "b", "c", 1.0), ("x", "a", "c", 0.0),  # a>b, b>c, c>a: cycle
            ("z", "a", "b", 1.0), ("z", "b", "c", 1.0), ("z", "c", "a", 0.0),  # a>b>c, a>c: no cycle
            ("w", "a", "b", 1.0), ("w", "b", "c", 1.0)]  # incomplete triple: not counted
    df = pd.DataFrame(rows, columns=["prompt", "response_a", "response_b", "label"])
    t = empirical_triples(df)
    assert len(t) == 2
    assert dict(zip(t["prompt"], t["cyclic"])) == {"x": True, "z": False}
