"""Data-parallel training under ``accelerate``: what :func:`workbench.llm.loop.train` needs beyond one process.

The engine is HuggingFace ``accelerate`` (``accelerate launch``: DDP over gloo on CPUs or NCCL on GPUs,
FSDP, DeepSpeed); this module only adapts the lab's :class:`~workbench.llm.policy.Policy` to it.

**Data parallelism, stated once.** ``LoopConfig.batch_size`` is the GLOBAL batch ``B``; with ``W``
processes each process draws its ``B / W`` prompts (``B`` divisible by ``W``), samples its own responses,
and the gradients of the per-process mean losses are averaged by DDP's all-reduce, so the step is the
single-process step on the global batch (exactly, for a loss that is a mean over prompts, up to the
all-reduce's float summation order):

    g = (1/W) sum_r (1/(B/W)) sum_{i in shard r} grad l_i = (1/B) sum_i grad l_i.

**Randomness.** One global generator ``G`` (seeded with ``LoopConfig.seed``, identical on every process)
draws the global prompt batch; process ``r`` keeps the slice ``[r B/W, (r+1) B/W)``. With ``W = 1`` the
trainer also samples from ``G`` (the single-process stream, unchanged). With ``W > 1`` process ``r`` samples
from a fresh child generator seeded by :func:`child_seed` ``(seed, step, r)`` at every step, so no
per-process random state exists: a checkpoint (weights, optimizer, trainer state, ``G``) is the whole state
of the run and can be resumed on any number of processes. Trainers that draw from a fixed data set use
``ctx.shared`` (= ``G``) through :meth:`~workbench.llm.loop.StepContext.draw_shard`: every process draws the
same global indices and keeps its slice, so e.g. offline DPO's global minibatch does not depend on ``W``.

What is bitwise identical: a resumed run on the SAME number of processes (and device) equals the
uninterrupted run. Across process counts: a trainer without own sampling (offline DPO) follows the same
trajectory up to float summation order (~1e-6 relative in the weights); a sampling trainer follows a
different but identically distributed trajectory (other responses are drawn).

**The policy under a wrapper.** ``accelerate.prepare`` wraps the model (``DistributedDataParallel``); the
trainer's forward passes must run through the wrapper (its autograd hooks all-reduce the gradients) while
the rest of the lab keeps addressing ``policy.model`` as before (peft's ``disable_adapter`` for the
reference, parameter names for snapshots). :func:`forward_through` installs, for the duration of a step, a
view of ``policy.model`` whose calls go to the wrapper and whose attributes are the model's. DDP is built
with ``broadcast_buffers=False`` (processes may run different numbers of no-grad forwards: sampling stops
at EOS per batch, evaluation runs on the main process only) and ``find_unused_parameters=False`` (LoRA's
frozen base weights have no gradient hooks at all; every trainable adapter is used by each policy forward,
and a trainer may run several forwards before one backward, which ``find_unused_parameters=True`` forbids).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Sequence

import numpy as np
import torch


def make_accelerator(**kwargs):
    """An ``accelerate.Accelerator`` set up for the lab: no device placement (the policy is loaded on
    :func:`local_device` by the caller), DDP without buffer broadcasts (see the module docstring), and
    ``cpu=True`` on a machine without CUDA (so that ``torchrun --nproc_per_node 2`` gives a gloo group).
    ``kwargs`` go to ``Accelerator`` (e.g. ``mixed_precision="bf16"``)."""
    from accelerate import Accelerator, DistributedDataParallelKwargs

    handlers = list(kwargs.pop("kwargs_handlers", []))
    if not any(isinstance(h, DistributedDataParallelKwargs) for h in handlers):
        handlers.append(DistributedDataParallelKwargs(broadcast_buffers=False, find_unused_parameters=False))
    kwargs.setdefault("device_placement", False)
    kwargs.setdefault("cpu", _cpu_only())
    return Accelerator(kwargs_handlers=handlers, **kwargs)


def local_device() -> torch.device:
    """This process's device under ``accelerate launch`` (``cuda:<local rank>`` on GPUs, else CPU)."""
    from accelerate import PartialState

    return PartialState(cpu=_cpu_only()).device


def _cpu_only() -> bool:
    """No CUDA here: processes started by ``torchrun`` (or ``accelerate launch --multi_gpu``) join a gloo
    group on CPUs (``accelerate`` only does so when told ``cpu=True``)."""
    return not torch.cuda.is_available()


def same_device(a: torch.device, b: torch.device) -> bool:
    """Whether two devices are the same (``cpu`` and ``cpu:0`` are; ``cuda`` is ``cuda:0``)."""
    a, b = torch.device(a), torch.device(b)
    return a.type == b.type and (a.type == "cpu" or (a.index or 0) == (b.index or 0))


def child_seed(seed: int, step: int, rank: int) -> int:
    """The seed of process ``rank``'s sampling generator at ``step``: a ``numpy.random.SeedSequence`` hash of
    ``(seed, step, rank)`` (independent streams for every pair, reproducible from the three numbers)."""
    for name, v in (("seed", seed), ("step", step), ("rank", rank)):
        if int(v) < 0:
            raise ValueError(f"child_seed: {name} must be >= 0; got {v!r}")
    return int(np.random.SeedSequence([int(seed), int(step), int(rank)]).generate_state(1, np.uint32)[0])


def local_batch(global_batch: int, processes: int, what: str = "LoopConfig.batch_size") -> int:
    """``global_batch / processes``; raises naming ``what`` when it does not divide."""
    if processes < 1:
        raise ValueError(f"local_batch: processes must be >= 1; got {processes!r}")
    if global_batch % processes:
        raise ValueError(f"{what}={global_batch} is the global batch and must be divisible by the number of "
                         f"processes ({processes}); use a multiple of {processes}")
    return global_batch // processes


def shard(items: Sequence, rank: int, processes: int) -> list:
    """Process ``rank``'s contiguous slice of ``items`` (length divisible by ``processes``)."""
    n = local_batch(len(items), processes, what="the global batch")
    return list(items[rank * n:(rank + 1) * n])


class _ForwardView:
    """``policy.model`` during a step: calls go to the wrapper (DDP hooks), attributes to the model itself."""

    def __init__(self, wrapper: torch.nn.Module, model: torch.nn.Module):
        object.__setattr__(self, "_wrapper", wrapper)
        object.__setattr__(self, "_model", model)

    def __call__(self, *args, **kwargs):
        return self._wrapper(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._model, name)

    def __setattr__(self, name, value):
        setattr(self._model, name, value)


@contextmanager
def forward_through(policy, wrapper: torch.nn.Module | None) -> Iterator[None]:
    """Within the block, ``policy.model(...)`` runs through ``wrapper`` (no-op when ``wrapper`` is the model
    itself or ``None``); the model's attributes, parameters and their names are unchanged."""
    model = policy.model
    if wrapper is None or wrapper is model:
        yield
        return
    policy.__dict__["model"] = _ForwardView(wrapper, model)  # shadows the registered submodule
    try:
        yield
    finally:
        del policy.__dict__["model"]


def reduce_step(accelerator, device: torch.device, queries: int, tokens: int, loss: float,
                stats: dict[str, float]) -> tuple[int, int, float, dict[str, float]]:
    """One step's costs summed over processes and its loss and statistics averaged (NaN-aware), in one
    gather; every process gets the same numbers. Single process: returned unchanged."""
    if accelerator is None or accelerator.num_processes == 1:
        return queries, tokens, loss, stats
    keys = list(stats)  # the same keys, in the same order, on every process (one trainer)
    local = torch.tensor([queries, tokens, loss, *(stats[k] for k in keys)], dtype=torch.float64,
                         device=device)  # (2 + 1 + S,)
    every = accelerator.gather(local.unsqueeze(0))  # (W, 2 + 1 + S)
    q, t = every[:, 0].sum(), every[:, 1].sum()
    means = every[:, 2:].nanmean(0)  # (1 + S,)
    return int(q), int(t), float(means[0]), {k: float(v) for k, v in zip(keys, means[1:].tolist())}


def broadcast_from_main(accelerator, obj):
    """``obj`` of the main process on every process (a picklable object; single process: ``obj``)."""
    if accelerator is None or accelerator.num_processes == 1:
        return obj
    from accelerate.utils import broadcast_object_list

    box = [obj]
    broadcast_object_list(box, from_process=0)
    return box[0]


def on_main(accelerator, check) -> None:
    """Run ``check()`` on the main process only and raise its error on EVERY process (so no process waits at a
    collective for a main process that failed): ownership checks of files only the main process writes."""
    error = None
    if accelerator is None or accelerator.is_main_process:
        try:
            check()
        except Exception as exc:  # noqa: BLE001 - re-raised below, on every process
            error = exc
    error = broadcast_from_main(accelerator, error)
    if error is not None:
        raise error
