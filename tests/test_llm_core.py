"""The LLM lab's core: the task's oracle, the policy and its reference, the mixture sampler against its closed
form, the exact evaluator, and resume-after-kill of the training loop."""

import math

import pytest
import torch

from workbench.device import make_generator
from workbench.llm.exact import ExactEvaluator, enumerate_logprobs
from workbench.llm.judges import OracleJudge
from workbench.llm.loop import LoopConfig, train
from workbench.llm.nash_md_pg import NashMDPG
from workbench.llm.models import load_policy
from workbench.llm.sampling import mixture_logprobs, sample
from workbench.llm.task import RPSTask


def perturb(policy, seed=1, scale=0.5):
    """Move the LoRA adapters away from zero so that pi != mu."""
    g = make_generator(seed)
    with torch.no_grad():
        for _, p in policy.trainable():
            p.add_(scale * torch.randn(p.shape, generator=g))


# ---------------------------------------------------------------- task and oracle
def test_oracle_is_antisymmetric_and_cyclic():
    t = RPSTask(n_prompts=2, length=1, intransitivity=1.0)
    P = t.preference_matrix()
    assert torch.allclose(P + P.transpose(-1, -2), torch.ones_like(P))
    rock, paper, scissors = (t.responses.index(w) for w in ("rock", "paper", "scissors"))
    # a pure cycle: paper beats rock beats scissors beats paper, for every prompt
    assert (P[:, paper, rock] > 0.5).all() and (P[:, rock, scissors] > 0.5).all() and (P[:, scissors, paper] > 0.5).all()
    assert torch.allclose(P[:, paper, rock], torch.full((2,), 1 / (1 + math.exp(-4.0)), dtype=P.dtype))


def test_oracle_round_counts():
    t = RPSTask(n_prompts=1, length=3, intransitivity=1.0, scale=1.0)
    a, b = t.index(["paper paper rock", "rock scissors rock"])
    # rounds: paper>rock (+1), paper<scissors (-1), rock=rock (0): rps = 0 -> P = 1/2
    assert t.rps_matrix()[a, b] == 0
    c = t.index(["rock rock rock"])[0]
    assert t.rps_matrix()[a, c] == 2  # two papers beat two rocks, rock ties rock
    assert torch.isclose(t.preference_matrix()[0, a, c], torch.sigmoid(torch.tensor(2 / 3, dtype=torch.float64)))


def test_unknown_response_and_prompt_are_named():
    t = RPSTask()
    with pytest.raises(KeyError, match="'rock lizard rock'"):
        t.index(["rock lizard rock"])
    with pytest.raises(KeyError, match="'hello'"):
        t.prompt_index(["hello"])
    with pytest.raises(ValueError, match="intransitivity"):
        RPSTask(intransitivity=1.5)


# ---------------------------------------------------------------- policy and reference
def test_lora_policy_starts_at_reference_and_reference_ignores_adapters(policy, task):
    mu = enumerate_logprobs(policy, task, reference=True)
    assert torch.allclose(enumerate_logprobs(policy, task), mu)  # LoRA B = 0 at init
    assert torch.allclose(mu.exp().sum(-1), torch.ones(task.n_prompts), atol=1e-5)
    before = policy.snapshot()
    perturb(policy)
    assert not torch.allclose(enumerate_logprobs(policy, task), mu, atol=1e-3)
    assert torch.allclose(enumerate_logprobs(policy, task, reference=True), mu)  # adapters off: unchanged
    with policy.swapped(before):  # a snapshot swapped in scores like the original weights
        assert torch.allclose(enumerate_logprobs(policy, task), mu)
    assert not torch.allclose(enumerate_logprobs(policy, task), mu, atol=1e-3)  # and is swapped out again


# ---------------------------------------------------------------- the mixture: convention and closed form
def test_mixture_logprobs_weights_the_reference():
    pi = torch.log_softmax(torch.tensor([[2.0, 0.0, -1.0]]), -1)
    mu = torch.log_softmax(torch.tensor([[0.0, 1.0, 0.0]]), -1)
    m = 0.25
    expected = torch.softmax(0.75 * pi + 0.25 * mu, -1)  # pi^(1-m) mu^m, normalized
    assert torch.allclose(mixture_logprobs(pi, mu, m).exp(), expected)
    assert torch.allclose(mixture_logprobs(pi, mu, 0.0), pi)
    assert torch.allclose(mixture_logprobs(pi, mu, 1.0), mu)


def test_one_token_mixture_is_the_geometric_mixture(policy):
    """At length 1 the token-level mixture is the sequence-level pi^(1-m) mu^m / Z: the closed form."""
    t1 = RPSTask(length=1)
    perturb(policy)
    pi = enumerate_logprobs(policy, t1)
    mu = enumerate_logprobs(policy, t1, reference=True)
    m = 0.3
    closed = torch.softmax((1 - m) * pi + m * mu, -1)
    assert torch.allclose(enumerate_logprobs(policy, t1, mixture=m).exp(), closed, atol=1e-6)


def test_mixture_sampler_matches_its_exact_distribution(policy, task):
    """Empirical frequencies of N samples vs the exact token-level mixture: TV below 4 standard errors.

    E[TV] <= 0.5 * sum_y sqrt(p_y (1 - p_y) / N); we allow twice the bound (a 1-in-10^4 event for a correct
    sampler), while the policy itself (m = 0) or the sequence-level geometric mixture are further away."""
    perturb(policy, scale=0.8)
    m, N = 0.5, 6000
    prompt = task.prompts[1]
    exact = enumerate_logprobs(policy, task, mixture=m)[1].double().exp()  # (n,)
    roll = sample(policy, [prompt] * N, task.length, mixture=m, generator=make_generator(3))
    emp = torch.bincount(task.index(roll.responses), minlength=task.n).double() / N
    tv = 0.5 * (emp - exact).abs().sum()
    bound = 0.5 * (exact * (1 - exact) / N).sqrt().sum()
    assert tv < 2 * bound, (float(tv), float(bound))
    pi = enumerate_logprobs(policy, task)[1].double().exp()
    assert 0.5 * (pi - exact).abs().sum() > 4 * bound  # the check can tell the mixture from the policy


# ---------------------------------------------------------------- exact evaluator
def test_exact_evaluator_at_reference_and_at_equilibrium(policy, task):
    ev = ExactEvaluator.build(policy, task, beta=0.1)
    ref = ev.score(policy)
    assert abs(ref["kl_to_mu"]) < 1e-6 and abs(ref["win_rate_vs_mu"] - 0.5) < 1e-6
    assert ref["reg_exploitability"] > 0.05  # the SFT policy is far from the equilibrium
    star = ev.evaluate(ev.pi_star)
    assert abs(star["reg_exploitability"]) < 1e-9 and abs(star["kl_to_eq"]) < 1e-12


# ---------------------------------------------------------------- the loop: validation, resume-after-kill
def test_loop_config_is_validated():
    with pytest.raises(ValueError, match="LoopConfig.lr"):
        LoopConfig(lr=float("nan"))
    with pytest.raises(ValueError, match="LoopConfig.batch_size"):
        LoopConfig(batch_size=0)


def test_resume_after_kill_matches_an_uninterrupted_run(task, tmp_path, killed_judge):
    cfg = LoopConfig(steps=6, batch_size=4, lr=1e-2, eval_every=2, seed=5)
    trainer = NashMDPG(beta=0.1, mixture=0.25)
    pol = load_policy("tiny", device="cpu").constrain(task.words)
    ev = ExactEvaluator.build(pol, task, beta=0.1)
    full = train(trainer, pol, OracleJudge(task), task.prompts, cfg, evaluator=ev, progress=False)
    w_full = pol.snapshot()

    pol2 = load_policy("tiny", device="cpu").constrain(task.words)
    ckpt = tmp_path / "run.pt"
    with pytest.raises(KeyboardInterrupt):  # dies during step 5, after the step-4 checkpoint
        train(trainer, pol2, killed_judge(task, kill_at=5), task.prompts, cfg, evaluator=ev, checkpoint=ckpt,
              progress=False)
    pol3 = load_policy("tiny", device="cpu").constrain(task.words)  # a fresh process
    resumed = train(trainer, pol3, OracleJudge(task), task.prompts, cfg, evaluator=ev, checkpoint=ckpt,
                    resume=True, progress=False)
    for k, v in w_full.items():
        assert torch.equal(v, pol3.snapshot()[k]), k
    assert resumed.frame.equals(full.frame)
    assert resumed.queries == full.queries == 6 * 4

    with pytest.raises(ValueError, match=r"config.lr: checkpoint 0.01 vs now 0.02"):
        train(trainer, pol3, OracleJudge(task), task.prompts, LoopConfig(**{**cfg.__dict__, "lr": 2e-2}),
              checkpoint=ckpt, resume=True, progress=False)
    with pytest.raises(ValueError, match=r"trainer.mixture"):
        train(NashMDPG(beta=0.1, mixture=0.5), pol3, OracleJudge(task), task.prompts, cfg, checkpoint=ckpt,
              resume=True, progress=False)
