"""In-process A/B of one Nash-MD-PG step's model work against an earlier checkout: ``sample_pair`` (``y``, ``y'``,
``log mu(y)``), ``log pi(y)`` with grad and the backward, the earlier checkout's ``Policy`` and sampler (loaded from
its files under other module names) against this one's, alternated call by call in ONE process on the same weights.

Prints tables; asserts nothing. On a shared machine the launches of ``bench_llm.py --baseline`` drift by 30 % and
more between processes; alternating the two code paths call by call inside one process cancels that drift, so
this is the check that the refactor costs nothing. Process CPU seconds per call; median and quartiles.

    git worktree add /tmp/old <REV>
    .venv/bin/python benchmarks/ab_llm_step.py --baseline /tmp/old --pairs 120
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time


def load(name: str, path: str):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline", required=True, help="the earlier checkout (its workbench/llm/policy.py, sampling.py)")
    ap.add_argument("--pairs", type=int, default=120, help="alternated calls per side")
    ap.add_argument("--modes", default="full,lora", help="comma list of: full, lora")
    ap.add_argument("--new-tokens", type=int, default=32, help="tokens per completion (EOS and pad masked)")
    a = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    import workbench.llm.sampling as new_sampling
    from workbench.device import make_generator
    from workbench.llm.models import TinyLMConfig, load_causal_lm, model_path
    from workbench.llm.policy import Policy

    old_policy = load("baseline_policy", f"{a.baseline}/workbench/llm/policy.py")
    old_sampling = load("baseline_sampling", f"{a.baseline}/workbench/llm/sampling.py")
    prompts = TinyLMConfig().task().prompts
    print(f"# tiny model, B = {len(prompts)}, {a.new_tokens} new tokens, m = 0.5, T = 0.9, 1 thread, {a.pairs} pairs")
    for mode in a.modes.split(","):
        sides = {}
        for name, cls, sampler in (("before", old_policy.Policy, old_sampling), ("after", Policy, new_sampling)):
            model, tok = load_causal_lm(model_path("tiny"), device="cpu")
            pol = cls(model, tok, finetune=mode, seed=0)
            banned = {tok.eos_token_id, tok.pad_token_id}
            pol.allowed = torch.tensor([i for i in range(model.config.vocab_size) if i not in banned])
            sides[name] = (pol, sampler, [])
        for i in range(a.pairs):
            for name in (("before", "after") if i % 2 else ("after", "before")):
                pol, sampler, times = sides[name]
                pol.model.train()
                c = time.process_time()
                ys, opp, ref = sampler.sample_pair(pol, prompts, a.new_tokens, mixture=0.5, temperature=0.9,
                                                   generator=make_generator(i))
                lp = pol.response_logprobs(ys.prompt_ids, ys.prompt_mask, ys.response_ids, ys.response_mask).sum(-1)
                (-(lp * (lp.detach() - ref.sum(-1))).mean()).backward()
                times.append(time.process_time() - c)
                for _, p in pol.trainable():
                    p.grad = None
        q = {k: sorted(v[2][4:]) for k, v in sides.items()}  # the first calls warm up
        row = {k: (statistics.median(t), t[len(t) // 4], t[3 * len(t) // 4]) for k, t in q.items()}
        print(f"{mode:4s} before {row['before'][0] * 1e3:6.1f} ms [{row['before'][1] * 1e3:.1f}, "
              f"{row['before'][2] * 1e3:.1f}]  after {row['after'][0] * 1e3:6.1f} ms [{row['after'][1] * 1e3:.1f}, "
              f"{row['after'][2] * 1e3:.1f}]  after/before {row['after'][0] / row['before'][0]:.3f}", flush=True)


if __name__ == "__main__":
    main()
