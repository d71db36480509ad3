"""The one summaries module: pure functions of the results frame (rliable style: small, explicit random state).

Results shape: the long frame of :mod:`workbench.results`, core columns ``algo, seed, step, queries, metric,
value`` plus each lab's knob columns (tabular: ``game, beta, eta, eta_schedule``; bandits: ``env, beta,
gamma, coverage | batch_size``; preference models: ``intransitivity, split``), one row per recorded value
(the average iterate's metrics are named ``avg_<metric>``). Groupings keep NaN keys (``dropna=False``) where
a knob may be NaN. Every function returns a new frame; every notebook and lab summarizes through here:

* :func:`seed_ci` -- mean and confidence interval over seeds per group (percentile bootstrap or Student t);
* :func:`mean_table` -- the wide table of means (rows ``index``, one column per ``algo``) the notebooks print;
* :func:`final_means` -- mean over seeds at each group's largest cost (check cells);
* :func:`queries_to_epsilon`, :func:`contraction_rate`, :func:`last_vs_average`, :func:`split_batch` --
  convergence summaries of the tabular lab.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "GROUP",
    "mean_table",
    "final_means",
    "queries_to_epsilon",
    "contraction_rate",
    "last_vs_average",
    "bootstrap_ci",
    "t_ci",
    "seed_ci",
    "split_batch",
]

GROUP = ("algo", "game", "beta", "eta", "eta_schedule")  # tabular run identity (absent columns are skipped)


def _check(df: pd.DataFrame, cols: Sequence[str]) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise KeyError(f"results frame lacks column(s) {missing}; it has {list(df.columns)}")


def _select(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    _check(df, ["metric", "value"])
    sub = df[df["metric"] == metric]
    if sub.empty:
        raise ValueError(f"metric {metric!r} not in the frame; it has {sorted(df['metric'].unique())}")
    return sub


def _by(df: pd.DataFrame, by: Sequence[str]) -> list[str]:
    return [c for c in by if c in df.columns]


def queries_to_epsilon(
    df: pd.DataFrame,
    metric: str,
    eps: float,
    *,
    x: str = "queries",
    by: Sequence[str] = (*GROUP, "seed"),
    sustained: bool = True,
) -> pd.DataFrame:
    """Cost (``x``: ``"queries"`` or ``"step"``) to reach ``value <= eps`` per group.

    ``sustained=True`` (default) returns the first recorded ``x`` after which the metric stays ``<= eps``
    until the end of the run (so a cycling last iterate that dips below ``eps`` once does not count);
    ``False`` returns the first hit. Groups that never get there get ``inf``. Columns: ``by`` + ``x_to_eps``
    with ``x_to_eps`` named ``f"{x}_to_eps"``, plus ``reached`` (bool).
    """
    if not eps > 0:
        raise ValueError(f"eps must be > 0; got {eps}")
    sub = _select(df, metric)
    _check(sub, [x])
    keys = _by(sub, by)
    rows = []
    for key, g in sub.sort_values(x).groupby(keys, dropna=False, sort=True):
        xs, v = g[x].to_numpy(float), g["value"].to_numpy(float)
        ok = v <= eps
        if sustained:
            bad = np.flatnonzero(~ok)
            first = 0 if bad.size == 0 else bad[-1] + 1
            hit = xs[first] if first < len(xs) else np.inf
        else:
            hit = xs[np.argmax(ok)] if ok.any() else np.inf
        rows.append((*(key if isinstance(key, tuple) else (key,)), hit))
    out = pd.DataFrame(rows, columns=[*keys, f"{x}_to_eps"])
    out["reached"] = np.isfinite(out[f"{x}_to_eps"])
    return out


def contraction_rate(
    df: pd.DataFrame,
    metric: str,
    *,
    x: str = "step",
    by: Sequence[str] = (*GROUP, "seed"),
    start: float | None = None,
    stop: float | None = None,
    floor: float = 1e-13,
) -> pd.DataFrame:
    """Empirical linear rate per group: fit ``log value = a + x log(rate)`` by least squares.

    Only points with ``start <= x <= stop`` and ``value > floor`` enter (the floor drops values at
    machine precision, where a geometric fit means nothing). Columns: ``by`` + ``rate`` (the fitted factor
    per unit of ``x``), ``worst`` (the largest ratio ``value_{k+1}/value_k`` between consecutive recorded
    points, per unit of ``x``: ``(v_{k+1}/v_k)^(1/dx)``), ``intercept`` (``exp a``) and ``n_points``.
    """
    sub = _select(df, metric)
    _check(sub, [x])
    if start is not None:
        sub = sub[sub[x] >= start]
    if stop is not None:
        sub = sub[sub[x] <= stop]
    keys = _by(sub, by)
    rows = []
    for key, g in sub.sort_values(x).groupby(keys, dropna=False, sort=True):
        g = g[g["value"] > floor]
        xs, v = g[x].to_numpy(float), g["value"].to_numpy(float)
        if len(xs) < 2:
            rate = worst = intercept = np.nan
        else:
            slope, a = np.polyfit(xs, np.log(v), 1)
            rate, intercept = float(np.exp(slope)), float(np.exp(a))
            dx = np.diff(xs)
            worst = float(np.max(np.exp(np.diff(np.log(v)) / np.where(dx > 0, dx, np.nan))))
        rows.append((*(key if isinstance(key, tuple) else (key,)), rate, worst, intercept, len(xs)))
    return pd.DataFrame(rows, columns=[*keys, "rate", "worst", "intercept", "n_points"])


def last_vs_average(
    df: pd.DataFrame,
    metric: str,
    *,
    by: Sequence[str] = (*GROUP, "seed"),
    at: str = "final",
) -> pd.DataFrame:
    """The last iterate's ``metric`` and the average iterate's (``avg_<metric>``) at the final step.

    ``at="final"`` takes each group's last recorded step; ``at="tail_max"`` / ``"tail_min"`` take the
    maximum / minimum over the last quarter of the run instead (``tail_min`` of a cycling last iterate
    shows it never comes back). Columns: ``by`` + ``last``, ``average``, ``step``.
    """
    if at not in ("final", "tail_max", "tail_min"):
        raise ValueError(f"at must be 'final', 'tail_max' or 'tail_min'; got {at!r}")
    out = []
    for name, col in ((metric, "last"), (f"avg_{metric}", "average")):
        sub = _select(df, name)
        keys = _by(sub, by)
        g = sub.sort_values("step").groupby(keys, dropna=False, sort=True)
        if at == "final":
            red = g.agg(step=("step", "last"), value=("value", "last"))
        else:
            reduce = "max" if at == "tail_max" else "min"
            red = g.apply(
                lambda h: pd.Series({"step": h["step"].iloc[-1], "value": h.loc[h["step"] >= 0.75 * h["step"].max(), "value"].agg(reduce)}),
                include_groups=False,
            )
        out.append(red.rename(columns={"value": col}))
    res = out[0].join(out[1][["average"]], how="inner").reset_index()
    return res[[*_by(res, by), "last", "average", "step"]]


def bootstrap_ci(
    values,
    *,
    level: float = 0.95,
    n_boot: int = 2000,
    generator: np.random.Generator | None = None,
    statistic=np.mean,
) -> tuple[float, float, float]:
    """``(statistic, lo, hi)``: percentile bootstrap interval of ``statistic`` over ``values`` (seeds).

    One value gives ``(v, v, v)``. ``generator`` is an explicit ``numpy.random.Generator`` (seed 0 if None).
    """
    v = np.asarray(values, dtype=float).reshape(-1)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (np.nan, np.nan, np.nan)
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1); got {level}")
    point = float(statistic(v))
    if v.size == 1:
        return (point, point, point)
    rng = generator if generator is not None else np.random.default_rng(0)
    idx = rng.integers(0, v.size, size=(n_boot, v.size))  # (n_boot, n)
    stats = statistic(v[idx], axis=1)  # (n_boot,)
    lo, hi = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return (point, float(min(lo, point)), float(max(hi, point)))


def t_ci(values, *, level: float = 0.95) -> tuple[float, float, float]:
    """``(mean, lo, hi)``: Student-t interval ``mean ± t_{(1+level)/2, n-1} s / sqrt(n)`` over ``values``.

    ``s`` is the sample standard deviation (``ddof=1``). Non-finite values are dropped; one value gives
    ``(v, v, v)``, none ``(nan, nan, nan)``.
    """
    from scipy.stats import t as student_t

    v = np.asarray(values, dtype=float).reshape(-1)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (np.nan, np.nan, np.nan)
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1); got {level}")
    m = float(np.mean(v))
    if v.size == 1:
        return (m, m, m)
    half = float(student_t.ppf((1 + level) / 2, v.size - 1) * np.std(v, ddof=1) / np.sqrt(v.size))
    return (m, m - half, m + half)


def seed_ci(
    df: pd.DataFrame,
    *,
    by: Sequence[str] = ("algo", "metric", "step"),
    level: float = 0.95,
    interval: str = "bootstrap",
    n_boot: int = 1000,
    seed: int = 0,
    log: bool = False,
) -> pd.DataFrame:
    """Mean and ``level`` CI of ``value`` over everything not in ``by`` (seeds, and games if not in ``by``).

    ``interval="bootstrap"``: percentile bootstrap (:func:`bootstrap_ci`, ``n_boot`` resamples from a
    generator seeded ``seed``); ``"t"``: the Student-t interval (:func:`t_ci`; exact for normal values,
    deterministic, cheap). ``log=True`` averages ``log10(value)`` (the geometric mean, the natural centre on
    a log-scale plot) and returns the interval back on the original scale. Columns: ``by`` + ``mean``,
    ``lo``, ``hi``, ``n`` (finite values in the group).
    """
    if interval not in ("bootstrap", "t"):
        raise ValueError(f"interval must be 'bootstrap' or 't'; got {interval!r}")
    _check(df, [*by, "value"])
    rng = np.random.default_rng(seed)
    rows = []
    for key, g in df.groupby(list(by), dropna=False, sort=True):
        v = g["value"].to_numpy(float)
        if log:
            v = np.log10(np.clip(v, 1e-300, None))
        if interval == "t":
            m, lo, hi = t_ci(v, level=level)
        else:
            m, lo, hi = bootstrap_ci(v, level=level, n_boot=n_boot, generator=rng)
        if log:
            m, lo, hi = 10.0**m, 10.0**lo, 10.0**hi
        rows.append((*(key if isinstance(key, tuple) else (key,)), m, lo, hi, int(np.isfinite(v).sum())))
    return pd.DataFrame(rows, columns=[*by, "mean", "lo", "hi", "n"])


def _where(df: pd.DataFrame, metric: str | None, where: dict) -> pd.DataFrame:
    sub = df if metric is None else _select(df, metric)
    _check(sub, list(where))
    for col, val in where.items():
        sub = sub[sub[col] == val]
    return sub


def mean_table(
    df: pd.DataFrame,
    index: str | Sequence[str],
    *,
    columns: str | Sequence[str] = "algo",
    metric: str | None = None,
    **where,
) -> pd.DataFrame:
    """Wide table of mean ``value`` over seeds: rows ``index``, columns ``columns`` (one per ``algo``).

    ``metric`` keeps that metric's rows; every other keyword keeps the rows where that column equals the
    value (``split="test"``). Rows and columns come sorted; each mean is pandas' grouped (compensated) mean,
    and columns with no value are dropped.

        mean_table(frame, ["coverage", "queries"], metric="gap")          # bandits: gap vs data size
        mean_table(results, "intransitivity", metric="accuracy", split="test")   # preference models
    """
    sub = _where(df, metric, where)
    idx = [index] if isinstance(index, str) else list(index)
    cols = [columns] if isinstance(columns, str) else list(columns)
    _check(sub, [*idx, *cols, "value"])
    # one mean per (column, index) cell; grouping columns first reproduces the bandit lab's former per-algo
    # means to the last bit (pandas' grouped sums can differ in the last bit with the key order)
    means = sub.groupby([*cols, *idx], sort=True)["value"].mean()
    table = means.unstack(cols if len(cols) > 1 else cols[0]).sort_index()
    return table.dropna(axis=1, how="all")


def final_means(df: pd.DataFrame, metric: str, *, by: str | Sequence[str] = "algo", x: str = "queries",
                **where) -> pd.Series:
    """Mean ``metric`` over seeds per ``by`` group, at the largest ``x`` (cost) of each group.

    For check cells: ``final_means(frame, "gap")`` is each algorithm's mean gap at the end of its budget;
    ``by=["batch_size", "algo"]`` gives a two-level index (``.unstack()`` for a table). Other keywords
    filter rows as in :func:`mean_table`.
    """
    sub = _where(df, metric, where)
    _check(sub, [*([by] if isinstance(by, str) else by), x, "value"])
    by = by if isinstance(by, str) else list(by)
    last = sub.groupby(by)[x].transform("max")
    return sub[sub[x] == last].groupby(by)["value"].mean()


def split_batch(df: pd.DataFrame, shape: Sequence[int], names: Sequence[str]) -> pd.DataFrame:
    """Replace the flat ``game`` index by named batch coordinates (C order, as ``torch.reshape``).

    Runs that are batched together, e.g. ``S`` independent seeds of ``G`` games stacked as a batch
    ``(S, G)``, come back from the driver with ``game = s * G + g``; ``split_batch(df, (S, G), ("seed",
    "game"))`` gives back ``seed = s`` and ``game = g`` (a name already in the frame is overwritten).
    """
    if len(shape) != len(names):
        raise ValueError(f"shape {tuple(shape)} and names {tuple(names)} must have the same length")
    size = int(np.prod(shape))
    flat = df["game"].to_numpy()
    if flat.size and (flat.min() < 0 or flat.max() >= size):
        raise ValueError(f"game index out of range for batch shape {tuple(shape)}: max game = {int(flat.max())}")
    coords = np.unravel_index(flat.astype(np.int64), tuple(int(s) for s in shape))
    out = df.copy()
    for name, c in zip(names, coords):
        out[name] = c
    return out
