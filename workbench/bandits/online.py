"""Batch-online learning: a main agent plus an exploring enhancer, against exploit-only and uniform.

Per round ``t`` (GSHF, Xiong et al. 2023, Algorithm 2; Ye et al. 2024, Algorithm 2 "online"):

1. fit the MLE on all comparisons so far (:func:`~workbench.bandits.estimators.fit`);
2. **main agent** = the greedy policy of the MLE (:func:`~workbench.bandits.offline.plug_in`): the Gibbs
   policy of ``r_hat`` (GSHF, BT truth) or the regularized Nash policy of ``P_hat`` (Ye et al., general
   truth) -- no optimism;
3. **enhancer** = the policy that maximizes the uncertainty relative to the main agent,
   ``Gamma(pi) = gamma ||E_x E_{y ~ pi} f(x, y)||_{Sigma^-1}`` subject to
   ``beta E_x KL(pi || pi_main) <= Gamma(pi)``, where ``f(x, y) = phi(x, y) - E_{pi_main} phi(x, .)`` (GSHF)
   or ``f(x, y) = E_{y' ~ pi_main} psi(x, y, y')`` (Ye et al.; the linearized width of the version space of
   ``P(y ≻ pi_main)`` at ``theta_hat``, a choice; it is a first-order approximation, *not* a bound, of the
   paper's ``sup_{P1, P2} |E (P1 - P2)(y ≻ y')|`` over the version space: the expectation sits inside the norm,
   so it can vanish where the paper's width does not; sigmoid being 1/4-Lipschitz bounds the paper's width
   by ``(gamma / 2) E_x E_{pi, pi_main} ||psi||_{Sigma^-1}``, the norm outside -- NOTES.md choice 5);
4. query ``m`` (the batch size) comparisons ``x ~ uniform, y ~ pi_main, y' ~ pi_enhancer``.

The papers leave the enhancer's maximization to an oracle. We search a finite family: exponential tilts
``pi ∝ pi_main exp(t <v, f(x, y)>)`` along every eigenvector ``v`` of ``Sigma^-1`` (both signs) and ``t``
on a log grid, keeping the feasible tilt with the largest ``Gamma`` (a choice; exact for the linearized
objective along each direction).

Baselines: ``exploit`` (both responses from the main agent -- the analogue of plain iterative DPO /
self-play) and ``uniform`` (both responses uniform over actions; main agent fitted the same way).
The cost axis is the number of comparisons queried; the tracked quality is the main agent's gap.
"""

from __future__ import annotations

import pandas as pd
import torch

from workbench.bandits.data import BanditComparisons, sample_comparisons
from workbench.bandits.env import BanditEnv
from workbench.bandits.estimators import Estimate, fit
from workbench.device import make_generator
from workbench.bandits.offline import plug_in
from workbench.games import kl
from workbench.results import make_frame

__all__ = ["enhancer", "run_online", "ONLINE_ALGOS"]

ONLINE_ALGOS = ("enhancer", "exploit", "uniform")


def _uncertainty_features(env: BanditEnv, est: Estimate, main: torch.Tensor) -> torch.Tensor:
    """``f(x, y)`` of the module docstring, ``(S, K, n, D)``; ``E_{pi_main} f = 0``."""
    if est.model == "bt":
        phi = env.phi[None]  # (1, K, n, d)
        return phi - torch.einsum("skn,knd->skd", main, env.phi)[:, :, None, :]
    psi = env.psi(est.model)  # (K, n, n, D)
    return torch.einsum("kabd,skb->skad", psi, main)


def enhancer(
    env: BanditEnv, est: Estimate, main: torch.Tensor, gamma: float = 1.0, n_t: int = 16,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The enhancer policy ``(S, K, n)`` and its uncertainty ``Gamma`` ``(S,)`` (tilt search, see module doc)."""
    f = _uncertainty_features(env, est, main)  # (S, K, n, D)
    Sinv = est.Sigma_inv  # (S, D, D)
    _, vecs = torch.linalg.eigh(Sinv)  # columns = eigenvectors, (S, D, D)
    dirs = torch.cat([vecs, -vecs], -1).transpose(-1, -2)  # (S, C, D)
    score = torch.einsum("skad,scd->scka", f, dirs)  # (S, C, K, n)
    score = score / score.abs().amax((-1, -2), keepdim=True).clamp_min(1e-12)
    ts = torch.logspace(-1, 2.5, n_t, dtype=main.dtype, device=main.device)  # tilt sizes, (T,)
    logits = torch.log(main)[:, None, None] + ts[None, None, :, None, None] * score[:, :, None]  # (S, C, T, K, n)
    pi = torch.softmax(logits, -1)
    m = torch.einsum("sctka,skad->sctd", pi, f) / env.n_contexts  # E_x E_pi f, (S, C, T, D)
    width = gamma * torch.einsum("sctd,sde,scte->sct", m, Sinv, m).clamp_min(0).sqrt()  # (S, C, T)
    cost = env.beta * kl(pi, main[:, None, None]).mean(-1)  # (S, C, T)
    val = torch.where(cost <= width, width, torch.full_like(width, -1.0))
    best = val.reshape(val.shape[0], -1).argmax(-1)  # (S,)
    flat = pi.reshape(pi.shape[0], -1, *pi.shape[-2:])  # (S, C*T, K, n)
    chosen = flat[torch.arange(flat.shape[0]), best]  # (S, K, n)
    ok = val.reshape(val.shape[0], -1).amax(-1) >= 0
    chosen = torch.where(ok[:, None, None], chosen, main)  # nothing feasible: play the main agent
    return chosen, val.reshape(val.shape[0], -1).amax(-1).clamp_min(0)


def run_online(
    env: BanditEnv,
    algo: str,
    n_rounds: int = 10,
    batch_size: int = 50,
    n_seeds: int = 8,
    gamma: float = 1.0,
    lam: float = 1.0,
    seed: int = 0,
    model: str | None = None,
) -> pd.DataFrame:
    """Run one batch-online algorithm for ``n_seeds`` seeds at once; tidy frame.

    Columns: the results schema of :mod:`workbench.results` -- ``algo, seed, step`` (round, 0 = before any
    data), ``queries`` (comparisons so far), ``metric, value`` -- and the knobs ``env, beta, gamma``.
    Metrics: ``gap`` (the setting's target metric of the main agent, :meth:`BanditEnv.gap`),
    ``nash_gap`` and, for the enhancer, ``uncertainty`` (its ``Gamma``).
    """
    if algo not in ONLINE_ALGOS:
        raise ValueError(f"unknown online algorithm {algo!r}; choose from {ONLINE_ALGOS}")
    model = model or env.model
    gen = make_generator(seed, env.phi.device)
    data = BanditComparisons.empty(n_seeds, env.phi.device)
    theta = torch.zeros(n_seeds, env.dim_of(model), dtype=env.phi.dtype, device=env.phi.device)
    uniform = torch.full_like(env.mu, 1.0 / env.n_actions)
    rows = []
    for t in range(n_rounds + 1):
        est = fit(env, data, model, lam, theta0=theta)
        theta = est.theta
        main = plug_in(env, est)  # the main agent, (S, K, n)
        metrics = {"gap": env.gap(main), "nash_gap": env.nash_gap(main)}
        if t == n_rounds:
            enh = None
        elif algo == "enhancer":
            enh, width = enhancer(env, est, main, gamma)
            metrics["uncertainty"] = width
        for name, v in metrics.items():
            for s, val in enumerate(v.tolist()):
                rows.append((algo, s, t, data.n, name, val, env.name, env.beta, gamma))
        if t == n_rounds:
            break
        if algo == "enhancer":
            new = sample_comparisons(env, batch_size, gen, main, enh, n_seeds)
        elif algo == "exploit":
            new = sample_comparisons(env, batch_size, gen, main, main, n_seeds)
        else:
            new = sample_comparisons(env, batch_size, gen, uniform, uniform, n_seeds)
        data = data.cat(new)
    return make_frame(rows, knobs="bandits")
