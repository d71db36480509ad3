"""The exact evaluator on TRAINED policies (the other exact-evaluation tests build it while the policy still equals
``mu``): built after training it has the same game (``mu`` is the reference, not the trained weights) and
solution, its distribution of a trained policy is the law the sampler draws, and its metrics equal hand
computations from the enumerated distributions; for LoRA and for full fine-tuning."""

import pytest
import torch

from workbench.device import make_generator
from workbench.llm.exact import ExactEvaluator, enumerate_logprobs
from workbench.llm.judges import OracleJudge
from workbench.llm.loop import LoopConfig, train
from workbench.llm.models import load_policy
from workbench.llm.nash_md_pg import NashMDPG
from workbench.llm.sampling import sample

BETA = 0.1


@pytest.fixture(scope="module", params=["lora", pytest.param("full", marks=pytest.mark.slow)])
def trained(request, task):
    policy = load_policy("tiny", device="cpu", finetune=request.param, seed=0).constrain(task.words)
    before = ExactEvaluator.build(policy, task, beta=BETA)
    lr = 5e-2 if request.param == "lora" else 5e-3
    train(NashMDPG(beta=BETA, mixture=0.25), policy, OracleJudge(task), task.prompts,
          LoopConfig(steps=6, batch_size=16, lr=lr, eval_every=6, seed=1), progress=False)
    return policy, before


def test_evaluator_built_after_training_has_the_same_game_and_solution(trained, task):
    policy, before = trained
    after = ExactEvaluator.build(policy, task, beta=BETA)
    assert torch.allclose(after.game.mu, before.game.mu, atol=1e-6)  # mu: the reference, not the trained weights
    assert torch.allclose(after.pi_star, before.pi_star, atol=1e-6)
    pi = after.distribution(policy)
    assert float(0.5 * (pi - after.game.mu).abs().sum(-1).max()) > 0.05  # the policy did move away from mu


def test_trained_distribution_is_the_samplers_law(trained, task):
    policy, before = trained
    pi = before.distribution(policy)  # (X, n)
    N = 4000
    roll = sample(policy, task.prompts * (N // task.n_prompts), task.length, generator=make_generator(5))
    x, y = task.prompt_index(roll.prompts), task.index(roll.responses)
    for i in range(task.n_prompts):
        emp = torch.bincount(y[x == i], minlength=task.n).double() / int((x == i).sum())
        bound = 2 * 0.5 * float((pi[i] * (1 - pi[i]) / int((x == i).sum())).sqrt().sum())
        assert float(0.5 * (emp - pi[i]).abs().sum()) < bound, i


def test_trained_metrics_equal_hand_computations(trained, task):
    policy, ev = trained
    scores = ev.score(policy)
    logp = enumerate_logprobs(policy, task).double()  # (X, n)
    pi = logp.exp() / logp.exp().sum(-1, keepdim=True)
    mu, P = ev.game.mu, task.preference_matrix()  # (X, n), (X, n, n)
    kl_mu = (pi * (pi.log() - mu.log())).sum(-1).mean()
    win = torch.einsum("xi,xij,xj->x", pi, P, mu).mean()
    kl_eq = (ev.pi_star * (ev.pi_star.log() - pi.log())).sum(-1).mean()
    assert abs(scores["kl_to_mu"] - float(kl_mu)) < 1e-5 and float(kl_mu) > 1e-3
    assert abs(scores["win_rate_vs_mu"] - float(win)) < 1e-5
    assert abs(scores["kl_to_eq"] - float(kl_eq)) < 1e-5
    # regularized exploitability: the best regularized response to pi (Gibbs of P(. ≻ pi)) against pi itself
    win_vs_pi = (P @ pi.unsqueeze(-1)).squeeze(-1)  # (X, n) P(y ≻ pi)
    best = torch.softmax(mu.log() + win_vs_pi / BETA, -1)

    def value(p):  # P(p ≻ pi) - beta KL(p || mu)
        return (p * win_vs_pi).sum(-1) - BETA * (p * (p.log() - mu.log())).sum(-1)
    assert abs(scores["reg_exploitability"] - float((value(best) - value(pi)).mean())) < 1e-5


def test_scoring_a_snapshot_is_scoring_those_weights(trained, task):
    policy, ev = trained
    now = policy.snapshot()
    other = {n: w + 0.05 * torch.randn(w.shape, generator=make_generator(9)) for n, w in now.items()}
    swapped = ev.score(policy, weights=other)
    policy.load_snapshot(other)
    try:
        loaded = ev.score(policy)
    finally:
        policy.load_snapshot(now)
    assert swapped == pytest.approx(loaded, abs=1e-9)
    assert swapped["kl_to_mu"] != pytest.approx(ev.score(policy)["kl_to_mu"], abs=1e-4)
