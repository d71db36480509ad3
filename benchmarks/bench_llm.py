"""Our Nash-MD-PG step against TRL 1.13's ``NashMDTrainer``: time per step, tokens/s, queries/s, peak memory.

Prints tables; asserts nothing. Each step is timed in wall-clock seconds and in process CPU seconds
(``time.process_time``): on a shared, loaded machine the CPU seconds are the fairer comparison. Every configuration runs in its own subprocess (``--worker``), so the peak
memory of a row is that configuration's alone (RSS high-water mark on CPU, ``torch.cuda.max_memory_allocated``
on CUDA).

**Equal work per step** (both sides, per prompt of the batch of ``B``):
  * one completion from the policy ``pi`` and one from the token-level geometric mixture of ``pi`` and the
    reference ``mu`` (coefficient ``m`` on the reference), each exactly ``--new-tokens`` long: EOS (and a pad
    token distinct from it) is masked out on both sides (TRL: ``min_new_tokens`` / ``suppress_tokens``;
    ours: the policy's allowed-token set), so lengths cannot differ; plain temperature sampling (TRL's
    ``top_k=0, top_p=1``), the same temperature;
  * both completions scored by the same reward model: the backbone's checkpoint with a scalar head
    (``AutoModelForSequenceClassification``, ``num_labels=1``, head seeded identically); one preference
    ``sigmoid(r(y) - r(y'))`` per prompt (one query);
  * ``log pi(y|x)`` with grad and ``log mu(y|x)`` without, then the policy-gradient loss, backward, gradient
    clipping at 1.0 and one AdamW step (PyTorch's fused AdamW on both sides, same learning rate, no schedule, no
    weight decay);
  * the same model and precision, full fine-tuning (a frozen copy as the reference, on both sides) or LoRA
    (r = 8, alpha = 16, all linear layers, dropout 0; the reference = adapters off, on both sides).
Differences that remain, none of which changes the work counted: TRL adds a BOS token when the prompt does
not start with one (the tiny model's prompts: one token longer on TRL's side); TRL's per-token KL surrogate
``sum_t log(pi/mu)_t log pi_t`` vs our sequence-level score-function term (same cost); TRL tokenizes ids for
its reward model directly while ours decodes to text and re-tokenizes (our cost); TRL's mixture in LoRA mode
mixes the policy with ``get_base_model()``, which still has the adapters on (a TRL bug: no extra cost).
TRL runs as shipped: under transformers 5 with gradient checkpointing off its ``GeometricMixtureWrapper`` passes one
KV cache to both the policy and the reference, so its ``y'`` is not drawn from its own mixture (issue #17; see
``benchmarks/README.md``); ``--sides ours,trl,trl-correct`` also times TRL with its mixture sampled correctly (the
wrapper without a KV cache, :func:`correct_trl_sampling`).
``--baseline DIR`` times our step in another checkout (an earlier revision) against this one, launched alternately.

Peak memory is an RSS high-water mark, so the allocator counts: with glibc's default *dynamic* mmap threshold,
freed activation buffers stay in the heap and fragment it step after step (our SmolLM2 LoRA step: 2.15 GB at
step 1, 2.29 GB at step 2); every worker (both sides) therefore runs with ``MALLOC_MMAP_THRESHOLD_=131072``
(``--mmap-threshold``; 0 restores glibc's default), which returns freed blocks of 128 KiB and more to the OS.

Run ``.venv/bin/pip install -r benchmarks/requirements-trl.txt`` first (TRL is a benchmark-only dependency).
``--levers`` measures each of our speed levers on its own (the step before the changes, then cumulatively).
``--repeats N`` launches every configuration N times, alternating ours and TRL's, and reports the median run:
on a shared VM one run's seconds per step can drift by 30 % (the tiny model's especially).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import date
from pathlib import Path

SMOL_PROMPTS = [
    "Write a short poem about the sea.",
    "Explain why the sky is blue in two sentences.",
    "Give me three tips for learning to cook.",
    "What is the capital of France and why is it famous?",
    "Describe a cat to someone who has never seen one.",
    "Summarize the plot of a heist movie you invent.",
    "How do plants make food from sunlight?",
    "Suggest a name for a friendly robot and explain it.",
]


# ====================================================================== shared set-up (worker side)
def load_backbone(name: str, dtype, device):
    import torch
    from workbench.llm.models import load_causal_lm, model_path

    path = model_path(name)
    model, tok = load_causal_lm(path, device=device, dtype=dtype)
    if attn := os.environ.get("BENCH_ATTN"):
        model.set_attn_implementation(attn)
    return path, model, tok


def load_reward_model(path, tok, dtype, device, seed: int):
    """The judge: the same checkpoint with a scalar head (``num_labels=1``), head seeded by ``seed``."""
    import torch
    from transformers import AutoModelForSequenceClassification

    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        rm = AutoModelForSequenceClassification.from_pretrained(str(path), num_labels=1, dtype=dtype)
    finally:
        torch.random.set_rng_state(state)
    rm.config.pad_token_id = tok.pad_token_id
    return rm.to(device).eval().requires_grad_(False)


def prompts_for(name: str) -> list[str]:
    if name == "tiny":
        from workbench.llm.models import TinyLMConfig

        return TinyLMConfig().task().prompts
    return SMOL_PROMPTS


def banned_ids(tok) -> list[int]:
    """EOS and pad: masked on both sides so every completion is exactly ``new_tokens`` long."""
    return sorted({i for i in (tok.eos_token_id, tok.pad_token_id) if i is not None})


SIDE = "  reference forwards on the side thread (overlap the above; CPU s = that thread's)"
LOGP = "log-prob forwards (log pi(y) with grad; 'before': also log mu(y))"
PROFILE_ORDER = [
    "loss: sampling + judge + log-probs",
    "sampling: y, y' (mixture) and log mu(y)", "sampling: y, y' (mixture)",
    "sampling: y (generate), y' (GeometricMixtureWrapper, as shipped)",
    "  of which model forwards (KV cache)", SIDE, "  of which decode to text",
    "judge (reward model)", LOGP, "log pi(y) (grad) + log mu(y) forwards", "backward", "clip + AdamW step",
]


class Timers:
    """Wall-clock and process CPU seconds per label, accumulated over the timed steps (not over the warm-up).
    Work timed on another thread than the main one (``sample_pair``'s side-by-side reference forwards) goes to
    the ``SIDE`` label with that thread's CPU seconds: it overlaps the main thread's timings."""

    def __init__(self):
        self.on, self.total, self.cpu = False, {}, {}
        self.lock = threading.Lock()

    @contextmanager
    def __call__(self, label):
        main = threading.current_thread() is threading.main_thread()
        clock = time.process_time if main else time.thread_time
        label = label if main else SIDE
        t, c = time.perf_counter(), clock()
        try:
            yield
        finally:
            if self.on:
                with self.lock:
                    self.total[label] = self.total.get(label, 0.0) + time.perf_counter() - t
                    self.cpu[label] = self.cpu.get(label, 0.0) + clock() - c

    def wrap(self, owner, attr, label):
        fn = getattr(owner, attr)

        def wrapped(*a, **k):
            with self(label):
                return fn(*a, **k)
        setattr(owner, attr, wrapped)


def peak_memory_gb(device) -> float:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def rss_gb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**30


# ====================================================================== our step
def before_loss(self, policy, judge, prompts, state, ctx):
    """Nash-MD-PG's step as it was before the speed work (two sampling loops, three forwards per token,
    a second forward over prompt + response for ``log mu(y)``), kept here to measure the levers."""
    from workbench.llm.loop import StepOut
    from workbench.llm.losses import pg_advantage, pg_loss, sequence_logprobs
    from workbench.llm.sampling import sample

    ys = sample(policy, prompts, ctx.config.max_new_tokens, temperature=ctx.config.temperature, generator=ctx.generator)
    opp = sample(policy, prompts, ctx.config.max_new_tokens, mixture=self.mixture, temperature=ctx.config.temperature,
                 generator=ctx.generator)
    pref = judge.prob(prompts, ys.responses, opp.responses).to(policy.device).float()
    logp = sequence_logprobs(policy, ys)
    logp_ref = sequence_logprobs(policy, ys, reference=True)
    adv = pg_advantage(pref, logp, logp_ref, self.beta)
    return StepOut(pg_loss(logp, adv), queries=len(prompts), tokens=ys.n_tokens + opp.n_tokens)


def run_ours(a, device, dtype, timers: Timers) -> dict:
    import torch
    import workbench.llm.nash_md_pg as nmd
    import workbench.llm.sampling as sampling
    from workbench.device import make_generator
    from workbench.llm.judges import RewardJudge
    from workbench.llm.loop import LoopConfig, StepContext, make_optimizer
    from workbench.llm.nash_md_pg import NashMDPG
    from workbench.llm.policy import Policy

    path, model, tok = load_backbone(a.model, dtype, device)
    policy = Policy(model, tok, finetune=a.mode, lora_r=8, lora_alpha=16, seed=a.seed)
    rm = load_reward_model(path, tok, dtype, device, a.seed + 1)
    banned = set(banned_ids(tok))
    policy.allowed = torch.tensor([i for i in range(model.config.vocab_size) if i not in banned], device=device)

    def reward(prompts, responses):  # (B,): the same reward model TRL's side uses, on the decoded text
        sep = "" if policy.chat else " "
        texts = [policy.format_prompt(p) + sep + r for p, r in zip(prompts, responses)]
        enc = tok(texts, padding=True, return_tensors="pt", add_special_tokens=not policy.chat).to(device)
        with torch.no_grad():
            return rm(**enc).logits[:, 0].float()

    judge = RewardJudge(reward)  # one reward forward over both sides (2B rows) per step
    if a.variant in ("before", "pair", "fused"):  # the judge as it was: two reward calls of B rows
        def prob(prompts, ra, rb):
            judge.queries += len(prompts)
            return torch.sigmoid(reward(prompts, ra) - reward(prompts, rb))
        judge.prob = prob
    trainer = NashMDPG(beta=a.beta, mixture=a.mixture)
    if a.variant == "before":
        NashMDPG.loss = before_loss
    elif a.variant in ("pair", "fused"):  # one loop, log mu(y) harvested; with or without the mixed-adapter batch
        orig, fuse = sampling.sample_pair, a.variant == "fused"
        nmd.sample_pair = lambda *x, **k: orig(*x, **{**k, "fuse": fuse, "concurrent": False})
    elif a.variant == "serial":  # every lever but the side-by-side forwards (full fine-tuning)
        orig = sampling.sample_pair
        nmd.sample_pair = lambda *x, **k: orig(*x, **{**k, "concurrent": False})
    timers.wrap(nmd, "sample_pair", "sampling: y, y' (mixture) and log mu(y)")
    timers.wrap(nmd, "sequence_logprobs", LOGP)
    if a.variant == "before":
        timers.wrap(sampling, "sample", "sampling: y, y' (mixture)")
    timers.wrap(judge, "prob", "judge (reward model)")
    for attr in ("__call__", "prefill"):  # the decoding loop's forwards
        timers.wrap(sampling._Forward, attr, "  of which model forwards (KV cache)")
    timers.wrap(policy, "decode", "  of which decode to text")

    params = [p for _, p in policy.trainable()]
    opt = make_optimizer(params, a.lr, 0.0)  # the loop's AdamW (fused; TRL's side: adamw_torch_fused)
    cfg = LoopConfig(steps=a.warmup + a.steps, batch_size=a.batch, max_new_tokens=a.new_tokens,
                     temperature=a.temperature, lr=a.lr, seed=a.seed)
    gen = make_generator(a.seed, device)
    pool = prompts_for(a.model)
    setup_rss = rss_gb()
    times, cpu, tokens = [], [], 0
    policy.model.train()
    for step in range(a.warmup + a.steps):  # the step of workbench.llm.loop.train, timed
        timers.on = step >= a.warmup
        batch = [pool[(step * a.batch + i) % len(pool)] for i in range(a.batch)]
        t, c = time.perf_counter(), time.process_time()
        with timers("loss: sampling + judge + log-probs"):
            out = trainer.loss(policy, judge, batch, None, StepContext(cfg, gen, step))
        with timers("backward"):
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
        with timers("clip + AdamW step"):
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)  # as the loop (and HF's Trainer) do: no gradients held during the forward
        if device.type == "cuda":
            torch.cuda.synchronize()
        if timers.on:
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            tokens += out.tokens
    return {"times": times, "cpu": cpu, "tokens": tokens, "queries": a.batch * a.steps, "setup_rss_gb": setup_rss,
            "attn": model.config._attn_implementation}


# ====================================================================== TRL's step
def correct_trl_sampling() -> None:
    """Make TRL's ``GeometricMixtureWrapper`` sample its own mixture: no KV cache, every forward of the policy and
    the reference over the whole prefix (the ``use_cache=False`` its ``prepare_inputs_for_generation`` asks for).
    As shipped, under transformers 5 the two models share one cache and ``y'`` is not the mixture (TV 0.54 from it
    on the tiny model, 0.02 with this patch; ``benchmarks/README.md``)."""
    from trl.experimental.nash_md import nash_md_trainer as nmt

    base = nmt.GeometricMixtureWrapper
    forward = base.forward

    def no_cache_forward(self, *args, **kwargs):
        for k in ("past_key_values", "cache", "cache_position"):
            kwargs.pop(k, None)
        return forward(self, *args, **{**kwargs, "use_cache": False})

    def no_cache_inputs(self, input_ids, **kwargs):
        return {"input_ids": input_ids, "attention_mask": kwargs.get("attention_mask"), "use_cache": False}

    base.forward, base.prepare_inputs_for_generation = no_cache_forward, no_cache_inputs


def run_trl(a, device, dtype, timers: Timers) -> dict:
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl.experimental.nash_md import NashMDConfig, NashMDTrainer

    if a.side == "trl-correct":
        correct_trl_sampling()

    path, model, tok = load_backbone(a.model, dtype, device)
    rm = load_reward_model(path, tok, dtype, device, a.seed + 1)
    chat = bool(getattr(tok, "chat_template", None))
    pool = prompts_for(a.model)
    n = (a.warmup + a.steps) * a.batch
    rows = [pool[i % len(pool)] for i in range(n)]
    data = Dataset.from_dict({"prompt": [[{"role": "user", "content": p}] for p in rows] if chat else rows})
    peft_config = None
    if a.mode == "lora":
        from peft import LoraConfig

        peft_config = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules="all-linear")
        torch.manual_seed(a.seed)
    gen_kwargs = {"min_new_tokens": a.new_tokens}
    if tok.pad_token_id != tok.eos_token_id:
        gen_kwargs["suppress_tokens"] = [tok.pad_token_id]
    out_dir = tempfile.mkdtemp(prefix="bench_trl_")
    args = NashMDConfig(
        output_dir=out_dir, per_device_train_batch_size=a.batch, gradient_accumulation_steps=1,
        max_steps=a.warmup + a.steps, learning_rate=a.lr, lr_scheduler_type="constant", weight_decay=0.0,
        max_grad_norm=1.0, optim="adamw_torch_fused", max_new_tokens=a.new_tokens, temperature=a.temperature,
        top_k=0, top_p=1.0, beta=[a.beta], mixture_coef=[a.mixture], generation_kwargs=gen_kwargs,
        use_cpu=device.type == "cpu", bf16=False, fp16=False, report_to="none", save_strategy="no",
        logging_steps=10**6, disable_tqdm=True, dataloader_num_workers=0, seed=a.seed, data_seed=a.seed,
        gradient_checkpointing=False, remove_unused_columns=False,
    )
    trainer = NashMDTrainer(model=model, reward_funcs=rm, args=args, processing_class=tok, train_dataset=data,
                            peft_config=peft_config)
    torch.set_num_threads(a.threads)  # in case the Trainer or accelerate changed it
    times, cpu = [], []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            timers.on = state.global_step >= a.warmup
            self.t, self.c = time.perf_counter(), time.process_time()

        def on_step_end(self, args, state, control, **kw):
            if device.type == "cuda":
                torch.cuda.synchronize()
            if timers.on:
                times.append(time.perf_counter() - self.t)
                cpu.append(time.process_time() - self.c)

    trainer.add_callback(StepTimer())
    timers.wrap(trainer, "_generate_completions", "sampling: y (generate), y' (GeometricMixtureWrapper, as shipped)")
    timers.wrap(trainer, "_compute_rewards", "judge (reward model)")
    timers.wrap(trainer, "_compute_logprobs", "log pi(y) (grad) + log mu(y) forwards")
    timers.wrap(trainer.accelerator, "backward", "backward")
    setup_rss = rss_gb()
    trainer.train()
    return {"times": times, "cpu": cpu, "tokens": 2 * a.batch * a.new_tokens * a.steps, "queries": a.batch * a.steps,
            "setup_rss_gb": setup_rss, "attn": model.config._attn_implementation,
            "threads_seen": torch.get_num_threads()}


# ====================================================================== worker / driver
def worker(a) -> None:
    import warnings

    warnings.filterwarnings("ignore")
    import torch

    from workbench.device import resolve_device

    torch.set_num_threads(a.threads)
    device = resolve_device(a.device)
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[a.dtype]
    timers = Timers()
    res = (run_ours if a.side == "ours" else run_trl)(a, device, dtype, timers)
    t = sum(res["times"])
    res.update(peak_gb=peak_memory_gb(device), s_per_step=t / len(res["times"]),
               cpu_s_per_step=sum(res["cpu"]) / len(res["cpu"]), tok_per_s=res["tokens"] / t,
               queries_per_s=res["queries"] / t, profile={k: v / len(res["times"]) for k, v in timers.total.items()},
               profile_cpu={k: v / len(res["times"]) for k, v in timers.cpu.items()},
               threads=torch.get_num_threads(), device=str(device))
    print("RESULT " + json.dumps(res))


def launch(a, **over) -> dict:
    tree = Path(over.pop("tree", None) or Path(__file__).resolve().parents[1])  # the checkout whose code runs
    argv = [sys.executable, str(tree / "benchmarks" / "bench_llm.py"), "--worker"]
    for k, v in {**vars(a), **over}.items():
        if k in ("worker", "levers", "models", "modes", "sides", "attn", "mmap_threshold", "baseline"):
            continue
        argv += [f"--{k.replace('_', '-')}", str(v)]
    env = {**os.environ, "OMP_NUM_THREADS": str(over.get("threads", a.threads)), "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": os.pathsep.join([str(tree)] + [v for v in [os.environ.get("PYTHONPATH")] if v])}
    if a.mmap_threshold > 0:  # both sides: glibc returns freed blocks >= this size to the OS (no dynamic threshold)
        env["MALLOC_MMAP_THRESHOLD_"] = str(a.mmap_threshold)
    if over.get("attn"):
        env["BENCH_ATTN"] = over["attn"]
    p = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tree)
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    if p.returncode != 0 or not line:
        print(f"[{over}] failed (exit {p.returncode}):\n{p.stderr[-3000:]}", file=sys.stderr)
        return {}
    return json.loads(line[-1][7:])


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu} ({cpu_features()}), {os.cpu_count()} logical CPUs, {gpu}, torch {torch.__version__}"


def cpu_features() -> str:
    """The CPU flags that change a float32 / bfloat16 forward's speed (from /proc/cpuinfo): AVX-512, native bf16
    (``avx512_bf16``), AMX; every ratio is only comparable between machines with the same ones."""
    try:
        flags = next(ln.split(":", 1)[1].split() for ln in open("/proc/cpuinfo") if ln.startswith("flags"))
    except (OSError, StopIteration):
        return "flags unknown"
    avx512 = sorted(f for f in flags if f.startswith("avx512"))
    amx = sorted(f for f in flags if f.startswith("amx"))
    return (f"AVX-512: {'yes (' + ' '.join(avx512) + ')' if avx512 else 'no'}; native bf16 (avx512_bf16): "
            f"{'yes' if 'avx512_bf16' in flags else 'no'}; AMX: {' '.join(amx) if amx else 'no'}; "
            f"AVX2: {'yes' if 'avx2' in flags else 'no'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="tiny,smollm2", help="comma list of: tiny, smollm2, or a local checkpoint")
    ap.add_argument("--modes", default="full,lora", help="comma list of: full, lora")
    ap.add_argument("--sides", default="ours,trl", help="comma list of: ours, trl (TRL as shipped), trl-correct (TRL's "
                                                        "mixture sampled without the shared KV cache)")
    ap.add_argument("--batch", type=int, default=4, help="prompts per step")
    ap.add_argument("--new-tokens", type=int, default=32, help="tokens generated per completion (exactly)")
    ap.add_argument("--steps", type=int, default=3, help="timed steps per configuration")
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (and OMP_NUM_THREADS)")
    ap.add_argument("--temperature", type=float, default=0.9, help="sampling temperature (TRL's default)")
    ap.add_argument("--mixture", type=float, default=0.5, help="m, the reference's weight (TRL's default)")
    ap.add_argument("--beta", type=float, default=0.1, help="KL strength (TRL's default)")
    ap.add_argument("--lr", type=float, default=1e-5, help="AdamW learning rate")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"], help="weights' precision")
    ap.add_argument("--device", default="cpu", help="cpu, cuda, auto")
    ap.add_argument("--seed", type=int, default=0, help="sampling and reward-head seed")
    ap.add_argument("--mmap-threshold", type=int, default=131072,
                    help="MALLOC_MMAP_THRESHOLD_ for every worker, both sides (glibc's fixed mmap threshold: freed "
                         "activations go back to the OS instead of fragmenting the heap); 0 = glibc's dynamic default")
    ap.add_argument("--repeats", type=int, default=1,
                    help="launch each configuration this many times, alternating the sides; rows show the median "
                         "run (peak memory: the largest) and the min/max seconds per step")
    ap.add_argument("--levers", action="store_true", help="ours only: each speed lever measured on its own")
    ap.add_argument("--baseline", default="",
                    help="a checkout of an earlier revision (git worktree add /tmp/old REV): its step and ours, "
                         "launched alternately, each worker importing its own checkout's workbench")
    ap.add_argument("--attn", default="", help="with --levers: also time this attention implementation (eager)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--side", default="ours", help=argparse.SUPPRESS)
    ap.add_argument("--model", default="tiny", help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="lora", help=argparse.SUPPRESS)
    ap.add_argument("--variant", default="all", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        return worker(a)

    import pandas as pd

    load = os.getloadavg()
    print(f"# {date.today()}  {machine()}\n# threads={a.threads}  load average at start {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f}  B={a.batch} new_tokens={a.new_tokens} T={a.temperature} m={a.mixture} {a.dtype} "
          f"device={a.device}  steps={a.steps} (+{a.warmup} warm-up)  MALLOC_MMAP_THRESHOLD_="
          f"{a.mmap_threshold or 'glibc default'}")
    rows, profiles = [], {}
    for model in a.models.split(","):
        for mode in a.modes.split(","):
            runs = []
            if a.levers:
                runs = [("before", {"variant": "before"}), ("+ one loop, log mu(y) harvested", {"variant": "pair"})]
                if mode == "lora":
                    runs.append(("+ mixed-adapter batch", {"variant": "fused"}))
                if mode == "full":
                    runs.append(("+ judge batched", {"variant": "serial"}))
                    runs.append(("+ forwards side by side (default path)", {"variant": "all"}))
                else:
                    runs.append(("+ judge batched (default path)", {"variant": "all"}))
                if a.attn:
                    runs.append((f"all levers, attn={a.attn}", {"variant": "all", "attn": a.attn}))
            elif a.baseline:
                rev = subprocess.run(["git", "-C", a.baseline, "rev-parse", "--short", "HEAD"], capture_output=True,
                                     text=True).stdout.strip() or a.baseline
                runs = [(f"before ({rev})", {"tree": a.baseline}), ("ours (this checkout)", {})]
            else:
                runs = [(s, {"side": s}) for s in a.sides.split(",")]
            results = {label: [] for label, _ in runs}
            for _ in range(a.repeats):  # alternate the runs: ours, TRL, ours, TRL, ... (machine drift hits both)
                for label, over in runs:
                    res = launch(a, model=model, mode=mode, **{"side": "ours", **over})
                    if not res:
                        continue
                    results[label].append(res)
                    print(f"  {model:8s} {mode:4s} {label:32s} {res['s_per_step']:7.3f} s/step  "
                          f"{res['cpu_s_per_step']:7.3f} CPU s/step  "
                          f"peak {res['peak_gb']:.2f} GB", flush=True)
            for label, got in results.items():
                if not got:
                    continue
                got = sorted(got, key=lambda r: r["s_per_step"])
                res = got[(len(got) - 1) // 2]  # the median run (the lower one of an even count)
                rows.append({"model": model, "mode": mode, "run": label, "s/step": res["s_per_step"],
                             "CPU s/step": res["cpu_s_per_step"],
                             "tokens/s": res["tok_per_s"], "queries/s": res["queries_per_s"],
                             "peak GB": max(r["peak_gb"] for r in got), "setup RSS GB": res["setup_rss_gb"],
                             "threads": res["threads"], "attn": res["attn"], "runs": len(got),
                             "s/step min": got[0]["s_per_step"], "s/step max": got[-1]["s_per_step"]})
                profiles[(model, mode, label)] = (res["profile"], res.get("profile_cpu", {}))
    if not rows:
        return
    df = pd.DataFrame(rows)
    if a.repeats == 1:
        df = df.drop(columns=["runs", "s/step min", "s/step max"])
    if not a.levers and {"ours", "trl"} <= set(df.run):
        base = df[df.run == "trl"].set_index(["model", "mode"])
        key = df.set_index(["model", "mode"]).index
        df["speed-up vs TRL"] = base.loc[key, "s/step"].to_numpy() / df["s/step"].to_numpy()
        df["CPU speed-up vs TRL"] = base.loc[key, "CPU s/step"].to_numpy() / df["CPU s/step"].to_numpy()
        df["memory vs TRL"] = df["peak GB"].to_numpy() / base.loc[key, "peak GB"].to_numpy()
        if "trl-correct" in set(df.run):  # TRL with its mixture sampled correctly (no shared KV cache)
            fixed = df[df.run == "trl-correct"].set_index(["model", "mode"])
            df["speed-up vs TRL correct"] = fixed.loc[key, "s/step"].to_numpy() / df["s/step"].to_numpy()
            df["CPU speed-up vs TRL correct"] = fixed.loc[key, "CPU s/step"].to_numpy() / df["CPU s/step"].to_numpy()
    else:
        first = df.groupby(["model", "mode"])["s/step"].transform("first")
        df["speed-up vs before"] = first / df["s/step"]
        df["CPU speed-up vs before"] = df.groupby(["model", "mode"])["CPU s/step"].transform("first") / df["CPU s/step"]
    pd.set_option("display.width", 200)
    print(df.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print(f"# load average at end {os.getloadavg()[0]:.2f}")
    print("\nProfile (wall and process CPU seconds per timed step; indented rows are parts of the row above them):")
    for (model, mode, label), (prof, prof_cpu) in profiles.items():
        print(f"  {model} {mode} {label}:{'wall s':>{68 - len(model + mode + label)}} {'CPU s':>8}")
        for k in sorted(prof, key=lambda k: PROFILE_ORDER.index(k) if k in PROFILE_ORDER else len(PROFILE_ORDER)):
            print(f"    {k:60s} {prof[k]:8.3f} {prof_cpu.get(k, float('nan')):8.3f}")


if __name__ == "__main__":
    main()
