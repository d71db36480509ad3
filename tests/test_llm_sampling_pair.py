"""``sample_pair`` (Nash-MD's ``y ~ pi``, ``y' ~ pi^m`` and ``log mu(y)`` in one decoding loop): the same laws and
numbers as the slower paths it replaces; ``draw`` and its refusal of a row that is not a distribution (the peft
switches it relies on are tested in ``tests/test_llm_adapters.py``)."""

import pytest
import torch

from workbench.device import make_generator
from workbench.llm.exact import enumerate_logprobs
from workbench.llm.models import load_policy
from workbench.llm.sampling import draw, sample_pair
from workbench.llm.task import RPSTask


@pytest.fixture(scope="module")
def task():
    return RPSTask()


def perturbed(task, finetune="lora", scale=0.8):
    policy = load_policy("tiny", device="cpu", finetune=finetune, seed=0).constrain(task.words)
    g = make_generator(7)
    with torch.no_grad():
        for _, p in policy.trainable():
            p.add_(scale * torch.randn(p.shape, generator=g))
    return policy


def tv_and_bound(task, responses, exact):
    """Total variation of the empirical law of ``responses`` vs ``exact`` ``(n,)``, and 2x its expected size
    under a correct sampler (``E[TV] <= 0.5 sum sqrt(p (1 - p) / N)``; see test_llm_core's mixture test)."""
    N = len(responses)
    emp = torch.bincount(task.index(responses), minlength=task.n).double() / N
    return float(0.5 * (emp - exact).abs().sum()), float(2 * 0.5 * (exact * (1 - exact) / N).sqrt().sum())


@pytest.mark.parametrize("finetune, fuse, m", [("lora", True, 0.5), ("lora", False, 0.5), ("full", False, 0.5),
                                               ("lora", True, 0.0), ("lora", True, 1.0)])
def test_both_halves_follow_their_exact_laws(task, finetune, fuse, m):
    policy = perturbed(task, finetune)
    N, x = 6000, 1
    ys, opp, _ = sample_pair(policy, [task.prompts[x]] * N, task.length, mixture=m, generator=make_generator(3),
                             fuse=fuse)
    pi = enumerate_logprobs(policy, task)[x].double().exp()  # (n,)
    pim = enumerate_logprobs(policy, task, mixture=m)[x].double().exp()  # (n,)
    tv, bound = tv_and_bound(task, ys.responses, pi)
    assert tv < bound, ("y vs pi", tv, bound)
    tv, bound = tv_and_bound(task, opp.responses, pim)
    assert tv < bound, ("y' vs pi^m", tv, bound)
    if m == 0.5:  # the check can tell the two laws apart
        assert float(0.5 * (pi - pim).abs().sum()) > 2 * bound


@pytest.mark.parametrize("finetune, fuse, concurrent", [("lora", False, None), ("lora", True, None),
                                                        ("full", None, None), ("full", None, True)])
def test_harvested_reference_logprobs_equal_a_reference_forward(task, finetune, fuse, concurrent):
    policy = perturbed(task, finetune, scale=0.3)
    ys, _, ref = sample_pair(policy, task.prompts * 3, task.length, mixture=0.25, generator=make_generator(4),
                             fuse=fuse, concurrent=concurrent)
    full = policy.response_logprobs(ys.prompt_ids, ys.prompt_mask, ys.response_ids, ys.response_mask, reference=True)
    assert ref.shape == full.shape == (12, task.length)
    assert torch.allclose(ref, full, atol=1e-5), (ref - full).abs().max()
    pi = policy.response_logprobs(ys.prompt_ids, ys.prompt_mask, ys.response_ids, ys.response_mask)
    assert (pi - full).abs().max() > 0.1  # the adapters are on outside the reference: pi != mu here


@pytest.mark.parametrize("finetune, fuse", [("lora", True), ("full", False)])
def test_each_row_continues_its_own_prompt(task, finetune, fuse):
    """Each prompt is encoded once per model and its KV cache gathered to the rows that continue it: with two
    prompts alternating in the batch, each prompt's ``y`` and ``y'`` follow that prompt's laws."""
    policy = perturbed(task, finetune)
    N, xs = 6000, (0, 3)  # prompts 0 and 3: the most different laws under both perturbed policies
    ys, opp, _ = sample_pair(policy, [task.prompts[x] for x in xs] * (N // 2), task.length, mixture=0.5,
                             generator=make_generator(8), fuse=fuse)
    pi = enumerate_logprobs(policy, task).double().exp()  # (X, n)
    pim = enumerate_logprobs(policy, task, mixture=0.5).double().exp()  # (X, n)
    for i, x in enumerate(xs):
        for half, law in ((ys, pi[x]), (opp, pim[x])):
            tv, bound = tv_and_bound(task, half.responses[i::2], law)
            assert tv < bound, (x, tv, bound)
    _, bound = tv_and_bound(task, ys.responses[::2], pi[0])
    assert float(0.5 * (pi[0] - pi[3]).abs().sum()) > 2 * bound  # the two prompts' laws are told apart


def test_mixed_adapter_batch_draws_what_two_streams_draw(task):
    policy = perturbed(task, "lora", scale=0.3)
    a = sample_pair(policy, task.prompts * 8, task.length, mixture=0.5, generator=make_generator(5), fuse=True)
    b = sample_pair(policy, task.prompts * 8, task.length, mixture=0.5, generator=make_generator(5), fuse=False)
    same = sum(u == v for u, v in zip(a[0].responses + a[1].responses, b[0].responses + b[1].responses))
    assert same >= 0.95 * 64  # same generator, same logits up to rounding: the same draws
    assert torch.allclose(a[2], b[2], atol=1e-5)


def test_side_by_side_forwards_draw_what_serial_forwards_draw(task):
    """Full fine-tuning, ``concurrent=True``: the reference's forwards run on a second thread (seen by hooks),
    the caller's intra-op threads are split between the two (5 -> 2 here, 3 there), the draws and ``log mu(y)``
    are those of the serial loop, and the caller's thread count is restored."""
    import threading

    policy = perturbed(task, "full", scale=0.3)
    seen = {"policy": set(), "reference": set()}

    def spy(key):
        return lambda *_: seen[key].add((threading.current_thread().name, torch.get_num_threads()))

    hooks = [policy.model.register_forward_hook(spy("policy")), policy.ref_model.register_forward_hook(spy("reference"))]
    threads, me = torch.get_num_threads(), threading.current_thread().name
    torch.set_num_threads(5)
    try:
        a = sample_pair(policy, task.prompts * 8, task.length, mixture=0.5, generator=make_generator(5), concurrent=True)
        assert seen["policy"] == {(me, 2)}, seen
        (name, n), = seen["reference"]
        assert name.startswith("workbench-side-forward") and n == 3, seen
        assert torch.get_num_threads() == 5  # the caller's count, restored
        seen = {"policy": set(), "reference": set()}
        b = sample_pair(policy, task.prompts * 8, task.length, mixture=0.5, generator=make_generator(5), concurrent=False)
        assert seen["policy"] == seen["reference"] == {(me, 5)}, seen
    finally:
        for h in hooks:
            h.remove()
        torch.set_num_threads(threads)
    assert a[0].responses == b[0].responses and a[1].responses == b[1].responses
    assert torch.allclose(a[2], b[2], atol=1e-5)


def test_side_by_side_is_the_default_for_full_fine_tuning_of_real_sized_models_on_a_multithreaded_cpu(monkeypatch):
    import workbench.llm.sampling as sampling

    full, lora = load_policy("tiny", device="cpu", finetune="full"), load_policy("tiny", device="cpu")
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert not sampling.side_by_side_default(full)  # 83 k parameters: below CONCURRENT_MIN_PARAMS
        monkeypatch.setattr(sampling, "CONCURRENT_MIN_PARAMS", 1)
        assert sampling.side_by_side_default(full)
        assert not sampling.side_by_side_default(lora)  # one model: adapters on and off
        torch.set_num_threads(1)
        assert not sampling.side_by_side_default(full)  # nothing to split
    finally:
        torch.set_num_threads(threads)


def test_free_text_halves_stop_at_eos_and_are_trimmed(task):
    policy = load_policy("tiny", device="cpu")  # unconstrained: EOS can be drawn
    ys, opp, ref = sample_pair(policy, task.prompts * 4, 12, mixture=0.5, generator=make_generator(6))
    for r in (ys, opp):
        lengths = r.response_mask.sum(1)  # (B,)
        assert r.response_ids.shape[1] == int(lengths.max())  # trimmed to the longest response
        assert torch.equal(r.response_mask, (torch.arange(r.response_ids.shape[1]) < lengths[:, None]).long())
        ended = lengths < 12
        last = r.response_ids[torch.arange(len(r)), (lengths - 1).clamp_min(0)]
        assert (last[ended] == policy.tokenizer.eos_token_id).all()  # a row that stopped early ended on EOS
    assert ref.shape == ys.response_ids.shape and (ref[ys.response_mask == 0] == 0).all()


def test_draw_follows_the_row_laws_and_refuses_a_row_that_is_not_a_distribution():
    probs = torch.tensor([[0.0, 2.0, 0.0, 6.0], [1.0, 1.0, 1.0, 1.0]])  # unnormalized rows
    idx = torch.stack([draw(probs, make_generator(k)) for k in range(2000)])  # (N, 2)
    assert set(idx[:, 0].tolist()) == {1, 3}  # zero-probability entries are never drawn
    assert abs(float((idx[:, 0] == 3).double().mean()) - 0.75) < 0.04  # 4 standard errors
    for bad, what in ((float("nan"), "nan"), (float("inf"), "inf")):
        rows = probs.clone()
        rows[1, 2] = bad
        with pytest.raises(ValueError, match=rf"draw: row 1 of the sampling probabilities is not a distribution \(sum {what}"):
            draw(rows)
    with pytest.raises(ValueError, match=r"draw: row 0 .* \(sum 0.0"):
        draw(torch.zeros(1, 4))
    with pytest.raises(ValueError, match=r"draw: row 0 .* min -1.0"):
        draw(torch.tensor([[2.0, -1.0, 1.0]]))


def test_a_policy_with_non_finite_weights_fails_to_sample_naming_the_row(task):
    policy = load_policy("tiny", device="cpu").constrain(task.words)
    with torch.no_grad():
        next(p for n, p in policy.trainable() if "down_proj.lora_B" in n).fill_(float("nan"))  # diverged weights
    with pytest.raises(ValueError, match="draw: row 0 of the sampling probabilities is not a distribution"):
        sample_pair(policy, task.prompts, task.length, mixture=0.5, generator=make_generator(0))


def test_sample_pair_errors_name_the_argument(task):
    lora, full = load_policy("tiny", device="cpu"), load_policy("tiny", device="cpu", finetune="full")
    with pytest.raises(ValueError, match="sample_pair: mixture must lie in"):
        sample_pair(lora, task.prompts, 3, mixture=1.5)
    with pytest.raises(ValueError, match="sample_pair: temperature must be > 0"):
        sample_pair(lora, task.prompts, 3, mixture=0.5, temperature=0.0)
    with pytest.raises(ValueError, match="fuse=True needs a LoRA policy"):
        sample_pair(full, task.prompts, 3, mixture=0.5, fuse=True)
    with pytest.raises(ValueError, match="concurrent=True needs full fine-tuning"):
        sample_pair(lora, task.prompts, 3, mixture=0.5, concurrent=True)
