"""One free-text Nash-MD-PG step on SmolLM2-135M with LoRA, judged by a ModelJudge: seconds per step and peak memory.

Prints a table; asserts nothing. The step is the training loop's own (:func:`workbench.llm.loop.train`): 8 prompts
from the shipped real-format comparisons (``data/prefs/``: TL;DR, HH-RLHF, UltraFeedback; long prompts cut from the
left to fit by :func:`workbench.llm.prompts.fit_prompts`), SmolLM2-135M-Instruct with its chat template, LoRA (r = 8,
all linear layers), no token constraint, up to ``--new-tokens`` (64) new tokens for ``y ~ pi`` and for the opponent
``y'`` from the token-level mixture (m = 0.125; generation stops at EOS, so a step may generate fewer), one judge
query per prompt, backward, clipping and AdamW. The judge is a general pairwise preference model
(:class:`workbench.prefmodels.ModelJudge`) on the tiny backbone, trained for ``--judge-steps`` steps on the same
comparisons (the judge's cost is a small part of the step; a SmolLM2-sized judge would add its forward).

Each step is timed in wall-clock seconds and in process CPU seconds (``time.process_time``; on a shared, loaded
machine the fairer number); the first ``--warmup`` steps are reported apart (allocation, lazy initialisation).
Peak memory is the process's RSS high-water mark (``ru_maxrss``, on CPU) or ``torch.cuda.max_memory_allocated``
(CUDA). As in ``bench_llm.py`` the process runs with ``MALLOC_MMAP_THRESHOLD_=131072`` (re-executed with it set;
``--mmap-threshold 0`` keeps glibc's default), so freed activation buffers go back to the OS instead of fragmenting
the heap.

    .venv/bin/python benchmarks/bench_freetext.py                       # CPU, float32, the machine's threads
    .venv/bin/python benchmarks/bench_freetext.py --device cuda --dtype bfloat16 --steps 10   # a GPU
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = ["tldr_sample.jsonl", "hh_sample.jsonl", "ultrafeedback_sample.jsonl"]


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor() or "unknown CPU"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--prompts", type=int, default=8, help="prompts per step (the batch)")
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--steps", type=int, default=3, help="timed steps after the warm-up")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--judge-steps", type=int, default=20, help="training steps of the pairwise judge")
    ap.add_argument("--mmap-threshold", type=int, default=131072, help="MALLOC_MMAP_THRESHOLD_ (0: glibc's default)")
    a = ap.parse_args(argv)
    if a.mmap_threshold and os.environ.get("MALLOC_MMAP_THRESHOLD_") != str(a.mmap_threshold):
        env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(a.mmap_threshold)}
        os.execve(sys.executable, [sys.executable, *sys.argv], env)

    import pandas as pd
    import torch

    from workbench.llm.loop import LoopConfig, train
    from workbench.llm.models import load_policy
    from workbench.llm.nash_md_pg import NashMDPG
    from workbench.llm.prompts import fit_prompts
    from workbench.prefdata import Comparisons, load_comparisons
    from workbench.prefmodels import TrainConfig
    from workbench.prefmodels import experiments as PX

    if a.threads:
        torch.set_num_threads(a.threads)
    dtype = getattr(torch, a.dtype)
    comps = Comparisons.concat([load_comparisons(ROOT / "data" / "prefs" / f) for f in FILES])
    tr, va = comps.split((0.85, 0.15), seed=0)
    tiny = dict(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, max_length=128, tokenizer_kind="bpe",
                vocab_size=800)
    judge = PX.fit_models(tr, va, va, ["pairwise"], tiny=tiny, device=a.device, seed=0,
                          config=TrainConfig(max_steps=a.judge_steps, batch_size=16, lr=3e-3, progress=False)
                          ).judges["pairwise"]
    policy = load_policy("smollm2", device=a.device, dtype=dtype, seed=0)
    prompts, cut = fit_prompts(policy, list(dict.fromkeys(comps.prompts)), a.new_tokens)
    if a.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    stamps = []

    def on_eval(frame):  # called at the start and after every step (eval_every=1): a timestamp, wall and CPU
        stamps.append((time.perf_counter(), time.process_time()))

    config = LoopConfig(steps=a.warmup + a.steps, batch_size=a.prompts, lr=1e-3, max_new_tokens=a.new_tokens,
                        eval_every=1)
    start = (time.perf_counter(), time.process_time())
    run = train(NashMDPG(beta=0.1, mixture=0.125), policy, judge, prompts, config, on_eval=on_eval, progress=False)
    times = stamps if len(stamps) == config.steps + 1 else [start, *stamps]  # the loop also records at step 0
    wall = [b[0] - a_[0] for a_, b in zip(times, times[1:])]
    cpu = [b[1] - a_[1] for a_, b in zip(times, times[1:])]
    peak = (torch.cuda.max_memory_allocated() / 2**30 if a.device.startswith("cuda")
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
    timed = slice(a.warmup, None)
    row = {
        "device": a.device if not a.device.startswith("cuda") else torch.cuda.get_device_name(),
        "dtype": a.dtype, "threads": torch.get_num_threads(), "prompts": a.prompts, "new tokens (max)": a.new_tokens,
        "tokens / step": run.tokens / run.steps, "warm-up s": sum(wall[:a.warmup]),
        "s / step (wall)": sum(wall[timed]) / len(wall[timed]), "s / step (CPU)": sum(cpu[timed]) / len(cpu[timed]),
        "peak GB": peak,
    }
    print(f"free-text Nash-MD-PG step, SmolLM2-135M-Instruct LoRA r=8, ModelJudge (pairwise, tiny backbone); "
          f"{cpu_model()}; load average {os.getloadavg()[0]:.1f}; {cut} prompt(s) cut to fit")
    print(pd.DataFrame([row]).round(3).to_string(index=False))
    print("per step (wall s):", [round(w, 2) for w in wall])
    return 0


if __name__ == "__main__":
    sys.exit(main())
