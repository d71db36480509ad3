"""The LLM loop refuses what it cannot trust (issue #17): divergence, damaged or foreign checkpoints, a second
owner, two betas, miscounted queries, bad settings; and the command line says so in one line.

Each test builds the smallest case that shows the property on the tiny model (a few steps of batch 2)."""

from __future__ import annotations

import subprocess
import sys
import warnings
from dataclasses import dataclass

import pytest
import torch

from workbench.llm import ExactEvaluator, LoopConfig, OracleJudge, bt_oracle_judge, load_policy, make_trainer, train
from workbench.llm.checkpoint import (CheckpointError, CheckpointLock, load_checkpoint, lock_path, save_checkpoint,
                                      tensor_digest)
from workbench.llm.exact import task_prompts
from workbench.llm.experiments import run_methods
from workbench.llm.loop import DivergenceError, StepOut
from workbench.llm.models import TinyLMConfig
from workbench.llm.run import main as cli_main

CFG = LoopConfig(steps=2, batch_size=2, eval_every=2)


@pytest.fixture(scope="module")
def task():
    return TinyLMConfig().task()


@pytest.fixture
def policy(task):
    return load_policy("tiny", seed=0).constrain(task.words)


@pytest.fixture(scope="module")
def judge(task):
    return OracleJudge(task)


@dataclass(frozen=True)
class Broken:
    """A trainer whose loss is built to fail in one way: ``nan_loss``, ``nan_grad`` or ``queries`` (miscounted)."""

    mode: str
    beta: float = 0.1
    name: str = "Broken"

    def loss(self, policy, judge, prompts, state, ctx):
        w = [p for _, p in policy.trainable()]
        if self.mode == "nan_loss":
            return StepOut(sum(p.sum() for p in w) * float("nan"), queries=0, tokens=0)
        if self.mode == "nan_grad":  # sqrt at 0: a finite loss (0) whose gradient is 0/0
            return StepOut(torch.sqrt(sum(((p - p.detach()) ** 2).sum() for p in w)), queries=0, tokens=0)
        judge.prob(prompts, ["rock rock rock"] * len(prompts), ["paper paper paper"] * len(prompts))
        return StepOut(sum((p ** 2).sum() for p in w), queries=len(prompts) + 1, tokens=0)  # one too many


def _prompts(policy, task):
    return task_prompts(policy, task)


# ---------------------------------------------------------------------------- 1. divergence
@pytest.mark.parametrize("mode, quantity", [("nan_loss", "the loss is nan"), ("nan_grad", "the gradient norm is nan")])
def test_non_finite_loss_or_gradient_raises_and_the_checkpoint_keeps_the_good_state(policy, task, judge, tmp_path,
                                                                                   mode, quantity):
    ckpt = tmp_path / "run.ckpt"
    with pytest.raises(DivergenceError, match=rf"{quantity} at step 1 \(lr=0.002\)"):
        train(Broken(mode), policy, judge, _prompts(policy, task), CFG, checkpoint=ckpt, progress=False)
    saved = load_checkpoint(ckpt)  # the step-0 checkpoint, untouched by the failed step
    assert saved["step"] == 0
    assert all(torch.isfinite(v).all() for v in saved["weights"].values())
    assert not lock_path(ckpt).exists()  # the lock is released on the error


def test_weights_that_blow_up_raise_naming_the_learning_rate(policy, task, judge):
    cfg = LoopConfig(steps=2, batch_size=2, eval_every=2, lr=1e39, grad_clip=0.0)
    with pytest.raises(DivergenceError, match=r"weights became non-finite .* at step 1 \(lr=1e\+39\)"):
        train(make_trainer("Nash-MD-PG", beta=0.1), policy, judge, _prompts(policy, task), cfg, progress=False)


# ---------------------------------------------------------------------------- checksummed checkpoints
def _one_run(policy, task, judge, ckpt, **kw):
    return train(make_trainer("Nash-MD-PG", beta=0.1), policy, judge, _prompts(policy, task), CFG, checkpoint=ckpt,
                 progress=False, **kw)


def test_damaged_truncated_foreign_and_old_checkpoints_are_refused_by_name(policy, task, judge, tmp_path):
    ckpt = tmp_path / "run.ckpt"
    _one_run(policy, task, judge, ckpt)
    raw = ckpt.read_bytes()
    flipped = bytearray(raw)
    flipped[len(raw) // 2] ^= 0xFF
    cases = {
        "flipped.ckpt": (bytes(flipped), "is damaged: its payload does not match its SHA-256"),
        "cut.ckpt": (raw[: len(raw) - 100], "is damaged"),
        "empty.ckpt": (b"", "is not a workbench LLM checkpoint"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(CheckpointError, match=rf"{name} {message}"):
            load_checkpoint(tmp_path / name)
    torch.save({"version": 1, "step": 0}, tmp_path / "v1.ckpt")  # the format before checksums
    with pytest.raises(CheckpointError, match="v1.ckpt is not a workbench LLM checkpoint of version 2"):
        _one_run(policy, task, judge, tmp_path / "v1.ckpt", resume=True)
    save_checkpoint({"step": "0", "rows": []}, tmp_path / "odd.ckpt")  # checksum fine, structure wrong
    with pytest.raises(CheckpointError, match=r"odd.ckpt has the wrong structure: config \(missing\).*step \(str, "
                                              r"expected int\)"):
        load_checkpoint(tmp_path / "odd.ckpt")


# ---------------------------------------------------------------------------- 2. resume knows what it resumes
def test_resume_with_another_judge_prompts_beta_rank_or_model_is_refused_naming_each_field(policy, task, judge, tmp_path):
    ckpt = tmp_path / "run.ckpt"
    prompts = _prompts(policy, task)
    ev = ExactEvaluator.build(policy, task, 0.1)
    train(make_trainer("Nash-MD-PG", beta=0.1), policy, judge, prompts, CFG, evaluator=ev, checkpoint=ckpt,
          progress=False)

    def refused(*fields, trainer=None, judge_=judge, prompts_=prompts, evaluator=ev, pol=policy):
        with pytest.raises(CheckpointError) as err:
            train(trainer or make_trainer("Nash-MD-PG", beta=0.1), pol, judge_, prompts_, CFG, evaluator=evaluator,
                  checkpoint=ckpt, resume=True, progress=False)
        for f in fields:
            assert f in str(err.value), (f, str(err.value))
        return str(err.value)

    refused("run.judge_kind: checkpoint 'OracleJudge' vs now 'RewardJudge'", judge_=bt_oracle_judge(task))
    refused("run.judge_checksum", judge_=OracleJudge(TinyLMConfig().task(intransitivity=0.3)))
    refused("run.prompts_sha256", "run.n_prompts: checkpoint 4 vs now 3", prompts_=prompts[:3])
    refused("run.prompts_sha256", prompts_=prompts[::-1])  # same prompts, other order: other draws
    msg = refused("trainer.beta: checkpoint 0.1 vs now 0.2", "run.evaluator_beta: checkpoint 0.1 vs now 0.2",
                  trainer=make_trainer("Nash-MD-PG", beta=0.2), evaluator=ExactEvaluator.build(policy, task, 0.2))
    assert "config." not in msg  # only what changed is named
    other = load_policy("tiny", seed=0, lora_r=4).constrain(task.words)
    refused("run.lora_r: checkpoint 8 vs now 4", pol=other)
    moved = load_policy("tiny", seed=0).constrain(task.words)
    with torch.no_grad():  # another reference model: one base weight differs
        next(p for n, p in moved.model.named_parameters() if "lora_" not in n).add_(1e-3)
    refused("run.model_weights_sha256", pol=moved)
    full = load_policy("tiny", seed=0, finetune="full").constrain(task.words)
    refused("run.finetune: checkpoint 'lora' vs now 'full'", pol=full)


def test_extend_continues_a_finished_run_exactly_as_a_longer_run(task, judge, tmp_path):
    def fresh():
        return load_policy("tiny", seed=0).constrain(task.words)

    p1 = fresh()
    trainer = make_trainer("Nash-MD-PG", beta=0.1)
    straight = train(trainer, p1, judge, _prompts(p1, task), LoopConfig(steps=4, batch_size=2, eval_every=2),
                     progress=False)
    p2 = fresh()
    ckpt = tmp_path / "run.ckpt"
    train(trainer, p2, judge, _prompts(p2, task), CFG, checkpoint=ckpt, progress=False)
    longer = LoopConfig(steps=4, batch_size=2, eval_every=2)
    with pytest.raises(CheckpointError, match=r"(?s)config.steps: checkpoint 2 vs now 4.*resume with extend=True"):
        train(trainer, p2, judge, _prompts(p2, task), longer, checkpoint=ckpt, resume=True, progress=False)
    ext = train(trainer, p2, judge, _prompts(p2, task), longer, checkpoint=ckpt, resume=True, extend=True,
                progress=False)
    assert ext.steps == 4 and ext.queries == straight.queries
    assert ext.frame.equals(straight.frame)
    for (n, a), (_, b) in zip(p1.trainable(), p2.trainable()):
        assert torch.equal(a, b), n


# ---------------------------------------------------------------------------- 3. one owner
def test_an_existing_checkpoint_is_refused_without_resume_or_overwrite(policy, task, judge, tmp_path):
    ckpt = tmp_path / "run.ckpt"
    _one_run(policy, task, judge, ckpt)
    before = ckpt.read_bytes()
    with pytest.raises(FileExistsError, match="run.ckpt already exists .*--resume.*--overwrite"):
        _one_run(policy, task, judge, ckpt)
    assert ckpt.read_bytes() == before
    _one_run(policy, task, judge, ckpt, overwrite=True)
    assert load_checkpoint(ckpt)["step"] == 2
    with pytest.raises(ValueError, match="is a folder"):
        _one_run(policy, task, judge, tmp_path)


def test_a_live_lock_names_its_holder_and_a_stale_one_is_taken_over(policy, task, judge, tmp_path):
    ckpt = tmp_path / "run.ckpt"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock_path(ckpt).write_text(f'{{"pid": {holder.pid}, "host": "{__import__("socket").gethostname()}"}}')
        with pytest.raises(RuntimeError, match=rf"in use by process {holder.pid}"):
            _one_run(policy, task, judge, ckpt)
        assert not ckpt.exists()
    finally:
        holder.kill()
        holder.wait()
    with pytest.warns(UserWarning, match=rf"taking over the stale lock .*process {holder.pid} is gone"):
        _one_run(policy, task, judge, ckpt)  # the holder died (kill -9): its lock is stale
    assert load_checkpoint(ckpt)["step"] == 2 and not lock_path(ckpt).exists()
    with CheckpointLock(ckpt):  # held by this process: a second lock in this process is the same owner
        assert lock_path(ckpt).exists()
    assert not lock_path(ckpt).exists()


# ---------------------------------------------------------------------------- 4. one beta
def test_a_trainer_beta_other_than_the_evaluators_is_refused(policy, task, judge):
    ev = ExactEvaluator.build(policy, task, 0.1)
    with pytest.raises(ValueError, match=r"trainer's beta=0.5 differs from the evaluator's beta=0.1"):
        train(make_trainer("Nash-MD-PG", beta=0.5), policy, judge, _prompts(policy, task), CFG, evaluator=ev,
              progress=False)
    with pytest.raises(ValueError, match=r"beta=0.5 differs"):
        run_methods([make_trainer("Nash-MP", beta=0.5)], policy, judge, task, CFG, ev, seeds=(0,))


# ---------------------------------------------------------------------------- 5. inputs
@pytest.mark.parametrize("kw, error, message", [
    ({"steps": 2.5}, TypeError, r"LoopConfig.steps must be an integer; got 2.5"),
    ({"steps": "10"}, TypeError, r"LoopConfig.steps must be an integer; got '10'"),
    ({"batch_size": True}, TypeError, r"LoopConfig.batch_size must be an integer"),
    ({"eval_every": 0}, ValueError, r"LoopConfig.eval_every must be >= 1"),
    ({"grad_clip": float("nan")}, ValueError, r"LoopConfig.grad_clip must be a non-negative finite number; got nan"),
    ({"grad_clip": -1.0}, ValueError, r"LoopConfig.grad_clip must be a non-negative"),
    ({"weight_decay": -0.1}, ValueError, r"LoopConfig.weight_decay must be a non-negative"),
    ({"weight_decay": "0"}, TypeError, r"LoopConfig.weight_decay must be a number"),
    ({"lr": float("inf")}, ValueError, r"LoopConfig.lr must be a positive finite"),
    ({"seed": -1}, ValueError, r"LoopConfig.seed must be >= 0"),
])
def test_loop_config_refuses_wrong_types_and_values(kw, error, message):
    with pytest.raises(error, match=message):
        LoopConfig(**kw)


def test_train_refuses_missing_judge_pairwise_judge_for_reward_trainer_and_wrong_length(policy, task, judge):
    prompts = _prompts(policy, task)
    with pytest.raises(TypeError, match=r"judge must have a prob\(.*got None"):
        train(make_trainer("Nash-MD-PG"), policy, None, prompts, CFG, progress=False)
    with pytest.raises(TypeError, match=r"RLHF needs a reward judge .*OracleJudge is pairwise only"):
        train(make_trainer("RLHF"), policy, judge, prompts, CFG, progress=False)
    with pytest.raises(ValueError, match=r"LoopConfig.max_new_tokens=4 differs from the task's response length 3"):
        train(make_trainer("Nash-MD-PG"), policy, judge, prompts,
              LoopConfig(steps=2, batch_size=2, eval_every=2, max_new_tokens=4),
              evaluator=ExactEvaluator.build(policy, task, 0.1), progress=False)
    with pytest.raises(ValueError, match=r"prompt 1 is ''"):
        train(make_trainer("Nash-MD-PG"), policy, judge, [prompts[0], ""], CFG, progress=False)


@pytest.mark.parametrize("kw, message", [
    ({"budget": 0}, r"budget must be a positive number of preference queries; got 0"),
    ({"budget": -5}, r"budget must be a positive"),
    ({"seeds": ()}, r"seeds is empty"),
    ({"n_evals": 0}, r"n_evals must be an integer >= 1"),
])
def test_run_methods_refuses_bad_budget_seeds_and_evaluations(policy, task, judge, kw, message):
    with pytest.raises(ValueError, match=message):
        run_methods([make_trainer("Nash-MD-PG")], policy, judge, task, CFG, **kw)


# ---------------------------------------------------------------------------- 6. queries are measured
def test_queries_are_counted_at_the_judge_and_a_wrong_declaration_is_refused(policy, task, judge):
    with pytest.raises(RuntimeError, match=r"Broken declared 3 queries at step 1 but asked the judge 2 times"):
        train(Broken("queries"), policy, judge, _prompts(policy, task), CFG, progress=False)
    run = train(make_trainer("RLHF", k=3), policy, bt_oracle_judge(task), _prompts(policy, task), CFG,
                progress=False)
    assert run.queries == CFG.steps * CFG.batch_size * 3  # B k reward queries per step, counted at the judge
    assert tensor_digest([torch.ones(2)]) != tensor_digest([torch.ones(2, dtype=torch.float64)])


def test_on_eval_sees_the_rows_and_can_stop_the_run(policy, task, judge, tmp_path):
    seen = []

    def watch(frame):
        seen.append(int(frame.step.max()))
        return frame.step.max() >= 2

    run = train(make_trainer("Nash-MD-PG"), policy, judge, _prompts(policy, task),
                LoopConfig(steps=6, batch_size=2, eval_every=2), evaluator=ExactEvaluator.build(policy, task, 0.1),
                checkpoint=tmp_path / "r.ckpt", on_eval=watch, progress=False)
    assert seen == [0, 2] and run.steps == 2 and load_checkpoint(tmp_path / "r.ckpt")["step"] == 2


# ---------------------------------------------------------------------------- the command line
@pytest.mark.parametrize("argv, message", [
    (["--hyper", "beta=0.3"], "--hyper beta=... is refused: beta is the game's, set it with --beta"),
    (["--extend"], "--extend continues a checkpoint: add --resume"),
    (["--max-new-tokens", "4"], "--max-new-tokens 4 differs from the task's response length 3"),
    (["--model", "/nonexistent/folder"], "is neither 'tiny', 'smollm2' nor a local Hugging Face checkpoint folder"),
    (["--resume", "--checkpoint", "/nonexistent/run.ckpt"], "no checkpoint at /nonexistent/run.ckpt"),
    (["--grad-clip", "-1"], "LoopConfig.grad_clip must be a non-negative"),
])
def test_cli_errors_are_one_line_with_the_fix(argv, message, capsys):
    assert cli_main(["--steps", "2", "--eval-every", "2", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "Traceback" not in err[0], err


@pytest.mark.parametrize("argv, message", [
    (["--threads", "0"], "argument --threads: expected a positive integer, got '0'"),
    (["--steps", "2.5"], "argument --steps: invalid int value: '2.5'"),
    (["--lr", "nan"], "argument --lr: expected a finite number"),
])
def test_cli_argument_errors_are_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        cli_main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1 and message in err[0], err


def test_cli_refuses_an_existing_csv_before_loading_and_debug_shows_the_traceback(tmp_path, capsys):
    out = tmp_path / "run.csv"
    out.write_text("keep me")
    assert cli_main(["--out", str(out)]) == 2
    assert "--out" in capsys.readouterr().err and out.read_text() == "keep me"
    with pytest.raises(ValueError, match="already exists"):
        cli_main(["--out", str(out), "--debug"])


def test_cli_trains_writes_the_csv_atomically_and_resumes(tmp_path, capsys):
    out, ckpt = tmp_path / "a" / "run.csv", tmp_path / "run.ckpt"
    args = ["--steps", "2", "--batch-size", "2", "--eval-every", "2", "--checkpoint", str(ckpt), "--out", str(out)]
    assert cli_main(args) == 0
    first = out.read_text()
    assert "reg_exploitability" in first and not list(out.parent.glob(".tmp*"))
    assert cli_main(args) == 2  # the checkpoint is someone's run now
    assert "already exists" in capsys.readouterr().err
    assert cli_main([*args[:1], "4", *args[2:], "--resume", "--extend"]) == 0
    assert out.read_text() != first and load_checkpoint(ckpt)["step"] == 4


# ---------------------------------------------------------------------------- distributions are checked
@pytest.mark.parametrize("bad, message", [
    (lambda pi: pi * 2, r"pi\[0\] sums to 2, not 1"),
    (lambda pi: pi.T, r"pi has shape \(27, 4\); expected \(4, 27\)"),
    (lambda pi: torch.where(pi == pi.max(), torch.tensor(float("nan"), dtype=pi.dtype), pi), r"pi\[\d+, \d+\] is nan; probabilities must be finite"),
    (lambda pi: pi.tolist(), r"pi must be a torch.Tensor"),
    (lambda pi: (pi > 0.5).long(), r"pi must be a floating tensor"),
])
def test_exact_evaluator_refuses_a_non_distribution(policy, task, bad, message):
    ev = ExactEvaluator.build(policy, task, 0.1)
    pi = ev.distribution(policy)
    assert ev.evaluate(pi)["kl_to_mu"] < 1e-9  # the policy still equals mu
    with pytest.raises((ValueError, TypeError), match=rf"ExactEvaluator.evaluate: {message}"):
        ev.evaluate(bad(pi))


def test_best_of_n_refuses_a_non_distribution_and_bad_rewards():
    from workbench.llm.best_of_n import best_of_n_distribution

    mu = torch.tensor([[0.2, 0.3, 0.5]])
    r = torch.tensor([[0.0, 1.0, 2.0]])
    assert torch.allclose(best_of_n_distribution(mu, r, 2).sum(-1), torch.ones(1))
    with pytest.raises(ValueError, match=r"best_of_n_distribution: mu\[0\] sums to 1.5"):
        best_of_n_distribution(mu * 1.5, r, 2)
    with pytest.raises(ValueError, match=r"best_of_n_distribution: mu\[0, 1\] = -0.3 is negative"):
        best_of_n_distribution(torch.tensor([[1.0, -0.3, 0.3]]), r, 2)
    with pytest.raises(ValueError, match=r"rewards must be a tensor of mu's shape \(1, 3\); got \(3,\)"):
        best_of_n_distribution(mu, r[0], 2)
    with pytest.raises(ValueError, match=r"rewards has a non-finite entry"):
        best_of_n_distribution(mu, torch.tensor([[0.0, float("inf"), 1.0]]), 2)


# ---------------------------------------------------------------------------- words and model folders
@pytest.mark.parametrize("words, message", [
    (["rock", "banana", "paper"], r"'banana' is not in this tokenizer's vocabulary \(it maps to the unknown token"),
    (["rock", "rock"], r"'rock' and 'rock' map to the same token id"),
    (["rock paper"], r"'rock paper' is 2 tokens"),
    ([], r"give a list of words"),
    ("rock", r"give a list of words"),
])
def test_constrained_words_must_be_distinct_known_single_tokens(policy, words, message):
    with pytest.raises(ValueError, match=rf"Policy.word_ids: {message}"):
        policy.constrain(words)


@pytest.fixture
def tiny_folder(tmp_path):
    import shutil

    from workbench.llm.models import model_path

    dst = tmp_path / "model"
    shutil.copytree(model_path("tiny"), dst)
    return dst


def test_a_model_folder_without_tokenizer_with_truncated_weights_or_without_head_is_refused(tiny_folder, tmp_path):
    from transformers import AutoModelForCausalLM

    from workbench.llm.models import load_causal_lm

    load_causal_lm(tiny_folder, device="cpu")  # the intact copy loads
    (tiny_folder / "tokenizer.json").rename(tmp_path / "tokenizer.json")
    with pytest.raises(FileNotFoundError, match=r"model has no tokenizer \(none of tokenizer.json"):
        load_policy(str(tiny_folder), device="cpu")
    (tmp_path / "tokenizer.json").rename(tiny_folder / "tokenizer.json")
    weights = tiny_folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"model/model.safetensors is truncated or damaged"):
        load_policy(str(tiny_folder), device="cpu")
    weights.write_bytes(data)
    backbone = tmp_path / "backbone"  # a preference model's backbone: the decoder without its LM head
    AutoModelForCausalLM.from_pretrained(str(tiny_folder)).model.save_pretrained(str(backbone))
    (backbone / "tokenizer.json").write_bytes((tiny_folder / "tokenizer.json").read_bytes())
    with pytest.raises(ValueError, match=r"holds a LlamaModel without a language-model head"):
        load_policy(str(backbone), device="cpu")
    assert cli_main(["--model", str(backbone), "--steps", "2", "--eval-every", "2"]) == 2


def test_weights_of_the_wrong_shape_or_names_are_refused(policy, task, judge):
    good = policy.snapshot()
    name = next(iter(good))
    flat = {**good, name: good[name][:1]}  # (1, d) would broadcast into (r, d) through copy_
    with pytest.raises(ValueError, match=rf"Policy.load_snapshot: weight '{name}' has shape \(1, "):
        policy.load_snapshot(flat)
    with pytest.raises(KeyError, match=r"missing: \['"):
        policy.load_snapshot({k: v for k, v in good.items() if k != name})
    with pytest.raises(ValueError, match=r"Policy.swapped: weight"):
        with policy.swapped(flat):
            pass
    other = load_policy("tiny", seed=0, lora_r=4).constrain(task.words).snapshot()
    with pytest.raises(ValueError, match=r"has shape \(4, "):  # a rank-4 run's final weights into a rank-8 policy
        policy.load_snapshot(other)
    assert all(torch.equal(a, b) for a, b in zip(policy.snapshot().values(), good.values()))  # nothing changed


@pytest.mark.skipif(not __import__("os").path.isdir("/proc/self"), reason="needs Linux /proc (root may write anywhere else)")
def test_cli_probes_the_output_folders_before_training(capsys):
    for flag, path in (("--out", "/proc/run.csv"), ("--checkpoint", "/proc/run.ckpt")):
        assert cli_main([flag, path, "--steps", "2", "--eval-every", "2"]) == 2
        err = capsys.readouterr().err
        assert "/proc is not writable" in err and "Traceback" not in err


def test_a_temperature_other_than_one_warns_under_exact_evaluation(policy, task, judge):
    cfg = LoopConfig(steps=2, batch_size=2, eval_every=2, temperature=0.5)
    with pytest.warns(UserWarning, match=r"temperature=0.5 samples another law"):
        train(make_trainer("Nash-MD-PG"), policy, judge, _prompts(policy, task), cfg,
              evaluator=ExactEvaluator.build(policy, task, 0.1), progress=False)
