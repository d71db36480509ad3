"""Notebook 06's quantitative sentences, recomputed on seeds 0-4 (issue #17, item 8).

The notebook runs one seed; its prose quotes what held on the five seeds below, at its own quick profile
(the parameters are read from the notebook's ``parameters`` cell, so the test follows the notebook). One
module fixture trains the notebook's six methods per seed, as its Run 2 does (about 40 CPU s a seed), plus
Nash-EMA-PG at decay 0.99 for the trainer's docstring.

Two kinds of statement:

* **every seed**: the sentence says "on every seed" (or the notebook asserts it on its own seed); the test
  asserts it on all five;
* **depends on the seed**: the sentence gives a count ("on 4 of seeds 0-4"); the test asserts that the
  count is neither 0 nor 5 (the regime: the statement is seed-dependent, so the notebook does not assert
  it) and prints the counts, which are the numbers the prose quotes (measured at the commit that added this
  test; a change of the trainers' random draws may move a count: rerun with ``-s`` and update the prose).

The printed table (``pytest -s``) holds the per-seed numbers the prose's ranges come from.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

SEEDS = (0, 1, 2, 3, 4)
NB = Path(__file__).resolve().parents[1] / "notebooks" / "06_llm_nash.ipynb"
NASH = ["Nash-MD-PG", "Nash-MP"]
NASH_FAMILY = ["Nash-MD-PG", "Nash-MP", "Nash-EMA-PG", "Self-play"]
FAR = ["RLHF", "Online DPO"]


def notebook_params() -> dict:
    """The notebook's quick profile: its ``parameters`` cell's defaults."""
    import papermill as pm

    return {k: ast.literal_eval(v["default"]) for k, v in pm.inspect_notebook(str(NB)).items()}


def tv(p: torch.Tensor, q: torch.Tensor) -> float:
    """Total variation, averaged over prompts."""
    return float(0.5 * (p - q).abs().sum(-1).mean())


@pytest.fixture(scope="module")
def measured():
    """Per seed: the notebook's Run 2 (six methods, same budget) scored exactly, and Nash-EMA-PG at 0.99."""
    from workbench.games import gibbs, kl
    from workbench.llm import evaluation as V
    from workbench.llm import experiments as E
    from workbench.llm.exact import ExactEvaluator
    from workbench.llm.judges import OracleJudge, bt_oracle_judge, bt_oracle_rewards
    from workbench.llm.loop import LoopConfig
    from workbench.llm.models import TinyLMConfig, load_policy
    from workbench.llm.nash_ema_pg import NashEMAPG
    from workbench.llm.nash_md_pg import NashMDPG, self_play
    from workbench.llm.nash_mp import NashMPPG
    from workbench.llm.online_dpo import OnlineDPO
    from workbench.llm.rlhf import RLOO

    torch.set_num_threads(1)  # a module fixture runs before the suite's one-thread fixture; two threads crawl on a busy 2-core CPU
    p = notebook_params()
    beta = p["beta"]
    policy = load_policy(p["model"], device="cpu", seed=0)
    task = TinyLMConfig().task(intransitivity=p["intransitivity"])
    policy.constrain(task.words)
    evaluator = ExactEvaluator.build(policy, task, beta=beta)
    g = gibbs(evaluator.game.mu, bt_oracle_rewards(task), beta)
    trainers = {
        "Nash-MD-PG": NashMDPG(beta=beta, mixture=p["mixture"]),
        "Nash-MP": NashMPPG(beta=beta, inner_steps=p["mp_inner_steps"]),
        "Nash-EMA-PG": NashEMAPG(beta=beta, decay=p["ema_decay"]),
        "Self-play": self_play(beta),
        "Online DPO": OnlineDPO(beta=beta),
        "RLHF": RLOO(beta=beta, k=p["rlhf_k"]),
        "EMA 0.99": NashEMAPG(beta=beta, decay=0.99, name="EMA 0.99"),
    }
    oracle, bt_judge = OracleJudge(task), bt_oracle_judge(task)
    judges = {name: bt_judge if name == "RLHF" else oracle for name in trainers}
    config = LoopConfig(batch_size=p["batch_size"], lr=p["lr"], max_new_tokens=task.length)
    out = {}
    for seed in SEEDS:
        runs = E.run_methods(trainers, policy, judges, task, config, evaluator, budget=p["budget"], seeds=(seed,),
                             n_evals=2, overrides={"RLHF": {"batch_size": max(1, p["batch_size"] // p["rlhf_k"])}})
        finals = [f for f in runs.finals if f.algo != "EMA 0.99"]
        policies = [V.reference(seed), *runs.finals]
        dists = dict(zip([q.algo for q in policies], V.exact_distributions(policy, evaluator, policies)))
        table = pd.DataFrame({
            name: {"kl_eq": float(kl(evaluator.pi_star, pi).mean()), "kl_g": float(kl(pi, g).mean()),
                   "kl_mu": float(kl(pi, evaluator.game.mu).mean()), "tv_eq": tv(pi, evaluator.pi_star),
                   "tv_g": tv(pi, g), "expl": evaluator.evaluate(pi)["reg_exploitability"]}
            for name, pi in dists.items()}).T
        W = V.win_rate_table(V.exact_win_rates(policy, evaluator, finals))["mean"]  # (K, K) P(row ≻ column)
        W_beta = V.regularized_win_rates(W, table["kl_mu"], beta)  # the regularized game's payoff P_beta(row ≻ column)
        out[seed] = {"table": table, "W": W, "W_beta": W_beta, "meta_beta": V.meta_game_ranking(W_beta)}
    return out


def mean_win(W: pd.DataFrame) -> pd.Series:
    """Each policy's mean win rate over the other policies (the diagonal's 1/2 left out)."""
    return (W.sum(axis=1) - 0.5) / (len(W) - 1)


def per_seed(measured) -> pd.DataFrame:
    rows = {}
    for seed, m in measured.items():
        t, W, Wb = m["table"], m["W"], m["W_beta"]
        rank_W, rank_Wb = mean_win(W).rank(ascending=False, method="min"), mean_win(Wb).rank(ascending=False, method="min")
        rows[seed] = {
            # every seed
            "MD-PG, MP expl / reference": t.loc[NASH, "expl"].max() / t.loc["reference", "expl"],
            "MD-PG, MP nearer pi* than RLHF": bool((t.loc[NASH, "kl_eq"] < t.loc["RLHF", "kl_eq"]).all()),
            "MD-PG, MP nearer pi* than online DPO": bool((t.loc[NASH, "kl_eq"] < t.loc["Online DPO", "kl_eq"]).all()),
            "Nash family nearer pi* than g (TV)": bool((t.loc[NASH_FAMILY, "tv_eq"] < t.loc[NASH_FAMILY, "tv_g"]).all()),
            "RLHF, DPO KL to mu above Nash family": bool(t.loc[FAR, "kl_mu"].min() > t.loc[NASH_FAMILY, "kl_mu"].max()),
            "RLHF expl above MD-PG, MP": bool(t.loc["RLHF", "expl"] > t.loc[NASH, "expl"].max()),
            "W_beta top is Nash family": mean_win(Wb).drop("reference").idxmax() in NASH_FAMILY,
            "W_beta Nash-averaging top is Nash family": m["meta_beta"].table.index[0] in NASH_FAMILY,
            "W_beta has a policy beating all": any(all(Wb.loc[a, b] > 0.5 for b in Wb.index if b != a) for a in Wb.index),
            "RLHF falls from W to W_beta": bool(rank_Wb["RLHF"] > rank_W["RLHF"]),
            "RLHF beats mu (W)": W.loc["RLHF", "reference"],
            # depends on the seed
            "Nash-MP nearest pi*": t.drop(["reference", "EMA 0.99"])["kl_eq"].idxmin() == "Nash-MP",
            "RLHF farther from pi* than mu": bool(t.loc["RLHF", "kl_eq"] > t.loc["reference", "kl_eq"]),
            "online DPO between Nash and RLHF": bool(t.loc[NASH, "kl_eq"].max() < t.loc["Online DPO", "kl_eq"] < t.loc["RLHF", "kl_eq"]),
            "RLHF smallest KL(pi||g)": t.drop(["reference", "EMA 0.99"])["kl_g"].idxmin() == "RLHF",
            "RLHF largest KL(pi||mu)": t.drop(["reference", "EMA 0.99"])["kl_mu"].idxmax() == "RLHF",
            "W top": mean_win(W).idxmax(),
            "W has a policy beating all": any(all(W.loc[a, b] > 0.5 for b in W.index if b != a) for a in W.index),
            "W_beta top": mean_win(Wb).drop("reference").idxmax(),
            "EMA 0.9 better than 0.99": bool(t.loc["Nash-EMA-PG", "expl"] < t.loc["EMA 0.99", "expl"]),
            # ranges the prose quotes
            "KL(pi*||pi) MD-PG": t.loc["Nash-MD-PG", "kl_eq"], "KL(pi*||pi) MP": t.loc["Nash-MP", "kl_eq"],
            "KL(pi*||pi) RLHF": t.loc["RLHF", "kl_eq"], "KL(pi*||pi) DPO": t.loc["Online DPO", "kl_eq"],
            "KL(pi*||pi) mu": t.loc["reference", "kl_eq"], "KL(pi||g) RLHF": t.loc["RLHF", "kl_g"],
            "KL(pi||g) others min": t.drop(["reference", "RLHF", "EMA 0.99"])["kl_g"].min(),
            "KL(pi||g) others max": t.drop(["reference", "RLHF", "EMA 0.99"])["kl_g"].max(),
            "KL(pi||mu) Nash family max": t.loc[NASH_FAMILY, "kl_mu"].max(),
            "KL(pi||mu) RLHF, DPO min": t.loc[FAR, "kl_mu"].min(),
            "win vs mu RLHF, DPO min": W.loc[FAR, "reference"].min(), "win vs mu RLHF, DPO max": W.loc[FAR, "reference"].max(),
            "win vs mu best Nash family": W.loc[NASH_FAMILY, "reference"].max(),
            "expl RLHF": t.loc["RLHF", "expl"], "expl EMA 0.9": t.loc["Nash-EMA-PG", "expl"],
            "expl EMA 0.99": t.loc["EMA 0.99", "expl"], "expl mu": t.loc["reference", "expl"],
        }
    return pd.DataFrame(rows)


EVERY_SEED = ["MD-PG, MP nearer pi* than RLHF", "MD-PG, MP nearer pi* than online DPO",
              "Nash family nearer pi* than g (TV)", "RLHF, DPO KL to mu above Nash family", "RLHF expl above MD-PG, MP",
              "W_beta top is Nash family", "W_beta Nash-averaging top is Nash family", "W_beta has a policy beating all",
              "W has a policy beating all"]
SEED_DEPENDENT = ["RLHF farther from pi* than mu", "online DPO between Nash and RLHF", "RLHF smallest KL(pi||g)",
                  "RLHF falls from W to W_beta", "EMA 0.9 better than 0.99"]


@pytest.mark.slow
@pytest.mark.claims
def test_notebook_06_claims_on_seeds_0_to_4(measured):
    table = per_seed(measured)
    print(f"\nnotebook 06, quick profile, seeds {SEEDS}:\n{table.to_string(float_format=lambda v: f'{v:.3f}')}")
    expl_ratio = notebook_params()["expl_ratio"]
    # every seed: the notebook's check cells assert these on its own seed
    ratio = table.loc["MD-PG, MP expl / reference"]
    assert (ratio < expl_ratio).all() and (ratio < 0.34).all(), ratio  # the check cell's bound; the prose's "about a third"
    for claim in EVERY_SEED:
        assert table.loc[claim].astype(bool).all(), (claim, table.loc[claim].to_dict())
    assert (table.loc["RLHF beats mu (W)"] > 0.75).all(), table.loc["RLHF beats mu (W)"].to_dict()
    # depends on the seed: neither never nor always, so the notebook states a count and asserts nothing
    for claim in SEED_DEPENDENT:
        n = int(table.loc[claim].astype(bool).sum())
        assert 0 < n < len(SEEDS), (claim, table.loc[claim].to_dict())
    # "Nash-MP is the nearest to pi* on 4 of 5" (most seeds, not every one)
    assert table.loc["Nash-MP nearest pi*"].astype(bool).sum() >= len(SEEDS) - 1, table.loc["Nash-MP nearest pi*"].to_dict()
    # every Nash-EMA-PG decay of the docstring's comparison improves on the reference on every seed
    assert (table.loc[["expl EMA 0.9", "expl EMA 0.99"]] < table.loc["expl mu"]).all().all()
