"""A policy over any ``transformers`` causal LM: LoRA by default, the reference as the adapters switched off.

``Policy`` holds the model (a peft ``PeftModel`` when ``finetune="lora"``), its tokenizer and, optionally,
a set of allowed tokens (constrained decoding over an enumerable response set). The reference policy
``mu`` is the same base model with the adapters disabled (``model.disable_adapter()``): no second copy in
memory. Full fine-tuning keeps a frozen copy for the reference instead (``keep_reference=True``).

Weights of the trainable part can be snapshotted and temporarily swapped in (``snapshot`` / ``swapped``):
that is how the trainers keep an EMA opponent (Nash-EMA-PG) or Nash-MP's proximal centre ``pi_t`` and half
step ``pi_{t+1/2}`` without more model copies (with LoRA a snapshot is the adapters only).

Every model forward of the lab goes through :meth:`Policy.logprobs` (current weights, a snapshot, the reference,
or a mixed batch with per-row adapters; with or without a KV cache): the sampler, the log-probabilities of
responses and the exact enumeration (:mod:`workbench.llm.exact`) all call it. The peft internals it relies on
live in :mod:`workbench.llm.adapters`. Policies are loaded by name with :func:`workbench.llm.models.load_policy`.

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

from workbench.llm import adapters

try:  # transformers >= 5.2x names the KV cache ``cache``; earlier releases ``past_key_values``
    from transformers.modeling_outputs import CausalLMOutputWithPast as _Out

    CACHE_ARG = "cache" if "cache" in _Out.__dataclass_fields__ else "past_key_values"
except ImportError:  # pragma: no cover
    CACHE_ARG = "past_key_values"


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
        if isinstance(words, str) or not words:
            raise ValueError(f"Policy.word_ids: give a list of words (one token each); got {words!r}")
        ids, unk = [], self.tokenizer.unk_token_id
        for w in words:
            if not isinstance(w, str) or not w.strip():
                raise ValueError(f"Policy.word_ids: every word must be a non-empty string; got {w!r}")
            enc = self.tokenizer.encode(" " + w, add_special_tokens=False)
            if len(enc) != 1:
                raise ValueError(f"Policy.word_ids: {w!r} is {len(enc)} tokens for this tokenizer {enc}; need one")
            if unk is not None and enc[0] == unk:
                raise ValueError(f"Policy.word_ids: {w!r} is not in this tokenizer's vocabulary (it maps to the unknown "
                                 f"token {self.tokenizer.unk_token!r}, id {unk}); choose words the model knows")
            if enc[0] in ids:
                other = words[ids.index(enc[0])]
                raise ValueError(f"Policy.word_ids: {w!r} and {other!r} map to the same token id {enc[0]}; the words "
                                 f"must be distinct tokens")
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
    def _lora_layers(self) -> list[nn.Module] | None:
        """The LoRA layers (found once; :func:`workbench.llm.adapters.lora_layers`)."""
        if not hasattr(self, "_layers"):
            self._layers = adapters.lora_layers(self.model) if self.finetune == "lora" else None
        return self._layers

    @property
    def row_scalable(self) -> bool:
        """Whether a mixed batch (adapters on in some rows, off in others) runs as a per-row LoRA scaling
        (:func:`workbench.llm.adapters.rows_on`) rather than peft's own mixed-adapter batch."""
        if not hasattr(self, "_row_scalable"):
            self._row_scalable = self.finetune == "lora" and adapters.row_scalable(self._lora_layers())
        return self._row_scalable

    @contextmanager
    def reference(self) -> Iterator[nn.Module]:
        """The module that computes ``mu``: the model with adapters off (LoRA, by flipping each layer's flag:
        :func:`workbench.llm.adapters.adapters_off`) or the frozen copy (full fine-tuning)."""
        if self.finetune == "lora":
            with adapters.adapters_off(self.model, self._lora_layers()) as model:
                yield model
        elif self.ref_model is not None:
            yield self.ref_model
        else:
            raise RuntimeError("Policy: full fine-tuning without keep_reference has no reference model")

    def save_pretrained(self, folder, *, merge: bool = False, overwrite: bool = False, meta: dict | None = None):
        """Export as a plain Hugging Face folder: the LoRA adapter, or with ``merge`` / full fine-tuning the
        whole model, and the tokenizer (:func:`workbench.llm.export.save_policy`)."""
        from workbench.llm.export import save_policy

        return save_policy(self, folder, merge=merge, overwrite=overwrite, meta=meta)

    def trainable(self) -> list[tuple[str, nn.Parameter]]:
        return [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]

    def snapshot(self) -> dict[str, torch.Tensor]:
        """A detached copy of the trainable weights (the adapters with LoRA)."""
        return {n: p.detach().clone() for n, p in self.trainable()}

    def check_snapshot(self, weights, *, complete: bool = True, where: str = "Policy.load_snapshot") -> None:
        """Refuse a snapshot that does not fit the trainable weights: not a dict of tensors, an unknown or (with
        ``complete``) missing name, or a tensor of another shape (``copy_`` would broadcast it silently)."""
        if not isinstance(weights, dict):
            raise TypeError(f"{where}: weights must be a dict name -> tensor (Policy.snapshot()); got "
                            f"{type(weights).__name__}")
        params = dict(self.trainable())
        unknown = sorted(set(weights) - set(params))
        missing = sorted(set(params) - set(weights)) if complete else []
        if unknown or missing:
            raise KeyError(f"{where}: the snapshot does not fit this policy's trainable weights (unknown: "
                           f"{unknown[:3]}, missing: {missing[:3]}); was it taken from another model, LoRA rank or "
                           f"fine-tuning mode?")
        for n, w in weights.items():
            if not isinstance(w, torch.Tensor) or w.shape != params[n].shape:
                got = tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__
                raise ValueError(f"{where}: weight {n!r} has shape {got}; this policy's is {tuple(params[n].shape)}")

    def load_snapshot(self, weights: dict[str, torch.Tensor]) -> None:
        self.check_snapshot(weights)
        with torch.no_grad():
            for n, p in self.trainable():
                p.copy_(weights[n])

    @contextmanager
    def swapped(self, weights: dict[str, torch.Tensor] | None):
        """Temporarily use ``weights`` for the trainable part (no copy: the tensors are swapped in)."""
        if weights is None:
            yield self
            return
        self.check_snapshot(weights, complete=False, where="Policy.swapped")
        params = dict(self.trainable())
        saved = {n: params[n].data for n in weights}
        try:
            for n, w in weights.items():
                params[n].data = w
            yield self
        finally:
            for n, d in saved.items():
                params[n].data = d

    # ------------------------------------------------------------------ the forward
    def token_logprobs(self, logits: torch.Tensor) -> torch.Tensor:
        """Log-softmax over the vocabulary, or over the allowed tokens (others -inf), ``(..., V)``."""
        logits = logits.float()
        if self.allowed is not None:
            logits = logits + self._allowed_mask(logits)  # (..., V) + (V,)
        return torch.log_softmax(logits, dim=-1)

    def _allowed_mask(self, logits: torch.Tensor) -> torch.Tensor:
        """``(V,)``: 0 at the allowed tokens, -inf elsewhere; built once per constraint (and device), not per forward
        (it holds the constraint it was built for, so a new ``allowed`` tensor rebuilds it)."""
        cached = getattr(self, "_mask", None)
        if cached is None or cached[0] is not self.allowed or cached[1].shape[0] != logits.shape[-1] \
                or cached[1].device != logits.device:
            mask = torch.full((logits.shape[-1],), float("-inf"), device=logits.device, dtype=logits.dtype)
            mask[self.allowed] = 0.0
            self._mask = (self.allowed, mask)
        return self._mask[1]

    def logprobs(
        self,
        ids: torch.Tensor,
        mask: torch.Tensor,
        pos: torch.Tensor | None = None,
        *,
        reference: bool = False,
        weights: dict[str, torch.Tensor] | None = None,
        on: torch.Tensor | None = None,
        keep: int = 1,
        cache=None,
        use_cache: bool = False,
    ) -> tuple[torch.Tensor, object]:
        """The one model forward: log-probabilities of the next token at the last ``keep`` positions,
        ``(B, keep, V)`` (renormalized over the allowed tokens), and the KV cache (``None`` unless ``use_cache``).

        Args:
            ids, mask: ``(B, T)`` token ids and attention mask (left padding), the new tokens only when ``cache``
                holds the earlier ones.
            pos: ``(B, T)`` positions; default: counted from the mask, skipping the left padding.
            reference: the reference ``mu`` (adapters off, or the frozen copy), without grad.
            weights: a snapshot of the trainable weights swapped in for this forward (not with ``reference``).
            on: ``(B,)`` booleans, LoRA only: row ``r`` with the adapters on iff ``on[r]`` (policy and
                reference rows in one batch), as a per-row scaling when :attr:`row_scalable`, else peft's
                mixed-adapter batch (the model must be in eval mode).
            keep: positions whose logits are computed (``logits_to_keep``).
            cache, use_cache: the KV cache to continue and whether to return the updated one.
        """
        if pos is None:
            pos = (mask.long().cumsum(-1) - 1).clamp_min(0)  # (B, T) positions that skip the left padding
        extra = {"use_cache": use_cache, **({CACHE_ARG: cache} if use_cache else {})}
        rows = nullcontext()
        if on is not None:
            if self.finetune != "lora" or reference:
                raise ValueError("Policy.logprobs: on= (per-row adapters) needs a LoRA policy and reference=False")
            if self.row_scalable:
                rows = adapters.rows_on(self._lora_layers(), on)
            else:
                extra["adapter_names"] = adapters.adapter_names(self.model, on)
        ctx = self.reference() if reference else nullcontext(self.model)
        with ctx as model, self.swapped(None if reference else weights), rows:
            with torch.no_grad() if reference and torch.is_grad_enabled() else nullcontext():
                out = model(input_ids=ids, attention_mask=mask, position_ids=pos, logits_to_keep=keep, **extra)
        return self.token_logprobs(out.logits), (getattr(out, CACHE_ARG) if use_cache else None)  # (B, keep, V)

    def response_logprobs(
        self,
        prompt_ids: torch.Tensor,
        prompt_mask: torch.Tensor,
        response_ids: torch.Tensor,
        response_mask: torch.Tensor,
        *,
        reference: bool = False,
        weights: dict[str, torch.Tensor] | None = None,
        vocab: bool = False,
    ) -> torch.Tensor:
        """Per-token log-probabilities of the responses, ``(B, Tr)`` (0 at padding), one forward
        (:meth:`logprobs`); ``vocab=True`` returns the whole next-token distributions ``(B, Tr, V)`` instead.

        ``reference=True`` scores under ``mu`` (no grad); ``weights`` scores under a snapshot."""
        ids = torch.cat([prompt_ids, response_ids], 1)  # (B, T)
        mask = torch.cat([prompt_mask, response_mask], 1)  # (B, T)
        Tr = response_ids.shape[1]
        logp, _ = self.logprobs(ids, mask, reference=reference, weights=weights, keep=Tr + 1)  # (B, Tr + 1, V)
        logp = logp[:, :-1]  # (B, Tr, V): position Tp-1+j predicts response token j
        if vocab:
            return logp
        tok = torch.gather(logp, -1, response_ids.unsqueeze(-1)).squeeze(-1)  # (B, Tr)
        return torch.where(response_mask.bool(), tok, torch.zeros_like(tok))
