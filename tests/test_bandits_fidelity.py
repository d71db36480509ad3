"""Fidelity checks of the bandit lab (issue 11, items 5, 6, 9): properties a wrong line would break."""

import torch

from workbench.bandits import (
    behaviour_policy, elliptic_norm, enhancer, fit, hidden_good_actions, logistic_mle, plug_in, random_linear,
    sample_comparisons,
)
from workbench.games import kl


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_mle_is_stationary_for_the_ridge_penalised_likelihood():
    # first-order condition of  sum softplus(s) - y s + lam/2 ||theta||^2, written independently:
    # Z^T (sigmoid(Z theta) - y) + lam theta = 0. A large lam makes the ridge term dominate.
    Z = torch.randn(3, 40, 4, generator=gen(1), dtype=torch.float64)  # (S, N, D)
    y = (torch.rand(3, 40, generator=gen(2), dtype=torch.float64) < 0.7).double()  # (S, N)
    for lam in (0.5, 50.0):
        theta = logistic_mle(Z, y, lam=lam)  # (S, D)
        p = torch.sigmoid(torch.einsum("snd,sd->sn", Z, theta))
        grad = torch.einsum("snd,sn->sd", Z, p - y) + lam * theta
        assert grad.abs().max() < 1e-6 * (1 + (lam * theta).abs().max()), (lam, grad.abs().max())  # Newton tol 1e-10
    # closed form: with labels 1/2 everywhere the minimiser is theta = 0 for every lam > 0
    assert logistic_mle(Z, torch.full_like(y, 0.5), lam=3.0).abs().max() < 1e-12


def _width(env, est, main, pi, gamma):
    """``gamma ||E_x E_pi f||_{Sigma^-1}`` with ``f`` written out per model (independent of online.py)."""
    if est.model == "bt":
        f = env.phi[None] - torch.einsum("skn,knd->skd", main, env.phi)[:, :, None, :]  # (S, K, n, d)
    else:
        f = torch.einsum("kabd,skb->skad", env.psi(est.model), main)  # (S, K, n, D)
    m = torch.einsum("ska,skad->sd", pi, f) / env.n_contexts  # (S, D)
    return gamma * elliptic_norm(m, torch.linalg.inv(est.Sigma))  # (S,)


def test_enhancer_reports_its_own_width_and_is_feasible():
    for env in (hidden_good_actions(n_contexts=4, n_actions=6, dim=3),
                random_linear(n_contexts=4, n_actions=5, dim=3, model="general", intransitivity=1.0)):
        b = behaviour_policy(env, 0.0)
        est = fit(env, sample_comparisons(env, 60, gen(3), b, b, n_seeds=3))
        main = plug_in(env, est)
        for gamma in (0.5, 2.0):
            pi, width = enhancer(env, est, main, gamma)
            assert (width > 0).all()
            assert torch.allclose(width, _width(env, est, main, pi, gamma), rtol=1e-10, atol=1e-12)
            assert (env.beta * kl(pi, main).mean(-1) <= width + 1e-12).all()  # the constraint holds
