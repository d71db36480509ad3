"""Closed forms and statistical properties of the contextual-bandit lab (fast, single-threaded)."""

import pytest
import torch

from workbench.bandits import (
    behaviour_policy, elliptic_norm, fit, gibbs, hidden_good_actions, offline_curve, online_curves,
    pair_features, pessimistic_maxmin, pessimistic_pointwise, pessimistic_policy_level, plug_in,
    plug_in_nash, random_linear, rare_but_lucky, sample_comparisons,
)
from workbench.analysis.summaries import final_means, seed_ci
from workbench.results import check_frame


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_gibbs_policy_is_optimal():
    env = random_linear(n_contexts=3, n_actions=5, dim=3, beta=0.2)
    pi_star = env.optimal_policy()
    assert torch.allclose(pi_star, gibbs(env.mu, env.reward(), 0.2))
    # J(pi*) - J(pi) = beta E_x KL(pi || pi*) for every pi (closed form of the Gibbs variational principle)
    pis = torch.softmax(torch.randn(6, 3, 5, generator=gen(), dtype=torch.float64), -1)
    kl = (pis * (pis / pi_star).log()).sum(-1).mean(-1)
    assert torch.allclose(env.suboptimality(pis), 0.2 * kl, atol=1e-12)
    assert env.suboptimality(pi_star[None]).abs().max() < 1e-12


def test_pair_features_antisymmetric_and_general_env_nash():
    a, b = torch.randn(2, 4, 3, generator=gen(), dtype=torch.float64)
    for model, D in (("bt", 3), ("general", 6)):
        psi = pair_features(a, b, model)
        assert psi.shape == (4, D) and torch.allclose(psi, -pair_features(b, a, model))
    env = random_linear(n_contexts=4, model="general", intransitivity=1.0)
    P = env.preference()
    assert torch.allclose(P + P.transpose(-1, -2), torch.ones_like(P))
    pi = env.optimal_policy()
    assert env.nash_gap(pi[None]).abs().max() < 1e-9 and env.nash_gap(env.mu[None]).item() > 1e-2


def test_intransitive_features_make_cycles():
    env = random_linear(n_contexts=20, n_actions=6, dim=4, model="general", intransitivity=2.0, reward_scale=2.0)
    P = env.preference()  # (K, n, n)
    win = (P > 0.5).double()
    cyc = torch.einsum("kab,kbc,kca->k", win, win, win)  # number of 3-cycles (times 3)
    assert (cyc > 0).any(), "intransitive block should create at least one cycle"
    env0 = env.with_(theta=torch.cat([env.theta[:4], torch.zeros(6, dtype=torch.float64)]))
    W0 = (env0.preference() > 0.5).double()
    assert torch.einsum("kab,kbc,kca->k", W0, W0, W0).abs().max() == 0  # BT is transitive


def test_mle_recovers_theta_with_lots_of_data():
    env = random_linear(n_contexts=10, n_actions=8, dim=4)
    b = behaviour_policy(env, 0.0)
    errs = []
    for n in (200, 20000):
        est = fit(env, sample_comparisons(env, n, gen(1), b, b, n_seeds=4), lam=1e-3)
        errs.append((est.theta - env.theta).norm(dim=-1).mean().item())
    assert errs[1] < 0.15 and errs[1] < errs[0] / 4  # ~ 1/sqrt(n)
    envg = random_linear(n_contexts=10, n_actions=8, dim=3, model="general", intransitivity=1.0)
    est = fit(envg, sample_comparisons(envg, 20000, gen(2), n_seeds=2), lam=1e-3)
    assert (est.theta - envg.theta).norm(dim=-1).max() < 0.3


def test_mle_matches_closed_form_for_two_arms():
    # one feature direction, y always vs y': the MLE of the logit is log(wins/losses) (lam -> 0)
    env = rare_but_lucky(n_arms=2, spread=0.0, good_reward=1.0)
    data = sample_comparisons(env, 4000, gen(3), torch.tensor([[1.0, 0.0]], dtype=torch.float64),
                              torch.tensor([[0.0, 1.0]], dtype=torch.float64), n_seeds=1)
    est = fit(env, data, lam=1e-8)
    wins = data.label.double().mean()
    assert abs((est.theta[0, 0] - est.theta[0, 1]).item() - torch.log(wins / (1 - wins)).item()) < 1e-5


def test_pessimism_closed_forms():
    env = random_linear(n_contexts=5, n_actions=6, dim=3)
    est = fit(env, sample_comparisons(env, 300, gen(4), n_seeds=3))
    assert torch.allclose(pessimistic_pointwise(env, est, 0.0), plug_in(env, est))
    # policy-level pessimism = the max over pi of the pessimistic objective (check against random policies)
    gamma = 2.0
    pi = pessimistic_policy_level(env, est, gamma, iters=500)

    def objective(p):
        v = torch.einsum("skn,knd->sd", p, env.phi) / env.n_contexts - est.nu  # (S, d)
        lin = (est.theta * v).sum(-1) - gamma * elliptic_norm(v, est.Sigma_inv)
        return lin - env.beta * (p * (p / env.mu).log()).sum(-1).mean(-1)

    best = objective(pi)
    for k in range(20):
        other = torch.softmax(torch.log(pi) + 0.3 * torch.randn(pi.shape, generator=gen(k), dtype=pi.dtype), -1)
        assert (objective(other) <= best + 1e-7).all()
    assert (objective(plug_in(env, est)) <= best + 1e-9).all()


def test_maxmin_zero_radius_is_plug_in_and_value_not_above_half():
    env = random_linear(n_contexts=3, n_actions=5, dim=3, model="general", intransitivity=1.0)
    est = fit(env, sample_comparisons(env, 200, gen(5), n_seeds=2))
    assert torch.allclose(pessimistic_maxmin(env, est, 0.0), plug_in_nash(env, est))
    pi = pessimistic_maxmin(env, est, 1.0, iters=60, inner=3)
    assert torch.allclose(pi.sum(-1), torch.ones(2, 3, dtype=pi.dtype)) and (pi > 0).all()


def test_gap_shrinks_with_data_and_frame_schema():
    env = random_linear(n_contexts=5, n_actions=6, dim=3)
    fr = offline_curve(env, [30, 3000], algos=["plug_in", "policy_level"], n_seeds=6, coverage=0.5)
    check_frame(fr, knobs={"env": "str", "beta": "float", "gamma": "float", "coverage": "float"})
    assert (fr["step"] == fr["queries"]).all() and set(fr["queries"]) == {30, 3000}
    s = seed_ci(fr, by=("algo", "queries", "metric"), interval="t")
    g = s[s.metric == "gap"].set_index(["algo", "queries"])["mean"]
    for a in ("plug_in", "policy_level"):
        assert g[(a, 3000)] < g[(a, 30)] / 5


def test_bt_policy_misses_intransitive_nash():
    env = random_linear(n_contexts=5, n_actions=6, dim=3, model="general", intransitivity=1.5)
    fr = offline_curve(env, [20000], algos=["general_nash", "bt_nash"], n_seeds=3)
    m = final_means(fr, "gap")
    assert m["general_nash"] < 0.01 and m["bt_nash"] > 3 * m["general_nash"]


def test_enhancer_explores_hidden_action():
    env = hidden_good_actions(n_contexts=4, n_actions=6, dim=3)
    fr = online_curves(env, ["enhancer", "exploit"], n_rounds=4, batch_size=40, n_seeds=4)
    m = final_means(fr, "gap")
    assert m["enhancer"] < 0.2 * m["exploit"]
    assert set(fr.metric) == {"gap", "nash_gap", "uncertainty"}
    check_frame(fr, knobs={**dict.fromkeys(("env",), "str"), "beta": "float", "gamma": "float", "batch_size": "int"})
    assert sorted(set(fr["queries"])) == [0, 40, 80, 120, 160] and (fr["queries"] == 40 * fr["step"]).all()


def test_rare_but_lucky_pessimism_beats_plug_in():
    env = rare_but_lucky(n_arms=30)
    fr = offline_curve(env, [50], algos=["plug_in", "pointwise"], n_seeds=20, coverage=0.5)
    m = final_means(fr, "gap")
    assert m["pointwise"] < 0.75 * m["plug_in"]
