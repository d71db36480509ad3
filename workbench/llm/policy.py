"""A policy over any ``transformers`` causal LM: LoRA by default, the reference as the adapters switched off.

``Policy`` holds the model (a peft ``PeftModel`` when ``finetune="lora"``), its tokenizer and, optionally,
a set of allowed tokens (constrained decoding over an enumerable response set). The reference policy
``mu`` is the same base model with the adapters disabled (``model.disable_adapter()``): no second copy in
memory. Full fine-tuning keeps a frozen copy for the reference instead (``keep_reference=True``).

Weights of the trainable part can be snapshotted and temporarily swapped in (``snapshot`` / ``swapped``):
that is how the trainers keep an EMA opponent (Nash-EMA-PG) or Nash-MP's proximal centre ``pi_t`` and half
step ``pi_{t+1/2}`` without more model copies (with LoRA a snapshot is the adapters only).

Conventions (see :mod:`workbench.llm.sampling`): prompts are left-padded ``(B, Tp)``, responses
right-padded ``(B, Tr)``; a sequence's log-probability is the sum over its response tokens (EOS included
when generated), each token's distribution renormalized over the allowed tokens when a constraint is set.
"""

from __future__ import annotations

import copy
import warnings
from contextlib import contextmanager, nullcontext
from typing import Iterator, Sequence

import torch
from torch import nn

from workbench.device import DeviceLike, resolve_device


def _contiguous_input(module: nn.Module, args: tuple) -> tuple:
    return (args[0].contiguous(), *args[1:])


def _contiguous_head(model: nn.Module) -> None:
    """Make the LM head's input contiguous before its matmul. ``logits_to_keep`` hands the head a strided
    slice of the hidden states (the last positions of a longer sequence); ``nn.Linear`` on such a 3-D view
    runs as a batched matmul against the weight expanded per row, reading the whole ``V x d`` head once per
    row (SmolLM2's 113 MB head: ~0.6 s per prefill of 8 rows on CPU instead of a few ms for the copy)."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if isinstance(head, nn.Linear) and _contiguous_input not in head._forward_pre_hooks.values():
        head.register_forward_pre_hook(_contiguous_input)


class Policy(nn.Module):
    """Causal LM + tokenizer + reference + optional token constraint."""

    def __init__(
        self,
        model: nn.Module,
        tokenizer,
        *,
        finetune: str = "lora",
        lora_r: int = 8,
        lora_alpha: int = 16,
        lora_targets: str | list[str] = "all-linear",
        keep_reference: bool = True,
        chat: bool | None = None,
        seed: int = 0,
    ):
        super().__init__()
        if finetune not in ("lora", "full"):
            raise ValueError(f"Policy: finetune must be 'lora' or 'full'; got {finetune!r}")
        self.finetune = finetune
        self.tokenizer = tokenizer
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"
        self.chat = bool(getattr(tokenizer, "chat_template", None)) if chat is None else chat
        self.ref_model = None
        if finetune == "lora":
            from peft import LoraConfig, get_peft_model

            for p in model.parameters():
                p.requires_grad_(False)
            state = torch.random.get_rng_state()
            try:  # peft initialises LoRA A from the global RNG (B = 0: the policy starts at mu)
                torch.manual_seed(seed)
                with warnings.catch_warnings():  # peft 0.21 calls a transformers API deprecated in 5.x (harmless)
                    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
                    model = get_peft_model(model, LoraConfig(r=lora_r, lora_alpha=lora_alpha, lora_dropout=0.0,
                                                             target_modules=lora_targets))
            finally:
                torch.random.set_rng_state(state)
        _contiguous_head(model)
        if finetune != "lora" and keep_reference:
            self.ref_model = copy.deepcopy(model).eval().requires_grad_(False)
        self.model = model
        self.allowed: torch.Tensor | None = None  # (A,) allowed token ids, or None for free text

    # ------------------------------------------------------------------ basics
    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def word_ids(self, words: Sequence[str]) -> torch.Tensor:
        """The single token id of each word as it appears after a space, ``(A,)``; raises if a word
        takes several tokens (constrained tasks need one token per word)."""
        ids = []
        for w in words:
            enc = self.tokenizer.encode(" " + w, add_special_tokens=False)
            if len(enc) != 1:
                raise ValueError(f"Policy.word_ids: {w!r} is {len(enc)} tokens for this tokenizer {enc}; need one")
            ids.append(enc[0])
        return torch.tensor(ids, dtype=torch.long, device=self.device)

    def constrain(self, words: Sequence[str] | None) -> "Policy":
        """Restrict generation and log-probabilities to ``words`` (one token each); ``None`` lifts it."""
        self.allowed = None if words is None else self.word_ids(words)
        return self

    def format_prompt(self, prompt: str) -> str:
        if not self.chat:
            return prompt
        return self.tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                                  add_generation_prompt=True)

    def encode_prompts(self, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-padded prompt ids and mask, ``(B, Tp)`` each."""
        enc = self.tokenizer([self.format_prompt(p) for p in prompts], padding=True, return_tensors="pt",
                             add_special_tokens=not self.chat)
        return enc["input_ids"].to(self.device), enc["attention_mask"].to(self.device)

    def decode(self, response_ids: torch.Tensor, response_mask: torch.Tensor) -> list[str]:
        """Response texts from right-padded ids ``(B, Tr)``."""
        out = []
        for ids, m in zip(response_ids.tolist(), response_mask.tolist()):
            out.append(self.tokenizer.decode([i for i, k in zip(ids, m) if k], skip_special_tokens=True).strip())
        return out

    # ------------------------------------------------------------------ reference and weights
    def _tuner_layers(self) -> list[nn.Module] | None:
        """The LoRA layers (found once), or ``None`` when the model has wrappers only peft can switch off."""
        if not hasattr(self, "_lora_layers"):
            from peft.tuners.tuners_utils import BaseTunerLayer
            from peft.utils.other import AuxiliaryTrainingWrapper

            mods = list(self.model.modules())
            plain = not any(isinstance(m, AuxiliaryTrainingWrapper) for m in mods)
            self._lora_layers = [m for m in mods if isinstance(m, BaseTunerLayer)] if plain else None
        return self._lora_layers

    @contextmanager
    def reference(self) -> Iterator[nn.Module]:
        """The module that computes ``mu``: the model with adapters off (LoRA) or the frozen copy (full).

        With LoRA the adapters are switched off by flipping each LoRA layer's ``disable_adapters`` flag
        directly: peft's ``disable_adapter()`` context builds a full layer-status report (every module's
        repr) on each entry, which cost more than the forward itself when the sampler entered it once per
        token (``benchmarks/bench_llm.py``). The adapters' ``requires_grad`` is left as it is (peft's
        context clears and restores it): a disabled adapter takes no part in the forward either way."""
        if self.finetune == "lora":
            layers = self._tuner_layers()
            if layers is None:  # modules_to_save and the like: peft's own (slow) switch
                with self.model.disable_adapter():
                    yield self.model
                return
            saved = [m._disable_adapters for m in layers]
            try:
                for m in layers:
                    m._disable_adapters = True
                yield self.model
            finally:
                for m, s in zip(layers, saved):
                    m._disable_adapters = s
        elif self.ref_model is not None:
            yield self.ref_model
        else:
            raise RuntimeError("Policy: full fine-tuning without keep_reference has no reference model")

    def _row_scalable(self) -> list[nn.Module] | None:
        """The LoRA layers when every one is a plain LoRA ``Linear`` with one active adapter (the forward
        ``base(x) + B(A(x)) * scaling``), else ``None``."""
        if not hasattr(self, "_scalable"):
            from peft.tuners.lora.layer import Linear as LoraLinear

            layers = self._tuner_layers() if self.finetune == "lora" else None
            ok = bool(layers) and all(isinstance(m, LoraLinear) and not m.lora_variant and len(m.active_adapters) == 1
                                      for m in layers)
            self._scalable = layers if ok else None
        return self._scalable

    @contextmanager
    def adapter_rows(self, on: torch.Tensor) -> Iterator[bool]:
        """One forward in which row ``r`` of the batch has the adapters on iff ``on[r]`` (LoRA): each layer's
        LoRA scaling becomes a per-row factor ``(R, 1, 1)``, ``scaling * on``, so reference rows add zero.
        The same outputs as peft's mixed-adapter batch (``adapter_names``, ``"__base__"`` rows) without its
        per-layer sub-batch gathers and scatters. Yields ``False`` (nothing changed) when the model has other
        tuner layers; the caller then uses ``adapter_names``."""
        layers = self._row_scalable()
        if layers is None:
            yield False
            return
        saved = []
        try:
            for m in layers:
                name = m.active_adapters[0]
                w = m.lora_B[name].weight
                saved.append((m, name, m.scaling[name]))
                m.scaling[name] = on.to(device=w.device, dtype=w.dtype)[:, None, None] * m.scaling[name]  # (R, 1, 1)
            yield True
        finally:
            for m, name, sc in saved:
                m.scaling[name] = sc

    def trainable(self) -> list[tuple[str, nn.Parameter]]:
        return [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]

    def snapshot(self) -> dict[str, torch.Tensor]:
        """A detached copy of the trainable weights (the adapters with LoRA)."""
        return {n: p.detach().clone() for n, p in self.trainable()}

    def load_snapshot(self, weights: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for n, p in self.trainable():
                p.copy_(weights[n])

    @contextmanager
    def swapped(self, weights: dict[str, torch.Tensor] | None):
        """Temporarily use ``weights`` for the trainable part (no copy: the tensors are swapped in)."""
        if weights is None:
            yield self
            return
        params = dict(self.trainable())
        saved = {n: params[n].data for n in weights}
        try:
            for n, w in weights.items():
                params[n].data = w
            yield self
        finally:
            for n, d in saved.items():
                params[n].data = d

    # ------------------------------------------------------------------ forward pieces
    def token_logprobs(self, logits: torch.Tensor) -> torch.Tensor:
        """Log-softmax over the vocabulary, or over the allowed tokens (others -inf), ``(..., V)``."""
        logits = logits.float()
        if self.allowed is not None:
            mask = torch.full_like(logits, float("-inf"))
            mask[..., self.allowed] = 0.0
            logits = logits + mask
        return torch.log_softmax(logits, dim=-1)

    def response_logprobs(
        self,
        prompt_ids: torch.Tensor,
        prompt_mask: torch.Tensor,
        response_ids: torch.Tensor,
        response_mask: torch.Tensor,
        *,
        reference: bool = False,
        weights: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Per-token log-probabilities of the responses, ``(B, Tr)`` (0 at padding), one forward.

        ``reference=True`` scores under ``mu`` (no grad); ``weights`` scores under a snapshot."""
        ids = torch.cat([prompt_ids, response_ids], 1)  # (B, T)
        mask = torch.cat([prompt_mask, response_mask], 1)  # (B, T)
        pos = (mask.long().cumsum(-1) - 1).clamp_min(0)  # (B, T) positions that skip the left padding
        Tr = response_ids.shape[1]
        ctx = self.reference() if reference else nullcontext(self.model)
        with ctx as model, self.swapped(None if reference else weights):
            with torch.no_grad() if reference else nullcontext():
                logits = model(input_ids=ids, attention_mask=mask, position_ids=pos, logits_to_keep=Tr + 1).logits
        logp = self.token_logprobs(logits[:, :-1])  # (B, Tr, V): position Tp-1+j predicts response token j
        tok = torch.gather(logp, -1, response_ids.unsqueeze(-1)).squeeze(-1)  # (B, Tr)
        return torch.where(response_mask.bool(), tok, torch.zeros_like(tok))


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
    from workbench.llm.models import load_causal_lm, model_path

    dev = resolve_device(device)
    if dtype is None:
        dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
    model, tok = load_causal_lm(model_path(name, tiny, cache_dir), device=dev, dtype=dtype)
    return Policy(model, tok, finetune=finetune, lora_r=lora_r, lora_alpha=2 * lora_r, seed=seed)
