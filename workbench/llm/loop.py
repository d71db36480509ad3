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
with a different config, trainer, model, judge, prompt pool or evaluator beta is refused, naming the fields
that differ (:mod:`workbench.llm.checkpoint`: checksummed file, run identity, one owner at a time).
``extend=True`` resumes a run with a larger ``config.steps`` (every other setting equal): a finished run
goes on to more steps. ``init`` and ``after_step`` are optional (a stateless trainer defines ``loss`` only).

**The loop refuses what it cannot trust.** The trainer's ``beta`` must equal the evaluator's (one game);
a non-finite loss, gradient norm or weight raises :class:`DivergenceError` naming the step, the learning
rate and the quantity, before the bad weights reach a checkpoint; queries are counted by the loop itself
(the judge is wrapped in a :class:`~workbench.llm.judges.CountingJudge`) and a trainer's declared count
must agree; ``on_eval(frame)`` sees the rows after every evaluation and may stop the run (return ``True``).

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

import math
import numbers
import warnings
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

import pandas as pd
import torch
from tqdm.auto import tqdm

from workbench.device import make_generator
from workbench.llm.checkpoint import (CheckpointError, CheckpointLock, check_checkpoint_path, evaluator_beta,
                                      load_checkpoint, run_identity, save_checkpoint)
from workbench.llm.distributed import (broadcast_from_main, child_seed, forward_through, local_batch,
                                       make_accelerator, on_main, reduce_step, same_device)
from workbench.llm.judges import CountingJudge
from workbench.llm.policy import Policy
from workbench.results import make_frame

INT_FIELDS = ("steps", "batch_size", "max_new_tokens", "eval_every", "seed")


@dataclass(frozen=True)
class LoopConfig:
    """Settings of :func:`train` shared by every trainer (one help line each; the command line's flags are
    generated from these fields, :mod:`workbench.llm.run`)."""

    steps: int = field(default=60, metadata={"help": "gradient steps"})
    batch_size: int = field(default=16, metadata={
        "help": "prompts per step, global over processes (each trainer may sample several responses per prompt)"})
    lr: float = field(default=2e-3, metadata={"help": "AdamW learning rate on the trainable weights"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay (>= 0)"})
    grad_clip: float = field(default=1.0, metadata={"help": "max global gradient norm (0 = no clipping)"})
    max_new_tokens: int = field(default=3, metadata={
        "help": "response length cap (on an enumerable task: its response length)"})
    temperature: float = field(default=1.0, metadata={
        "help": "sampling temperature (1 = the model's own distribution, needed for exactness)"})
    eval_every: int = field(default=10, metadata={"help": "steps between evaluations and checkpoints"})
    seed: int = field(default=0, metadata={"help": "seeds the generator (prompt batches, sampling, label noise)"})

    def __post_init__(self):
        for name in INT_FIELDS:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise TypeError(f"LoopConfig.{name} must be an integer; got {v!r} ({type(v).__name__})")
            if name != "seed" and v < 1:
                raise ValueError(f"LoopConfig.{name} must be >= 1; got {v!r}")
        if self.seed < 0:
            raise ValueError(f"LoopConfig.seed must be >= 0; got {self.seed!r}")
        for name in ("lr", "temperature", "grad_clip", "weight_decay"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                raise TypeError(f"LoopConfig.{name} must be a number; got {v!r} ({type(v).__name__})")
            positive = name in ("lr", "temperature")
            if not math.isfinite(v) or (v <= 0 if positive else v < 0):
                raise ValueError(f"LoopConfig.{name} must be a {'positive' if positive else 'non-negative'} finite "
                                 f"number; got {v!r}")


class DivergenceError(FloatingPointError):
    """Training produced a non-finite loss, gradient norm or weight (the checkpoint keeps the last good state)."""


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
    """One step's loss (to minimize) and its costs. ``queries`` is the trainer's declared count (checked
    against the loop's own count of judge calls; ``None``: not declared)."""

    loss: torch.Tensor  # scalar with grad
    queries: int | None  # preference / reward queries spent
    tokens: int  # generated tokens
    stats: dict[str, float] = field(default_factory=dict)  # scalar diagnostics, recorded as metrics


class Trainer(Protocol):
    """``loss`` is required; ``init(policy) -> state`` and ``after_step(policy, state) -> state`` are optional."""

    name: str

    def loss(self, policy: Policy, judge, prompts: list[str], state: Any, ctx: StepContext) -> StepOut: ...


@dataclass
class TrainRun:
    """The outcome of :func:`train`: the tidy frame, the final trainer state and the totals."""

    frame: pd.DataFrame
    state: Any
    steps: int
    queries: int
    tokens: int


def init_state(trainer, policy: Policy) -> Any:
    """The trainer's initial state (``None`` for a stateless trainer without ``init``)."""
    init = getattr(trainer, "init", None)
    return init(policy) if callable(init) else None


def _describe(obj) -> dict:
    return asdict(obj) if is_dataclass(obj) else dict(vars(obj))


def _differences(saved: dict, now: dict, prefix: str) -> list[str]:
    keys = sorted(set(saved) | set(now))
    return [f"{prefix}.{k}: checkpoint {saved.get(k)!r} vs now {now.get(k)!r}" for k in keys if saved.get(k) != now.get(k)]


def _resume_payload(path: Path, trainer, config: LoopConfig, identity: dict, extend: bool) -> dict:
    """The checkpoint's payload after checking it was written by this run (config, trainer, identity)."""
    payload = load_checkpoint(path)
    saved_cfg = dict(payload["config"])
    now_cfg = asdict(config)
    if extend:  # more steps are allowed; every other field must match
        if config.steps < payload["step"]:
            raise CheckpointError(f"train: extend=True but config.steps={config.steps} is below the checkpoint's "
                                  f"step {payload['step']} ({path})")
        saved_cfg.pop("steps", None)
        now_cfg.pop("steps")
    diff = _differences(saved_cfg, now_cfg, "config")
    diff += _differences(payload["trainer"], _describe(trainer), "trainer")
    diff += _differences(payload["identity"], identity, "run")
    if diff:
        hint = ("" if extend or "config.steps" not in " ".join(diff) else
                "; to continue a finished run to more steps, resume with extend=True (--extend)")
        raise CheckpointError(f"train: resume=True but {path} was written by a different run:\n  " + "\n  ".join(diff)
                              + f"\n(use a new checkpoint path, or resume with the same settings{hint})")
    return payload


def make_optimizer(params: list[torch.nn.Parameter], lr: float, weight_decay: float = 0.0) -> torch.optim.AdamW:
    """The loop's AdamW: PyTorch's fused kernel (one pass over every weight per step instead of a dozen
    elementwise ops per tensor) where it supports the weights' device; the same update up to rounding.
    On SmolLM2-135M full fine-tuning (CPU, one thread) clip + step took 0.3 s instead of 1.0 s
    (``benchmarks/README.md``)."""
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True if fused else None)


def check_beta(trainer, evaluator) -> None:
    """One game: a trainer's ``beta`` must equal the evaluator's (else the recorded distances are to
    another equilibrium than the one the trainer aims at)."""
    if evaluator is None or getattr(trainer, "beta", None) is None:
        return
    want = evaluator_beta(evaluator)
    beta = float(trainer.beta)
    if want is not None and not math.isclose(want, beta, rel_tol=1e-9, abs_tol=1e-12):
        raise ValueError(f"train: the trainer's beta={beta!r} differs from the evaluator's beta="
                         f"{want!r}; build both from one beta (ExactEvaluator.build(policy, task, beta) and "
                         f"make_trainer(name, beta=beta))")



def check_inputs(trainer, judge, prompts, config: LoopConfig, evaluator) -> None:
    """Refuse what :func:`train` cannot run, before anything is changed; every error names the argument."""
    if not callable(getattr(trainer, "loss", None)):
        raise TypeError(f"train: the trainer must have a loss(policy, judge, prompts, state, ctx) method; got "
                        f"{type(trainer).__name__} (make one with workbench.llm.make_trainer)")
    if not isinstance(config, LoopConfig):
        raise TypeError(f"train: config must be a LoopConfig; got {type(config).__name__}")
    if isinstance(prompts, str) or not prompts:
        raise ValueError("train: the prompt pool is empty" if not prompts else
                         "train: prompts must be a list of prompt texts, not one string")
    bad = next((i for i, p in enumerate(prompts) if not isinstance(p, str) or not p.strip()), None)
    if bad is not None:
        raise ValueError(f"train: prompt {bad} is {prompts[bad]!r}; every prompt must be a non-empty string")
    if getattr(trainer, "needs_judge", True) and (judge is None or not callable(getattr(judge, "prob", None))):
        raise TypeError(f"train: the judge must have a prob(prompts, responses_a, responses_b) method; got "
                        f"{type(judge).__name__ if judge is not None else None} (e.g. workbench.llm.OracleJudge(task), "
                        f"or a workbench.prefmodels.ModelJudge)")
    if getattr(trainer, "needs_reward", False) and not callable(getattr(judge, "reward", None)):
        raise TypeError(f"train: {getattr(trainer, 'name', type(trainer).__name__)} needs a reward judge (a "
                        f"reward(prompts, responses) method, e.g. workbench.llm.bt_oracle_judge(task)); "
                        f"{type(judge).__name__} is pairwise only")
    check_beta(trainer, evaluator)
    if evaluator is not None and config.temperature != 1.0:
        warnings.warn(f"train: LoopConfig.temperature={config.temperature:g} samples another law than the policy the "
                      f"exact evaluator scores (temperature 1): the trainers' estimators then aim elsewhere than the "
                      f"recorded distances assume", stacklevel=3)
    task = getattr(evaluator, "task", None)
    if task is not None and config.max_new_tokens != task.length:
        raise ValueError(f"train: LoopConfig.max_new_tokens={config.max_new_tokens} differs from the task's "
                         f"response length {task.length}; set max_new_tokens={task.length} for exact evaluation")
    budget = getattr(evaluator, "max_new_tokens", None)
    if budget is not None and config.max_new_tokens != budget:
        raise ValueError(f"train: LoopConfig.max_new_tokens={config.max_new_tokens} differs from the evaluator's "
                         f"max_new_tokens={budget}; evaluate responses of the length the policy is trained on")


def _check_finite(step: int, lr: float, loss: torch.Tensor, grad_norm: torch.Tensor | None,
                  params: list[torch.nn.Parameter] | None) -> None:
    """Raise :class:`DivergenceError` naming the step, the learning rate and the first non-finite quantity."""
    where = f"at step {step + 1} (lr={lr:g})"
    fix = "; lower --lr, keep --grad-clip > 0, or check the judge's outputs"
    if not bool(torch.isfinite(loss.detach())):
        raise DivergenceError(f"train: the loss is {float(loss.detach()):g} {where}{fix}")
    if grad_norm is not None and not bool(torch.isfinite(grad_norm)):
        raise DivergenceError(f"train: the gradient norm is {float(grad_norm):g} {where}{fix}")
    if params is not None:
        norms = torch.stack([n.float() for n in torch._foreach_norm([p.detach() for p in params])])  # (n_params,)
        if not bool(torch.isfinite(norms).all()):
            raise DivergenceError(f"train: the weights became non-finite after the optimizer step {where}{fix}")


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
    overwrite: bool = False,
    extend: bool = False,
    model_name: str = "tiny",
    progress: bool = True,
    accelerator=None,
    stop_after: int | None = None,
    on_eval: Callable[[pd.DataFrame], bool | None] | None = None,
) -> TrainRun:
    """Train ``policy`` with ``trainer`` against ``judge`` on ``prompts``; returns a :class:`TrainRun`.

    Args:
        trainer: a trainer dataclass (its ``name`` labels the rows, its fields enter the checkpoint check).
        policy: the policy (LoRA adapters or full weights are trained).
        judge: anything with ``prob`` (and ``reward`` for reward-based trainers); the loop counts its calls.
        prompts: the prompt pool; each step draws ``batch_size`` of them with replacement.
        config: :class:`LoopConfig`.
        evaluator: an :class:`~workbench.llm.exact.ExactEvaluator` (enumerable task) scored at step 0 and
            every ``eval_every`` steps; its beta must be the trainer's. ``None`` records training statistics only.
        checkpoint: file written atomically after every evaluation (never half-written), checksummed, locked
            while the run trains (:mod:`workbench.llm.checkpoint`).
        resume: continue from ``checkpoint`` (same config, trainer, model, judge, prompts, beta; else a clear error).
        overwrite: replace an existing ``checkpoint`` (without it, an existing file is refused: it is another run's).
        extend: with ``resume``, ``config.steps`` may exceed the checkpoint's (continue a finished run).
        model_name: the ``model`` knob of the rows.
        progress: show a progress bar (on the main process).
        accelerator: an ``accelerate.Accelerator`` (default: :func:`~workbench.llm.distributed.make_accelerator`,
            which under ``accelerate launch`` spans every process); the policy must already be on its
            ``device`` when there are several processes.
        stop_after: leave the run after this step (a planned interruption, e.g. a job's time slice): a
            multiple of ``eval_every``, so the checkpoint it leaves is one the uninterrupted run writes too;
            ``resume=True`` later continues to ``config.steps``, on any number of processes.
        on_eval: called on the main process after every evaluation (step 0 included, after the checkpoint is
            written) with the frame of all rows so far; returning ``True`` stops the run there (resume later).
    """
    if stop_after is not None and (isinstance(stop_after, bool) or not isinstance(stop_after, numbers.Integral)
                                   or stop_after < 1 or stop_after % config.eval_every):
        raise ValueError(f"train: stop_after={stop_after!r} must be a positive multiple of eval_every="
                         f"{config.eval_every} (a step that writes a checkpoint)")
    check_inputs(trainer, judge, prompts, config, evaluator)
    if extend and not resume:
        raise ValueError("train: extend=True continues a checkpoint; it needs resume=True")
    params = [p for _, p in policy.trainable()]
    if not params:
        raise ValueError("train: the policy has no trainable weights")
    acc = accelerator if accelerator is not None else make_accelerator()
    # the checkpoint is the main process's: only it checks ownership (another process would see its lock)
    on_main(acc, lambda: check_checkpoint_path(checkpoint, resume=resume, overwrite=overwrite))
    ckpt = Path(checkpoint) if checkpoint is not None else None
    args = (trainer, policy, CountingJudge(judge), list(prompts), config, evaluator, ckpt, resume, extend, model_name,
            progress, acc, accelerator is None, stop_after, on_eval, params)
    if ckpt is not None and acc.is_main_process:
        with CheckpointLock(ckpt):
            return _train(*args)
    return _train(*args)


def _train(trainer, policy: Policy, judge: CountingJudge, prompts: list[str], config: LoopConfig, evaluator,
           ckpt: Path | None, resume: bool, extend: bool, model_name: str, progress: bool, acc, own_acc: bool,
           stop_after, on_eval, params) -> TrainRun:
    rank, world, main = acc.process_index, acc.num_processes, acc.is_main_process
    local = local_batch(config.batch_size, world)  # prompts per process
    if world > 1 and not same_device(policy.device, acc.device):
        raise ValueError(f"train: {world} processes but the policy is on {policy.device}, not this process's device "
                         f"{acc.device}; load it with device=workbench.llm.distributed.local_device()")
    identity = run_identity(policy, judge, prompts, evaluator, model_name) if ckpt is not None else {}
    payload = _resume_payload(ckpt, trainer, config, identity, extend) if resume else None
    opt = make_optimizer(params, config.lr, config.weight_decay)
    wrapper, opt = acc.prepare(policy.model, opt)  # DDP-wrapped with several processes (weights synced from rank 0)
    gen = make_generator(config.seed, policy.device)  # the global stream (identical on every process)
    state = init_state(trainer, policy)
    after_step = getattr(trainer, "after_step", None)
    rows: list[tuple] = []
    step, queries, tokens = 0, 0, 0
    beta = float(getattr(trainer, "beta", float("nan")))
    if payload is not None:
        try:
            policy.load_snapshot({k: v.to(policy.device) for k, v in payload["weights"].items()})
            opt.load_state_dict(payload["optimizer"])
            gen.set_state(payload["generator"])
        except (KeyError, RuntimeError, ValueError) as exc:
            raise CheckpointError(f"train: checkpoint {ckpt} does not fit this policy or optimizer "
                                  f"({type(exc).__name__}: {exc})") from None
        state = payload.get("trainer_state")
        rows, step, queries, tokens = payload["rows"], payload["step"], payload["queries"], payload["tokens"]

    def record(stats: dict[str, float]) -> bool:
        scores = evaluator.score(policy) if evaluator is not None and main else {}
        scores = broadcast_from_main(acc, scores)
        for metric, value in {**scores, **stats}.items():
            rows.append((trainer.name, config.seed, step, queries, metric, float(value), model_name, beta))
        if ckpt is not None and main:
            save_checkpoint({
                "config": asdict(config), "trainer": _describe(trainer), "identity": identity,
                "weights": {k: v.cpu() for k, v in policy.snapshot().items()}, "optimizer": opt.state_dict(),
                "generator": gen.get_state(), "trainer_state": state, "rows": rows, "step": step,
                "queries": queries, "tokens": tokens, "processes": world,
            }, ckpt)
        stop = bool(on_eval(make_frame(list(rows), knobs="llm"))) if on_eval is not None and main else False
        return bool(broadcast_from_main(acc, stop))

    stop = record({}) if step == 0 and not rows else False
    policy.model.train()
    bar = tqdm(total=config.steps, initial=step, desc=trainer.name, disable=not (progress and main), leave=False)
    last = config.steps if stop_after is None else min(config.steps, stop_after)
    while step < last and not stop:
        idx = torch.randint(len(prompts), (config.batch_size,), generator=gen, device=gen.device)  # (B,) global
        batch = [prompts[i] for i in idx[rank * local:(rank + 1) * local].tolist()]  # (B / W,) this process's
        sampler = gen if world == 1 else make_generator(child_seed(config.seed, step, rank), policy.device)
        ctx = StepContext(config, sampler, step, rank=rank, processes=world, shared=gen)
        asked = judge.queries
        with forward_through(policy, wrapper):
            out = trainer.loss(policy, judge, batch, state, ctx)
            _check_finite(step, config.lr, out.loss, None, None)
            opt.zero_grad(set_to_none=True)
            acc.backward(out.loss)  # DDP all-reduces (averages) the gradients here
        counted = judge.queries - asked
        if out.queries is not None and int(out.queries) != counted:
            raise RuntimeError(f"train: {trainer.name} declared {out.queries} queries at step {step + 1} but asked "
                               f"the judge {counted} times (the loop's count is recorded; fix the trainer's count)")
        grad_norm = acc.clip_grad_norm_(params, config.grad_clip if config.grad_clip > 0 else float("inf"))
        _check_finite(step, config.lr, out.loss, torch.as_tensor(grad_norm), None)
        opt.step()
        opt.zero_grad(set_to_none=True)  # free the gradients now, not after the next step's forward (peak memory)
        _check_finite(step, config.lr, out.loss, None, params)
        if callable(after_step):
            state = after_step(policy, state)
        q, t, loss, stats = reduce_step(acc, policy.device, counted, out.tokens, float(out.loss.detach()),
                                        out.stats)
        step, queries, tokens = step + 1, queries + q, tokens + t
        bar.update(1)
        if step % config.eval_every == 0 or step == config.steps:
            stop = record({"loss": loss, **stats})
    bar.close()
    acc.wait_for_everyone()  # the last checkpoint is on disk before any process returns
    if world > 1 and own_acc:
        acc.free_memory()  # drops the DDP wrapper and, with it, its gradient hooks on the policy's weights
    policy.model.eval()
    frame = make_frame(rows, knobs="llm")
    return TrainRun(frame, state, step, queries, tokens)
