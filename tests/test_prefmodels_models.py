"""Preference models: antisymmetry by construction, BT vs cycles, the judge interface."""

import pandas as pd
import pytest
import torch

from workbench.prefmodels import ModelJudge, build_model, load_backbone, predict, train
from workbench.prefmodels.evaluation import accuracy, cyclic_triple_fraction

WORDS = "rock paper scissors good bad okay the answer is we note that here so then".split()


def random_texts(n, seed):
    g = torch.Generator().manual_seed(seed)
    return [" ".join(WORDS[i] for i in torch.randint(len(WORDS), (int(torch.randint(1, 9, (1,), generator=g)),), generator=g)) for _ in range(n)]


def tiny(texts, **kw):
    cfg = dict(hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32, max_length=16)
    cfg.update(kw)
    return load_backbone("tiny", texts=texts, tiny=cfg, device="cpu", seed=0)


@pytest.mark.parametrize("kind,head", [("bt", {}), ("pairwise", {}), ("pairwise", {"mode": "cross"}), ("skew", {"rank": 3})])
def test_antisymmetry_to_1e6_on_random_inputs(kind, head):
    x, a, b = random_texts(40, 1), random_texts(40, 2), random_texts(40, 3)
    model = build_model(kind, tiny(x + a + b), seed=1, **head).eval()
    with torch.no_grad():
        pab, pba = model.prob(x, a, b), model.prob(x, b, a)
        assert pab.shape == (40,)
        assert torch.max(torch.abs(pab + pba - 1)) < 1e-6
        assert pab.std() > 1e-6  # the random model is not trivially constant
        P = model.matrix(x[0], a[:6])
        assert torch.allclose(P + P.T, torch.ones(6, 6), atol=1e-6)
        assert torch.allclose(torch.diagonal(P), torch.full((6,), 0.5))
        # the matrix agrees with pairwise calls
        assert torch.allclose(P[1, 4], model.prob([x[0]], [a[1]], [a[4]])[0], atol=1e-5)


def cycle_data():
    """One prompt, rock-paper-scissors with deterministic labels, both orders of every pair."""
    beats = [("paper", "rock"), ("scissors", "paper"), ("rock", "scissors")]
    rows = [("play", w, l, 1.0) for w, l in beats] + [("play", l, w, 0.0) for w, l in beats]
    return pd.DataFrame(rows * 8, columns=["prompt", "response_a", "response_b", "label"])


def test_bt_cannot_fit_a_3_cycle_but_the_skew_model_can():
    df = cycle_data()
    texts = df["prompt"].tolist() + df["response_a"].tolist()
    results = {}
    for kind in ("bt", "skew"):
        model = build_model(kind, tiny(texts, num_layers=0, hidden_size=8), seed=0, **({"rank": 1} if kind == "skew" else {}))
        train(model, df, df, epochs=60, batch_size=16, lr=0.05, patience=0, progress=False)
        p = predict(model, df)
        results[kind] = accuracy(p, torch.tensor(df["label"].to_numpy()))
        P = ModelJudge(model).matrix("play", ["rock", "paper", "scissors"])
        results[kind + "_cyc"] = float(cyclic_triple_fraction(P))
    assert results["bt"] <= 2 / 3 + 1e-9  # any transitive order gets at most 2 of the 3 cycle edges
    assert results["bt_cyc"] == 0.0
    assert results["skew"] == 1.0
    assert results["skew_cyc"] == 1.0


def test_judge_batches_and_checks_lengths():
    x, a, b = random_texts(10, 4), random_texts(10, 5), random_texts(10, 6)
    judge = ModelJudge(build_model("skew", tiny(x + a + b), seed=0), batch_size=3)
    full = ModelJudge(judge.model, batch_size=100).prob(x, a, b)
    assert torch.allclose(judge.prob(x, a, b), full, atol=1e-6)
    with pytest.raises(ValueError, match="lengths differ"):
        judge.prob(x, a, b[:-1])
    with pytest.raises(ValueError, match="unknown model kind"):
        build_model("nope", judge.model.backbone)


def test_tiny_backbone_errors_are_clear():
    with pytest.raises(ValueError, match="needs texts"):
        load_backbone("tiny", device="cpu")
    with pytest.raises(ValueError, match="finetune must be 'full', 'lora' or 'frozen', got 'qlora'"):
        load_backbone("tiny", texts=["a b"], finetune="qlora", device="cpu")
    with pytest.raises(ValueError, match="pooling must be 'mean' or 'last', got 'max'"):
        load_backbone("tiny", texts=["a b"], pooling="max", device="cpu")
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['hidden'\]"):
        load_backbone("tiny", texts=["a b"], tiny=dict(hidden=8), device="cpu")
    with pytest.raises(FileNotFoundError, match="not a local Hugging Face checkpoint"):
        load_backbone("/nonexistent/model", device="cpu")
    with pytest.raises(ValueError, match="hidden_size=10 is not divisible by num_heads=3"):
        load_backbone("tiny", texts=["a b"], tiny=dict(hidden_size=10, num_heads=3), device="cpu")
    with pytest.raises(ValueError, match="hidden_size=12 is not divisible by num_heads=4 into an even head size"):
        load_backbone("tiny", texts=["a b"], tiny=dict(hidden_size=12, num_heads=4), device="cpu")
