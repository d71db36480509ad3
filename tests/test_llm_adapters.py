"""The peft internals of :mod:`workbench.llm.adapters` against the installed peft's public API they replace: the
adapters-off switch is ``disable_adapter()``, the per-row scaling is peft's mixed-adapter batch, and a model with
other wrappers falls back to peft's own paths (through ``Policy.logprobs``, the one forward)."""

import warnings

import pytest
import torch

from workbench.device import make_generator
from workbench.llm import adapters
from workbench.llm.models import TinyLMConfig, load_causal_lm, model_path
from workbench.llm.policy import Policy


def lora_policy(task, modules_to_save=False, scale=0.3):
    model, tok = load_causal_lm(model_path("tiny"), device="cpu")
    policy = Policy(model, tok, finetune="lora", seed=0).constrain(task.words)
    if modules_to_save:  # an auxiliary wrapper (peft's ModulesToSaveWrapper) around the LM head
        from peft import LoraConfig, get_peft_model

        model, tok = load_causal_lm(model_path("tiny"), device="cpu")
        for p in model.parameters():
            p.requires_grad_(False)
        with warnings.catch_warnings():  # tied embeddings: peft warns about merging, which is not done here
            warnings.simplefilter("ignore")
            policy.model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear",
                                                            modules_to_save=["lm_head"]))
    g = make_generator(3)
    with torch.no_grad():
        for _, p in policy.trainable():
            p.add_(scale * torch.randn(p.shape, generator=g))
    return policy.eval()


@pytest.fixture(scope="module")
def batch(task):
    return task.prompts * 2


def logits(policy, prompts, **kw):
    ids, mask = policy.encode_prompts(prompts)
    with torch.no_grad():
        return policy.model(input_ids=ids, attention_mask=mask, **kw).logits  # (B, T, V)


def test_lora_layers_and_row_scalable_against_peft(task):
    from peft.tuners.lora.layer import Linear as LoraLinear

    plain = lora_policy(task)
    layers = adapters.lora_layers(plain.model)
    assert layers and all(isinstance(m, LoraLinear) for m in layers)
    assert len(layers) == TinyLMConfig().num_layers * 7  # q k v o gate up down per block
    assert adapters.row_scalable(layers) and plain.row_scalable
    wrapped = lora_policy(task, modules_to_save=True)
    assert adapters.lora_layers(wrapped.model) is None and not wrapped.row_scalable


@pytest.mark.parametrize("modules_to_save", [False, True])
def test_adapters_off_is_peft_disable_adapter(task, batch, modules_to_save):
    policy = lora_policy(task, modules_to_save)
    on = logits(policy, batch)
    with policy.model.disable_adapter():
        slow = logits(policy, batch)
    with adapters.adapters_off(policy.model, adapters.lora_layers(policy.model)):
        fast = logits(policy, batch)
    assert torch.equal(fast, slow)
    assert torch.equal(logits(policy, batch), on) and (on - slow).abs().max() > 0.1  # switched back on afterwards


def test_rows_on_is_peft_mixed_adapter_batch(task, batch):
    policy = lora_policy(task)
    on = torch.tensor([True, False] * (len(batch) // 2))
    peft_mixed = logits(policy, batch, adapter_names=adapters.adapter_names(policy.model, on))
    with adapters.rows_on(adapters.lora_layers(policy.model), on):
        scaled = logits(policy, batch)
    torch.testing.assert_close(scaled, peft_mixed, rtol=0, atol=1e-5)
    with policy.model.disable_adapter():
        off = logits(policy, batch)
    full = logits(policy, batch)  # the scaling is restored: every row on again
    assert torch.allclose(scaled[~on], off[~on], atol=1e-5) and torch.allclose(scaled[on], full[on], atol=1e-5)
    assert (full[~on] - off[~on]).abs().max() > 0.1


@pytest.mark.parametrize("modules_to_save", [False, True])
def test_policy_logprobs_per_row_adapters_match_separate_forwards(task, batch, modules_to_save):
    """``Policy.logprobs(on=...)``: the per-row scaling, or peft's mixed batch when the model has other wrappers,
    gives each row what a forward with the adapters on (or the reference) gives it."""
    policy = lora_policy(task, modules_to_save)
    ids, mask = policy.encode_prompts(batch)
    on = torch.tensor([False, True] * (len(batch) // 2))
    with torch.no_grad():
        mixed, _ = policy.logprobs(ids, mask, on=on, keep=2)  # (B, 2, V)
        pi, _ = policy.logprobs(ids, mask, keep=2)
    mu, _ = policy.logprobs(ids, mask, reference=True, keep=2)
    torch.testing.assert_close(mixed[on], pi[on], rtol=0, atol=1e-5)
    torch.testing.assert_close(mixed[~on], mu[~on], rtol=0, atol=1e-5)
    assert (pi - mu).nan_to_num(0).abs().max() > 0.1
    with pytest.raises(ValueError, match="on= .* needs a LoRA policy and reference=False"):
        policy.logprobs(ids, mask, on=on, reference=True)
