"""The one training loop every LLM trainer runs in: sample prompts, trainer loss, step, score, checkpoint.

A trainer (one module per method, e.g. :mod:`workbench.llm.nash_md_pg`) is a frozen dataclass of
hyperparameters with three methods, in the Spinning Up split of ``compute_loss`` / ``update``:

    state = trainer.init(policy)                                   # typed per-method state (or None)
    out = trainer.loss(policy, judge, prompts, state, ctx)         # StepOut: loss, queries, tokens, stats
    state = trainer.after_step(policy, state)                      # e.g. EMA update, Nash-MP phase switch

:func:`train` owns everything else: the optimizer (AdamW on the trainable weights, LoRA adapters by
default), gradient clipping, a random generator on the policy's device (the only source of randomness:
prompt batches and sampling), progress (tqdm), exact scoring by an :class:`~workbench.llm.exact.ExactEvaluator`
every ``eval_every`` steps, and an atomic checkpoint after each evaluation. ``resume=True`` continues the
same run exactly (weights, optimizer, trainer state, generator state, recorded rows); a checkpoint written
with a different config or trainer is refused, naming the fields that differ.

The result is a tidy frame in the shared schema (:mod:`workbench.results`): ``algo, seed, step, queries,
metric, value`` plus the LLM lab's knobs ``model, beta``; ``queries`` counts preference (or reward) queries.

**Several processes** (``accelerate launch``, :mod:`workbench.llm.distributed`): every trainer runs
data-parallel unchanged. ``batch_size`` stays the global batch (divisible by the number of processes), each
process draws its slice of the global prompt batch and samples its own responses, DDP averages the
gradients, queries and tokens are summed and the recorded statistics averaged over processes, the main
process evaluates (its scores are broadcast, so every process returns the same frame) and writes the
checkpoint, which holds the global state and resumes on any number of processes (what is bitwise identical
is stated in :mod:`workbench.llm.distributed`). One process is the same code path, with the same numbers as
before ``accelerate`` was added.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import torch
from tqdm.auto import tqdm

from workbench.device import make_generator
from workbench.io import atomic_save_torch
from workbench.llm.distributed import (broadcast_from_main, child_seed, forward_through, local_batch,
                                       make_accelerator, reduce_step, same_device)
from workbench.llm.policy import Policy
from workbench.results import make_frame

CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class LoopConfig:
    """Settings of :func:`train` shared by every trainer (one help line each)."""

    steps: int = 60  # gradient steps
    batch_size: int = 16  # prompts per step (each trainer may sample several responses per prompt)
    lr: float = 2e-3  # AdamW learning rate on the trainable weights
    weight_decay: float = 0.0  # AdamW weight decay
    grad_clip: float = 1.0  # max global grad norm (0 = no clipping)
    max_new_tokens: int = 3  # response length cap (the exact length on a constrained task)
    temperature: float = 1.0  # sampling temperature (1 = the model's own distribution, needed for exactness)
    eval_every: int = 10  # steps between exact evaluations and checkpoints
    seed: int = 0  # seeds the generator (prompt batches, sampling, label noise)

    def __post_init__(self):
        for name in ("steps", "batch_size", "max_new_tokens", "eval_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"LoopConfig.{name} must be >= 1; got {getattr(self, name)!r}")
        for name in ("lr", "temperature"):
            v = float(getattr(self, name))
            if not (v > 0 and v < float("inf")):
                raise ValueError(f"LoopConfig.{name} must be a positive finite number; got {getattr(self, name)!r}")


@dataclass
class StepContext:
    """What a trainer's ``loss`` may use besides the policy and the judge.

    ``generator`` is this process's sampling stream; ``shared`` the global stream, identical on every
    process (``None``: the same as ``generator``, the single-process case); ``rank`` / ``processes`` locate this
    process's shard of the global batch (:mod:`workbench.llm.distributed`)."""

    config: LoopConfig
    generator: torch.Generator
    step: int
    rank: int = 0
    processes: int = 1
    shared: torch.Generator | None = None

    def draw_shard(self, high: int, n: int) -> torch.Tensor:
        """``n`` indices in ``[0, high)``, this process's slice of ONE global draw of ``n * processes`` indices
        from the shared stream (uniform, with replacement), ``(n,)``: the global draw, hence the union of the
        processes' minibatches, does not depend on the number of processes. One process: the draw
        ``torch.randint(high, (n,), generator=generator)``."""
        gen = self.shared if self.shared is not None else self.generator
        idx = torch.randint(high, (n * self.processes,), generator=gen, device=gen.device)  # (n W,)
        return idx[self.rank * n:(self.rank + 1) * n]  # (n,)


@dataclass
class StepOut:
    """One step's loss (to minimize) and its costs."""

    loss: torch.Tensor  # scalar with grad
    queries: int  # preference / reward queries spent
    tokens: int  # generated tokens
    stats: dict[str, float] = field(default_factory=dict)  # scalar diagnostics, recorded as metrics


class Trainer(Protocol):
    name: str

    def init(self, policy: Policy) -> Any: ...

    def loss(self, policy: Policy, judge, prompts: list[str], state: Any, ctx: StepContext) -> StepOut: ...

    def after_step(self, policy: Policy, state: Any) -> Any: ...


@dataclass
class TrainRun:
    """The outcome of :func:`train`: the tidy frame, the final trainer state and the totals."""

    frame: pd.DataFrame
    state: Any
    steps: int
    queries: int
    tokens: int


def _describe(obj) -> dict:
    return asdict(obj) if is_dataclass(obj) else dict(vars(obj))


def _differences(saved: dict, now: dict, prefix: str) -> list[str]:
    keys = sorted(set(saved) | set(now))
    return [f"{prefix}.{k}: checkpoint {saved.get(k)!r} vs now {now.get(k)!r}" for k in keys if saved.get(k) != now.get(k)]


def _load_checkpoint(path: Path, trainer, config: LoopConfig) -> dict:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise ValueError(f"train: checkpoint {path} cannot be read ({type(exc).__name__}: {exc})") from exc
    if payload.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"train: checkpoint {path} has version {payload.get('version')!r}; expected {CHECKPOINT_VERSION}")
    diff = _differences(payload["config"], asdict(config), "config")
    diff += _differences(payload["trainer"], _describe(trainer), "trainer")
    if diff:
        raise ValueError(f"train: resume=True but {path} was written by a different run:\n  " + "\n  ".join(diff)
                         + "\n(use a new checkpoint path, or resume with the same settings)")
    return payload


def make_optimizer(params: list[torch.nn.Parameter], lr: float, weight_decay: float = 0.0) -> torch.optim.AdamW:
    """The loop's AdamW: PyTorch's fused kernel (one pass over every weight per step instead of a dozen
    elementwise ops per tensor) where it supports the weights' device; the same update up to rounding.
    On SmolLM2-135M full fine-tuning (CPU, one thread) clip + step took 0.3 s instead of 1.0 s
    (``benchmarks/README.md``)."""
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True if fused else None)


def train(
    trainer: Trainer,
    policy: Policy,
    judge,
    prompts: list[str],
    config: LoopConfig = LoopConfig(),
    *,
    evaluator=None,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    model_name: str = "tiny",
    progress: bool = True,
    accelerator=None,
    stop_after: int | None = None,
) -> TrainRun:
    """Train ``policy`` with ``trainer`` against ``judge`` on ``prompts``; returns a :class:`TrainRun`.

    Args:
        trainer: a trainer dataclass (its ``name`` labels the rows, its fields enter the checkpoint check).
        policy: the policy (LoRA adapters or full weights are trained).
        judge: anything with ``prob`` (and ``reward`` for reward-based trainers).
        prompts: the prompt pool; each step draws ``batch_size`` of them with replacement.
        config: :class:`LoopConfig`.
        evaluator: an :class:`~workbench.llm.exact.ExactEvaluator` (enumerable task) scored at step 0 and
            every ``eval_every`` steps; ``None`` records training statistics only.
        checkpoint: file written atomically after every evaluation (never half-written).
        resume: continue from ``checkpoint`` (same config and trainer, else a clear error).
        model_name: the ``model`` knob of the rows.
        progress: show a progress bar (on the main process).
        accelerator: an ``accelerate.Accelerator`` (default: :func:`~workbench.llm.distributed.make_accelerator`,
            which under ``accelerate launch`` spans every process); the policy must already be on its
            ``device`` when there are several processes.
        stop_after: leave the run after this step (a planned interruption, e.g. a job's time slice): a
            multiple of ``eval_every``, so the checkpoint it leaves is one the uninterrupted run writes too;
            ``resume=True`` later continues to ``config.steps``, on any number of processes.
    """
    if not prompts:
        raise ValueError("train: the prompt pool is empty")
    if stop_after is not None and (stop_after < 1 or stop_after % config.eval_every):
        raise ValueError(f"train: stop_after={stop_after!r} must be a positive multiple of eval_every="
                         f"{config.eval_every} (a step that writes a checkpoint)")
    params = [p for _, p in policy.trainable()]
    if not params:
        raise ValueError("train: the policy has no trainable weights")
    acc = accelerator if accelerator is not None else make_accelerator()
    rank, world, main = acc.process_index, acc.num_processes, acc.is_main_process
    local = local_batch(config.batch_size, world)  # prompts per process
    if world > 1 and not same_device(policy.device, acc.device):
        raise ValueError(f"train: {world} processes but the policy is on {policy.device}, not this process's device "
                         f"{acc.device}; load it with device=workbench.llm.distributed.local_device()")
    opt = make_optimizer(params, config.lr, config.weight_decay)
    wrapper, opt = acc.prepare(policy.model, opt)  # DDP-wrapped with several processes (weights synced from rank 0)
    gen = make_generator(config.seed, policy.device)  # the global stream (identical on every process)
    state = trainer.init(policy)
    rows: list[tuple] = []
    step, queries, tokens = 0, 0, 0
    beta = float(getattr(trainer, "beta", float("nan")))
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if resume:
        if ckpt is None or not ckpt.exists():
            raise FileNotFoundError(f"train: resume=True but no checkpoint at {ckpt}")
        payload = _load_checkpoint(ckpt, trainer, config)
        policy.load_snapshot({k: v.to(policy.device) for k, v in payload["weights"].items()})
        opt.load_state_dict(payload["optimizer"])
        gen.set_state(payload["generator"])
        state = payload["trainer_state"]
        rows, step, queries, tokens = payload["rows"], payload["step"], payload["queries"], payload["tokens"]

    def record(stats: dict[str, float]) -> None:
        scores = evaluator.score(policy) if evaluator is not None and main else {}
        scores = broadcast_from_main(acc, scores)
        for metric, value in {**scores, **stats}.items():
            rows.append((trainer.name, config.seed, step, queries, metric, float(value), model_name, beta))
        if ckpt is not None and main:
            atomic_save_torch({
                "version": CHECKPOINT_VERSION, "config": asdict(config), "trainer": _describe(trainer),
                "weights": {k: v.cpu() for k, v in policy.snapshot().items()}, "optimizer": opt.state_dict(),
                "generator": gen.get_state(), "trainer_state": state, "rows": rows, "step": step,
                "queries": queries, "tokens": tokens, "processes": world,
            }, ckpt)

    if step == 0 and not rows:
        record({})
    policy.model.train()
    bar = tqdm(total=config.steps, initial=step, desc=trainer.name, disable=not (progress and main), leave=False)
    last = config.steps if stop_after is None else min(config.steps, stop_after)
    while step < last:
        idx = torch.randint(len(prompts), (config.batch_size,), generator=gen, device=gen.device)  # (B,) global
        batch = [prompts[i] for i in idx[rank * local:(rank + 1) * local].tolist()]  # (B / W,) this process's
        sampler = gen if world == 1 else make_generator(child_seed(config.seed, step, rank), policy.device)
        ctx = StepContext(config, sampler, step, rank=rank, processes=world, shared=gen)
        with forward_through(policy, wrapper):
            out = trainer.loss(policy, judge, batch, state, ctx)
            opt.zero_grad(set_to_none=True)
            acc.backward(out.loss)  # DDP all-reduces (averages) the gradients here
        if config.grad_clip > 0:
            acc.clip_grad_norm_(params, config.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)  # free the gradients now, not after the next step's forward (peak memory)
        state = trainer.after_step(policy, state)
        q, t, loss, stats = reduce_step(acc, policy.device, out.queries, out.tokens, float(out.loss.detach()),
                                        out.stats)
        step, queries, tokens = step + 1, queries + q, tokens + t
        bar.update(1)
        if step % config.eval_every == 0 or step == config.steps:
            record({"loss": loss, **stats})
    bar.close()
    acc.wait_for_everyone()  # the last checkpoint is on disk before any process returns
    if world > 1 and accelerator is None:
        acc.free_memory()  # drops the DDP wrapper and, with it, its gradient hooks on the policy's weights
    policy.model.eval()
    frame = make_frame(rows, knobs="llm")
    return TrainRun(frame, state, step, queries, tokens)
