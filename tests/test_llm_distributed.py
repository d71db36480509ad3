"""Data-parallel training (workbench.llm.distributed, loop.train under accelerate): the pieces by hand, then
two CPU processes (torchrun, gloo) against one process with the same global batch.

Stated tolerances of the 2-process test:
* offline DPO (no sampling; each process takes its slice of one global minibatch): the 2-process run for
  2 steps, resumed on ONE process for 2 more, ends at the single-process run's weights within
  ``WEIGHT_TOL = 1e-4`` (absolute, 1% of one Adam step at lr = 1e-2, while the weights move ~4e-2) and with
  its exact metrics within ``METRIC_TOL = 1e-4``. The only difference is the all-reduce's float32 summation
  order (~1e-7 relative in a gradient), but Adam divides each coordinate by its own RMS, so a coordinate
  whose gradient is near Adam's eps carries that noise into its update at up to ~1e-3 of a step: measured
  gap 1.1e-5 here;
* Nash-MD-PG (each process samples its own responses): query and token counts summed exactly, the
  processes' weights identical after training (the gradients were all-reduced), and the first step's
  recorded ``pref_vs_opponent`` (the mean of ``P(y ≻ y')`` over the global batch at pi = mu) within
  4 standard deviations ``4 sqrt(2 Var / B)`` of the single-process run's, ``Var`` the exact variance of
  ``P(y ≻ y')`` for ``y, y' ~ mu`` (a CLT bound: a run that summed instead of averaging the processes'
  statistics, or that saw half the batch, is off by far more).
"""

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

from workbench.llm.distributed import child_seed, forward_through, local_batch, reduce_step, same_device, shard
from workbench.llm.checkpoint import load_checkpoint
from workbench.llm.loop import LoopConfig, StepContext, train
from workbench.device import make_generator

ROOT = Path(__file__).resolve().parents[1]
WEIGHT_TOL, METRIC_TOL = 1e-4, 1e-4


# ---------------------------------------------------------------- pieces
def test_child_seeds_are_reproducible_and_distinct():
    seeds = {child_seed(0, step, rank) for step in range(50) for rank in range(4)}
    assert len(seeds) == 200
    assert child_seed(3, 7, 1) == child_seed(3, 7, 1) != child_seed(3, 7, 0)
    with pytest.raises(ValueError, match="rank must be >= 0; got -1"):
        child_seed(0, 0, -1)


def test_global_batch_must_divide_and_shards_partition_it():
    assert local_batch(16, 4) == 4
    with pytest.raises(ValueError, match=r"LoopConfig.batch_size=6 is the global batch .* number of processes \(4\)"):
        local_batch(6, 4)
    items = list("abcdef")
    assert shard(items, 0, 3) + shard(items, 1, 3) + shard(items, 2, 3) == items


@pytest.mark.parametrize("world", [1, 2, 4])
def test_draw_shard_slices_one_global_draw(world):
    """The processes' slices, concatenated, are the single-process draw of the global minibatch."""
    cfg = LoopConfig()
    parts = []
    for rank in range(world):
        shared = make_generator(11)  # every process holds the same global stream
        ctx = StepContext(cfg, make_generator(100 + rank), 0, rank=rank, processes=world, shared=shared)
        parts.append(ctx.draw_shard(50, 8 // world))
    single = StepContext(cfg, make_generator(11), 0).draw_shard(50, 8)  # one process: generator is the stream
    assert torch.equal(torch.cat(parts), single)
    assert torch.equal(single, torch.randint(50, (8,), generator=make_generator(11)))  # the former draw


class _Inner(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.flag = "inner"

    def forward(self, x):
        return self.lin(x)


class _Wrapper(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.module, self.calls = inner, 0

    def forward(self, x):
        self.calls += 1
        return self.module(x)


class _Holder(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = _Inner()


def test_forward_through_routes_calls_to_the_wrapper_and_keeps_the_model():
    pol = _Holder()
    inner, wrapper = pol.model, _Wrapper(pol.model)
    names = [n for n, _ in pol.model.named_parameters()]
    with forward_through(pol, wrapper):
        pol.model(torch.ones(1, 2))
        assert wrapper.calls == 1
        assert pol.model.flag == "inner" and [n for n, _ in pol.model.named_parameters()] == names
        pol.model.eval()
        assert not inner.training
    assert pol.model is inner and "model" not in pol.__dict__
    pol.model(torch.ones(1, 2))
    assert wrapper.calls == 1
    with forward_through(pol, None):
        assert pol.model is inner


class _FakeAccelerator:
    """Two processes: this one's row and a fixed row of the other's."""
    num_processes = 2

    def __init__(self, other):
        self.other = other

    def gather(self, t):
        return torch.cat([t, self.other.to(t)])


def test_reduce_step_sums_costs_and_averages_statistics():
    assert reduce_step(None, torch.device("cpu"), 3, 9, 0.5, {"a": 1.0}) == (3, 9, 0.5, {"a": 1.0})
    other = torch.tensor([[5.0, 7.0, 1.5, 3.0, float("nan")]])  # queries, tokens, loss, a, b
    q, t, loss, stats = reduce_step(_FakeAccelerator(other), torch.device("cpu"), 3, 9, 0.5, {"a": 1.0, "b": 4.0})
    assert (q, t, loss) == (8, 16, 1.0)
    assert stats == {"a": 2.0, "b": 4.0}  # NaN on one process: the other's value
    assert same_device(torch.device("cpu"), torch.device("cpu:0"))
    assert not same_device(torch.device("cpu"), torch.device("meta"))


def test_stop_after_must_be_a_checkpoint_step():
    with pytest.raises(ValueError, match=r"stop_after=3 must be a positive multiple of eval_every=2"):
        train(None, None, None, ["x"], LoopConfig(eval_every=2), stop_after=3)


# ---------------------------------------------------------------- two CPU processes vs one
def _exact_pref_variance(task) -> float:
    """Var of P(y ≻ y') for a uniform prompt and y, y' ~ mu(.|x) iid (the mean is 1/2 by antisymmetry)."""
    from workbench.llm import enumerate_logprobs, load_policy

    pol = load_policy("tiny", device="cpu").constrain(task.words)
    mu = enumerate_logprobs(pol, task, reference=True).double().exp()  # (X, n)
    P = task.preference_matrix().double()  # (X, n, n)
    second = torch.einsum("xi,xj,xij->x", mu, mu, P ** 2).mean()
    return float(second - 0.25)


@pytest.mark.skipif(shutil.which("torchrun", path=str(Path(sys.executable).parent)) is None
                    and shutil.which("torchrun") is None, reason="torchrun not installed")
def test_two_cpu_processes_match_one(tmp_path):
    from workbench.llm.models import TinyLMConfig
    from workbench.llm.run import run

    torch.set_num_threads(1)
    common = ["--threads", "1", "--lr", "1e-2", "--seed", "3"]
    dpo = ["--trainer", "DPO", "--steps", "4", "--batch-size", "8", "--eval-every", "2", "--pairs-per-prompt", "8",
           *common]
    nash = ["--trainer", "Nash-MD-PG", "--hyper", "mixture=0.25", "--steps", "2", "--batch-size", "64",
            "--eval-every", "1", "--no-eval", *common]
    torchrun = Path(sys.executable).parent / "torchrun"
    cmd = [str(torchrun) if torchrun.exists() else "torchrun", "--standalone", "--nproc_per_node", "2",
           str(ROOT / "tests" / "llm_distributed_worker.py"), str(tmp_path),
           "--", *dpo, "--checkpoint", str(tmp_path / "dpo2.pt"), "--stop-after", "2",
           "--", *nash, "--out", str(tmp_path / "nash2.csv")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    # offline DPO: 2 steps on 2 processes, resumed on 1 process, vs 4 steps on 1 process
    one, pol_one, _ = run([*dpo, "--checkpoint", str(tmp_path / "dpo1.pt")])
    resumed, pol_res, _ = run([*dpo, "--checkpoint", str(tmp_path / "dpo2.pt"), "--resume"])
    assert load_checkpoint(tmp_path / "dpo2.pt")["processes"] == 1  # rewritten by the resume
    w1, w2 = pol_one.snapshot(), pol_res.snapshot()
    w0 = torch.load(tmp_path / "run0_rank0.pt")  # the 2-process run's weights after its 2 steps
    gap = max(float((w1[k] - w2[k]).abs().max()) for k in w1)
    moved = max(float((w1[k] - w0[k]).abs().max()) for k in w1)  # how far steps 3-4 move the weights
    assert gap < WEIGHT_TOL < moved / 10, (gap, moved)
    a, b = one.frame.set_index(["step", "metric"]).value, resumed.frame.set_index(["step", "metric"]).value
    assert a.index.equals(b.index)
    assert (a - b).abs().max() < METRIC_TOL, (a - b).abs().sort_values().tail()

    # Nash-MD-PG: counts summed, processes in sync, the first step's statistic within its CLT band
    w_r0 = torch.load(tmp_path / "run1_rank0.pt")
    w_r1 = torch.load(tmp_path / "run1_rank1.pt")
    assert all(torch.equal(w_r0[k], w_r1[k]) for k in w_r0)
    two = pd.read_csv(tmp_path / "nash2.csv")
    single, _, _ = run(nash)
    for frame in (two, single.frame):
        assert frame.groupby("step").queries.first().tolist() == [64, 128]  # (no step-0 row: --no-eval)
    assert single.tokens == 2 * 2 * 64 * 3  # y and y' per prompt, 3 tokens each
    task = TinyLMConfig().task()
    sd = math.sqrt(2 * _exact_pref_variance(task) / 64)
    pick = lambda f: float(f[(f.step == 1) & (f.metric == "pref_vs_opponent")].value.iloc[0])  # noqa: E731
    assert abs(pick(two) - pick(single.frame)) < 4 * sd, (pick(two), pick(single.frame), sd)
    assert abs(pick(two) - 0.5) < 4 * sd / math.sqrt(2)


@pytest.mark.parametrize("name,kind,extra", [("ddp", "MULTI_GPU", None), ("fsdp", "FSDP", "fsdp_config"),
                                             ("deepspeed_zero2", "DEEPSPEED", "deepspeed_config"),
                                             ("single_gpu", "NO", None)])
def test_accelerate_configs_load(name, kind, extra):
    """The shipped configs parse with accelerate's own loader (what `accelerate launch --config_file` does)."""
    from accelerate.commands.config.config_args import load_config_from_file

    cfg = load_config_from_file(str(ROOT / "configs" / "accelerate" / f"{name}.yaml"))
    assert cfg.distributed_type.value == kind
    if extra == "deepspeed_config":
        assert cfg.deepspeed_config["zero_stage"] == 2
    if extra == "fsdp_config":
        assert cfg.fsdp_config["fsdp_version"] == 2


def test_run_cli_rejects_a_malformed_hyperparameter():
    from workbench.llm.run import _hyper

    assert _hyper(["mixture=0.25", "name=x"]) == {"mixture": 0.25, "name": "x"}
    with pytest.raises(ValueError, match=r"--hyper expects KEY=VALUE; got 'mixture'"):
        _hyper(["mixture"])
