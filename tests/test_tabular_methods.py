"""Tabular methods: convergence to the exact equilibrium, the papers' rates, baselines' known
behaviour on rock–paper–scissors, batching, sampled oracles and dtypes."""

import pytest
import torch

from workbench.games import kl, random_game, rock_paper_scissors, solve
from workbench.metrics import exploitability
from workbench.schedules import nash_md_theory, two_beta
from workbench.tabular import METHODS, REGULARIZED, UNREGULARIZED, ExactOracle, SampledOracle, make_method
from workbench.tabular.driver import iterate, trajectory


# A step size per regularized method that converges fast at beta in [0.2, 1] (defaults are conservative).
FAST = {"Nash-MD": {"eta": nash_md_theory()}, "Nash-MP": {}, "OMD": {"eta": 0.5}, "MMD": {"eta": 1.0}, "EGPO": {"eta": 0.5}, "OMWU": {"eta": 0.5}}
# A skewed reference so that RPS's unregularized and regularized equilibria differ from mu.
MU_RPS = [0.6, 0.3, 0.1]


def test_registry_covers_contract_names():
    assert set(METHODS) == set(REGULARIZED) | set(UNREGULARIZED)
    assert {"Nash-MD", "Nash-MP", "OMD", "MMD", "EGPO", "OMWU", "MWU", "FP"} <= set(METHODS)
    for name in METHODS:
        assert make_method(name).name == name


@pytest.mark.parametrize("name", REGULARIZED)
@pytest.mark.parametrize("which", ["random", "rps"])
def test_regularized_methods_converge_to_exact_equilibrium(name, which):
    game = random_game(8, beta=0.3, batch=4, seed=5, mu="random") if which == "random" else rock_paper_scissors(0.2, mu=MU_RPS)
    pi_star = solve(game)
    pis = trajectory(make_method(name, **FAST[name]), game, 200)
    start, end = kl(pi_star, pis[0]), kl(pi_star, pis[-1])
    tol = 1e-3 * start if name == "Nash-MD" else 1e-10  # Nash-MD's theory schedule is O(1/T), the others linear
    assert (end <= tol).all(), f"{name}: KL(pi*, pi_T) = {end.tolist()} from {start.tolist()}"


@pytest.mark.parametrize("name", ["Nash-MP", "OMD", "MMD", "EGPO", "OMWU"])
def test_equilibrium_is_a_fixed_point(name):
    """The exact update maps pi* to itself (this pins down each closed form, constants included)."""
    game = random_game(6, beta=0.4, batch=3, seed=6, mu="random")
    pi_star = solve(game)
    method = make_method(name, **FAST[name])
    state = method.init(game, pi0=pi_star)
    for _ in range(3):
        state = method.step(game, state)
    torch.testing.assert_close(state.pi, pi_star, rtol=0, atol=1e-12)


def test_nash_md_theory_schedule_meets_theorem_1_bound_at_every_step():
    for beta in (0.1, 0.5, 1.0):
        game = random_game(12, beta=beta, batch=6, seed=7, mu="random")
        pi_star = solve(game)
        pis = trajectory(make_method("Nash-MD", eta=nash_md_theory()), game, 200)
        K = kl(pi_star.expand_as(pis), pis)  # (T+1, B)
        T = torch.arange(K.shape[0], dtype=K.dtype)[:, None]
        assert (K <= 8 / (beta**2 * (T + 1))).all()
        assert (K[-1] < K[0]).all()


def test_nash_mp_contracts_kl_per_iteration_at_least_1_over_1_plus_2beta():
    for beta in (0.05, 0.1, 0.5, 1.0):
        game = random_game(20, beta=beta, batch=8, seed=1, mu="random")
        pi_star = solve(game)  # float64 reference
        pis = trajectory(make_method("Nash-MP", eta=two_beta()), game, 40)
        K = kl(pi_star.expand_as(pis), pis)  # (T+1, B)
        ratio = K[1:] / K[:-1]
        live = K[:-1] > 1e-12  # above round-off
        assert live[:5].all()
        assert (ratio[live] <= 1 / (1 + 2 * beta)).all(), f"beta={beta}: worst ratio {ratio[live].max().item():.3f}"


def test_nash_mp_counts_two_queries_per_iteration():
    game = random_game(5, beta=0.2, batch=2, seed=0)
    state = list(iterate(make_method("Nash-MP"), game, 7))[-1]
    assert state.t == 7 and (state.queries == 14).all()
    state = list(iterate(make_method("Nash-MD"), game, 7))[-1]
    assert (state.queries == 7).all()


def test_nash_md_constant_step_floor_grows_with_eta():
    game = random_game(8, beta=0.5, batch=4, seed=2)
    pi_star = solve(game)
    floors = []
    for eta in (0.2, 0.8, 1.6):  # contraction 1 - eta beta per step: 300 steps reach the floor
        pis = trajectory(make_method("Nash-MD", eta=eta), game, 300)
        floor = kl(pi_star, pis[-1])
        torch.testing.assert_close(floor, kl(pi_star, pis[-50]), rtol=1e-6, atol=0)  # converged to its fixed point
        floors.append(floor)
    assert (floors[0] > 0).all()
    assert (floors[0] < floors[1]).all() and (floors[1] < floors[2]).all()


def test_mwu_last_iterate_cycles_on_rps_while_its_average_converges():
    game = rock_paper_scissors(0.0, mu=MU_RPS)  # unique equilibrium: uniform
    method = make_method("MWU", eta=0.1)
    last = exploitability(game, trajectory(method, game, 2000))
    avg = exploitability(game, trajectory(method, game, 2000, average=True))
    assert last[1000:].min() > 0.1  # stays far from equilibrium
    assert last[-1] > last[0]  # spirals outwards
    assert avg[-1] < 0.01


def test_omwu_last_iterate_converges_on_rps_unregularized():
    game = rock_paper_scissors(0.0, mu=MU_RPS)
    last = exploitability(game, trajectory(make_method("OMWU", eta=0.5), game, 1000))
    assert last[-1] < 1e-4


def test_fictitious_play_exploitability_decreases_on_random_games():
    game = random_game(6, beta=0.0, batch=5, seed=3)
    pis = trajectory(make_method("FP"), game, 1000)
    e = exploitability(game, pis)
    assert (e[-1] < 0.05).all() and (e[-1] < 0.25 * e[0]).all()
    # pi_t is the average of mu and the t best responses
    torch.testing.assert_close(pis[-1].sum(-1), torch.ones(5, dtype=pis.dtype))


@pytest.mark.parametrize("name", list(METHODS))
def test_batched_equals_loop_over_single_games(name):
    games = random_game(5, beta=0.3, batch=6, seed=4, mu="random")
    batched = games.with_beta(torch.tensor([0.1, 0.3, 0.5, 1.0, 0.2, 0.7], dtype=torch.float64)).sweep_beta([1.0])[0]
    grid = type(batched)(batched.P.reshape(2, 3, 5, 5), batched.mu.reshape(2, 3, 5), batched.beta.reshape(2, 3))
    pis = trajectory(make_method(name), grid, 25)  # (T+1, 2, 3, n)
    for i in range(2):
        for j in range(3):
            single = type(grid)(grid.P[i, j], grid.mu[i, j], grid.beta[i, j])
            torch.testing.assert_close(pis[:, i, j], trajectory(make_method(name), single, 25), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", list(METHODS))
def test_float32_path_matches_float64(name):
    game = random_game(6, beta=0.4, batch=3, seed=8, mu="random")
    p64 = trajectory(make_method(name), game, 50)[-1]
    p32 = trajectory(make_method(name), game.to(dtype=torch.float32), 50)[-1]
    assert p32.dtype == torch.float32
    torch.testing.assert_close(p32.double(), p64, rtol=0, atol=2e-4)


def test_sampled_oracle_is_unbiased_and_counts_queries():
    game = random_game(4, beta=0.2, batch=2, seed=9, mu="random")
    gen = torch.Generator().manual_seed(0)
    est = torch.stack([SampledOracle(50)(game, game.mu, gen)[0] for _ in range(200)]).mean(0)
    torch.testing.assert_close(est, game.win_prob(game.mu), rtol=0, atol=0.01)  # std ~ 0.5/sqrt(1e4)
    assert SampledOracle(3)(game, game.mu, gen)[1] == 4 * 3
    assert ExactOracle()(game, game.mu)[1] == 1 and ExactOracle("n")(game, game.mu)[1] == 4


@pytest.mark.parametrize("name,calls", [("Nash-MD", 1), ("Nash-MP", 2), ("OMD", 1), ("MMD", 1), ("EGPO", 2), ("OMWU", 1), ("MWU", 1), ("FP", 1)])
def test_stochastic_versions_count_queries_exactly(name, calls):
    game = random_game(5, beta=0.3, batch=3, seed=10)
    state = list(iterate(make_method(name), game, 9, oracle=SampledOracle(4), seed=1))[-1]
    assert (state.queries == 9 * calls * 5 * 4).all()
    assert torch.isfinite(state.pi).all() and torch.allclose(state.pi.sum(-1), torch.ones(3, dtype=torch.float64))


@pytest.mark.parametrize("name", ["Nash-MP", "MMD", "EGPO"])
def test_stochastic_neighbourhood_shrinks_with_more_samples(name):
    game = random_game(5, beta=0.5, batch=8, seed=11, mu="random")
    pi_star = solve(game)
    hyper = {"Nash-MP": {"eta": 0.25}, "MMD": {"eta": 0.5}, "EGPO": {"eta": 0.5}}[name]
    dist = {}
    for k in (1, 64):
        pis = trajectory(make_method(name, **hyper), game, 150, oracle=SampledOracle(k), seed=k)
        dist[k] = kl(pi_star.expand_as(pis[-50:]), pis[-50:]).mean()  # average over the stationary regime
    start = kl(pi_star, game.mu).mean()
    assert dist[64] < dist[1] / 10, dist
    assert dist[64] < start / 10


def test_bad_step_sizes_raise():
    game = random_game(4, beta=0.2)
    with pytest.raises(ValueError, match=r"OMD \(OMD\): eta must be a positive finite number; got -0.1"):
        make_method("OMD", eta=-0.1)
    with pytest.raises(ValueError, match=r"eta='theory' is no longer accepted; pass eta=workbench.schedules.nash_md_theory\(\)"):
        make_method("Nash-MP", eta="theory")
    with pytest.raises(ValueError, match="Nash-MP needs beta > 0"):
        make_method("Nash-MP", eta=0.1).init(rock_paper_scissors(0.0))
    with pytest.raises(ValueError, match=r"Nash-MD: the step schedule eta_t = 2/\(beta\(t\+2\)\) needs beta > 0"):
        make_method("Nash-MD").init(rock_paper_scissors(0.0))
    make_method("Nash-MD", eta=0.5).init(rock_paper_scissors(0.0))  # a constant step is fine at beta = 0
    with pytest.raises(ValueError, match="pi0 must have 4 entries"):
        make_method("MMD").init(game, pi0=torch.ones(3) / 3)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", list(METHODS))
def test_cuda_matches_cpu(name):
    game = random_game(6, beta=0.3, batch=4, seed=12)
    cpu = trajectory(make_method(name), game, 20)
    gpu = trajectory(make_method(name), game.to("cuda"), 20)
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-9, atol=1e-12)
    trajectory(make_method(name), game.to("cuda"), 3, oracle=SampledOracle(2))  # sampling on a CUDA generator
