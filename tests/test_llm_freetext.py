"""NLHF on your own prompts and judge (issue #18): prompts from any file, any judge, the command end to end on
the tiny model with a tiny judge trained here, held-out judged evaluation, resume, export and reload, and the
bad inputs refused before any training starts."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch

from workbench.llm import LoopConfig, load_policy, make_trainer, train
from workbench.llm.freetext import JudgedEvaluator
from workbench.llm.judges import BTModelJudge, load_judge
from workbench.llm.prompts import PromptsError, fit_prompts, load_prompts, read_prompts, split_prompts
from workbench.llm.run import main as cli_main
from workbench.prefdata import load_comparisons
from workbench.prefmodels import ModelJudge, build_model, load_backbone
from workbench.prefmodels import train as fit_judge

DATA = "data/prefs/plain.jsonl"  # the shipped plain-schema comparisons (30 records)
TINY_BB = dict(hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32, max_length=48)


@pytest.fixture(scope="module")
def judges(tmp_path_factory):
    """A pairwise and a BT judge trained for a few steps on the shipped comparisons, saved as folders."""
    comps = load_comparisons(DATA)
    texts = comps.prompts + comps.responses_a + comps.responses_b + ["rock", "paper", "scissors"]
    out = {}
    for kind in ("pairwise", "bt"):
        bb = load_backbone("tiny", texts=texts, tiny=TINY_BB, device="cpu", seed=0)
        model = build_model(kind, bb, seed=0)
        fit_judge(model, comps, None, epochs=2, batch_size=16, patience=0, progress=False)
        out[kind] = ModelJudge(model, batch_size=32).save(tmp_path_factory.mktemp("judges") / kind)
    return out


# ---------------------------------------------------------------------------- prompts
def test_prompts_come_from_comparisons_and_plain_files_split_by_prompt(tmp_path):
    comps = load_comparisons(DATA)
    distinct = list(dict.fromkeys(comps.prompts))
    assert read_prompts(DATA) == distinct
    split = load_prompts(DATA, heldout=0.25, seed=3)
    assert set(split.train).isdisjoint(split.heldout) and sorted(split.train + split.heldout) == sorted(distinct)
    assert len(split.heldout) == round(0.25 * len(distinct))
    assert load_prompts(DATA, heldout=0.25, seed=3) == split and load_prompts(DATA, heldout=0.25, seed=4) != split
    (tmp_path / "p.txt").write_text("first prompt\n\n  second prompt  \nfirst prompt\n")
    assert read_prompts(tmp_path / "p.txt") == ["first prompt", "second prompt"]
    (tmp_path / "p.jsonl").write_text('{"prompt": "a"}\n{"prompt": "b", "id": 2}\n')
    assert read_prompts(tmp_path / "p.jsonl") == ["a", "b"]
    assert read_prompts("data/prefs/tldr_sample.jsonl")[0].startswith("SUBREDDIT: r/")  # TL;DR's prompt format


@pytest.mark.parametrize("content, name, message", [
    ("\n  \n", "empty.txt", r"empty.txt holds no prompt"),
    ('{"prompt": "a"}\n{"text": "b"}\n', "bad.jsonl", r"bad.jsonl line 2 has no non-empty 'prompt' field"),
    ('{"prompt": "a"}\n{not json\n', "broken.jsonl", r"broken.jsonl line 2 is not valid JSON"),
    ("prompt,x\n", "odd.csv", r"odd.csv is neither a prompts file nor a comparisons file"),
])
def test_bad_prompt_files_are_named(tmp_path, content, name, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(PromptsError, match=message):
        load_prompts(tmp_path / name)


def test_split_needs_two_prompts_and_a_fraction():
    with pytest.raises(PromptsError, match="has 1 distinct prompt"):
        split_prompts(["only"], heldout=0.2)
    with pytest.raises(PromptsError, match=r"heldout must be a fraction in \[0, 1\); got 1.5"):
        split_prompts(["a", "b"], heldout=1.5)
    assert split_prompts(["only"], heldout=0.0).train == ["only"]


def test_long_prompts_are_cut_from_the_left_and_counted():
    policy = load_policy("tiny", seed=0)  # max_position_embeddings 64
    long = " ".join(["paper"] * 100 + ["rock", "scissors"])  # 102 tokens; only the end has rock and scissors
    fitted, cut = fit_prompts(policy, ["rock paper", long], max_new_tokens=8)
    assert cut == 1 and fitted[0] == "rock paper"
    ids = policy.tokenizer.encode(fitted[1], add_special_tokens=False)
    assert len(ids) <= 64 - 8 and long.endswith(fitted[1]) and fitted[1].endswith("rock scissors")  # the end is kept


# ---------------------------------------------------------------------------- judges
def test_judges_load_from_folders_and_bad_folders_are_named(judges, tmp_path):
    pairwise, bt = load_judge(judges["pairwise"]), load_judge(judges["bt"])
    assert isinstance(pairwise, ModelJudge) and not hasattr(pairwise, "reward")
    assert isinstance(bt, BTModelJudge)
    x, a, b = ["hello"] * 2, ["rock", "paper"], ["paper", "rock"]
    r = bt.reward(x, a)
    assert torch.allclose(bt.prob(x, a, b), torch.sigmoid(r - r.flip(0)), atol=1e-5)  # BT: P = sigmoid(r_a - r_b)
    with pytest.raises(FileNotFoundError, match="no judge at"):
        load_judge(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="is not a judge folder: it has neither judge.json"):
        load_judge(tmp_path / "empty")
    with pytest.raises(ValueError, match="is the enumerable task's judge"):
        load_judge("oracle")
    damaged = tmp_path / "damaged"
    import shutil

    shutil.copytree(judges["pairwise"], damaged)
    cfg = json.loads((damaged / "judge.json").read_text())
    cfg.pop("weights_sha256")
    (damaged / "judge.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="no valid weights_sha256"):
        load_judge(damaged)


def test_a_reward_model_folder_is_a_judge_and_a_mismatched_tokenizer_is_refused(tmp_path):
    from transformers import LlamaConfig, LlamaForSequenceClassification

    policy = load_policy("tiny", seed=0)
    tok = policy.tokenizer
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2, num_labels=1, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    LlamaForSequenceClassification(cfg).save_pretrained(tmp_path / "rm")
    tok.save_pretrained(tmp_path / "rm")
    judge = load_judge(tmp_path / "rm")
    r = judge.reward(["rock", "rock"], ["paper", "scissors"])
    assert r.shape == (2,) and torch.isfinite(r).all()
    assert torch.allclose(judge.prob(["rock"], ["paper"], ["scissors"]), torch.sigmoid(r[:1] - r[1:]), atol=1e-5)
    small = LlamaConfig(**{**cfg.to_dict(), "vocab_size": len(tok) - 5})
    LlamaForSequenceClassification(small).save_pretrained(tmp_path / "rm2")
    tok.save_pretrained(tmp_path / "rm2")
    with pytest.raises(ValueError, match=rf"has {len(tok)} tokens but the reward model's embedding has {len(tok) - 5}"):
        load_judge(tmp_path / "rm2")


# ---------------------------------------------------------------------------- evaluation
def test_judged_evaluator_at_the_reference_and_its_common_random_numbers(judges):
    policy = load_policy("tiny", seed=0)
    held = load_prompts(DATA, heldout=0.3, seed=0).heldout
    ev = JudgedEvaluator(load_judge(judges["pairwise"]), held, beta=0.1, max_new_tokens=6, samples=2, seed=5)
    first = ev.score(policy)
    assert first == ev.score(policy)  # the same draws at every evaluation (seeded by the evaluator alone)
    assert abs(first["kl_to_mu_estimate"]) < 1e-5  # pi = mu (LoRA B = 0): log pi - log mu = 0 on every sample
    assert first["win_rate_ci_low"] <= first["win_rate_vs_mu"] <= first["win_rate_ci_high"]
    assert 1 <= first["response_length"] <= 6
    assert list(ev.generations(3).columns) == ["prompt", "policy", "reference", "P(policy ≻ reference)"]
    with pytest.raises(ValueError, match=r"train: LoopConfig.max_new_tokens=3 differs from the evaluator's"):
        train(make_trainer("Nash-MD-PG"), policy, load_judge(judges["pairwise"]), held, LoopConfig(steps=1),
              evaluator=ev, progress=False)


# ---------------------------------------------------------------------------- the command end to end
def _cli(tmp_path, judges, *extra):
    return ["--prompts", DATA, "--judge", str(judges["pairwise"]), "--model", "tiny", "--steps", "4",
            "--batch-size", "4", "--eval-every", "2", "--max-new-tokens", "6", "--heldout", "0.3", *extra]


def test_the_command_trains_on_your_prompts_evaluates_held_out_and_resumes_exactly(tmp_path, judges):
    out, ckpt = tmp_path / "run.csv", tmp_path / "run.ckpt"
    assert cli_main(_cli(tmp_path, judges, "--out", str(out))) == 0
    frame = pd.read_csv(out)
    assert set(frame.columns) >= {"algo", "seed", "step", "queries", "metric", "value", "model", "beta"}
    held = frame[frame.metric == "win_rate_vs_mu"]
    assert list(held.step) == [0, 2, 4] and list(held.queries) == [0, 8, 16]  # B queries per step, counted
    kl0 = frame[(frame.metric == "kl_to_mu_estimate") & (frame.step == 0)].value.item()
    assert abs(kl0) < 1e-5
    gens = pd.read_csv(tmp_path / "run_generations.csv")
    assert len(gens) == len(load_prompts(DATA, heldout=0.3, seed=0).heldout)
    # an interrupted run, resumed, gives the uninterrupted run's rows
    assert cli_main(_cli(tmp_path, judges, "--checkpoint", str(ckpt), "--stop-after", "2")) == 0
    assert cli_main(_cli(tmp_path, judges, "--checkpoint", str(ckpt), "--resume", "--out", str(tmp_path / "r.csv"))) == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "r.csv"), frame)


def test_export_reloads_both_ways_with_the_trained_log_probabilities(tmp_path, judges):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from workbench.llm.run import run

    adapter, merged = tmp_path / "adapter", tmp_path / "merged"
    _, policy, _ = run(_cli(tmp_path, judges, "--save-model", str(adapter), "--no-eval"))
    policy.save_pretrained(merged, merge=True)
    ids = policy.tokenizer(["rock paper scissors rock"], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        want = torch.log_softmax(policy.model(input_ids=ids).logits, -1)  # the trained policy (LoRA on)
        ref = torch.log_softmax(AutoModelForCausalLM.from_pretrained(json.loads(
            (adapter / "workbench.json").read_text())["base_model"])(input_ids=ids).logits, -1)
        base = AutoModelForCausalLM.from_pretrained(json.loads((adapter / "adapter_config.json").read_text())
                                                    ["base_model_name_or_path"])
        via_peft = torch.log_softmax(PeftModel.from_pretrained(base, str(adapter))(input_ids=ids).logits, -1)
        via_merge = torch.log_softmax(AutoModelForCausalLM.from_pretrained(str(merged))(input_ids=ids).logits, -1)
    assert (want - ref).abs().max() > 1e-4  # training moved the policy: the comparison below is not vacuous
    assert torch.allclose(via_peft, want, atol=1e-5) and torch.allclose(via_merge, want, atol=1e-4)
    assert json.loads((adapter / "workbench.json").read_text())["format"] == "lora-adapter"
    with pytest.raises(FileExistsError, match="is not empty; add --overwrite"):
        policy.save_pretrained(merged)
    full = load_policy("tiny", seed=0, finetune="full")
    full.save_pretrained(tmp_path / "full")
    assert json.loads((tmp_path / "full" / "workbench.json").read_text())["format"] == "full"
    assert math.isfinite(float(AutoModelForCausalLM.from_pretrained(str(tmp_path / "full"))(input_ids=ids).logits.sum()))


@pytest.mark.parametrize("extra, message", [
    (["--prompts", "{empty}"], "holds no prompt"),
    (["--judge", "{nojudge}"], "is not a judge folder"),
    (["--judge", "{damaged}"], "no valid weights_sha256"),
    (["--trainer", "RLHF"], "--trainer RLHF needs a reward judge, but --judge"),
    (["--save-model", "{full}"], "is not empty; add --overwrite"),
    (["--judge", "oracle"], "--judge oracle is the enumerable task's judge"),
    (["--merge"], "--merge applies to --save-model DIR"),
])
def test_bad_free_text_inputs_are_refused_before_training(tmp_path, judges, extra, message, capsys):
    import shutil

    (tmp_path / "empty.txt").write_text("\n")
    (tmp_path / "nojudge").mkdir()
    shutil.copytree(judges["pairwise"], tmp_path / "damaged")
    cfg = json.loads((tmp_path / "damaged" / "judge.json").read_text())
    cfg.pop("weights_sha256")
    (tmp_path / "damaged" / "judge.json").write_text(json.dumps(cfg))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("someone's model")
    fill = {"{empty}": str(tmp_path / "empty.txt"), "{nojudge}": str(tmp_path / "nojudge"),
            "{damaged}": str(tmp_path / "damaged"), "{full}": str(tmp_path / "full")}
    argv = _cli(tmp_path, judges, "--checkpoint", str(tmp_path / "c.ckpt"))
    for flag, value in zip(extra[::2], extra[1::2] + [None] * (len(extra) % 2)):
        if flag in argv and value is not None:
            argv[argv.index(flag) + 1] = fill.get(value, value)
        else:
            argv += [flag] + ([fill.get(value, value)] if value is not None else [])
    assert cli_main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "c.ckpt").exists() and (tmp_path / "full" / "keep.txt").exists()  # nothing written


def test_compare_ranks_exported_policies_by_the_judged_matrix(tmp_path, judges, capsys):
    from workbench.llm.compare import main as compare_main

    for name, trainer in (("nash", "Nash-MD-PG"), ("sp", "Self-play")):
        assert cli_main(_cli(tmp_path, judges, "--trainer", trainer, "--no-eval", "--save-model",
                             str(tmp_path / name))) == 0
    argv = ["--prompts", DATA, "--judge", str(judges["pairwise"]), "--model", "tiny", "--heldout", "0.3",
            "--policy", f"nash={tmp_path / 'nash'}", "--policy", f"sp={tmp_path / 'sp'}", "--samples", "2",
            "--max-new-tokens", "6", "--out", str(tmp_path / "m.csv")]
    assert compare_main(argv) == 0
    printed = capsys.readouterr().out
    assert "judged win rate P(row ≻ column)" in printed and "Nash averaging" in printed
    frame = pd.read_csv(tmp_path / "m.csv")
    W = frame[frame.metric == "win_rate"].pivot(index="algo", columns="opponent", values="value")
    assert sorted(W.index) == ["nash", "reference", "sp"]
    assert ((W + W.T - 1).abs() < 0.25).all().all()  # a judge trained on both orders is near antisymmetric
    bad = [*argv[:-2], "--policy", f"x={tmp_path}"]
    assert compare_main(bad) == 2
    assert "has no adapter_config.json" in capsys.readouterr().err
    policy = load_policy("tiny", seed=0, lora_r=4)
    policy.save_pretrained(tmp_path / "r4")
    assert compare_main([*argv[:-2], "--policy", f"r4={tmp_path / 'r4'}"]) == 2
    assert "rank 4" in capsys.readouterr().err


def test_the_judge_command_trains_saves_and_refuses_bad_input(tmp_path, capsys):
    from workbench.prefmodels.__main__ import main as judge_main

    out = tmp_path / "judge"
    assert judge_main(["--data", DATA, "--kind", "bt", "--out", str(out), "--epochs", "1"]) == 0
    assert "bt judge saved to" in capsys.readouterr().out
    judge = load_judge(out)  # a BT judge: usable by RLHF through its reward
    assert isinstance(judge, BTModelJudge) and judge.reward(["x"], ["y"]).shape == (1,)
    assert judge_main(["--data", DATA, "--out", str(out)]) == 2
    assert "exists and is not empty; add --overwrite" in capsys.readouterr().err
    assert judge_main(["--data", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "j2")]) == 2
    assert "no file matches" in capsys.readouterr().err and not (tmp_path / "j2").exists()


@pytest.mark.slow
def test_a_free_text_run_killed_with_sigkill_resumes_to_the_uninterrupted_run(tmp_path, judges):
    import os
    import signal
    import subprocess
    import sys
    import time

    from workbench.llm.checkpoint import CheckpointError, load_checkpoint

    args = _cli(tmp_path, judges, "--steps", "10", "--batch-size", "2", "--eval-every", "2")
    assert cli_main([*args, "--out", str(tmp_path / "full.csv")]) == 0
    ckpt = tmp_path / "run.ckpt"
    proc = subprocess.Popen([sys.executable, "-m", "workbench.llm.run", *args, "--checkpoint", str(ckpt)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            try:
                if load_checkpoint(ckpt)["step"] >= 2:
                    break
            except CheckpointError:
                pass  # not written yet
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)  # kill -9: no cleanup, the lock file stays
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert load_checkpoint(ckpt)["step"] < 10
    with pytest.warns(UserWarning, match="taking over the stale lock"):
        assert cli_main([*args, "--checkpoint", str(ckpt), "--resume", "--out", str(tmp_path / "resumed.csv")]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "resumed.csv"), pd.read_csv(tmp_path / "full.csv"))
    assert not os.path.exists(str(ckpt) + ".lock")


def test_an_sft_reference_never_sees_the_held_out_prompts(monkeypatch):
    import workbench.llm.sft as sft
    from workbench.llm.run import resolve_model

    seen = []
    monkeypatch.setattr(sft, "sft_checkpoint", lambda comps, *a, **k: seen.append(comps) or "/nowhere")
    split = load_prompts(DATA, heldout=0.3, seed=0)
    assert resolve_model(f"sft:{DATA}", exclude=split.heldout) == "/nowhere"
    used = set(seen[0].prompts)
    assert used and used.isdisjoint(split.heldout) and used == set(split.train)
    with pytest.raises(ValueError, match="every comparison's prompt is held out"):
        resolve_model(f"sft:{DATA}", exclude=split.train + split.heldout)
    assert resolve_model("tiny", exclude=split.heldout) == "tiny"
