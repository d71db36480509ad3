"""Batched-over-seeds experiment runners returning results frames (the schema of :mod:`workbench.results`).

Frames are long: ``algo, seed, step, queries, metric, value`` plus the knobs of the run: ``env, beta,
gamma`` always, ``coverage`` (offline curves) or ``batch_size`` (online). ``step`` is the dataset size
(offline) or the round (online); ``queries`` the comparisons used. Summaries (mean and confidence interval
over seeds, tables, final means) live in :mod:`workbench.analysis.summaries`.

Offline algorithm names (the fitted model in brackets):

* ``plug_in`` [the truth's model] -- greedy on the MLE (:func:`~workbench.bandits.offline.plug_in`);
* ``pointwise``, ``policy_level`` [bt] -- GSHF's pessimistic policies;
* ``maxmin`` [general] -- Ye et al.'s pessimistic max-min policy;
* ``bt_nash`` [bt] -- the Nash policy of the fitted BT game (the BT-based policy under a general truth);
* ``general_nash`` [general] -- the Nash policy of the fitted general game.
"""

from __future__ import annotations

import pandas as pd
import torch

from workbench.bandits.data import BanditComparisons, behaviour_policy, sample_comparisons
from workbench.bandits.env import BanditEnv, rare_but_lucky
from workbench.bandits.estimators import fit
from workbench.bandits.offline import (
    pessimistic_maxmin, pessimistic_pointwise, pessimistic_policy_level, plug_in, plug_in_nash,
)
from workbench.bandits.online import run_online
from workbench.device import make_generator
from workbench.results import make_frame

__all__ = ["OFFLINE_RUNNERS", "offline_curve", "evaluate_offline", "online_curves", "online_batch_sweep", "pessimism_regime"]

#: name -> (fitted model or None for the truth's, policy from (env, est, gamma))
OFFLINE_RUNNERS = {
    "plug_in": (None, lambda env, est, gamma: plug_in(env, est)),
    "pointwise": ("bt", lambda env, est, gamma: pessimistic_pointwise(env, est, gamma)),
    "policy_level": ("bt", lambda env, est, gamma: pessimistic_policy_level(env, est, gamma)),
    "maxmin": ("general", lambda env, est, gamma: pessimistic_maxmin(env, est, gamma)),
    "bt_nash": ("bt", lambda env, est, gamma: plug_in_nash(env, est)),
    "general_nash": ("general", lambda env, est, gamma: plug_in_nash(env, est)),
}


def _progress(it, progress: bool, desc: str):
    if not progress:
        return it
    from tqdm.auto import tqdm

    return tqdm(it, desc=desc, leave=False)


def offline_curve(
    env: BanditEnv,
    sizes: list[int],
    algos: list[str] = ("plug_in", "pointwise", "policy_level"),
    n_seeds: int = 10,
    coverage: float = 0.5,
    base: str = "uniform",
    gamma: float = 1.0,
    lam: float = 1.0,
    seed: int = 0,
    progress: bool = False,
) -> pd.DataFrame:
    """Gap of each offline algorithm vs dataset size; nested datasets (the first ``N`` of one sample).

    Behaviour policy: :func:`~workbench.bandits.data.behaviour_policy` ``(coverage, base)``; both
    responses are drawn from it. Metrics: ``gap`` (:meth:`BanditEnv.gap`) and ``nash_gap``.
    """
    unknown = [a for a in algos if a not in OFFLINE_RUNNERS]
    if unknown:
        raise ValueError(f"unknown offline algorithm(s) {unknown}; choose from {list(OFFLINE_RUNNERS)}")
    gen = make_generator(seed, env.phi.device)
    b = behaviour_policy(env, coverage, base)
    full = sample_comparisons(env, max(sizes), gen, b, b, n_seeds)
    frames = [evaluate_offline(env, full.head(n), algos, gamma, lam) for n in _progress(sorted(sizes), progress, "dataset sizes")]
    return pd.concat(frames, ignore_index=True).assign(coverage=float(coverage))


def evaluate_offline(
    env: BanditEnv, data: BanditComparisons, algos: list[str] = ("plug_in", "pointwise", "policy_level"),
    gamma: float = 1.0, lam: float = 1.0,
) -> pd.DataFrame:
    """Run the offline algorithms on given datasets (sampled, or loaded with
    :func:`~workbench.bandits.data.load_bandit_comparisons`) and score them exactly; results frame with
    ``step = queries = N`` and the knobs ``env, beta, gamma``."""
    unknown = [a for a in algos if a not in OFFLINE_RUNNERS]
    if unknown:
        raise ValueError(f"unknown offline algorithm(s) {unknown}; choose from {list(OFFLINE_RUNNERS)}")
    n, rows, fits = data.n, [], {}
    for algo in algos:
        model, run = OFFLINE_RUNNERS[algo]
        model = model or env.model
        if model not in fits:
            fits[model] = fit(env, data, model, lam)
        pi = run(env, fits[model], gamma)  # (S, K, n)
        for metric, v in (("gap", env.gap(pi)), ("nash_gap", env.nash_gap(pi))):
            rows += [(algo, s, n, n, metric, float(x), env.name, env.beta, gamma) for s, x in enumerate(v.tolist())]
    return make_frame(rows, knobs="bandits")


def online_curves(
    env: BanditEnv,
    algos: list[str] = ("enhancer", "exploit", "uniform"),
    n_rounds: int = 10,
    batch_size: int = 50,
    n_seeds: int = 10,
    gamma: float = 1.0,
    lam: float = 1.0,
    seed: int = 0,
    progress: bool = False,
) -> pd.DataFrame:
    """:func:`~workbench.bandits.online.run_online` for every algorithm (same seeds), one frame."""
    frames = [
        run_online(env, a, n_rounds, batch_size, n_seeds, gamma, lam, seed)
        for a in _progress(list(algos), progress, "online algorithms")
    ]
    return pd.concat(frames, ignore_index=True).assign(batch_size=batch_size)


def online_batch_sweep(
    env: BanditEnv, batch_sizes: list[int], budget: int, algos=("enhancer", "exploit"), n_seeds: int = 10,
    gamma: float = 1.0, lam: float = 1.0, seed: int = 0, progress: bool = False,
) -> pd.DataFrame:
    """The same query budget spent in rounds of different sizes (``budget // batch_size`` rounds each)."""
    frames = [
        online_curves(env, algos, max(1, budget // m), m, n_seeds, gamma, lam, seed)
        for m in _progress(list(batch_sizes), progress, "batch sizes")
    ]
    return pd.concat(frames, ignore_index=True)


def pessimism_regime(
    n_arms: list[int], betas: list[float], gammas: list[float], sizes: list[int] = (50, 100, 200, 500, 1000),
    n_seeds: int = 20, coverage: float = 0.5, base: str = "avoid_optimal", lam: float = 1.0, seed: int = 0,
) -> pd.DataFrame:
    """Where pessimism beats plug-in on :func:`~workbench.bandits.env.rare_but_lucky`, per dataset.

    For every ``(n_arms, beta, gamma)`` and dataset (seed): ``ratio`` = the worse of the two GSHF pessimistic
    policies' gap (pointwise, policy-level) over plug-in's, averaged over ``sizes`` (notebook 03's statistic,
    per seed instead of over seeds; behaviour ``(coverage, base)`` as there). Returns the columns
    ``n_arms, beta, gamma, seed, ratio``, one row per dataset.
    """
    rows = []
    for k in n_arms:
        for beta in betas:
            env = rare_but_lucky(n_arms=k, beta=beta, seed=seed)
            for gamma in gammas:
                fr = offline_curve(env, list(sizes), ["plug_in", "pointwise", "policy_level"], n_seeds, coverage, base,
                                   gamma, lam, seed)
                g = fr[fr.metric == "gap"].pivot_table(index=["seed", "queries"], columns="algo", values="value")
                r = (g[["pointwise", "policy_level"]].max(axis=1) / g["plug_in"]).groupby("seed").mean()
                rows += [(k, float(beta), float(gamma), int(sd), float(v)) for sd, v in r.items()]
    return pd.DataFrame(rows, columns=["n_arms", "beta", "gamma", "seed", "ratio"])
