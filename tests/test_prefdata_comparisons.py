"""The Comparisons type: validation, split without prompt leakage, swap round-trip."""

import numpy as np
import pandas as pd
import pytest

from workbench.prefdata import Comparisons, ComparisonsError, make_synthetic


def _frame(n=6):
    return pd.DataFrame({
        "prompt": [f"p{i // 2}" for i in range(n)],
        "response_a": [f"a{i}" for i in range(n)],
        "response_b": [f"b{i}" for i in range(n)],
        "label": np.linspace(0, 1, n),
    })


def test_from_frame_fills_source_and_orders_columns():
    c = Comparisons.from_frame(_frame().assign(extra=1), source="unit")
    assert len(c) == 6
    assert list(c.frame.columns[:5]) == ["prompt", "response_a", "response_b", "label", "source"]
    assert (c.frame["source"] == "unit").all() and "extra" in c.frame.columns
    assert c.p_true is None and c.labels.dtype == float


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda d: d.drop(columns="response_b"), "missing column"),
        (lambda d: d.assign(prompt=["p", " ", "p", "p", "p", "p"]), "'prompt'.*row 1"),
        (lambda d: d.assign(response_a=["x", "x", 3, "x", "x", "x"]), "'response_a'.*row 2"),
        (lambda d: d.assign(label=[0, 1, 1.5, 0, 0, 0]), "'label'.*row 2"),
        (lambda d: d.assign(label=["yes", 1, 0, 0, 0, 0]), "'label'.*row 0"),
        (lambda d: d.assign(p_true=[0, 1, 0, float("nan"), 0, 0]), "'p_true'.*row 3"),
    ],
)
def test_from_frame_rejects_bad_frames(mutate, match):
    with pytest.raises(ComparisonsError, match=match):
        Comparisons.from_frame(mutate(_frame()), source="unit")


def test_swap_round_trip_and_flips_label():
    comps, _ = make_synthetic(10, 4, 60, intransitivity=0.5, seed=0)
    s = comps.swap()
    np.testing.assert_allclose(s.labels, 1 - comps.labels)
    np.testing.assert_allclose(s.p_true, 1 - comps.p_true)
    assert s.responses_a == comps.responses_b and (s.frame["a_id"] == comps.frame["b_id"]).all()
    pd.testing.assert_frame_equal(s.swap().to_frame(), comps.to_frame())
    assert len(comps.with_both_orders()) == 2 * len(comps)


def test_split_by_prompt_no_leakage_and_reproducible():
    comps, _ = make_synthetic(40, 3, 400, intransitivity=0.2, seed=0)
    parts = comps.split((0.8, 0.1, 0.1), seed=5)
    assert sum(len(p) for p in parts) == len(comps)
    sets = [set(p.prompts) for p in parts]
    assert [len(s) for s in sets] == [32, 4, 4]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    again = comps.split((0.8, 0.1, 0.1), seed=5)
    for p, q in zip(parts, again):
        pd.testing.assert_frame_equal(p.to_frame(), q.to_frame())
    other = comps.split((0.8, 0.1, 0.1), seed=6)
    assert set(other[1].prompts) != sets[1]


def test_split_gives_nonempty_parts_and_checks_fractions():
    c = Comparisons.from_frame(_frame(6), source="unit")  # 3 prompts
    parts = c.split((0.9, 0.05, 0.05), seed=0)
    assert [p.frame["prompt"].nunique() for p in parts] == [1, 1, 1]
    with pytest.raises(ComparisonsError, match="sum to 1"):
        c.split((0.5, 0.3))


def test_frozen():
    c = Comparisons.from_frame(_frame(), source="unit")
    with pytest.raises(AttributeError):
        c.skipped = 3  # type: ignore[misc]
