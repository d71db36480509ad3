"""A tiny reference policy for free text: a word-level Llama model SFT'd on a comparisons file.

The project's ``"tiny"`` model (:mod:`workbench.llm.models`) knows only the rock-paper-scissors task's words;
on real prompts it would read nothing but unknown tokens. :func:`sft_checkpoint` builds the same kind of model
for any :class:`~workbench.prefdata.Comparisons` (a ``workbench.prefdata`` file: TL;DR, HH-RLHF,
UltraFeedback, plain CSV / JSONL):

1. a word-level tokenizer trained locally on the file's texts (prompts and both responses;
   :func:`~workbench.llm.models.train_word_tokenizer`: whitespace split, ``[PAD] [UNK] [BOS] [EOS]``);
2. a small ``LlamaForCausalLM`` from :class:`TinySFTConfig` (weights seeded);
3. supervised fine-tuning (SFT) on the **(prompt, preferred response)** pairs: the response the label prefers
   (``response_a`` where ``label > 1/2``, ``response_b`` where ``label < 1/2``; ties carry no preference and
   are left out), followed by EOS, by minimizing the mean token negative log-likelihood

       L(theta) = - sum_{pairs} sum_k log pi_theta(y_k | x, y_<k) / #tokens,   y = preferred response + [EOS],

   with Adam on minibatches drawn by a seeded generator. The prompt is encoded exactly as
   :class:`~workbench.llm.policy.Policy` encodes it for sampling (left padding), and the responses are scored by
   :meth:`Policy.response_logprobs`, the lab's one forward: the model learns the format it is sampled in.

The result is a genuine reference policy ``mu`` that writes short answers in the data's words and stops. The
build is a deterministic function of the config and the pairs; the folder (``config.json``,
``model.safetensors``, the tokenizer files and ``tiny_sft.json`` with the config, the data digest and the NLL
before and after SFT) is cached under the workbench cache as ``llm-sft-<hash of config and data>``, written
atomically, and loads with ``workbench.llm.load_policy(folder)``::

    comps = load_comparisons("data/prefs/hh_sample.jsonl")
    folder = sft_checkpoint(comps)                 # seconds on a CPU for a few hundred records
    policy = load_policy(str(folder))              # LoRA on top; the SFT model is mu
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import torch

from workbench.device import make_generator
from workbench.io import atomic_directory
from workbench.llm.models import train_word_tokenizer, word_llama
from workbench.llm.policy import Policy
from workbench.prefmodels.backbones import default_cache_dir

__all__ = ["TinySFTConfig", "preferred_pairs", "pairs_digest", "response_nll", "build_sft_lm", "sft_checkpoint"]

INFO_FILE = "tiny_sft.json"


@dataclass(frozen=True)
class TinySFTConfig:
    """The tiny free-text reference model and its SFT (every field enters the cache key)."""

    hidden_size: int = field(default=64, metadata={"help": "residual width"})
    num_layers: int = field(default=2, metadata={"help": "decoder blocks"})
    num_heads: int = field(default=4, metadata={"help": "attention heads"})
    intermediate_size: int = field(default=128, metadata={"help": "MLP width"})
    max_response_words: int = field(default=32, metadata={
        "help": "preferred responses are cut to their first words (whitespace split) before SFT"})
    steps: int = field(default=60, metadata={
        "help": "Adam steps of SFT (0: the initial weights, for comparison; a few hundred memorize small files)"})
    batch_size: int = field(default=16, metadata={"help": "(prompt, preferred response) pairs per SFT step"})
    lr: float = field(default=3e-3, metadata={"help": "Adam learning rate"})
    seed: int = field(default=0, metadata={"help": "seeds the initial weights and the minibatch draws"})

    def __post_init__(self):
        for name in ("hidden_size", "num_layers", "num_heads", "intermediate_size", "max_response_words",
                     "steps", "batch_size", "seed"):
            v = getattr(self, name)
            low = 0 if name in ("steps", "seed") else 1
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < low:
                raise ValueError(f"TinySFTConfig.{name} must be an integer >= {low}; got {v!r}")
        if self.hidden_size % self.num_heads:
            raise ValueError(f"TinySFTConfig: hidden_size {self.hidden_size} is not divisible by num_heads "
                             f"{self.num_heads}")
        if isinstance(self.lr, bool) or not isinstance(self.lr, numbers.Real) or not (math.isfinite(self.lr)
                                                                                    and self.lr > 0):
            raise ValueError(f"TinySFTConfig.lr must be a positive finite number; got {self.lr!r}")


def preferred_pairs(comparisons, max_words: int | None = None) -> tuple[list[str], list[str]]:
    """The SFT data of a :class:`~workbench.prefdata.Comparisons`: ``(prompts, preferred responses)``.

    The preferred response is ``response_a`` where ``label > 1/2`` and ``response_b`` where ``label < 1/2``; a
    tie (``label == 1/2``) states no preference and is left out. ``max_words`` cuts each response to its first
    words. Raises ``TypeError`` for anything but ``Comparisons`` and ``ValueError`` naming the problem when no
    pair is left (no records, or only ties)."""
    from workbench.prefdata import Comparisons

    if not isinstance(comparisons, Comparisons):
        raise TypeError(f"sft: comparisons must be a workbench.prefdata.Comparisons (load_comparisons(path)); got "
                        f"{type(comparisons).__name__}")
    if len(comparisons) == 0:
        raise ValueError("sft: the comparisons are empty (0 records); load a file with at least one record that "
                         "prefers one response")
    df = comparisons.frame
    label = df["label"].to_numpy(dtype=float)
    keep = label != 0.5
    if not keep.any():
        raise ValueError(f"sft: all {len(df)} records are ties (label 0.5): no preferred response to learn from")
    prompts = df["prompt"].to_numpy()[keep].tolist()
    chosen = [a if lab > 0.5 else b for a, b, lab in zip(df["response_a"].to_numpy()[keep],
                                                          df["response_b"].to_numpy()[keep], label[keep])]
    if max_words is not None:
        chosen = [" ".join(y.split()[:max_words]) for y in chosen]
    return prompts, chosen


def pairs_digest(prompts: Sequence[str], responses: Sequence[str], texts: Sequence[str]) -> str:
    """A sha256 of the SFT pairs and of the tokenizer's training texts (the data part of the cache key)."""
    h = hashlib.sha256()
    for part in (prompts, responses, texts):
        h.update(json.dumps(list(part), ensure_ascii=False).encode())
        h.update(b"\x00")
    return h.hexdigest()


def _tokenizer_texts(comparisons) -> list[str]:
    """The distinct texts of the file, sorted (the vocabulary does not depend on row order or sides)."""
    df = comparisons.frame
    return sorted({*df["prompt"], *df["response_a"], *df["response_b"]})


def _encode_responses(policy: Policy, responses: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded response ids with EOS appended and their mask, ``(B, Tr)`` each (the sampler's layout)."""
    tok = policy.tokenizer
    ids = [tok.encode(" " + y, add_special_tokens=False) + [tok.eos_token_id] for y in responses]
    T = max(len(i) for i in ids)
    out = torch.full((len(ids), T), tok.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(ids), T), dtype=torch.long)
    for r, i in enumerate(ids):
        out[r, :len(i)] = torch.tensor(i)
        mask[r, :len(i)] = 1
    return out.to(policy.device), mask.to(policy.device)


def _token_nll(policy: Policy, prompts: Sequence[str], responses: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed negative log-likelihood of the responses (+ EOS) and their token count (scalars)."""
    prompt_ids, prompt_mask = policy.encode_prompts(list(prompts))  # (B, Tp) left-padded
    resp_ids, resp_mask = _encode_responses(policy, responses)  # (B, Tr) right-padded
    logp = policy.response_logprobs(prompt_ids, prompt_mask, resp_ids, resp_mask)  # (B, Tr), 0 at padding
    return -logp.sum(), resp_mask.sum()


@torch.no_grad()
def response_nll(policy: Policy, prompts: Sequence[str], responses: Sequence[str], batch_size: int = 64) -> float:
    """Mean negative log-likelihood per token (EOS included) of ``responses`` given ``prompts`` under the policy's
    current weights (nats per token; ``log V`` for a uniform model over a vocabulary of ``V``)."""
    if len(prompts) != len(responses) or not prompts:
        raise ValueError(f"response_nll: need as many prompts as responses, at least one; got {len(prompts)} and "
                         f"{len(responses)}")
    total, count = 0.0, 0
    for i in range(0, len(prompts), batch_size):
        nll, n = _token_nll(policy, prompts[i:i + batch_size], responses[i:i + batch_size])
        total, count = total + float(nll), count + int(n)
    return total / count


def build_sft_lm(comparisons, cfg: TinySFTConfig = TinySFTConfig()):
    """Build and SFT the tiny free-text reference on ``comparisons`` (deterministic for the config and data).

    Returns ``(model, tokenizer, info)``; ``info`` holds the pair count, the vocabulary size, the parameter count
    and the mean token NLL of the preferred responses before and after SFT."""
    prompts, chosen = preferred_pairs(comparisons, cfg.max_response_words)
    tok = train_word_tokenizer(_tokenizer_texts(comparisons))
    model = word_llama(tok, cfg, max_positions=2048)
    policy = Policy(model, tok, finetune="full", keep_reference=False)
    model.eval()
    before = response_nll(policy, prompts, chosen)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    gen = make_generator(cfg.seed + 1)
    B = min(cfg.batch_size, len(prompts))
    model.train()
    for _ in range(cfg.steps):
        idx = torch.randperm(len(prompts), generator=gen)[:B].tolist()  # (B,) a seeded minibatch
        nll, n = _token_nll(policy, [prompts[i] for i in idx], [chosen[i] for i in idx])
        loss = nll / n  # mean token NLL
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model.eval()
    after = response_nll(policy, prompts, chosen)
    info = {"pairs": len(prompts), "records": len(comparisons), "vocab_size": len(tok),
            "parameters": sum(p.numel() for p in model.parameters()), "nll_before": before, "nll_after": after}
    return model, tok, info


def sft_checkpoint(comparisons, cfg: TinySFTConfig = TinySFTConfig(),
                   cache_dir: str | os.PathLike | None = None) -> Path:
    """Folder with the tiny reference SFT'd on ``comparisons`` (safetensors + tokenizer + ``tiny_sft.json``),
    built once per (config, data) and cached as ``<cache>/llm-sft-<key>``; load it with
    ``load_policy(str(folder))``. Written to a temporary folder and renamed into place, so a half-written cache
    is never picked up."""
    prompts, chosen = preferred_pairs(comparisons, cfg.max_response_words)
    data = pairs_digest(prompts, chosen, _tokenizer_texts(comparisons))
    key = hashlib.sha1(json.dumps({"config": asdict(cfg), "data": data}, sort_keys=True).encode()).hexdigest()[:12]
    target = Path(cache_dir or default_cache_dir()) / f"llm-sft-{key}"
    if all((target / f).exists() for f in ("model.safetensors", "tokenizer.json", INFO_FILE)):
        return target
    model, tok, info = build_sft_lm(comparisons, cfg)
    with atomic_directory(target) as tmp:
        model.save_pretrained(str(tmp), safe_serialization=True)
        tok.save_pretrained(str(tmp))
        (tmp / INFO_FILE).write_text(json.dumps({"config": asdict(cfg), "data_sha256": data, **info}, indent=1))
    return target
