"""Saved judges and resumed training refuse what they cannot honour (issue 11, items 16 and 17): damaged
weights (checksum), re-saving keeps the folder's other files, a resume with other settings or data names
the fields that differ."""

import json

import pytest
import torch

from workbench.prefdata import make_synthetic
from workbench.prefmodels import ModelJudge, build_model, load_backbone, load_model, save_model, train

TINY = dict(hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32, max_length=16)
TEXTS = ["play [SEP] rock", "play [SEP] paper", "play [SEP] scissors", "say hi [SEP] hello there"]


def tiny_model(kind="bt", texts=TEXTS, seed=0):
    bb = load_backbone("tiny", texts=texts, tiny=TINY, device="cpu", seed=0)
    return build_model(kind, bb, seed=seed)


def _flip_one_byte_in_the_tensor_data(path):
    data = bytearray(path.read_bytes())
    header = int.from_bytes(data[:8], "little")  # safetensors: 8-byte header length, JSON header, raw data
    k = 8 + header + (len(data) - 8 - header) // 2
    data[k] ^= 0x7F
    path.write_bytes(bytes(data))


def test_judge_with_damaged_weight_bytes_is_refused(tmp_path):
    judge = ModelJudge(tiny_model(), batch_size=4)
    path = judge.save(tmp_path / "judge")
    assert len(json.loads((path / "judge.json").read_text())["weights_sha256"]) == 64
    _flip_one_byte_in_the_tensor_data(path / "weights.safetensors")
    # before: loaded silently (and prob() could return NaN); now: refused, the file named
    with pytest.raises(ValueError, match=r"weights\.safetensors does not match the checksum in .*judge\.json"):
        ModelJudge.load(path, device="cpu")


def test_resaving_a_judge_keeps_the_other_files_of_its_folder(tmp_path):
    judge = ModelJudge(tiny_model(), batch_size=4, meta={"run": 1})
    path = judge.save(tmp_path / "judge")
    (path / "NOTES.md").write_text("trained on the March labels\n")
    (path / "plots").mkdir()
    (path / "plots" / "calibration.svg").write_text("<svg/>")
    judge.meta["run"] = 2
    judge.save(path)
    assert sorted(p.name for p in path.iterdir()) == ["NOTES.md", "judge.json", "plots", "tokenizer",
                                                       "weights.safetensors"]
    assert (path / "NOTES.md").read_text() == "trained on the March labels\n"
    assert (path / "plots" / "calibration.svg").read_text() == "<svg/>"
    again = ModelJudge.load(path, device="cpu")
    assert again.meta == {"run": 2}
    x, a, b = ["play"] * 2, ["rock", "paper"], ["paper", "rock"]
    assert torch.equal(again.prob(x, a, b), judge.prob(x, a, b))
    assert not list(tmp_path.glob(".*"))  # no temporary or .old folder left behind


def test_truncated_judge_json_and_weights_name_the_file(tmp_path):
    model = tiny_model()
    path = save_model(model, tmp_path / "m")
    text = (path / "judge.json").read_text()
    (path / "judge.json").write_text(text[: len(text) // 2])
    with pytest.raises(ValueError, match=r"m/judge\.json is not valid JSON \(truncated or damaged\?\)"):
        load_model(path, device="cpu")
    (path / "judge.json").write_text(text)
    w = (path / "weights.safetensors").read_bytes()
    (path / "weights.safetensors").write_bytes(w[: len(w) // 3])
    with pytest.raises(ValueError, match=r"m/weights\.safetensors does not match the checksum in .*m/judge\.json"):
        load_model(path, device="cpu")
    for lost in (None, "", "0" * 10):  # judge.json lost its checksum (removed, emptied, cut): refused, never trusted
        cfg = json.loads(text)
        if lost is None:
            del cfg["weights_sha256"]
        else:
            cfg["weights_sha256"] = lost
        (path / "judge.json").write_text(json.dumps(cfg))
        with pytest.raises(ValueError, match=r"m/judge\.json has no valid weights_sha256 .*refusing to load"):
            load_model(path, device="cpu")
    (path / "weights.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"no weights\.safetensors in .*m"):
        load_model(path, device="cpu")


# ----------------------------------------------------------------------------- resume with a changed config
@pytest.fixture(scope="module")
def data():
    comps, _ = make_synthetic(n_prompts=12, responses_per_prompt=4, n_pairs=160, intransitivity=0.5, seed=3)
    tr, va = comps.split((0.75, 0.25), seed=0)
    return tr, va, comps.prompts + comps.responses_a + comps.responses_b


KW = dict(batch_size=32, lr=1e-2, epochs=2, patience=0, progress=False, seed=7)


@pytest.mark.parametrize("change, field", [(dict(lr=3e-2), "lr"), (dict(batch_size=16), "batch_size"),
                                           (dict(seed=8), "seed"), (dict(weight_decay=0.1), "weight_decay")])
def test_resume_with_a_changed_setting_is_refused_and_names_it(data, tmp_path, change, field):
    tr, va, texts = data
    ck = tmp_path / "ck.pt"
    train(tiny_model("skew", texts), tr, va, max_steps=4, checkpoint_path=str(ck), **KW)
    with pytest.raises(ValueError, match=rf"written with other settings:\n  {field}: checkpoint "):
        train(tiny_model("skew", texts), tr, va, checkpoint_path=str(ck), resume=True, **{**KW, **change})


def test_resume_with_another_training_set_is_refused(data, tmp_path):
    tr, va, texts = data
    ck = tmp_path / "ck.pt"
    train(tiny_model("skew", texts), tr, va, max_steps=4, checkpoint_path=str(ck), **KW)
    with pytest.raises(ValueError, match=r"train_data: a different set"):
        train(tiny_model("skew", texts), tr.swap(), va, checkpoint_path=str(ck), resume=True, **KW)
    with pytest.raises(ValueError, match=r"val_data: a different set"):
        train(tiny_model("skew", texts), tr, va.head(5), checkpoint_path=str(ck), resume=True, **KW)


def test_resume_changes_allows_a_new_learning_rate_and_applies_it(data, tmp_path):
    tr, va, texts = data
    ck = tmp_path / "ck.pt"
    train(tiny_model("skew", texts), tr, va, max_steps=4, checkpoint_path=str(ck), **KW)
    m = tiny_model("skew", texts)
    r = train(m, tr, va, checkpoint_path=str(ck), resume=True, resume_changes=("lr",), restore_best=False,
              **{**KW, "lr": 3e-2})
    assert r.resumed_from == 4 and r.steps == 8 and r.config["lr"] == 3e-2
    same = tiny_model("skew", texts)
    train(same, tr, va, checkpoint_path=str(tmp_path / "ck2.pt"), restore_best=False, **KW)  # 8 steps, old rate
    changed = [torch.equal(p, q) for p, q in zip(m.parameters(), same.parameters())]
    assert not all(changed)  # the new rate took effect after step 4
    with pytest.raises(ValueError, match=r"resume_changes names \['learning_rate'\]"):
        train(tiny_model("skew", texts), tr, va, checkpoint_path=str(ck), resume=True,
              resume_changes=("learning_rate",), **KW)
