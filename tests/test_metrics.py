"""workbench/metrics.py: hand-computed values, brute force over policies, invariances."""

import math

import pytest
import torch

from workbench.games import PreferenceGame, random_game, rock_paper_scissors, solve
from workbench.metrics import (
    duality_gap,
    evaluate,
    exploitability,
    kl_to_equilibrium,
    kl_to_reference,
    regularized_exploitability,
    span_seminorm,
    win_rate,
)

F64 = torch.float64


def t(*v):
    return torch.tensor(v, dtype=F64)


def two_action(s=0.8, mu0=0.5, beta=0.1):
    return PreferenceGame.create([[0.5, s], [1 - s, 0.5]], [mu0, 1 - mu0], beta)


def test_two_action_hand_computed_values():
    g = two_action(s=0.8, mu0=0.5, beta=0.1)
    pi = t(0.25, 0.75)
    # P(0 ≻ pi) = 0.25 * 0.5 + 0.75 * 0.8 = 0.725; P(1 ≻ pi) = 0.25 * 0.2 + 0.75 * 0.5 = 0.425
    assert torch.allclose(g.win_prob(pi), t(0.725, 0.425))
    assert exploitability(g, pi).item() == pytest.approx(0.225)
    kl_pm = 0.25 * math.log(0.5) + 0.75 * math.log(1.5)
    assert kl_to_reference(g, pi).item() == pytest.approx(kl_pm)
    soft = 0.1 * math.log(0.5 * math.exp(7.25) + 0.5 * math.exp(4.25))
    expected = soft + 0.1 * kl_pm - 0.5
    assert regularized_exploitability(g, pi).item() == pytest.approx(expected, abs=1e-14)
    assert duality_gap(g, pi).item() == pytest.approx(2 * expected, abs=1e-14)
    # win rate against mu = (1/2, 1/2): pi^T P mu = 0.25 * 0.65 + 0.75 * 0.35
    assert win_rate(g, pi).item() == pytest.approx(0.25 * 0.65 + 0.75 * 0.35)
    assert win_rate(g, pi, opponent=t(0.0, 1.0)).item() == pytest.approx(0.25 * 0.8 + 0.75 * 0.5)


@pytest.mark.parametrize("s, mu0, beta", [(0.8, 0.5, 0.1), (0.3, 0.9, 0.05), (0.95, 0.2, 1.0)])
def test_regularized_exploitability_is_max_over_a_policy_grid(s, mu0, beta):
    g = two_action(s, mu0, beta)
    grid = torch.linspace(1e-6, 1 - 1e-6, 20_001, dtype=F64)
    dev = torch.stack([grid, 1 - grid], -1)  # (K, 2) candidate best responses
    gk = PreferenceGame.create(g.P, g.mu, torch.full((len(grid),), beta, dtype=F64))
    for pi in (t(0.25, 0.75), t(0.9, 0.1), g.mu):
        brute = (gk.regularized_preference(dev, pi.expand_as(dev)) - 0.5).max()
        value = regularized_exploitability(g, pi)
        assert value.item() == pytest.approx(brute.item(), abs=1e-7)
        assert value >= brute - 1e-15  # the closed form is the sup; the grid can only fall short
        # ... and the sup is attained at the Gibbs best response q ∝ mu exp(P pi / beta).
        q = torch.softmax(torch.log(g.mu) + g.win_prob(pi) / beta, -1)
        assert value.item() == pytest.approx((g.regularized_preference(q, pi) - 0.5).item(), abs=1e-14)


def test_beta_zero_reduces_to_exploitability_and_vanishes_at_nash():
    g = rock_paper_scissors(0.0)
    pi = t(0.5, 0.3, 0.2)
    assert regularized_exploitability(g, pi).item() == pytest.approx(exploitability(g, pi).item())
    # library RPS: response y beats y + 1 (mod 3); P(y ≻ pi) = pi_y / 2 + pi_{y+1}
    assert torch.allclose(g.win_prob(pi), t(0.25 + 0.3, 0.15 + 0.2, 0.1 + 0.5))
    assert exploitability(g, pi).item() == pytest.approx(0.1)
    assert exploitability(g, torch.full((3,), 1 / 3, dtype=F64)).abs().item() < 1e-15


def test_zero_at_equilibrium_positive_elsewhere_and_gap_is_twice():
    g = random_game(8, 0.1, batch=4, seed=2, mu="random")
    pi_star = solve(g)
    assert regularized_exploitability(g, pi_star).abs().max() < 1e-13
    assert duality_gap(g, pi_star).abs().max() < 2e-13
    other = torch.softmax(torch.randn(4, 8, generator=torch.Generator().manual_seed(0), dtype=F64), -1)
    e = regularized_exploitability(g, other)
    assert (e > 0).all() and torch.equal(duality_gap(g, other), 2 * e)
    # explicitly: max over the players' deviations of the symmetric game at (pi, pi)
    assert (e >= regularized_exploitability(g, pi_star)).all()


def test_batched_shapes_and_evaluate():
    g = random_game(5, 0.1, batch=3, seed=1).sweep_beta([0.05, 0.5])  # (2, 3)
    pi = torch.full((2, 3, 5), 0.2, dtype=F64)
    out = evaluate(g, pi, pi_star=solve(g))
    assert set(out) == {"reg_exploitability", "exploitability", "win_rate_vs_mu", "kl_to_mu", "kl_to_eq", "span_log_ratio"}
    assert all(v.shape == (2, 3) for v in out.values())
    assert torch.allclose(out["kl_to_mu"], torch.zeros(2, 3, dtype=F64))


def test_kl_and_span_seminorm():
    p, q = t(0.2, 0.3, 0.5), t(0.5, 0.25, 0.25)
    assert kl_to_equilibrium(p, q).item() == pytest.approx(sum(a * math.log(a / b) for a, b in zip(p.tolist(), q.tolist())))
    assert kl_to_equilibrium(p, p).item() == 0
    # span of log(pi / pi*): max - min of log ratios
    assert span_seminorm(q, p).item() == pytest.approx(math.log(2.5) - math.log(0.5))
    # invariant to rescaling pi (it is a semi-norm on log-policies modulo constants) and zero at pi*
    assert span_seminorm(3.7 * q, p).item() == pytest.approx(span_seminorm(q, p).item(), abs=1e-14)
    assert span_seminorm(p, p).item() == 0
    # only the support of pi* counts
    assert span_seminorm(t(0.1, 0.2, 0.7), t(0.5, 0.5, 0.0)).item() == pytest.approx(math.log(2))


def test_win_rate_of_mu_against_itself_is_half():
    g = random_game(6, 0.1, batch=5, seed=3, mu="random")
    assert torch.allclose(win_rate(g, g.mu), torch.full((5,), 0.5, dtype=F64), atol=1e-15)
    pi = torch.softmax(torch.randn(5, 6, generator=torch.Generator().manual_seed(1), dtype=F64), -1)
    assert torch.allclose(win_rate(g, pi) + win_rate(g, g.mu, opponent=pi), torch.ones(5, dtype=F64))
