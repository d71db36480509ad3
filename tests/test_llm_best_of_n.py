"""Best-of-n and RSO: the closed-form best-of-n law against brute force and samples, rejection sampling against
the Gibbs policy, and RSO-DPO's loss against the DPO pieces on its own pairs."""

import itertools
import math

import pytest
import torch

from workbench.device import make_generator
from workbench.games import gibbs, kl
from workbench.llm.best_of_n import best_candidate, best_of_n_distribution, sample_best_of_n
from workbench.llm.losses import dpo_loss, dpo_margin
from workbench.llm.exact import enumerate_logprobs
from workbench.llm.judges import bt_oracle_judge, bt_oracle_rewards
from workbench.llm.loop import LoopConfig, StepContext, train
from workbench.llm.rso import RSODPO, rejection_sample_gibbs, sample_rso


def tv(p, q):
    return 0.5 * float((p - q).abs().sum())


def clt_bound(p, n):
    """``0.5 sum_y sqrt(p_y (1 - p_y) / n)``: an upper bound on E[TV] between ``p`` and ``n`` draws from it."""
    return 0.5 * float((p * (1 - p) / n).sqrt().sum())


# ---------------------------------------------------------------- best-of-n: the closed form
def test_best_of_n_distribution_matches_brute_force_with_a_tie():
    mu = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25]], dtype=torch.float64)
    r = torch.tensor([[1.0, 3.0, 2.0, 3.0], [0.0, -1.0, 5.0, 2.0]], dtype=torch.float64)  # row 0: y1, y3 tie
    for n in (1, 2, 3):
        brute = torch.zeros_like(mu)
        for x in range(2):
            for draw in itertools.product(range(4), repeat=n):
                best = max(draw, key=lambda y: (float(r[x, y]), -y))  # ties go to the lower index
                brute[x, best] += math.prod(float(mu[x, y]) for y in draw)
        got = best_of_n_distribution(mu, r, n)
        assert torch.allclose(got, brute, atol=1e-12), (n, got, brute)
    # by hand, row 0, n = 2, order y0 < y2 < y3 < y1: F = 0.1, 0.4, 0.8, 1.0
    assert torch.allclose(best_of_n_distribution(mu, r, 2)[0],
                          torch.tensor([0.01, 1 - 0.64, 0.16 - 0.01, 0.64 - 0.16], dtype=torch.float64))
    assert torch.allclose(best_of_n_distribution(mu, r, 1), mu)
    with pytest.raises(ValueError, match="n must be an integer >= 1; got 0"):
        best_of_n_distribution(mu, r, 0)


def test_best_of_n_improves_the_reward_within_the_kl_bound(policy, task):
    mu = enumerate_logprobs(policy, task, reference=True).double().exp()  # (X, n)
    mu = mu / mu.sum(-1, keepdim=True)
    r = bt_oracle_rewards(task)  # (X, n)
    prev = (mu * r).sum(-1)
    for n in (2, 4, 8, 32):
        p = best_of_n_distribution(mu, r, n)
        assert torch.allclose(p.sum(-1), torch.ones(task.n_prompts, dtype=torch.float64))
        value = (p * r).sum(-1)
        assert (value > prev).all()  # more draws, better expected reward
        assert (kl(p, mu) <= math.log(n) - (n - 1) / n + 1e-12).all()  # Beirami et al.'s bound
        prev = value


def test_best_of_n_law_matches_20k_sampled_best_of_4(policy, task):
    """20k best-of-4 draws (candidates from the reference's exact law, picked by the sampler's own rule)."""
    mu = enumerate_logprobs(policy, task, reference=True)[0].double().exp()  # (n,)
    mu = mu / mu.sum()
    r = bt_oracle_rewards(task)[0]  # (n,) distinct rewards
    N, n = 20000, 4
    cand = torch.multinomial(mu.expand(N, -1), n, replacement=True, generator=make_generator(4))  # (N, 4)
    best = cand.gather(-1, best_candidate(r[cand])[:, None]).squeeze(-1)  # (N,)
    emp = torch.bincount(best, minlength=task.n).double() / N
    exact = best_of_n_distribution(mu[None], r[None], n)[0]
    bound = clt_bound(exact, N)
    assert tv(emp, exact) < 2 * bound, (tv(emp, exact), bound)
    assert tv(mu, exact) > 10 * bound  # the check can tell best-of-4 from mu


def test_sample_best_of_n_with_the_policy(policy, task):
    """The policy-level sampler: n reward queries per prompt, keeps the best candidate, and its law is the
    closed form (1000 draws: TV below twice the CLT bound, which mu itself exceeds)."""
    judge = bt_oracle_judge(task)
    prompts = [task.prompts[2]] * 1000
    out = sample_best_of_n(policy, judge, prompts, 3, task.length, generator=make_generator(8))
    assert out.queries == 3000 and judge.queries == 3000
    assert torch.equal(out.rewards, out.candidate_rewards.max(-1).values)
    mu = enumerate_logprobs(policy, task, reference=True)[2].double().exp()
    mu = mu / mu.sum()
    exact = best_of_n_distribution(mu[None], bt_oracle_rewards(task)[2:3], 3)[0]
    emp = torch.bincount(task.index(out.responses), minlength=task.n).double() / len(prompts)
    bound = clt_bound(exact, len(prompts))
    assert tv(emp, exact) < 2 * bound, (tv(emp, exact), bound)
    assert tv(mu, exact) > 2 * bound


# ---------------------------------------------------------------- RSO: rejection sampling from the Gibbs policy
def test_rejection_sampling_with_a_known_bound_draws_the_gibbs_policy(policy, task):
    """Candidates from mu, accepted with prob exp((r - r_max)/beta): the accepted ones follow gibbs(mu, r, beta).
    TV below twice the CLT bound for the number accepted; the acceptance count is within 5 binomial sd of
    N E_mu[exp((r - r_max)/beta)]."""
    mu = enumerate_logprobs(policy, task, reference=True)[1].double().exp()
    mu = mu / mu.sum()
    r = bt_oracle_rewards(task)[1]  # (n,)
    beta, N = 1.0, 200_000
    gen = make_generator(3)
    cand = torch.multinomial(mu, N, replacement=True, generator=gen)  # (N,)
    index, valid = rejection_sample_gibbs(r[cand][None], beta, N, gen, r_max=float(r.max()))
    accepted = cand[index[0][valid[0]]]  # (M,)
    M = accepted.numel()
    rate = float((mu * torch.exp((r - r.max()) / beta)).sum())
    assert abs(M - N * rate) < 5 * math.sqrt(N * rate * (1 - rate)), (M, N * rate)
    emp = torch.bincount(accepted, minlength=task.n).double() / M
    target = gibbs(mu, r, beta)
    bound = clt_bound(target, M)
    assert tv(emp, target) < 2 * bound, (tv(emp, target), bound)
    assert tv(mu, target) > 10 * bound and tv(gibbs(mu, r, 2 * beta), target) > 10 * bound  # it has power
    assert bool((index[0][valid[0]].diff() > 0).all())  # acceptance order = draw order


def test_rso_algorithm_one_by_hand():
    r = torch.tensor([[1.0, 5.0, 3.0, 4.0], [2.0, 2.0, 0.0, 1.0]])
    # beta -> 0: each pass accepts only the best remaining candidate(s): the top 2 in reward order
    idx, valid = rejection_sample_gibbs(r, 1e-6, 2, make_generator(0))
    assert torch.equal(idx, torch.tensor([[1, 3], [0, 1]])) and bool(valid.all())
    # beta -> inf: every candidate passes, the first k in draw order are kept
    idx, _ = rejection_sample_gibbs(r, 1e9, 3, make_generator(0))
    assert torch.equal(idx, torch.tensor([[0, 1, 2], [0, 1, 2]]))
    # always k distinct candidates
    big = torch.randn((64, 8), generator=make_generator(1))
    idx, valid = rejection_sample_gibbs(big, 0.5, 5, make_generator(2))
    assert bool(valid.all()) and all(len(set(row)) == 5 for row in idx.tolist())
    with pytest.raises(ValueError, match=r"num_samples must lie in \[1, 4\]"):
        rejection_sample_gibbs(r, 1.0, 5, make_generator(0))
    with pytest.raises(ValueError, match=r"reward 5.0 of candidate \(0, 1\) exceeds r_max = 4.5"):
        rejection_sample_gibbs(r, 1.0, 2, make_generator(0), r_max=4.5)
    with pytest.raises(ValueError, match="beta must be a finite number > 0"):
        rejection_sample_gibbs(r, 0.0, 2, make_generator(0))


# ---------------------------------------------------------------- RSO-DPO
def perturb(policy, seed=1, scale=0.5):
    g = make_generator(seed)
    with torch.no_grad():
        for _, p in policy.trainable():
            p.add_(scale * torch.randn(p.shape, generator=g))


def test_rso_dpo_loss_is_the_dpo_pieces_on_its_rejection_sampled_pairs(policy, task):
    perturb(policy)
    trainer = RSODPO(beta=0.5, num_candidates=4)
    cfg = LoopConfig(batch_size=4, max_new_tokens=task.length)
    prompts = task.prompts
    judge = bt_oracle_judge(task)
    out = trainer.loss(policy, judge, prompts, None, StepContext(cfg, make_generator(5), 0))
    assert out.queries == 16 and judge.queries == 16 and out.stats["pairs"] == 4

    gen = make_generator(5)  # replay: the same candidates and acceptances
    rso = sample_rso(policy, bt_oracle_judge(task), prompts, 0.5, 4, 2, task.length, generator=gen)
    rows = torch.arange(4)[:, None] * 4 + rso.index  # (B, 2)
    ya = task.index([rso.candidates.responses[i] for i in rows[:, 0].tolist()])
    yb = task.index([rso.candidates.responses[i] for i in rows[:, 1].tolist()])
    x = task.prompt_index(prompts)
    r = bt_oracle_rewards(task).float()
    label = (r[x, ya] > r[x, yb]).float() + 0.5 * (r[x, ya] == r[x, yb]).float()  # the higher reward wins
    lp = enumerate_logprobs(policy, task, grad=True)
    lr = enumerate_logprobs(policy, task, reference=True)
    expected = dpo_loss(dpo_margin(lp[x, ya], lr[x, ya], lp[x, yb], lr[x, yb], 0.5), label)
    assert torch.allclose(out.loss.detach(), expected.detach(), atol=1e-5)
    params = [p for _, p in policy.trainable()]
    for g_t, g_p in zip(torch.autograd.grad(out.loss, params), torch.autograd.grad(expected, params)):
        assert torch.allclose(g_t, g_p, atol=1e-6, rtol=1e-4)


def test_rso_dpo_trains_and_counts_reward_queries(policy, task):
    judge = bt_oracle_judge(task)
    run = train(RSODPO(beta=0.5, num_candidates=3), policy, judge, task.prompts,
                LoopConfig(steps=2, batch_size=4, eval_every=2), progress=False)
    assert run.queries == 2 * 4 * 3 == judge.queries
    assert set(run.frame["algo"]) == {"RSO-DPO"}
    with pytest.raises(ValueError, match="num_candidates must be >= 2"):
        RSODPO(num_candidates=1)
