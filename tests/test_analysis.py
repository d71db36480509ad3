"""Tests for workbench.analysis (theory rate lines, summaries of tidy frames) and workbench.plots.curves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.analysis import summaries as S
from workbench.analysis import theory as T


def _frame(algo, values, metric="kl_to_eq", queries_per_step=2, game=0, seed=0, beta=0.1, eta=0.2):
    steps = np.arange(len(values))
    return pd.DataFrame({
        "algo": algo, "game": game, "beta": beta, "eta": eta, "seed": seed, "step": steps,
        "queries": steps * queries_per_step, "metric": metric, "value": np.asarray(values, float),
    })


# ------------------------------------------------------------------------------------------- theory
def test_nash_md_theorem1_closed_form():
    assert T.nash_md_theorem1_bound(0.5, 0) == pytest.approx(8 / 0.25)
    assert T.nash_md_theorem1_bound(0.1, 99) == pytest.approx(8 / (0.01 * 100))
    # the theorem follows from the recursion: with eta_t = 2/(beta(t+2)) and any K_0 <= 8/beta^2 - ... the
    # recursion stays below the bound (eta_0 beta = 1 kills K_0 in one step)
    beta, steps = 0.2, 200
    etas = T.nash_md_theory_step(beta, np.arange(steps))
    assert etas[0] * beta == pytest.approx(1.0)
    K = T.nash_md_recursion(kl0=5.0, beta=beta, etas=etas)
    bound = T.nash_md_theorem1_bound(beta, np.arange(steps + 1))
    assert np.all(K[1:] <= bound[1:] * (1 + 1e-12))
    assert K[1] == pytest.approx(2 * etas[0] ** 2)  # (1 - 1) K_0 + 2 eta_0^2


def test_nash_md_constant_step_floor_and_closed_form():
    beta, eta = 0.1, 0.5
    assert T.nash_md_floor(beta, eta) == pytest.approx(10.0)
    K = T.nash_md_recursion(kl0=30.0, beta=beta, etas=np.full(400, eta))
    closed = T.nash_md_constant_step_bound(30.0, beta, eta, np.arange(401))
    np.testing.assert_allclose(K, closed, rtol=1e-10)
    assert K[-1] == pytest.approx(10.0, rel=1e-6)  # converges to the floor 2 eta / beta
    # started at the floor, it stays there (fixed point)
    np.testing.assert_allclose(T.nash_md_recursion(10.0, beta, np.full(5, eta)), 10.0)
    with pytest.raises(ValueError, match="eta"):
        T.nash_md_constant_step_bound(1.0, beta=0.5, eta=3.0, T=1)


def test_nash_mp_rates():
    beta = 0.25
    assert T.nash_mp_contraction(beta) == pytest.approx(1 / 1.5)
    assert T.nash_mp_contraction(beta, eta=0.1) == pytest.approx(1 / 1.1)
    # N queries = N/2 iterations: (1 + 2 beta)^(-N/2) KL_0
    assert T.nash_mp_kl_bound(2.0, beta, N=6) == pytest.approx(2.0 * 1.5**-3)
    assert T.nash_mp_kl_bound(2.0, beta, T=3) == pytest.approx(2.0 * 1.5**-3)
    assert T.nash_mp_exploitability_rate(beta, 0) == pytest.approx(4.0)
    with pytest.raises(ValueError, match="eta <= 2 beta"):
        T.nash_mp_contraction(0.1, eta=0.5)
    with pytest.raises(ValueError, match="exactly one"):
        T.nash_mp_kl_bound(1.0, beta)
    with pytest.raises(ValueError, match="beta"):
        T.nash_mp_contraction(-1.0)


def test_mwu_average_bound_minimized_at_optimal_eta():
    n, steps = 3, 1000
    eta_opt = np.sqrt(8 * np.log(n) / steps)
    etas = np.linspace(0.3, 3, 41) * eta_opt
    vals = T.mwu_average_bound(etas, steps, n=n)
    assert etas[np.argmin(vals)] == pytest.approx(eta_opt, rel=0.05)
    assert T.mwu_average_bound(eta_opt, steps, n=n) == pytest.approx(np.sqrt(np.log(n) / (2 * steps)))
    assert T.mwu_average_bound(0.5, 10, pi0_min=1 / 3) == pytest.approx(T.mwu_average_bound(0.5, 10, n=3))
    with pytest.raises(ValueError, match="exactly one"):
        T.mwu_average_bound(0.5, 10)


# ------------------------------------------------------------------------------------------- summaries
def test_queries_to_epsilon_hand_made_frame():
    df = pd.concat([
        _frame("fast", [1.0, 0.5, 0.05, 0.01, 0.001]),
        _frame("dip", [1.0, 0.05, 0.5, 0.05, 0.02]),  # dips below, comes back, then stays
        _frame("never", [1.0, 0.9, 0.8, 0.7, 0.6]),
    ])
    q = S.queries_to_epsilon(df, "kl_to_eq", 0.1).set_index("algo")
    assert q.loc["fast", "queries_to_eps"] == 4  # step 2, 2 queries per step
    assert q.loc["dip", "queries_to_eps"] == 6  # sustained: from step 3 on
    assert np.isinf(q.loc["never", "queries_to_eps"]) and not q.loc["never", "reached"]
    first = S.queries_to_epsilon(df, "kl_to_eq", 0.1, sustained=False).set_index("algo")
    assert first.loc["dip", "queries_to_eps"] == 2
    steps = S.queries_to_epsilon(df, "kl_to_eq", 0.1, x="step").set_index("algo")
    assert steps.loc["fast", "step_to_eps"] == 2
    with pytest.raises(ValueError, match="metric 'nope'"):
        S.queries_to_epsilon(df, "nope", 0.1)
    with pytest.raises(ValueError, match="eps"):
        S.queries_to_epsilon(df, "kl_to_eq", 0.0)


def test_contraction_rate_recovers_geometric_rate():
    rng = np.random.default_rng(0)
    steps = np.arange(60)
    clean = 3.0 * 0.8**steps
    noisy = clean * np.exp(rng.normal(0, 0.01, size=steps.size))
    df = pd.concat([_frame("clean", clean), _frame("noisy", noisy), _frame("flat", np.full(60, 1e-20))])
    r = S.contraction_rate(df, "kl_to_eq").set_index("algo")
    assert r.loc["clean", "rate"] == pytest.approx(0.8, rel=1e-9)
    assert r.loc["clean", "worst"] == pytest.approx(0.8, rel=1e-9)
    assert r.loc["clean", "intercept"] == pytest.approx(3.0, rel=1e-9)
    assert r.loc["noisy", "rate"] == pytest.approx(0.8, abs=2e-3)
    assert np.isnan(r.loc["flat", "rate"])  # below the floor: nothing to fit
    # per query instead of per step: 2 queries per step -> sqrt(0.8) per query
    rq = S.contraction_rate(df[df.algo == "clean"], "kl_to_eq", x="queries")
    assert rq["rate"].iloc[0] == pytest.approx(np.sqrt(0.8), rel=1e-9)
    # a window that only sees a slower second phase
    two = np.concatenate([0.5 ** np.arange(10), 0.5**9 * 0.9 ** np.arange(1, 21)])
    rw = S.contraction_rate(_frame("two", two), "kl_to_eq", start=10)
    assert rw["rate"].iloc[0] == pytest.approx(0.9, rel=1e-9)


def test_last_vs_average():
    last = _frame("mwu", [0.5, 0.1, 0.4, 0.3, 0.2, 0.1, 0.45, 0.3], metric="exploitability")
    avg = _frame("mwu", [0.5, 0.3, 0.2, 0.15, 0.1, 0.08, 0.06, 0.05], metric="avg_exploitability")
    res = S.last_vs_average(pd.concat([last, avg]), "exploitability")
    assert res["last"].iloc[0] == pytest.approx(0.3) and res["average"].iloc[0] == pytest.approx(0.05)
    assert res["step"].iloc[0] == 7
    tail = S.last_vs_average(pd.concat([last, avg]), "exploitability", at="tail_max")
    assert tail["last"].iloc[0] == pytest.approx(0.45)  # max over steps >= 0.75 * 7
    assert tail["average"].iloc[0] == pytest.approx(0.06)
    low = S.last_vs_average(pd.concat([last, avg]), "exploitability", at="tail_min")
    assert low["last"].iloc[0] == pytest.approx(0.3) and low["average"].iloc[0] == pytest.approx(0.05)


def test_split_batch_round_trip():
    df = pd.concat([_frame("a", [1.0, 2.0], game=g) for g in range(6)])
    out = S.split_batch(df, (2, 3), ("seed", "game"))
    assert sorted(set(zip(out["seed"], out["game"]))) == [(s, g) for s in range(2) for g in range(3)]
    assert (out["seed"] * 3 + out["game"]).tolist() == df["game"].tolist()
    with pytest.raises(ValueError, match="out of range"):
        S.split_batch(df, (2, 2), ("seed", "game"))


def test_bootstrap_ci_contains_mean_and_shrinks():
    rng = np.random.default_rng(1)
    small = rng.normal(2.0, 1.0, size=10)
    big = rng.normal(2.0, 1.0, size=1000)
    m, lo, hi = S.bootstrap_ci(small, generator=np.random.default_rng(0))
    assert lo <= m <= hi and m == pytest.approx(small.mean())
    m2, lo2, hi2 = S.bootstrap_ci(big, generator=np.random.default_rng(0))
    assert lo2 <= m2 <= hi2 and (hi2 - lo2) < (hi - lo) / 3
    assert lo2 < 2.0 < hi2  # covers the true mean of a 1000-sample normal
    assert S.bootstrap_ci([3.0]) == (3.0, 3.0, 3.0)


def test_seed_ci_over_seeds_log_scale():
    df = pd.concat([_frame("a", 10.0 ** -np.arange(5) * s, seed=i) for i, s in enumerate([1.0, 2.0, 4.0])])
    ci = S.seed_ci(df, by=("algo", "step"), log=True)
    assert len(ci) == 5 and (ci["n"] == 3).all()
    np.testing.assert_allclose(ci["mean"], 2.0 * 10.0 ** -np.arange(5))  # geometric mean of 1, 2, 4
    assert (ci["lo"] <= ci["mean"]).all() and (ci["mean"] <= ci["hi"]).all()
    with pytest.raises(KeyError, match="lacks"):
        S.seed_ci(df, by=("algo", "nope"))


def test_t_ci_hand_computed():
    # values 1, 2, 3, 4: mean 2.5, s = sqrt(5/3), t_{0.975, 3} = 3.182446305284263
    m, lo, hi = S.t_ci([1.0, 2.0, 3.0, 4.0])
    half = 3.182446305284263 * np.sqrt(5 / 3) / 2
    assert m == 2.5 and lo == pytest.approx(2.5 - half, rel=1e-12) and hi == pytest.approx(2.5 + half, rel=1e-12)
    # 90%: t_{0.95, 3} = 2.353363434801823
    _, lo90, _ = S.t_ci([1.0, 2.0, 3.0, 4.0, np.nan], level=0.9)  # NaN dropped
    assert lo90 == pytest.approx(2.5 - 2.353363434801823 * np.sqrt(5 / 3) / 2, rel=1e-12)
    assert S.t_ci([3.0]) == (3.0, 3.0, 3.0)
    with pytest.raises(ValueError, match="level"):
        S.t_ci([1.0, 2.0], level=1.5)


def test_seed_ci_t_interval_over_seeds():
    df = pd.concat([_frame("a", [1.0, 10.0], seed=0), _frame("a", [3.0, 14.0], seed=1), _frame("b", [5.0, 5.0], seed=0)])
    ci = S.seed_ci(df, by=("algo", "step"), interval="t").set_index(["algo", "step"])
    # two seeds (1, 3): mean 2, s = sqrt(2), t_{0.975, 1} = 12.706204736174698 -> half = 12.7062 * sqrt(2) / sqrt(2)
    assert ci.loc[("a", 0), "mean"] == 2.0 and ci.loc[("a", 0), "hi"] == pytest.approx(2.0 + 12.706204736174698, rel=1e-12)
    assert ci.loc[("a", 1), "lo"] == pytest.approx(12.0 - 2 * 12.706204736174698, rel=1e-12)  # (10, 14): s = 2 sqrt 2
    assert ci.loc[("b", 0), ["mean", "lo", "hi", "n"]].tolist() == [5.0, 5.0, 5.0, 1]
    with pytest.raises(ValueError, match="interval must be 'bootstrap' or 't'; got 'normal'"):
        S.seed_ci(df, interval="normal")


def test_mean_table_and_final_means():
    df = pd.concat([
        _frame("a", [4.0, 2.0, 1.0], seed=0), _frame("a", [6.0, 4.0, 2.0], seed=1),
        _frame("b", [8.0, 8.0, 8.0], seed=0), _frame("b", [0.0, 0.0, 0.0], seed=0, metric="other"),
    ]).assign(split="test")
    t = S.mean_table(df, "queries", metric="kl_to_eq")
    assert list(t.columns) == ["a", "b"] and list(t.index) == [0, 2, 4]
    assert t["a"].tolist() == [5.0, 3.0, 1.5] and t["b"].tolist() == [8.0, 8.0, 8.0]
    wide = S.mean_table(df, "algo", columns="metric", split="test")
    assert wide.loc["b", "other"] == 0.0 and wide.loc["a", "kl_to_eq"] == pytest.approx(19 / 6)  # (4+2+1+6+4+2)/6
    assert S.mean_table(df, "queries", metric="kl_to_eq", split="train").empty
    f = S.final_means(df, "kl_to_eq")
    assert f.to_dict() == {"a": 1.5, "b": 8.0}
    two = S.final_means(df.assign(batch=df["seed"]), "kl_to_eq", by=["batch", "algo"]).unstack()
    assert two.loc[1, "a"] == 2.0 and np.isnan(two.loc[1, "b"])
    with pytest.raises(KeyError, match=r"lacks column\(s\) \['nope'\]"):
        S.mean_table(df, "queries", metric="kl_to_eq", nope=1)
    with pytest.raises(ValueError, match="metric 'gap' not in the frame"):
        S.final_means(df, "gap")


# ------------------------------------------------------------------------------------------- plots
def test_curves_figures_build():
    from workbench.plots import curves as C

    df = pd.concat([_frame("a", 0.8 ** np.arange(20), seed=s) for s in range(3)] + [_frame("b", 0.9 ** np.arange(20))])
    fig = C.metric_curves(df, "kl_to_eq", x="queries", theory={"a rate": (np.arange(40), 0.9 ** np.arange(40))})
    assert fig.layout.yaxis.type == "log"
    names = [t.name for t in fig.data]
    assert "a" in names and "b" in names and "a rate" in names
    q = S.queries_to_epsilon(df.assign(beta=0.1), "kl_to_eq", 0.05)
    hm = C.queries_heatmap(q)
    assert len(hm.data) == 2  # one panel per algo
    xy = C.simplex_xy(np.eye(3))
    np.testing.assert_allclose(xy[2], [0.5, np.sqrt(3) / 2])
    np.testing.assert_allclose(C.simplex_xy(np.full(3, 1 / 3)), [0.5, np.sqrt(3) / 6])
    sx = C.simplex_trajectories({"last": np.full((4, 3), 1 / 3), "avg": np.full((4, 3), 1 / 3)})
    assert any(t.name == "avg" and t.line.dash == "dash" for t in sx.data)
    with pytest.raises(ValueError, match="3 responses"):
        C.simplex_xy(np.ones((2, 4)) / 4)
