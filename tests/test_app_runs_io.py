"""MethodRuns.save / MethodRuns.load: the LLM lab's runs on disk (frame, final adapters, plan), round trip,
atomic replacement and readable errors for a damaged folder."""

import json

import pandas as pd
import pytest
import torch

from workbench.llm.evaluation import Trained
from workbench.llm.experiments import MethodRuns
from workbench.results import make_frame


def runs(scale=1.0):
    g = torch.Generator().manual_seed(0)
    w = lambda: {"layer.lora_A": torch.randn(4, 8, generator=g) * scale, "layer.lora_B": torch.randn(8, 4, generator=g)[:, :3]}  # noqa: E731
    frame = make_frame([("Nash-MD-PG", s, t, 16 * t, m, 0.1 * t + s, "tiny", 0.1)
                        for s in (0, 1) for t in (0, 5) for m in ("kl_to_eq", "kl_to_mu")], knobs="llm")
    finals = [Trained("Nash-MD-PG", 0, w(), 5, 80), Trained("Self-play", 0, w(), 5, 80), Trained("reference", 0, None)]
    return MethodRuns(frame, finals, {"Nash-MD-PG": 5, "Self-play": 5}, {"Nash-MD-PG": 16, "Self-play": 16}, w())


def test_round_trip(tmp_path):
    r = runs()
    out = r.save(tmp_path / "runs")
    back = MethodRuns.load(out)
    pd.testing.assert_frame_equal(back.frame, r.frame, check_dtype=False)
    assert back.steps == r.steps and back.queries_per_step == r.queries_per_step
    assert [(t.algo, t.seed, t.step, t.queries, t.is_reference) for t in back.finals] == \
        [(t.algo, t.seed, t.step, t.queries, t.is_reference) for t in r.finals]
    for a, b in zip(back.finals, r.finals):
        if a.weights is not None:
            assert a.weights.keys() == b.weights.keys()
            assert all(torch.equal(a.weights[k], b.weights[k]) for k in a.weights)
    assert all(torch.equal(back.initial[k], r.initial[k]) for k in r.initial)


def test_save_replaces_atomically_and_errors_name_the_part(tmp_path, monkeypatch):
    folder = runs().save(tmp_path / "runs")
    (folder / "notes.txt").write_text("mine")
    # a save that fails half-way leaves the previous folder as it was
    import safetensors.torch as st

    calls = {"n": 0}
    real = st.save_file

    def failing(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return real(*a, **k)

    monkeypatch.setattr(st, "save_file", failing)
    with pytest.raises(OSError, match="disk full"):
        runs(scale=2.0).save(folder)
    monkeypatch.setattr(st, "save_file", real)
    back = MethodRuns.load(folder)
    assert torch.equal(back.finals[0].weights["layer.lora_A"], runs().finals[0].weights["layer.lora_A"])
    # damaged folders: each error names the part
    (folder / "finals" / "001.safetensors").unlink()
    with pytest.raises(ValueError, match="001.safetensors is missing"):
        MethodRuns.load(folder)
    (folder / "runs.json").write_text("{not json")
    with pytest.raises(ValueError, match="runs.json: not valid JSON"):
        MethodRuns.load(folder)
    (folder / "runs.json").write_text(json.dumps({"version": 99}))
    with pytest.raises(ValueError, match="version 99"):
        MethodRuns.load(folder)
    with pytest.raises(ValueError, match="no runs.json"):
        MethodRuns.load(tmp_path)
