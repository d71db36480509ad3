"""A small tokenizer trained locally with HF ``tokenizers`` (no hub access, no ``transformers`` import).

The tiny transformer backbone needs a vocabulary; on synthetic data and small real-format samples a
word-level or byte-pair tokenizer trained in well under a second on the training texts is enough.
:class:`TextTokenizer` exposes the subset of the ``transformers`` tokenizer call API the backbones use
(``tok(texts, padding=True, truncation=True, max_length=..., return_tensors="pt")``), so every backbone
(tiny, SmolLM2, any local Hugging Face checkpoint) tokenizes the same way.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import torch

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[SEP]", "[CLS]")


class TextTokenizer:
    """A ``tokenizers.Tokenizer`` with padding/truncation to tensors and save/load to a folder."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.pad_token = "[PAD]"
        self.pad_token_id = tokenizer.token_to_id("[PAD]")
        self.truncation_side = "left"  # keep the end of a text (the response) when truncating
        self.cache_size = 200_000  # texts whose token ids are memoized (training revisits the same texts)
        self._cache: dict[str, list[int]] = {}
        if self.pad_token_id is None:
            raise ValueError("TextTokenizer: the tokenizer has no [PAD] token")

    def __len__(self) -> int:
        return self.tokenizer.get_vocab_size()

    def __call__(self, texts, padding=True, truncation=True, max_length: int = 64, return_tensors="pt", **_):
        texts = [str(t) for t in texts]
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if todo:
            if len(self._cache) + len(todo) > self.cache_size:
                self._cache.clear()
            for t, e in zip(todo, self.tokenizer.encode_batch(todo, add_special_tokens=False)):
                self._cache[t] = e.ids
        ids = [self._cache[t] for t in texts]
        if truncation:
            ids = [(x[-max_length:] if self.truncation_side == "left" else x[:max_length]) for x in ids]
        ids = [x if x else [self.tokenizer.token_to_id("[UNK]")] for x in ids]
        T = max(len(x) for x in ids)
        input_ids = torch.full((len(ids), T), self.pad_token_id, dtype=torch.long)  # (B, T)
        mask = torch.zeros((len(ids), T), dtype=torch.long)  # (B, T)
        for i, x in enumerate(ids):
            input_ids[i, : len(x)] = torch.tensor(x, dtype=torch.long)
            mask[i, : len(x)] = 1
        return {"input_ids": input_ids, "attention_mask": mask}

    def save_pretrained(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save(str(path / "tokenizer.json"))
        return path


def train_tokenizer(texts: Iterable[str], vocab_size: int = 2000, kind: str = "wordlevel", min_frequency: int = 1) -> TextTokenizer:
    """Train a tokenizer on ``texts`` (lower-cased, split on whitespace and punctuation).

    Args:
        texts: training texts (prompts and responses).
        vocab_size: maximum vocabulary size including the special tokens ``[PAD] [UNK] [SEP] [CLS]``.
        kind: ``"wordlevel"`` (whole words; exact for synthetic token strings) or ``"bpe"`` (byte-pair
            merges; robust to unseen words in real text).
        min_frequency: drop words/merges seen fewer times.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    texts = [str(t) for t in texts]
    if not texts:
        raise ValueError("train_tokenizer: got no texts to train on")
    if kind == "wordlevel":
        tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
        trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(SPECIAL_TOKENS))
    elif kind == "bpe":
        tok = Tokenizer(models.BPE(unk_token="[UNK]"))
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(SPECIAL_TOKENS))
    else:
        raise ValueError(f"train_tokenizer: kind must be 'wordlevel' or 'bpe', got {kind!r}")
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(texts, trainer=trainer)
    return TextTokenizer(tok)


def save_tokenizer(tokenizer, path: str | os.PathLike) -> Path:
    """Save a tokenizer into folder ``path``; returns the folder."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(path))
    return path


def load_tokenizer(path: str | os.PathLike):
    """Load a :class:`TextTokenizer` saved by :func:`save_tokenizer` (else a local HF tokenizer folder)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"load_tokenizer: no tokenizer folder at {path}")
    if (path / "tokenizer.json").exists() and not (path / "tokenizer_config.json").exists():
        from tokenizers import Tokenizer

        return TextTokenizer(Tokenizer.from_file(str(path / "tokenizer.json")))
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path))
