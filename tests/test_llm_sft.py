"""The tiny free-text reference (workbench/llm/sft.py): which response is learnt, determinism and the cache,
SFT lowers the NLL of the preferred responses, the folder loads with load_policy and writes the data's words."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from workbench.device import make_generator
from workbench.llm.models import load_policy
from workbench.llm.policy import Policy
from workbench.llm.sampling import sample
from workbench.llm.sft import TinySFTConfig, build_sft_lm, preferred_pairs, response_nll, sft_checkpoint
from workbench.prefdata import Comparisons, load_comparisons

DATA = Path(__file__).resolve().parents[1] / "data" / "prefs"
SMALL = TinySFTConfig(hidden_size=32, num_heads=2, intermediate_size=64, steps=40, batch_size=16, lr=5e-3)


@pytest.fixture(scope="module")
def comps():
    return load_comparisons(DATA / "hh_sample.jsonl")


@pytest.fixture(scope="module")
def folder(comps, tmp_path_factory):
    return sft_checkpoint(comps, SMALL, cache_dir=tmp_path_factory.mktemp("cache"))


def _comparisons(rows) -> Comparisons:
    return Comparisons.from_frame(pd.DataFrame(rows, columns=["prompt", "response_a", "response_b", "label"]), "t")


def test_preferred_pairs_take_the_labelled_side_and_drop_ties():
    c = _comparisons([("p1", "a one", "b one", 1.0), ("p2", "a two", "b two", 0.0), ("p3", "a three", "b three", 0.5),
                      ("p4", "a four", "b four", 0.7), ("p5", "a five six seven", "b", 0.2)])
    prompts, chosen = preferred_pairs(c)
    assert prompts == ["p1", "p2", "p4", "p5"] and chosen == ["a one", "b two", "a four", "b"]
    assert preferred_pairs(c, max_words=1)[1] == ["a", "b", "a", "b"]


def test_bad_input_is_named():
    empty = _comparisons([])
    with pytest.raises(ValueError, match="comparisons are empty"):
        sft_checkpoint(empty, SMALL)
    with pytest.raises(ValueError, match="all 2 records are ties"):
        preferred_pairs(_comparisons([("p", "a", "b", 0.5), ("q", "c", "d", 0.5)]))
    with pytest.raises(TypeError, match="Comparisons"):
        preferred_pairs(pd.DataFrame({"prompt": ["p"]}))
    with pytest.raises(ValueError, match="TinySFTConfig.steps"):
        TinySFTConfig(steps=-1)
    with pytest.raises(ValueError, match="TinySFTConfig.lr"):
        TinySFTConfig(lr=float("nan"))
    with pytest.raises(ValueError, match="not divisible by num_heads"):
        TinySFTConfig(hidden_size=30, num_heads=4)


def test_build_is_deterministic_and_seeded(comps):
    sub = comps.head(12)
    cfg = TinySFTConfig(hidden_size=32, num_heads=2, intermediate_size=64, steps=5, batch_size=4)
    torch.manual_seed(1)
    a, _, info_a = build_sft_lm(sub, cfg)
    torch.manual_seed(2)  # the global RNG's state must not matter
    b, _, info_b = build_sft_lm(sub, cfg)
    c, _, _ = build_sft_lm(sub, TinySFTConfig(**{**cfg.__dict__, "seed": 1, "steps": 0}))
    d, _, _ = build_sft_lm(sub, TinySFTConfig(**{**cfg.__dict__, "steps": 0}))
    sa, sb, sc, sd = a.state_dict(), b.state_dict(), c.state_dict(), d.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa) and info_a == info_b
    assert not all(torch.equal(sc[k], sd[k]) for k in sc)  # the seed sets the initial weights


def test_sft_lowers_the_nll_of_the_preferred_responses(comps):
    """Measured before (the same seeded weights, 0 steps) and after: from about log V (an untrained model is
    near uniform over its vocabulary) to well under half of it."""
    model0, tok0, info0 = build_sft_lm(comps, TinySFTConfig(**{**SMALL.__dict__, "steps": 0}))
    model, tok, info = build_sft_lm(comps, SMALL)
    prompts, chosen = preferred_pairs(comps, SMALL.max_response_words)
    before = response_nll(Policy(model0, tok0, finetune="full", keep_reference=False), prompts, chosen)
    after = response_nll(Policy(model, tok, finetune="full", keep_reference=False), prompts, chosen)
    V = info["vocab_size"]
    print(f"NLL per token: before {before:.3f} (log V = {torch.log(torch.tensor(float(V))):.3f}), after {after:.3f}")
    assert before == pytest.approx(info0["nll_before"]) == pytest.approx(info0["nll_after"])
    assert after == pytest.approx(info["nll_after"], rel=1e-5)
    assert abs(before - float(torch.log(torch.tensor(float(V))))) < 0.5
    assert after < 0.5 * before


def test_checkpoint_is_cached_per_config_and_data(comps, folder, tmp_path):
    again = sft_checkpoint(comps, SMALL, cache_dir=folder.parent)
    assert again == folder
    assert sft_checkpoint(comps.head(29), SMALL.__class__(**{**SMALL.__dict__, "steps": 1}),
                          cache_dir=tmp_path) != folder
    keys = {sft_checkpoint(comps.head(10), TinySFTConfig(hidden_size=32, num_heads=2, intermediate_size=64,
                                                         steps=s, batch_size=4), cache_dir=tmp_path).name
            for s in (0, 1)}
    assert len(keys) == 2
    other = sft_checkpoint(comps.head(10).swap(), TinySFTConfig(hidden_size=32, num_heads=2, intermediate_size=64,
                                                                steps=0, batch_size=4), cache_dir=tmp_path)
    same = sft_checkpoint(comps.head(10), TinySFTConfig(hidden_size=32, num_heads=2, intermediate_size=64,
                                                        steps=0, batch_size=4), cache_dir=tmp_path)
    assert other == same  # swapping sides (and labels) keeps the preferred responses: the same data
    other = sft_checkpoint(comps.head(9), TinySFTConfig(hidden_size=32, num_heads=2, intermediate_size=64, steps=0,
                                                        batch_size=4), cache_dir=tmp_path)
    assert other != same
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]  # nothing half-written left


def test_folder_loads_as_a_policy_that_writes_the_datas_words(comps, folder):
    assert {"config.json", "model.safetensors", "tokenizer.json", "tiny_sft.json"} <= {p.name for p in folder.iterdir()}
    info = json.loads((folder / "tiny_sft.json").read_text())
    pol = load_policy(str(folder), device="cpu", seed=0)
    prompts, chosen = preferred_pairs(comps, SMALL.max_response_words)
    assert response_nll(pol, prompts, chosen) == pytest.approx(info["nll_after"], rel=1e-4)  # LoRA starts at mu
    roll = sample(pol, prompts[:8] * 2, 40, generator=make_generator(0))
    words = {w for t in [*comps.prompts, *comps.responses_a, *comps.responses_b] for w in t.split()}
    said = [w for y in roll.responses for w in y.split()]
    assert said and set(said) <= words, set(said) - words  # no [UNK], no word the data does not use
    ended = (roll.response_mask.sum(-1) < roll.response_mask.shape[1]) | (
        roll.response_ids[:, -1] == pol.tokenizer.eos_token_id)
    assert ended.float().mean() >= 0.75, roll.responses  # it learnt to stop (EOS) within 40 tokens
    assert sum(len(y.split()) for y in roll.responses) / len(roll.responses) >= 3  # and to say something first
