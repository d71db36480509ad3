"""The tiny backbone is a transformers LlamaModel: LoRA through peft, save/load round trips, pooling, tokenizer."""

import json

import pytest
import torch

from workbench.prefmodels import ModelJudge, build_model, load_backbone, load_model, save_model, tiny_llama_config, train_tokenizer
from workbench.prefmodels.backbones import pool

TEXTS = [
    "play [SEP] rock beats scissors", "play [SEP] paper covers rock", "play [SEP] scissors cut paper",
    "say hi [SEP] hello there", "say hi [SEP] good morning to you", "name a colour [SEP] blue",
]
TINY = dict(hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32, max_length=16)


def tiny(seed=0, **kw):
    return load_backbone("tiny", texts=TEXTS, tiny=TINY, device="cpu", seed=seed, **kw)


def test_tiny_backbone_is_a_llama_model_from_its_config():
    from transformers import LlamaConfig, LlamaModel

    bb = tiny()
    assert isinstance(bb.model, LlamaModel)
    cfg = bb.model.config
    assert isinstance(cfg, LlamaConfig)
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.intermediate_size) == (16, 1, 2, 32)
    assert cfg.vocab_size == len(bb.tokenizer) and cfg.pad_token_id == bb.tokenizer.pad_token_id == 0
    assert bb.spec.kind == "tiny" and bb.spec.finetune == "full" and bb.spec.pooling == "mean" and bb.spec.bidirectional
    e = bb.embed(TEXTS)
    assert e.shape == (6, 16) and torch.isfinite(e).all()
    assert torch.equal(e, tiny().embed(TEXTS))  # same seed, same weights
    assert not torch.equal(e, load_backbone("tiny", texts=TEXTS, tiny=TINY, device="cpu", seed=1).embed(TEXTS))


def test_tiny_llama_config_fields_and_errors():
    cfg = tiny_llama_config(50, hidden_size=8, num_layers=3, num_heads=2, intermediate_size=24, max_length=10,
                            pad_token_id=0, eos_token_id=5, tie_word_embeddings=True)
    assert (cfg.vocab_size, cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.num_key_value_heads) == (50, 8, 3, 2, 2)
    assert (cfg.intermediate_size, cfg.max_position_embeddings, cfg.eos_token_id, cfg.attention_dropout) == (24, 10, 5, 0.0)
    assert cfg.tie_word_embeddings is True  # an override reaches the LlamaConfig
    with pytest.raises(ValueError, match="num_layers=-1"):
        tiny_llama_config(50, num_layers=-1)
    with pytest.raises(ValueError, match="hidden_size=6 is not divisible by num_heads=2 into an even head size"):
        tiny_llama_config(50, hidden_size=6, num_heads=2)


def test_tiny_lora_starts_at_the_base_then_adapters_move_and_the_base_stays_frozen():
    base = tiny()
    lora = tiny(finetune="lora", lora_r=4)
    assert lora.spec.finetune == "lora" and lora.spec.lora_alpha == 8
    trainable = {n for n, p in lora.named_parameters() if p.requires_grad}
    assert trainable and all("lora_A" in n or "lora_B" in n for n in trainable)
    assert any("q_proj" in n for n in trainable) and any("v_proj" in n for n in trainable)
    # B = 0 at init: the adapted model computes exactly what the base computes
    assert torch.allclose(lora.embed(TEXTS), base.embed(TEXTS), atol=1e-6)
    frozen = {n: p.detach().clone() for n, p in lora.named_parameters() if not p.requires_grad}
    opt = torch.optim.SGD([p for p in lora.parameters() if p.requires_grad], lr=0.5)
    for _ in range(3):
        loss = lora.embed(TEXTS)[:, 0].sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert (lora.embed(TEXTS) - base.embed(TEXTS)).abs().max() > 1e-3  # the adapters changed the output
    assert all(torch.equal(p, frozen[n]) for n, p in lora.named_parameters() if n in frozen)  # base untouched


def test_frozen_tiny_backbone_has_no_trainable_weights():
    bb = tiny(finetune="frozen")
    assert not any(p.requires_grad for p in bb.parameters())
    model = build_model("bt", bb, seed=0)
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {"reward_head.weight", "reward_head.bias"}


@pytest.mark.parametrize("finetune", ["full", "lora", "frozen"])
def test_saved_model_round_trip_gives_the_same_logits(tmp_path, finetune):
    # seed 3: the frozen base of a LoRA / frozen model is not what a rebuild from the spec (seed 0) draws
    model = build_model("skew", tiny(seed=3, finetune=finetune), seed=2, rank=2)
    with torch.no_grad():  # move every weight off its init so a reload from a fresh init would differ
        for n, p in model.named_parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(len(n))))
    x, a, b = ["play"] * 3, ["rock", "paper", "scissors"], ["paper", "scissors", "rock"]
    path = save_model(model, tmp_path / "m", extra={"note": "hi"})
    assert sorted(p.name for p in path.iterdir()) == ["judge.json", "tokenizer", "weights.safetensors"]
    again, cfg = load_model(path, device="cpu")
    assert cfg["note"] == "hi" and cfg["backbone"]["finetune"] == finetune and not again.training
    model.eval()
    with torch.no_grad():
        assert torch.equal(model.logit(x, a, b), again.logit(x, a, b))
    assert type(again.backbone.model) is type(model.backbone.model)


def test_load_model_errors_name_the_file(tmp_path):
    model = build_model("bt", tiny(), seed=0)
    path = save_model(model, tmp_path / "m")
    with pytest.raises(FileNotFoundError, match="no judge.json in"):
        load_model(tmp_path / "missing", device="cpu")
    cfg = json.loads((path / "judge.json").read_text())
    (path / "judge.json").write_text(json.dumps({**cfg, "format_version": 1}))
    with pytest.raises(ValueError, match=r"judge.json has format_version=1, expected 2"):
        load_model(path, device="cpu")
    (path / "judge.json").write_text(json.dumps({**cfg, "model": "elo"}))
    with pytest.raises(ValueError, match="names unknown model 'elo'"):
        ModelJudge.load(path, device="cpu")


def test_tokenizer_save_pretrained_round_trip(tmp_path):
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    tok = train_tokenizer(TEXTS, vocab_size=100, kind="bpe")
    assert isinstance(tok, PreTrainedTokenizerFast)
    assert [tok.pad_token_id, tok.unk_token_id, tok.sep_token_id, tok.bos_token_id, tok.eos_token_id] == [0, 1, 2, 4, 5]
    tok.save_pretrained(str(tmp_path / "tok"))
    again = AutoTokenizer.from_pretrained(str(tmp_path / "tok"))
    probe = ["Rock BEATS scissors [SEP] hello", "an unseen word: zebra", "play"]
    kw = dict(padding=True, truncation=True, max_length=5, return_tensors="pt")
    enc, enc2 = tok(probe, **kw), again(probe, **kw)
    assert torch.equal(enc["input_ids"], enc2["input_ids"]) and torch.equal(enc["attention_mask"], enc2["attention_mask"])
    assert (again.padding_side, again.truncation_side, len(again)) == ("right", "left", len(tok))
    # left truncation keeps the end of a text; right padding with [PAD]; no special tokens added around a text
    full = tok(probe[0])["input_ids"]
    assert enc["input_ids"][0].tolist() == full[-5:]
    assert enc["input_ids"][2].tolist()[len(tok(probe[2])["input_ids"]):] == [0] * (5 - len(tok(probe[2])["input_ids"]))
    assert tok.convert_ids_to_tokens(full)[:2] == ["rock", "beats"]  # lower-cased words, nothing prepended


def test_tokenizer_errors():
    with pytest.raises(ValueError, match="no texts"):
        train_tokenizer([])
    with pytest.raises(ValueError, match="kind must be 'wordlevel' or 'bpe', got 'char'"):
        train_tokenizer(["a"], kind="char")


def test_exported_tiny_backbone_loads_as_a_plain_hugging_face_checkpoint(tmp_path):
    bb = tiny(finetune="lora", lora_r=2)
    with torch.no_grad():
        for n, p in bb.named_parameters():
            if "lora_B" in n:
                p.fill_(0.1)  # adapters that change the output
    path = bb.save_pretrained(tmp_path / "export")
    assert (path / "config.json").exists() and (path / "model.safetensors").exists() and (path / "tokenizer.json").exists()
    kw = dict(device="cpu", finetune="full", pooling="mean", max_length=TINY["max_length"])
    again = load_backbone(str(path), bidirectional=True, **kw)
    assert again.spec.kind == "hf" and not hasattr(again.model, "peft_config")  # adapters merged into the weights
    assert torch.allclose(bb.embed(TEXTS), again.embed(TEXTS), atol=1e-5)
    causal = load_backbone(str(path), **kw)  # the same weights under the model's own (causal) mask
    assert not causal.spec.bidirectional and not torch.allclose(bb.embed(TEXTS), causal.embed(TEXTS), atol=1e-3)
    assert "lora_B" in "".join(n for n, _ in bb.named_parameters())  # the original keeps its adapters


def test_bidirectional_mask_lets_every_token_see_every_real_token():
    from workbench.prefmodels.backbones import bidirectional_mask

    m = bidirectional_mask(torch.tensor([[1, 1, 0], [1, 1, 1]]))
    assert m.shape == (2, 1, 3, 3) and m.dtype == torch.bool
    assert torch.equal(m[0, 0], torch.tensor([[True, True, False]] * 3))  # the padded key is hidden from all
    assert m[1].all()  # including keys after the query (no causal triangle)


def test_pool_mean_and_last_on_hand_made_tensors():
    h = torch.arange(2 * 3 * 2, dtype=torch.float32).reshape(2, 3, 2)  # (B=2, T=3, H=2)
    right = torch.tensor([[1, 1, 0], [1, 1, 1]])  # row 0: two real tokens then padding
    assert torch.equal(pool(h, right, "mean"), torch.tensor([[1.0, 2.0], [8.0, 9.0]]))
    assert torch.equal(pool(h, right, "last"), torch.tensor([[2.0, 3.0], [10.0, 11.0]]))
    left = torch.tensor([[0, 1, 1], [1, 1, 1]])  # left padding: the last column is real everywhere
    assert torch.equal(pool(h, left, "last"), torch.tensor([[4.0, 5.0], [10.0, 11.0]]))
    assert torch.equal(pool(h, left, "mean"), torch.tensor([[3.0, 4.0], [8.0, 9.0]]))
    with pytest.raises(ValueError, match="got 'max'"):
        pool(h, right, "max")


@pytest.mark.parametrize("side", ["right", "left"])
def test_encode_matches_the_tokenizers_own_padding_and_truncation(side):
    bb = tiny()
    bb.tokenizer.padding_side = side
    probe = TEXTS + ["play", "a much longer text " * 5 + "[SEP] with its end kept"]
    for _ in range(2):  # the second call reads the memo
        enc = bb.encode(probe)
        ref = bb.tokenizer(probe, padding=True, truncation=True, max_length=TINY["max_length"], return_tensors="pt")
        assert torch.equal(enc["input_ids"], ref["input_ids"]) and torch.equal(enc["attention_mask"], ref["attention_mask"])
    bb.spec.max_length = 4  # a new max_length invalidates the memo
    assert bb.encode(probe)["input_ids"].shape == (len(probe), 4)
