"""Training loop: resume equals an uninterrupted run, atomic checkpoints, judge save/load round-trip."""

import os

import pytest
import torch

from workbench.prefdata import make_synthetic
from workbench.prefmodels import ModelJudge, build_model, load_backbone, predict, train
from workbench.prefmodels import training as training_mod


@pytest.fixture(scope="module")
def data():
    comps, truth = make_synthetic(n_prompts=12, responses_per_prompt=4, n_pairs=160, intransitivity=0.5, seed=3)
    tr, va = comps.split((0.75, 0.25), seed=0)
    texts = comps.prompts + comps.responses_a + comps.responses_b
    return tr, va, texts


def fresh(texts, kind="skew"):
    bb = load_backbone("tiny", texts=texts, tiny=dict(hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32, max_length=16), device="cpu", seed=0)
    return build_model(kind, bb, seed=0)


def test_resume_continues_from_saved_step_identically(data, tmp_path):
    tr, va, texts = data
    kw = dict(batch_size=32, lr=1e-2, epochs=4, patience=0, progress=False, seed=7)
    # uninterrupted: 4 epochs of 4 steps
    full = fresh(texts)
    r_full = train(full, tr, va, **kw)
    # interrupted after 2 epochs (8 steps, a validation point), then resumed in a fresh process-like state
    ck = tmp_path / "ck.pt"
    part = fresh(texts)
    r1 = train(part, tr, va, max_steps=8, checkpoint_path=str(ck), **kw)
    assert r1.steps == 8 and ck.exists()
    resumed = fresh(texts)
    r2 = train(resumed, tr, va, checkpoint_path=str(ck), resume=True, **kw)
    assert r2.resumed_from == 8 and r2.steps == r_full.steps == 16
    for (k, v), (k2, v2) in zip(full.state_dict().items(), resumed.state_dict().items()):
        assert k == k2 and torch.equal(v, v2), k
    h_full = r_full.history.query("metric == 'train_loss'")["value"].to_numpy()
    h_res = r2.history.query("metric == 'train_loss'")["value"].to_numpy()
    assert (h_full == h_res).all()
    assert r2.best_val_loss == r_full.best_val_loss
    assert torch.equal(predict(full, va), predict(resumed, va))


def test_failing_checkpoint_save_leaves_old_checkpoint_intact(data, tmp_path, monkeypatch):
    tr, va, texts = data
    ck = tmp_path / "ck.pt"
    train(fresh(texts), tr, va, batch_size=32, epochs=1, progress=False, checkpoint_path=str(ck))
    before = ck.read_bytes()
    old = training_mod.load_checkpoint(ck)

    def broken_save(obj, f, *a, **k):  # f: the open temporary file of the atomic write
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(training_mod.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        train(fresh(texts), tr, va, batch_size=32, epochs=1, lr=0.1, progress=False, checkpoint_path=str(ck))
    assert ck.read_bytes() == before
    assert training_mod.load_checkpoint(ck)["step"] == old["step"]
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]  # no temporary file left behind


def test_checkpoint_of_another_model_kind_is_refused(data, tmp_path):
    tr, va, texts = data
    ck = tmp_path / "ck.pt"
    train(fresh(texts, "bt"), tr, va, batch_size=32, epochs=1, progress=False, checkpoint_path=str(ck))
    with pytest.raises(ValueError, match="holds a 'bt' model"):
        train(fresh(texts, "skew"), tr, va, batch_size=32, epochs=2, progress=False, checkpoint_path=str(ck), resume=True)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pt is not a readable checkpoint"):
        training_mod.load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        training_mod.load_checkpoint(tmp_path / "missing.pt")


@pytest.mark.parametrize("kind", ["bt", "pairwise", "skew"])
def test_saved_judge_reloads_with_identical_predictions(data, tmp_path, kind):
    tr, va, texts = data
    model = fresh(texts, kind)
    train(model, tr, va, batch_size=32, epochs=1, progress=False)
    judge = ModelJudge(model, meta={"note": "test"})
    path = judge.save(tmp_path / "judge")
    judge.save(path)  # overwriting an existing judge works
    again = ModelJudge.load(path, device="cpu")
    x, a, b = va.prompts, va.responses_a, va.responses_b
    assert torch.equal(judge.prob(x, a, b), again.prob(x, a, b))
    assert torch.equal(judge.matrix(x[0], a[:4]), again.matrix(x[0], a[:4]))
    assert again.meta == {"note": "test"}
    with pytest.raises(FileNotFoundError, match="judge.json"):
        ModelJudge.load(tmp_path / "nowhere")


def test_early_stopping_restores_best_weights(data):
    tr, va, texts = data
    model = fresh(texts, "pairwise")
    r = train(model, tr, va, batch_size=16, epochs=30, lr=0.05, patience=2, eval_every=2, progress=False)
    assert r.stopped_early and r.steps < 30 * 6
    vl = r.history.query("metric == 'val_log_loss'")
    assert r.best_val_loss == pytest.approx(vl["value"].min())
    from workbench.prefmodels.evaluation import log_loss

    assert log_loss(predict(model, va), torch.tensor(va.labels)) == pytest.approx(r.best_val_loss, abs=1e-5)
    assert set(r.history.columns) >= {"algo", "seed", "step", "metric", "value"}


def test_early_stopped_run_closes_a_full_progress_bar(data, monkeypatch):
    """tqdm.auto draws a bar closed before its total as failed (red): an early stop on purpose ends full."""
    import tqdm.auto

    bars = []

    class Recorder(tqdm.auto.tqdm):
        def close(self):
            bars.append((self.n, self.total))
            super().close()

    monkeypatch.setattr(tqdm.auto, "tqdm", Recorder)
    tr, va, texts = data
    r = train(fresh(texts, "pairwise"), tr, va, batch_size=16, epochs=30, lr=0.05, patience=2, eval_every=2, progress=True)
    assert r.stopped_early and r.steps < 30 * 6
    assert bars and bars[0] == (r.steps, r.steps)


def test_pairwise_judge_saved_without_skip_rank_reloads_as_bare_mlp(data, tmp_path):
    """Judges saved before the pairwise skip term have no ``skip_rank`` in judge.json: they load as bare MLPs."""
    import json

    tr, va, texts = data
    model = build_model("pairwise", fresh(texts).backbone, seed=0, skip_rank=0).eval()
    path = ModelJudge(model).save(tmp_path / "old")
    cfg = json.loads((path / "judge.json").read_text())
    del cfg["head"]["skip_rank"]
    (path / "judge.json").write_text(json.dumps(cfg))
    again = ModelJudge.load(path, device="cpu")
    assert again.model.skip_rank == 0
    assert torch.equal(ModelJudge(model).prob(va.prompts, va.responses_a, va.responses_b), again.prob(va.prompts, va.responses_a, va.responses_b))
