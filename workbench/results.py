"""The one results schema every lab writes: a tidy long frame, one row per recorded value.

Core columns (rliable's convention, with the cost axis made explicit)::

    algo     str    the method's label ("Nash-MD", "pointwise", "bt", ...)
    seed     int    the run's seed (one row per seed; summaries reduce over it)
    step     int    the iteration, round or dataset size at which the value was recorded
    queries  int    preference queries (comparisons) spent by then: the one cost axis of every lab
    metric   str    what was measured ("exploitability", "gap", "accuracy", ...)
    value    float  the measurement

plus the lab's *knob* columns, the settings the run was made with (:data:`KNOBS`): the tabular lab adds
``game, beta, eta, eta_schedule``; the bandit lab ``env, beta, gamma`` (and ``coverage`` offline,
``batch_size`` online); the preference-model lab ``intransitivity, split``. A new lab (the LLM stage,
``workbench.llm``) adds its own entry and writes the same core columns, so that
:mod:`workbench.analysis.summaries` (mean and confidence interval over seeds) and the plots work unchanged.

    df = make_frame([("bt", 0, 120, 700, "accuracy", 0.81, 0.5, "test")], knobs="prefmodels")
    check_frame(df, knobs="prefmodels")          # raises naming the missing column or wrong dtype
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import pandas as pd
from pandas.api import types as ptypes

__all__ = ["CORE_COLUMNS", "CORE_DTYPES", "KNOBS", "ResultsSchemaError", "check_frame", "make_frame", "to_long"]

CORE_COLUMNS = ("algo", "seed", "step", "queries", "metric", "value")

#: column -> dtype kind: ``"str"`` (object/string of Python str), ``"int"``, ``"float"``, ``"any"``.
CORE_DTYPES = {"algo": "str", "seed": "int", "step": "int", "queries": "int", "metric": "str", "value": "float"}

#: lab -> its knob columns and their dtype kinds (the columns every frame of that lab carries).
KNOBS: dict[str, dict[str, str]] = {
    "tabular": {"game": "int", "beta": "float", "eta": "float", "eta_schedule": "str"},
    "bandits": {"env": "str", "beta": "float", "gamma": "float"},
    "prefmodels": {"intransitivity": "float", "split": "str"},
    "llm": {"model": "str", "beta": "float"},
}


class ResultsSchemaError(ValueError):
    """A results frame breaks the schema; the message names the column, the expected and the found dtype."""


def _knob_spec(knobs) -> dict[str, str]:
    if knobs is None:
        return {}
    if isinstance(knobs, str):
        if knobs not in KNOBS:
            raise ResultsSchemaError(f"unknown lab {knobs!r} for knobs; known labs {list(KNOBS)}")
        return dict(KNOBS[knobs])
    if isinstance(knobs, Mapping):
        return dict(knobs)
    return {k: "any" for k in knobs}


def _kind_ok(s: pd.Series, kind: str) -> bool:
    if kind == "any":
        return True
    if kind == "int":
        return ptypes.is_integer_dtype(s.dtype) and not ptypes.is_bool_dtype(s.dtype)
    if kind == "float":
        return ptypes.is_float_dtype(s.dtype)
    if kind == "str":
        if ptypes.is_string_dtype(s.dtype) and not ptypes.is_object_dtype(s.dtype):
            return True
        return ptypes.is_object_dtype(s.dtype) and all(isinstance(v, str) for v in s.tolist())
    raise ResultsSchemaError(f"unknown dtype kind {kind!r}; use 'str', 'int', 'float' or 'any'")


def check_frame(df: pd.DataFrame, knobs: str | Mapping[str, str] | Sequence[str] | None = None,
                *, name: str = "results frame") -> pd.DataFrame:
    """Check ``df`` against the schema: the :data:`CORE_COLUMNS` with their dtypes, plus ``knobs``.

    ``knobs``: a lab name of :data:`KNOBS` (``"tabular"``, ``"bandits"``, ``"prefmodels"``), a mapping
    column -> dtype kind, or a list of column names (presence only). Extra columns are allowed. Raises
    :class:`ResultsSchemaError` naming ``name``, the missing columns, or the column with the wrong dtype
    (and a value that breaks it for ``str`` columns); returns ``df`` so it can end a pipeline.
    """
    if not isinstance(df, pd.DataFrame):
        raise ResultsSchemaError(f"{name}: expected a pandas DataFrame; got {type(df).__name__}")
    spec = {**CORE_DTYPES, **_knob_spec(knobs)}
    missing = [c for c in spec if c not in df.columns]
    if missing:
        raise ResultsSchemaError(f"{name}: missing column(s) {missing}; it has {list(df.columns)}")
    for col, kind in spec.items():
        s = df[col]
        if not _kind_ok(s, kind):
            bad = ""
            if kind == "str" and ptypes.is_object_dtype(s.dtype):
                v = next(v for v in s.tolist() if not isinstance(v, str))
                bad = f" (value {v!r} of type {type(v).__name__})"
            raise ResultsSchemaError(f"{name}: column {col!r} must hold {kind} values; dtype is {s.dtype}{bad}")
    return df


def make_frame(records: Iterable[Sequence], knobs: str | Mapping[str, str] | Sequence[str] | None = None) -> pd.DataFrame:
    """A checked results frame from tuples ``(algo, seed, step, queries, metric, value, *knob_values)``.

    Knob values follow in the order of ``knobs`` (a lab name, a mapping or a list of names). The integer
    columns are cast to ``int64`` and ``value`` (and ``float`` knobs) to ``float64``.
    """
    spec = {**CORE_DTYPES, **_knob_spec(knobs)}
    df = pd.DataFrame(list(records), columns=list(spec))
    for col, kind in spec.items():
        if kind == "int":
            df[col] = df[col].astype("int64")
        elif kind == "float":
            df[col] = df[col].astype("float64")
    return check_frame(df, spec)


def to_long(wide: pd.DataFrame, metrics: Sequence[str], *, id_vars: Sequence[str] | None = None) -> pd.DataFrame:
    """Melt a wide frame (one column per metric, e.g. a training log) into the long schema.

    ``id_vars`` (default: every column that is not a metric) are kept; each metric column becomes rows
    ``metric = <column name>, value = <entry>``. The result is not checked: add the missing core columns
    (``algo, seed, step, queries``) if the wide frame lacks them, then call :func:`check_frame`.
    """
    missing = [m for m in metrics if m not in wide.columns]
    if missing:
        raise ResultsSchemaError(f"to_long: metric column(s) {missing} not in the frame; it has {list(wide.columns)}")
    ids = [c for c in wide.columns if c not in metrics] if id_vars is None else list(id_vars)
    out = wide.melt(id_vars=ids, value_vars=list(metrics), var_name="metric", value_name="value")
    out["value"] = out["value"].astype("float64")
    return out
