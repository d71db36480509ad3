"""The one results schema (workbench.results): the checks name the column and the dtype, helpers round-trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.results import CORE_COLUMNS, KNOBS, ResultsSchemaError, check_frame, make_frame, to_long


def _frame(**over):
    df = pd.DataFrame({
        "algo": ["a", "a", "b"], "seed": [0, 1, 0], "step": [5, 5, 5], "queries": [10, 10, 10],
        "metric": ["gap"] * 3, "value": [0.5, 0.25, 0.125],
        "env": ["e"] * 3, "beta": [0.1] * 3, "gamma": [1.0] * 3,
    })
    return df.assign(**over)


def test_core_columns_are_the_contract():
    assert CORE_COLUMNS == ("algo", "seed", "step", "queries", "metric", "value")
    assert set(KNOBS) >= {"tabular", "bandits", "prefmodels"}
    assert list(KNOBS["tabular"]) == ["game", "beta", "eta", "eta_schedule"]


def test_check_frame_accepts_a_valid_frame_and_returns_it():
    df = _frame()
    assert check_frame(df, knobs="bandits") is df
    assert check_frame(df, knobs=["env"]) is df  # names only: presence


@pytest.mark.parametrize("drop", list(CORE_COLUMNS) + ["gamma"])
def test_check_frame_names_the_missing_column(drop):
    with pytest.raises(ResultsSchemaError, match=rf"my frame: missing column\(s\) \['{drop}'\]"):
        check_frame(_frame().drop(columns=drop), knobs="bandits", name="my frame")


@pytest.mark.parametrize("col, bad, kind, found", [
    ("seed", [0.0, 1.0, 0.0], "int", "float64"),
    ("queries", [True, False, True], "int", "bool"),
    ("value", [1, 2, 3], "float", "int64"),
    ("beta", ["0.1", "0.1", "0.1"], "float", ""),
])
def test_check_frame_names_the_wrong_dtype(col, bad, kind, found):
    with pytest.raises(ResultsSchemaError, match=rf"column '{col}' must hold {kind} values; dtype is {found}"):
        check_frame(_frame(**{col: bad}), knobs="bandits")


def test_check_frame_names_the_non_string_value():
    with pytest.raises(ResultsSchemaError, match=r"column 'algo' must hold str values; dtype is object \(value 3 of type int\)"):
        check_frame(_frame(algo=pd.Series(["a", 3, "b"], dtype=object)))
    with pytest.raises(ResultsSchemaError, match="unknown lab 'nope'"):
        check_frame(_frame(), knobs="nope")
    with pytest.raises(ResultsSchemaError, match="expected a pandas DataFrame; got dict"):
        check_frame({"algo": []})


def test_make_frame_casts_and_checks():
    df = make_frame([("bt", 0, 3, 96, "accuracy", 1, 0.5, "test")], knobs="prefmodels")
    assert list(df.columns) == [*CORE_COLUMNS, "intransitivity", "split"]
    assert df["value"].dtype == np.float64 and df["queries"].dtype == np.int64 and df["value"].iloc[0] == 1.0
    with pytest.raises(ResultsSchemaError, match="column 'split' must hold str values"):
        make_frame([("bt", 0, 3, 96, "accuracy", 1.0, 0.5, 1)], knobs="prefmodels")


def test_to_long_round_trips_a_wide_log():
    wide = pd.DataFrame({"algo": "x", "seed": 0, "step": [1, 2], "queries": [8, 16], "loss": [0.7, 0.6], "acc": [0.5, 0.75]})
    long = to_long(wide, ["loss", "acc"])
    check_frame(long)
    assert len(long) == 4 and set(long["metric"]) == {"loss", "acc"}
    back = long.pivot_table(index="step", columns="metric", values="value")
    np.testing.assert_array_equal(back["acc"].to_numpy(), [0.5, 0.75])
    with pytest.raises(ResultsSchemaError, match=r"metric column\(s\) \['nope'\] not in the frame"):
        to_long(wide, ["nope"])
