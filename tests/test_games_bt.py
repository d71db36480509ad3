"""Bradley–Terry fit and Hodge (cyclic share) decomposition: closed-form cases."""

import math

import pytest
import torch

from workbench.device import make_generator
from workbench.games import (
    GameError,
    bradley_terry,
    cyclic,
    gibbs,
    random_game,
    rock_paper_scissors,
    solve,
    transitive_cyclic_mixture,
)
from workbench.games.bradley_terry_fit import (
    bt_matrix,
    cyclic_share,
    fit_bradley_terry,
    hodge_decomposition,
)


@pytest.mark.parametrize("weights", ["uniform", "mu"])
def test_bt_game_recovered_up_to_constant(weights):
    gen = make_generator(3)
    r = 2.0 * torch.randn(4, 6, generator=gen, dtype=torch.float64)  # batch of 4 games
    mu = torch.softmax(torch.randn(4, 6, generator=gen, dtype=torch.float64), -1)
    game = bradley_terry(r + 7.0, mu=mu)  # the constant must not matter
    fit = fit_bradley_terry(game, weights=weights)
    torch.testing.assert_close(fit.rewards, r - r.mean(-1, keepdim=True), atol=1e-9, rtol=0)
    torch.testing.assert_close(fit.P, game.P, atol=1e-10, rtol=0)
    assert fit.kl.abs().max() < 1e-10


def test_rps_fit_is_all_ties_so_rlhf_policy_is_mu():
    mu = torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64)
    game = rock_paper_scissors(beta=0.1, mu=mu)
    fit = fit_bradley_terry(game, weights="uniform")
    assert fit.rewards.abs().max() < 1e-12
    assert (fit.P - 0.5).abs().max() < 1e-12
    # the RLHF optimum of the BT reward is mu itself, while the Nash equilibrium (beta -> 0) is uniform
    torch.testing.assert_close(gibbs(game.mu, fit.rewards, game.beta), mu)
    # comparisons drawn from a uniform mu see every pair equally often: ties again
    assert fit_bradley_terry(rock_paper_scissors(), weights="mu").rewards.abs().max() < 1e-12
    # but data drawn from a skewed mu tilts the fit: the most frequent match-up (P[0, 1] = 1) dominates
    skew = fit_bradley_terry(game, weights="mu").rewards
    assert skew[0] - skew[1] > 1.0 and (skew - skew[0]).abs().max() > 0.1
    assert abs(fit_bradley_terry(game).kl.item() - math.log(2.0)) < 1e-12
    nash = solve(game.with_beta(0.0))
    torch.testing.assert_close(nash, torch.full((3,), 1 / 3, dtype=torch.float64), atol=1e-8, rtol=0)


def test_fit_satisfies_moment_matching_on_random_games():
    game = random_game(7, batch=50, seed=2, mu="random")
    fit = fit_bradley_terry(game, weights="mu")
    W = game.mu[..., :, None] * game.mu[..., None, :]
    W = W * (1 - torch.eye(7, dtype=W.dtype))
    resid = (W * (fit.P - game.P)).sum(-1) / W.sum((-1, -2))[..., None]  # first-order condition
    assert resid.abs().max() < 1e-11
    # the fit is at least as good as any perturbed reward (convexity: a local check of optimality)
    from workbench.games.bradley_terry_fit import _bt_loss, _weights

    Wn = _weights(game.P, "mu", game.mu)
    base = _bt_loss(game.P, Wn, fit.rewards, 0.0)
    pert = fit.rewards + 1e-3 * torch.randn(fit.rewards.shape, generator=make_generator(0), dtype=torch.float64)
    assert (_bt_loss(game.P, Wn, pert, 0.0) >= base).all()


def test_cyclic_share_zero_for_bt_one_for_cycles():
    r = torch.tensor([0.0, 1.0, -2.0, 0.5, 3.0], dtype=torch.float64)
    assert cyclic_share(bradley_terry(r)).item() < 1e-20
    assert cyclic_share(bradley_terry(r), weights="mu", mu=torch.tensor([0.1, 0.2, 0.3, 0.2, 0.2], dtype=torch.float64)).item() < 1e-20
    assert abs(cyclic_share(rock_paper_scissors()).item() - 1) < 1e-12
    for n in (3, 5, 6):
        for flow in ("logit", "linear"):
            assert abs(cyclic_share(cyclic(n, strength=0.6), flow=flow).item() - 1) < 1e-12
    # an all-ties game has no skew part: share 0 (not NaN)
    assert cyclic_share(torch.full((4, 4), 0.5, dtype=torch.float64)).item() == 0


def test_hodge_parts_are_orthogonal_and_sum_to_flow():
    game = random_game(6, batch=8, seed=5)
    h = hodge_decomposition(game)
    torch.testing.assert_close(h.gradient + h.curl, h.flow)
    inner = (h.gradient * h.curl).sum((-1, -2))  # uniform weights: plain inner product
    assert inner.abs().max() < 1e-10
    # the curl is divergence-free, the potential is the least-squares score
    assert h.curl.sum(-1).abs().max() < 1e-10
    assert ((h.cyclic_share > 0) & (h.cyclic_share < 1)).all()


def test_cyclic_share_rises_with_intransitivity_knob():
    knobs = [0.0, 0.25, 0.5, 0.75, 1.0]
    shares = [cyclic_share(transitive_cyclic_mixture(8, a, batch=64, seed=11)).mean().item() for a in knobs]
    assert shares[0] < 1e-3
    assert all(b > a for a, b in zip(shares, shares[1:])), shares
    kls = [fit_bradley_terry(transitive_cyclic_mixture(8, a, batch=64, seed=11)).kl.mean().item() for a in knobs]
    assert kls[0] < 1e-12 and all(b > a for a, b in zip(kls, kls[1:])), kls


def test_bt_matrix_and_errors():
    P = bt_matrix(torch.tensor([1.0, 0.0], dtype=torch.float64))
    assert abs(P[0, 1].item() - torch.sigmoid(torch.tensor(1.0, dtype=torch.float64)).item()) < 1e-15
    with pytest.raises(GameError, match="P \\+ P\\^T = 1"):
        fit_bradley_terry(torch.tensor([[0.5, 0.9], [0.9, 0.5]], dtype=torch.float64))
    with pytest.raises(GameError, match="needs mu"):
        fit_bradley_terry(torch.full((3, 3), 0.5, dtype=torch.float64), weights="mu")
    with pytest.raises(GameError, match="flow must be"):
        cyclic_share(rock_paper_scissors(), flow="bogus")
    with pytest.raises(GameError, match="beta must be > 0.*got 0.0"):
        gibbs(torch.ones(3) / 3, torch.zeros(3), 0.0)
    with pytest.raises(GameError, match="beta must be > 0.*got nan"):
        gibbs(torch.ones(3) / 3, torch.zeros(3), float("nan"))
    with pytest.raises(GameError, match="beta = -0.5 at flat index 3"):
        gibbs(torch.ones(2, 2, 3) / 3, torch.zeros(2, 2, 3), torch.tensor([[0.1, 0.2], [0.3, -0.5]]))


def test_gibbs_is_the_kl_regularized_optimum():
    """max_pi E_pi r - beta KL(pi || mu) = beta log sum_y mu(y) exp(r(y)/beta), attained at the Gibbs policy."""
    g = make_generator(5)
    mu = torch.softmax(torch.randn(4, 7, generator=g, dtype=torch.float64), -1)  # (B, n)
    r = torch.randn(4, 7, generator=g, dtype=torch.float64)  # (B, n)
    beta = torch.tensor([0.05, 0.3, 1.0, 4.0], dtype=torch.float64)  # (B,)

    def J(pi):
        return (pi * r).sum(-1) - beta * (pi * (pi / mu).log()).sum(-1)  # (B,)

    pi = gibbs(mu, r, beta)
    best = beta * torch.logsumexp(mu.log() + r / beta[:, None], -1)  # (B,) closed form
    torch.testing.assert_close(J(pi), best, atol=1e-12, rtol=0)
    others = torch.softmax(torch.randn(50, 4, 7, generator=g, dtype=torch.float64), -1)  # (50, B, n)
    assert (torch.stack([J(o) for o in others]) < best - 1e-9).all()
    # hand-computed two-action case: pi(0) = mu0 e^{1/beta} / (mu0 e^{1/beta} + 1 - mu0)
    two = gibbs(torch.tensor([0.25, 0.75], dtype=torch.float64), torch.tensor([1.0, 0.0], dtype=torch.float64), 0.5)
    e = math.exp(2.0)
    torch.testing.assert_close(two, torch.tensor([0.25 * e, 0.75], dtype=torch.float64) / (0.25 * e + 0.75), atol=1e-15, rtol=0)
    # a number and a per-problem tensor of beta agree; large beta gives mu, small beta the argmax
    torch.testing.assert_close(gibbs(mu, r, 0.3), gibbs(mu, r, torch.full((4,), 0.3, dtype=torch.float64)), atol=0, rtol=0)
    torch.testing.assert_close(gibbs(mu, r, 1e8), mu, atol=1e-7, rtol=0)
    assert torch.equal(gibbs(mu, r, 1e-6).argmax(-1), r.argmax(-1))


def test_ridge_keeps_rewards_finite_for_deterministic_order():
    P = torch.triu(torch.ones(4, 4, dtype=torch.float64), 1) + 0.5 * torch.eye(4, dtype=torch.float64)
    fit = fit_bradley_terry(P, l2=1e-2)
    assert (fit.rewards.diff() < 0).all()  # order recovered: response 0 best
    assert fit.rewards.abs().max() < 10
