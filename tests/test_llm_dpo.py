"""The DPO family: hand-computed loss pieces, online DPO's sampled gradient against the exact expected gradient
on the enumerable task, offline DPO on a CSV read through workbench.prefdata."""

import math
import pickle

import pandas as pd
import pytest
import torch

from workbench.device import make_generator
from workbench.llm.dpo import OfflineDPO, PairSet, rollout_from_texts, rps_comparisons_csv
from workbench.llm.exact import enumerate_logprobs
from workbench.llm.judges import OracleJudge
from workbench.llm.losses import dpo_loss, dpo_margin, draw_labels
from workbench.llm.loop import LoopConfig, StepContext, train
from workbench.llm.online_dpo import OnlineDPO
from workbench.prefdata import load_comparisons


def perturb(policy, seed=1, scale=0.5):
    """Move the LoRA adapters away from zero so that pi != mu."""
    g = make_generator(seed)
    with torch.no_grad():
        for _, p in policy.trainable():
            p.add_(scale * torch.randn(p.shape, generator=g))


# ---------------------------------------------------------------- loss pieces, by hand
def test_dpo_margin_and_loss_hand_computed():
    lpa, lra = torch.tensor([-1.0, -2.0]), torch.tensor([-2.0, -2.0])
    lpb, lrb = torch.tensor([-3.0, -2.0]), torch.tensor([-1.0, -2.0])
    h = dpo_margin(lpa, lra, lpb, lrb, beta=0.5)
    # row 0: 0.5 * [(-1 + 2) - (-3 + 1)] = 0.5 * 3 = 1.5; row 1: 0
    assert torch.allclose(h, torch.tensor([1.5, 0.0]))
    # -log sigmoid(1.5) = log(1 + e^-1.5) = 0.2014133; -log sigmoid(-1.5) = 1.5 + 0.2014133
    per = dpo_loss(h, torch.tensor([1.0, 0.3]), reduction="none")
    assert torch.allclose(per, torch.tensor([0.2014133, math.log(2.0)]), atol=1e-6)
    assert torch.allclose(dpo_loss(h[:1], torch.tensor([0.0]), reduction="none"), torch.tensor([1.7014133]), atol=1e-6)
    soft = dpo_loss(h[:1], torch.tensor([0.25]), reduction="none")  # 0.25 * 0.2014133 + 0.75 * 1.7014133
    assert torch.allclose(soft, torch.tensor([1.3264133]), atol=1e-6)
    assert torch.isclose(dpo_loss(h, torch.tensor([1.0, 0.3])), (0.2014133 + math.log(2.0)) / 2 * torch.ones(()))
    # d loss / d h = sigmoid(h) - l: sigmoid(1.5) - 1 = -0.1824255
    hh = torch.tensor([1.5], requires_grad=True)
    dpo_loss(hh, torch.tensor([1.0])).backward()
    assert torch.allclose(hh.grad, torch.tensor([-0.1824255]), atol=1e-6)


def test_dpo_loss_and_labels_validate():
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 1\].*1.5"):
        dpo_loss(torch.zeros(2), torch.tensor([0.5, 1.5]))
    with pytest.raises(ValueError, match="label shape"):
        dpo_loss(torch.zeros(2), torch.zeros(3))
    with pytest.raises(ValueError, match="mode must be one of"):
        draw_labels(torch.tensor([0.5]), "coin")
    p = torch.tensor([0.2, 0.5, 0.9])
    assert torch.equal(draw_labels(p, "hard"), torch.tensor([0.0, 0.5, 1.0]))
    assert torch.equal(draw_labels(p, "soft"), p)
    votes = draw_labels(p.repeat(20000), "bernoulli", make_generator(0)).reshape(20000, 3).mean(0)
    assert torch.allclose(votes, p, atol=0.015)  # 5 standard errors at most
    with pytest.raises(ValueError, match="beta"):
        OnlineDPO(beta=0.0)
    with pytest.raises(ValueError, match="label must be one of"):
        OnlineDPO(label="soft-ish")


# ---------------------------------------------------------------- online DPO: the exact expected gradient
def test_online_dpo_sampled_gradient_matches_the_exact_expected_gradient(policy, task):
    """E[g] = sum_{x, a, b} (1/X) pi(a|x) pi(b|x) grad loss(h_ab, P(a ≻ b|x)) with pi detached, against the
    mean of N = 4e5 sampled (x, a, b, Bernoulli label) terms of the trainer's own loss pieces, in ONE backward.

    Compared in the space of the sequence log-probabilities ``logp`` (X, n): the parameter gradient is
    ``J^T`` of this gradient with the fixed Jacobian ``J = d logp / d theta``, and the next test checks that the
    trainer's parameter gradient is exactly ``J^T`` of the pieces' gradient on its own samples. Tolerance:
    each entry of the sampled mean lies within 5 of its own standard errors (the per-sample variance is
    computed in closed form below); with X n = 108 entries a correct estimator fails with probability
    < 1e-4 (measured: max z = 3.0, seed 7; a biased label, Bernoulli(sqrt P), gives z = 15.5). In parameter
    space the noise is much larger than the signal (relative error 0.65 at N = 2e4, 0.06 at N = 1e6), so a
    parameter-space check would need far more samples for the same power."""
    perturb(policy, scale=0.5)
    beta, N, X, n = 0.5, 400_000, task.n_prompts, task.n
    P = task.preference_matrix().float()  # (X, n, n)
    logp = enumerate_logprobs(policy, task, grad=True)  # (X, n) with grad
    logp_ref = enumerate_logprobs(policy, task, reference=True)  # (X, n)
    pi = logp.detach().exp()
    pi = pi / pi.sum(-1, keepdim=True)  # (X, n)

    # exact: every pair, weighted by pi(a) pi(b) / X, soft label P(a ≻ b)
    h_all = dpo_margin(logp[:, :, None], logp_ref[:, :, None], logp[:, None, :], logp_ref[:, None, :],
                       beta)  # (X, n, n)
    w = pi[:, :, None] * pi[:, None, :] / X  # (X, n, n)
    exact = (w * dpo_loss(h_all.reshape(-1), P.reshape(-1), reduction="none").reshape(X, n, n)).sum()
    (g_exact,) = torch.autograd.grad(exact, [logp], retain_graph=True)

    # sampled: the estimator as the trainer runs it (pairs from pi, one Bernoulli vote each), N / X per prompt
    gen = make_generator(7)
    x = torch.arange(X).repeat_interleave(N // X)  # (N,) prompts in equal shares (stratified)
    a = torch.cat([torch.multinomial(pi[i], N // X, replacement=True, generator=gen) for i in range(X)])  # (N,)
    b = torch.cat([torch.multinomial(pi[i], N // X, replacement=True, generator=gen) for i in range(X)])  # (N,)
    label = draw_labels(P[x, a, b], "bernoulli", gen)  # (N,)
    h = dpo_margin(logp[x, a], logp_ref[x, a], logp[x, b], logp_ref[x, b], beta)  # (N,)
    (g_hat,) = torch.autograd.grad(dpo_loss(h, label), [logp])

    # closed-form variance of each entry: a sample of prompt x adds c = beta (sigmoid(h) - l) (e_a - e_b) / N to
    # x's block; with N / X samples per prompt, Var = (E_x[c^2] - E_x[c]^2) / (X N), E_x[c] = X g_exact
    s = torch.sigmoid(h_all.detach())  # (X, n, n)
    D = P * (s - 1) ** 2 + (1 - P) * s**2  # (X, n, n) E_l[(sigmoid(h) - l)^2]
    pp = pi[:, :, None] * pi[:, None, :] * D  # (X, n, n)
    second = beta**2 * (pp.sum(-1) + pp.sum(-2) - 2 * torch.diagonal(pp, dim1=-2, dim2=-1))  # (X, n) E_x[c^2]
    se = ((second - (X * g_exact) ** 2).clamp_min(0) / (X * N)).sqrt()  # (X, n)
    z = (g_hat - g_exact).abs() / (se + 1e-9)
    assert float(z.max()) < 5.0, float(z.max())
    assert float(g_exact.abs().max()) > 30 * float(se.max())  # the check has power (measured: 78x)


def test_online_dpo_loss_is_the_dpo_pieces_on_its_own_samples(policy, task):
    """The trainer's loss and its parameter gradient = the pieces evaluated on the exact (differentiable)
    log-probabilities of the responses it sampled, the judge asked once per prompt about (y_a, y_b)."""
    perturb(policy, scale=0.5)
    trainer = OnlineDPO(beta=0.3)
    cfg = LoopConfig(batch_size=6, max_new_tokens=task.length)
    prompts = task.prompts[:3] * 2
    judge = OracleJudge(task)
    out = trainer.loss(policy, judge, prompts, None, StepContext(cfg, make_generator(11), 0))
    assert out.queries == 6 and judge.queries == 6 and out.tokens == 2 * 6 * task.length

    gen = make_generator(11)  # replay the same draws
    ya, yb = trainer.pairs(policy, prompts, StepContext(cfg, gen, 0))
    x, a, b = task.prompt_index(prompts), task.index(ya.responses), task.index(yb.responses)
    label = torch.bernoulli(task.preference_matrix().float()[x, a, b], generator=gen)
    lp = enumerate_logprobs(policy, task, grad=True)
    lr = enumerate_logprobs(policy, task, reference=True)
    expected = dpo_loss(dpo_margin(lp[x, a], lr[x, a], lp[x, b], lr[x, b], 0.3), label)
    assert torch.allclose(out.loss.detach(), expected.detach(), atol=1e-5), (float(out.loss), float(expected))
    params = [p for _, p in policy.trainable()]
    g_pieces = torch.autograd.grad(expected, params)
    for g_trainer, g_p in zip(torch.autograd.grad(out.loss, params), g_pieces):
        assert torch.allclose(g_trainer, g_p, atol=1e-6, rtol=1e-4)
    assert max(float(g.abs().max()) for g in g_pieces) > 1e-3  # a real, non-zero gradient


def test_online_dpo_draws_both_sides_from_the_current_policy(policy, task):
    """Both responses of a pair ~ pi_theta (not mu): 1500 pairs, TV of each side to the exact pi below twice
    the CLT bound, while mu is further away than that."""
    perturb(policy, scale=0.8)
    N = 1500
    cfg = LoopConfig(batch_size=N, max_new_tokens=task.length)
    ya, yb = OnlineDPO().pairs(policy, [task.prompts[1]] * N, StepContext(cfg, make_generator(4), 0))
    pi = enumerate_logprobs(policy, task)[1].double().exp()
    mu = enumerate_logprobs(policy, task, reference=True)[1].double().exp()
    bound = 0.5 * float((pi * (1 - pi) / N).sqrt().sum())
    for side in (ya, yb):
        emp = torch.bincount(task.index(side.responses), minlength=task.n).double() / N
        assert 0.5 * float((emp - pi).abs().sum()) < 2 * bound
    assert 0.5 * float((mu - pi).abs().sum()) > 4 * bound
    assert ya.responses != yb.responses  # two independent draws


# ---------------------------------------------------------------- offline DPO through workbench.prefdata
def write_csv(path, task, rows):
    pd.DataFrame(rows, columns=["prompt", "response_a", "response_b", "label"]).to_csv(path, index=False)
    return load_comparisons(path, format="csv")


def test_offline_dpo_runs_on_a_csv_read_through_prefdata(policy, task, tmp_path):
    x0, x1 = task.prompts[:2]
    data = write_csv(tmp_path / "tiny.csv", task, [
        (x0, "rock rock rock", "paper paper paper", 1.0),
        (x1, "scissors paper rock", "rock rock paper", 0.0),
        (x0, "paper rock paper", "rock rock rock", 0.75),
    ])
    assert len(data) == 3 and data.frame["source"].iloc[0] == "tiny.csv"
    trainer = OfflineDPO(data, beta=0.5)
    assert trainer.data == PairSet.from_comparisons(data) and "n=3" in repr(trainer.data)

    ra = rollout_from_texts(policy, data.prompts, data.responses_a)
    rb = rollout_from_texts(policy, data.prompts, data.responses_b)
    label = torch.tensor(data.labels, dtype=torch.float32)

    def set_loss():
        with torch.no_grad():
            lpa = policy.response_logprobs(ra.prompt_ids, ra.prompt_mask, ra.response_ids, ra.response_mask).sum(-1)
            lpb = policy.response_logprobs(rb.prompt_ids, rb.prompt_mask, rb.response_ids, rb.response_mask).sum(-1)
            lra = policy.response_logprobs(ra.prompt_ids, ra.prompt_mask, ra.response_ids, ra.response_mask,
                                           reference=True).sum(-1)
            lrb = policy.response_logprobs(rb.prompt_ids, rb.prompt_mask, rb.response_ids, rb.response_mask,
                                           reference=True).sum(-1)
        return float(dpo_loss(dpo_margin(lpa, lra, lpb, lrb, 0.5), label))

    # the texts encode as the enumerated responses: same log-probabilities as the exact evaluator's
    lp = enumerate_logprobs(policy, task)
    with torch.no_grad():
        got = policy.response_logprobs(ra.prompt_ids, ra.prompt_mask, ra.response_ids, ra.response_mask).sum(-1)
    assert torch.allclose(got, lp[task.prompt_index(data.prompts), task.index(data.responses_a)], atol=1e-5)
    before = set_loss()
    assert abs(before - math.log(2.0)) < 1e-6  # pi = mu: every margin is 0
    w0 = policy.snapshot()
    run = train(trainer, policy, None, task.prompts, LoopConfig(steps=3, batch_size=4, lr=2e-2, eval_every=3),
                progress=False)
    assert run.steps == 3 and run.queries == 0 and run.frame["queries"].eq(0).all()
    assert set(run.frame["metric"]) >= {"loss", "margin", "reward_accuracy"}
    assert any(not torch.equal(v, policy.snapshot()[k]) for k, v in w0.items())
    assert set_loss() < before  # three steps of DPO lower the DPO loss of the set


def test_rps_comparison_set_round_trips_through_csv(policy, task, tmp_path):
    data = rps_comparisons_csv(tmp_path / "rps.csv", policy, task, pairs_per_prompt=8, generator=make_generator(2))
    assert len(data) == task.n_prompts * 8 and data.info["format"] == "plain"
    assert set(data.labels.tolist()) <= {0.0, 1.0}
    assert data.prompts == [p for p in task.prompts for _ in range(8)]
    task.index(data.responses_a), task.index(data.responses_b)  # every response is a task response
    again = rps_comparisons_csv(tmp_path / "rps2.csv", policy, task, pairs_per_prompt=8, generator=make_generator(2))
    assert PairSet.from_comparisons(again) == PairSet.from_comparisons(data)  # seeded: the same set


def test_pair_set_compares_by_content_and_survives_a_checkpoint(task, tmp_path):
    a = PairSet(["x"], ["rock"], ["paper"], [1.0])
    b = pickle.loads(pickle.dumps(a))
    assert a == b and a != PairSet(["x"], ["rock"], ["paper"], [0.0])
    with pytest.raises(ValueError, match=r"label of record 1 is 2.0"):
        PairSet(["x", "x"], ["a", "b"], ["c", "d"], [1.0, 2.0])
    with pytest.raises(TypeError, match="data must be"):
        OfflineDPO(data=[("x", "a", "b", 1.0)])


def test_offline_dpo_resume_accepts_the_same_set_and_names_another(policy, task, tmp_path):
    x0 = task.prompts[0]
    data = write_csv(tmp_path / "d.csv", task, [(x0, "rock rock rock", "paper paper paper", 1.0)])
    other = write_csv(tmp_path / "e.csv", task, [(x0, "rock rock rock", "paper paper paper", 0.0)])
    cfg = LoopConfig(steps=2, batch_size=2, eval_every=2)
    ckpt = tmp_path / "run.pt"
    first = train(OfflineDPO(data, beta=0.5), policy, None, task.prompts, cfg, checkpoint=ckpt, progress=False)
    again = train(OfflineDPO(data, beta=0.5), policy, None, task.prompts, cfg, checkpoint=ckpt, resume=True,
                  progress=False)
    assert again.frame.equals(first.frame)
    with pytest.raises(ValueError, match=r"trainer.data: checkpoint PairSet\(n=1"):
        train(OfflineDPO(other, beta=0.5), policy, None, task.prompts, cfg, checkpoint=ckpt, resume=True,
              progress=False)
