"""Exact solvers (workbench/games/solvers.py): closed forms, the fixed point, limits in beta, errors."""

import math

import pytest
import torch

from workbench.games import (
    GameError,
    PreferenceGame,
    SolverError,
    bradley_terry,
    cyclic,
    gibbs,
    near_deterministic_mu,
    random_game,
    rock_paper_scissors,
    solve,
    solve_regularized,
    solve_unregularized,
    transitive_cyclic_mixture,
)
from workbench.games.solvers import BETA_MIN
from workbench.metrics import exploitability, regularized_exploitability

F64 = torch.float64


def best_response(game: PreferenceGame, pi: torch.Tensor) -> torch.Tensor:
    """The fixed-point map ``pi -> softmax(log mu + P pi / beta)`` (Gibbs policy of the reward ``P pi``)."""
    return gibbs(game.mu, game.win_prob(pi), game.beta)


def assert_equilibrium(game, pi, fp_tol=1e-10, tol=1e-12):
    assert pi.shape == game.mu.shape
    assert (pi >= 0).all() and torch.allclose(pi.sum(-1), torch.ones((), dtype=pi.dtype))
    assert (pi - best_response(game, pi)).abs().max() <= fp_tol
    assert regularized_exploitability(game, pi).max() <= tol


@pytest.mark.parametrize("beta", [1e-3, 0.01, 0.1, 1.0, 10.0])
def test_rps_uniform_for_every_beta(beta):
    g = rock_paper_scissors(beta)
    pi = solve(g)
    assert torch.allclose(pi, torch.full((3,), 1 / 3, dtype=F64), atol=1e-12, rtol=0)
    assert_equilibrium(g, pi)


def test_rps_unregularized_lp_is_uniform():
    pi = solve(rock_paper_scissors(0.0))
    assert torch.allclose(pi, torch.full((3,), 1 / 3, dtype=F64), atol=1e-9)


@pytest.mark.parametrize("s, mu0, beta", [(0.7, 0.5, 0.1), (0.9, 0.2, 0.05), (0.3, 0.999, 0.01), (0.6, 0.5, 1e-4)])
def test_two_action_closed_form(s, mu0, beta):
    # P(0 ≻ pi) - P(1 ≻ pi) = s - 1/2 for every pi, so logit pi*_0 = logit mu_0 + (s - 1/2) / beta.
    g = PreferenceGame.create([[0.5, s], [1 - s, 0.5]], [mu0, 1 - mu0], beta)
    logit = math.log(mu0 / (1 - mu0)) + (s - 0.5) / beta
    expected = torch.tensor([torch.sigmoid(torch.tensor(logit, dtype=F64)), torch.sigmoid(torch.tensor(-logit, dtype=F64))])
    pi = solve(g)
    assert torch.allclose(pi, expected, atol=1e-13, rtol=1e-10)


def test_bradley_terry_fixed_point_and_order():
    r = torch.tensor([[0.0, 0.5, 1.0, 2.0, -1.0], [1.0, 1.0, 0.0, 0.0, 3.0]], dtype=F64)
    g = bradley_terry(r, beta=0.2)
    pi = solve(g)
    assert_equilibrium(g, pi)
    # Transitive game + uniform mu: P(y ≻ pi) increases with r(y), so pi* is ordered like the rewards.
    for k in range(2):
        order = torch.argsort(r[k])
        assert (pi[k][order].diff() >= -1e-15).all()
    assert pi[1, 0].item() == pytest.approx(pi[1, 1].item(), abs=1e-14)  # tied rewards, tied mass


def test_fixed_point_and_exploitability_on_random_batches():
    g = random_game(20, 0.05, batch=6, seed=4, mu="random")
    assert_equilibrium(g, solve(g))
    m = transitive_cyclic_mixture(15, 0.5, 0.02, batch=4, seed=2)
    assert_equilibrium(m, solve(m))


def test_solution_matches_regularized_preference_nash_condition():
    g = random_game(6, 0.1, seed=11, mu="random")
    pi = solve(g)
    # No deviation beats pi* in the regularized game: P_beta(pi' ≻ pi*) <= 1/2 for random pi'.
    dev = torch.distributions.Dirichlet(torch.ones(6, dtype=F64)).sample((500,))
    gb = PreferenceGame.create(g.P, g.mu, g.beta.expand(500))
    assert (gb.regularized_preference(dev, pi.expand(500, 6)) <= 0.5 + 1e-12).all()


def test_large_beta_gives_mu():
    mu = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=F64)
    g = random_game(4, 1e4, seed=0, mu=mu)
    pi = solve(g)
    assert (pi - mu).abs().max() < 1e-4  # |log pi* - log mu| <= 1/beta
    assert ((torch.log(pi) - torch.log(mu)).abs() <= 1 / 1e4 + 1e-12).all()


@pytest.mark.parametrize("make", [lambda b: rock_paper_scissors(b, mu=[0.6, 0.3, 0.1]), lambda b: cyclic(5, b, mu=[0.4, 0.3, 0.1, 0.1, 0.1])])
def test_small_beta_approaches_unregularized_equilibrium(make):
    betas = [0.3, 0.1, 0.03, 0.01, 1e-3, 1e-4]
    g = make(0.0).sweep_beta(betas)
    pi = solve(g)  # (K, n)
    expl = exploitability(g, pi)
    # pi*_beta is exploitable by at most beta max_y log(1/mu_y) (from P_beta(y ≻ pi*) <= 1/2) ...
    bound = torch.tensor(betas, dtype=F64) * (-torch.log(g.mu[0])).max()
    assert (expl <= bound + 1e-12).all()
    # ... so it tends to the (unique, uniform) equilibrium of the odd cycle.
    assert expl[-1] < 1e-3 and (pi[-1] - 1 / g.n).abs().max() < 1e-2
    assert (expl.diff() <= 1e-12).all()


def test_lp_solutions_are_equilibria():
    for g in [random_game(12, 0.0, batch=5, seed=3), cyclic(4), transitive_cyclic_mixture(8, 0.3, 0.0, batch=3, seed=1)]:
        pi = solve_unregularized(g)
        assert pi.shape == g.mu.shape and (pi >= 0).all()
        assert torch.allclose(pi.sum(-1), torch.ones((), dtype=F64), atol=1e-12)
        assert exploitability(g, pi).abs().max() < 1e-8


def test_mixed_batch_of_zero_and_positive_beta():
    base = random_game(7, 0.1, batch=2, seed=5, mu="random")
    g = base.sweep_beta([0.0, 0.05, 0.0, 1.0])  # (4, 2)
    pi = solve(g)
    assert pi.shape == (4, 2, 7)
    for k in (0, 2):
        assert torch.allclose(pi[k], solve_unregularized(base), atol=1e-9)
        assert exploitability(g[k], pi[k]).abs().max() < 1e-8
    for k in (1, 3):
        assert_equilibrium(g[k], pi[k])
        assert torch.allclose(pi[k], solve_regularized(g[k]), atol=1e-12)


def test_float32_game():
    g = random_game(10, 0.1, batch=3, seed=2, mu="random", dtype=torch.float32)
    pi = solve(g)
    assert pi.dtype == torch.float32
    g64 = g.to(dtype=F64)
    ref = solve(g64)
    assert (pi.double() - ref).abs().max() < 1e-6
    assert regularized_exploitability(g64, pi.double()).max() < 1e-6


def test_tiny_beta_and_near_deterministic_mu():
    g = random_game(12, BETA_MIN, batch=2, seed=1, mu=near_deterministic_mu(12, favourite=3))
    pi = solve(g)
    assert_equilibrium(g, pi, fp_tol=1e-10, tol=1e-12)
    assert (pi < 1e-30).any()  # the equilibrium has entries far below float32 range (exp(-gap/beta))
    h = random_game(10, 1e-4, batch=2, seed=1, mu="random")
    assert_equilibrium(h, solve(h))


def test_warm_start_from_pi0():
    g = random_game(8, 0.01, batch=2, seed=9)
    pi = solve_regularized(g)
    again = solve_regularized(g, pi0=pi, max_iter=3)
    assert torch.allclose(again, pi, atol=1e-12)


def test_errors():
    with pytest.raises(SolverError, match=r"beta = 1e-06 .* below the smallest beta .*supports \(0\.0001\).*beta = 0"):
        solve(random_game(5, 1e-6, seed=0))
    with pytest.raises(SolverError, match=r"did not reach exploitability -1 in 1 Newton steps \(max_iter = 1\): \d+ game\(s\) left, worst flat index \d+"):
        solve_regularized(random_game(10, 0.3, batch=3, seed=0, mu="random"), tol=-1.0, max_iter=1)
    with pytest.raises(GameError, match=r"needs beta > 0 for every game"):
        solve_regularized(rock_paper_scissors(0.0))


@pytest.mark.parametrize("beta", [1e4, 1e5, 1e6])
def test_very_large_beta_solves_to_the_first_order_expansion(beta):
    """``pi* = mu exp((P(. ≻ mu) - 1/2)/beta + O(1/beta^2))`` (``mu^T P mu = 1/2``). Up to issue 11 (item 4) the
    solver raised SolverError for beta in 1e4..1e6: the exploitability it stops on cannot be measured below
    ``~ beta * eps`` (a difference of O(1) terms scaled by beta), so its tolerance there is that floor."""
    g = random_game(10, beta, batch=4, seed=0, mu="random")
    pi = solve(g)
    d = beta * (torch.log(pi) - torch.log(g.mu))  # (B, n)
    d = d - (g.mu * d).sum(-1, keepdim=True)
    assert (d - (g.win_prob(g.mu) - 0.5)).abs().max() < 1 / beta
    # the fixed point pi* ∝ mu exp(P pi* / beta) to round-off, in log space
    torch.testing.assert_close(torch.log(pi), torch.log(best_response(g, pi)), rtol=0, atol=1e-13)


def test_solve_refuses_invalid_games_built_without_validation():
    """``validate=False`` skips the checks at construction; ``solve`` must not answer a NaN ``P`` with the
    uniform policy or a ``mu`` summing to 0.9 with a plausible one (issue 11, item 4)."""
    g = random_game(4, 0.1, seed=0)
    P = g.P.clone()
    P[0, 1] = math.nan
    with pytest.raises(GameError, match=r"P contains NaN or inf: P\[0, 1\] = nan"):
        solve(PreferenceGame.create(P, g.mu, 0.1, validate=False))
    with pytest.raises(GameError, match=r"mu must sum to 1: mu\[\]\.sum\(\) = 0\.9"):
        solve(PreferenceGame.create(g.P, [0.225] * 4, 0.1, validate=False))
    with pytest.raises(GameError, match=r"mu must be strictly positive .*mu\[2\] = 0"):
        solve(PreferenceGame.create(g.P, [0.5, 0.5, 0.0, 0.0], 0.0, validate=False))
    with pytest.raises(TypeError, match=r"solve needs a PreferenceGame .* got ndarray"):
        solve(g.P.numpy())
