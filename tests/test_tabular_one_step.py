"""One step of Nash-MD and Nash-MP against a hand-computed update on a 3-response game, and Nash-MP's
measured asymptotic rate (issue 11, item 1).

A bound alone lets a wrong update pass (``P(. ≻ pi_t)`` in Nash-MP's second half step, a default step
``beta`` instead of ``2 beta``, Nash-MD's ``1/(beta (t+2))`` instead of ``2/(beta (t+2))``): these tests
write the papers' updates out with plain Python floats, one response at a time, and compare.
"""

import math

import pytest
import torch

from workbench.games import PreferenceGame, kl, random_game, solve
from workbench.metrics import evaluate, span_seminorm
from workbench.schedules import nash_md_theory
from workbench.tabular import NashMD, NashMP
from workbench.tabular.driver import trajectory

# A non-transitive 3-response game (P + P^T = 1), a skewed reference and a start away from mu.
P = [[0.5, 0.8, 0.3],
     [0.2, 0.5, 0.6],
     [0.7, 0.4, 0.5]]
MU = [0.5, 0.3, 0.2]
PI0 = [0.2, 0.3, 0.5]
BETA = 0.25


def game(beta=BETA):
    return PreferenceGame.create(P, MU, beta)


def normalize(w):
    s = sum(w)
    return [x / s for x in w]


def win(o):
    """``P(y ≻ o) = sum_y' P[y][y'] o(y')`` for every y."""
    return [sum(P[y][j] * o[j] for j in range(3)) for y in range(3)]


def nash_md_by_hand(pi, eta, beta=BETA):
    """Munos et al. 2023, Section 5: pi^mu ∝ pi^(1 - eta beta) mu^(eta beta), then pi' ∝ pi^mu exp(eta P(. ≻ pi^mu))."""
    mix = normalize([pi[y] ** (1 - eta * beta) * MU[y] ** (eta * beta) for y in range(3)])
    w = win(mix)
    return normalize([mix[y] * math.exp(eta * w[y]) for y in range(3)])


def prox_by_hand(c, o, eta, beta=BETA):
    """Tiapkin et al. 2025 (v1): argmax_pi P(pi ≻ o)/beta - KL(pi||mu) - KL(pi||c)/eta, in closed form."""
    a = 1 / (1 + eta)
    w = win(o)
    return normalize([c[y] ** a * MU[y] ** (eta * a) * math.exp(eta * a * w[y] / beta) for y in range(3)])


def nash_mp_by_hand(pi, eta, beta=BETA):
    half = prox_by_hand(pi, pi, eta, beta)
    return prox_by_hand(pi, half, eta, beta)


def t(x):
    return torch.tensor(x, dtype=torch.float64)


def test_hand_prox_is_the_argmax_of_its_objective():
    """The closed form used below is the maximizer: the objective's gradient is constant over y
    (stationarity on the simplex, interior point), and it beats nearby policies."""
    c, o, eta = PI0, [0.1, 0.6, 0.3], 0.5
    pi = prox_by_hand(c, o, eta)
    w = win(o)
    grad = [w[y] / BETA - (math.log(pi[y] / MU[y]) + 1) - (math.log(pi[y] / c[y]) + 1) / eta for y in range(3)]
    assert max(grad) - min(grad) < 1e-12

    def objective(q):
        return (sum(q[y] * w[y] for y in range(3)) / BETA - sum(q[y] * math.log(q[y] / MU[y]) for y in range(3))
                - sum(q[y] * math.log(q[y] / c[y]) for y in range(3)) / eta)

    for d in ([1e-3, -1e-3, 0.0], [0.0, 1e-3, -1e-3], [-1e-3, 0.0, 1e-3]):
        assert objective(pi) > objective([pi[y] + d[y] for y in range(3)])


def test_nash_mp_one_step_matches_hand_computed_update():
    eta = 0.3
    state = NashMP(eta=eta).step(game(), NashMP(eta=eta).init(game(), pi0=t(PI0)))
    torch.testing.assert_close(state.pi, t(nash_mp_by_hand(PI0, eta)), rtol=0, atol=1e-14)
    # the second half step plays against pi_{t+1/2}, not pi_t (that would be one prox step twice)
    wrong = prox_by_hand(PI0, PI0, eta)
    assert (state.pi - t(wrong)).abs().max() > 1e-3


def test_nash_mp_default_step_is_two_beta():
    method = NashMP()
    state = method.step(game(), method.init(game(), pi0=t(PI0)))
    torch.testing.assert_close(state.pi, t(nash_mp_by_hand(PI0, 2 * BETA)), rtol=0, atol=1e-14)
    assert (state.pi - t(nash_mp_by_hand(PI0, BETA))).abs().max() > 1e-3


def test_nash_md_one_step_with_a_constant_step_matches_hand_computed_update():
    eta = 1.5  # eta beta = 0.375 < 1: not clipped
    method = NashMD(eta=eta)
    state = method.step(game(), method.init(game(), pi0=t(PI0)))
    torch.testing.assert_close(state.pi, t(nash_md_by_hand(PI0, eta)), rtol=0, atol=1e-14)


def test_nash_md_default_schedule_is_two_over_beta_t_plus_2():
    """Three steps of the default schedule ``eta_t = 2/(beta (t+2))``: eta_0 beta = 1 (the mixture is mu),
    then 2/3 and 1/2."""
    method = NashMD()
    assert method.eta == nash_md_theory()
    state = method.init(game(), pi0=t(PI0))
    pi = PI0
    for step in range(3):
        state = method.step(game(), state)
        pi = nash_md_by_hand(pi, 2 / (BETA * (step + 2)))
        torch.testing.assert_close(state.pi, t(pi), rtol=0, atol=1e-14)
    half = PI0  # the schedule 1/(beta (t+2)) lands elsewhere
    for step in range(3):
        half = nash_md_by_hand(half, 1 / (BETA * (step + 2)))
    assert (state.pi - t(half)).abs().max() > 1e-3


@pytest.mark.parametrize("beta", [0.05, 0.1, 0.5, 1.0])
def test_nash_mp_asymptotic_kl_contraction_is_the_square_of_the_stated_factor(beta):
    """At ``eta = 2 beta`` the measured KL contraction per iteration tends to ``(1 + 2 beta)^-2``, the
    square of Theorem 1's factor ``(1 + 2 beta)^-1``: the theorem's rate is a bound for KL; for the span
    semi-norm of ``log pi_t - log pi*`` (of the order of the square root of KL) it is tight.
    Rates are geometric means over the iterations where KL is in ``[1e-11, 1e-5]`` (asymptotic, above
    round-off)."""
    g = random_game(20, beta=beta, batch=8, seed=1, mu="random")
    pi_star = solve(g)
    pis = trajectory(NashMP(), g, 200)  # (T+1, B, n)
    K = kl(pi_star.expand_as(pis), pis)  # (T+1, B)
    S = span_seminorm(pis, pi_star.expand_as(pis))  # (T+1, B)
    for b in range(K.shape[1]):
        window = ((K[:, b] <= 1e-5) & (K[:, b] >= 1e-11)).nonzero().flatten()
        t1, t2 = int(window[0]), int(window[-1])
        assert t2 - t1 >= 3, f"game {b}: window {t1}..{t2} too short"
        kl_rate = (K[t2, b] / K[t1, b]).item() ** (1 / (t2 - t1))
        span_rate = (S[t2, b] / S[t1, b]).item() ** (1 / (t2 - t1))
        assert kl_rate == pytest.approx((1 + 2 * beta) ** -2, rel=0.03), f"game {b}"
        assert span_rate == pytest.approx((1 + 2 * beta) ** -1, rel=0.03), f"game {b}"


def test_nash_md_at_eta_beta_one_ignores_underflowed_entries():
    """At ``eta beta = 1`` the mixture is ``mu`` whatever ``pi_t`` (``pi_t^0 = 1``), so the step is
    ``mu exp(eta P(. ≻ mu))`` even when entries of ``pi_t`` underflowed to 0 (``0 * log 0`` gave NaN from
    step 2 at ``beta = 1e-4`` before; issue 11, item 4)."""
    g = random_game(10, beta=1e-4, batch=4, seed=0, mu="random")
    method = NashMD(eta=1e4)  # eta beta = 1
    state = method.init(g)
    for _ in range(4):
        state = method.step(g, state)
        assert not torch.isnan(state.pi).any()
    assert (state.pi == 0).any()  # the regime of the bug: entries of pi underflow
    expected = torch.softmax(torch.log(g.mu) + 1e4 * g.win_prob(g.mu), -1)  # (B, n)
    torch.testing.assert_close(state.pi, expected, rtol=0, atol=1e-14)
    ev = evaluate(g, state.pi, solve(g))
    for name, v in ev.items():
        assert not torch.isnan(v).any(), name


def test_nash_md_with_a_zero_entry_in_pi0_keeps_it_zero_below_eta_beta_one():
    """``pi_t(y) = 0`` with ``eta beta < 1``: the mixture ``pi^(1 - eta beta) mu^(eta beta)`` is 0 at ``y``."""
    method = NashMD(eta=2.0)  # eta beta = 0.5
    state = method.step(game(), method.init(game(), pi0=t([0.0, 0.4, 0.6])))
    assert state.pi[0] == 0 and not torch.isnan(state.pi).any()
    torch.testing.assert_close(state.pi.sum(), t(1.0))
