"""A small tokenizer trained locally with HF ``tokenizers``, wrapped as a ``transformers`` fast tokenizer.

The tiny backbones (the preference models' tiny Llama encoder here, the LLM lab's tiny causal LM) need a
vocabulary; on synthetic data and small real-format samples a word-level or byte-pair tokenizer trained in
well under a second on the training texts is enough, and nothing is downloaded. :func:`train_tokenizer`
returns a ``transformers.PreTrainedTokenizerFast``, so a tiny backbone tokenizes, pads, truncates, saves
(``tok.save_pretrained(folder)``) and reloads (``AutoTokenizer.from_pretrained(folder)``) exactly like
SmolLM2 or any local Hugging Face checkpoint.

Conventions: right padding with ``[PAD]``, truncation from the **left** (``truncation_side="left"``: the
end of a text, the response, survives), no special tokens added around a text (no post-processor), so a
text's ids are its word or byte-pair pieces and nothing else. ``[BOS]`` / ``[EOS]`` are in the vocabulary
(``tok.bos_token_id`` / ``tok.eos_token_id``) for a causal LM that wants them; ``[SEP]`` joins a prompt and
its response(s).
"""

from __future__ import annotations

from collections.abc import Iterable

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[SEP]", "[CLS]", "[BOS]", "[EOS]")
TOKENIZER_KINDS = ("wordlevel", "bpe")


def train_tokenizer(
    texts: Iterable[str],
    vocab_size: int = 2000,
    kind: str = "wordlevel",
    min_frequency: int = 1,
    model_max_length: int | None = None,
):
    """Train a tokenizer on ``texts`` (NFKC, lower-cased, split on whitespace and punctuation).

    Args:
        texts: training texts (prompts and responses).
        vocab_size: maximum vocabulary size including the special tokens
            ``[PAD] [UNK] [SEP] [CLS] [BOS] [EOS]`` (ids 0 to 5, in that order).
        kind: ``"wordlevel"`` (whole words; exact for synthetic token strings) or ``"bpe"`` (byte-pair
            merges; robust to unseen words in real text).
        min_frequency: drop words/merges seen fewer times.
        model_max_length: the tokenizer's default ``max_length`` (None: no default, pass ``max_length=``).

    Returns:
        A ``transformers.PreTrainedTokenizerFast`` (pad ``[PAD]``, unk ``[UNK]``, sep ``[SEP]``,
        cls ``[CLS]``, bos ``[BOS]``, eos ``[EOS]``; right padding, left truncation).
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    texts = [str(t) for t in texts]
    if not texts:
        raise ValueError("train_tokenizer: got no texts to train on")
    if kind not in TOKENIZER_KINDS:
        raise ValueError(f"train_tokenizer: kind must be 'wordlevel' or 'bpe', got {kind!r}")
    if vocab_size < len(SPECIAL_TOKENS) + 1:
        raise ValueError(f"train_tokenizer: vocab_size={vocab_size} leaves no room beside {len(SPECIAL_TOKENS)} special tokens")
    special = list(SPECIAL_TOKENS)
    if kind == "wordlevel":
        tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
        trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=special)
    else:
        tok = Tokenizer(models.BPE(unk_token="[UNK]"))
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=special)
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(texts, trainer=trainer)
    extra = {} if model_max_length is None else {"model_max_length": int(model_max_length)}
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="[PAD]", unk_token="[UNK]", sep_token="[SEP]", cls_token="[CLS]", bos_token="[BOS]",
        eos_token="[EOS]", padding_side="right", truncation_side="left", **extra,
    )
