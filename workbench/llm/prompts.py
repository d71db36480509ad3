"""Prompt pools for free-text NLHF runs: from a comparisons file or a plain prompts file, split by prompt.

    split = load_prompts("data/prefs/tldr_sample.jsonl", heldout=0.2, seed=0)
    split.train, split.heldout          # lists of distinct prompt texts, disjoint

Sources (:func:`load_prompts`):

* a comparisons file in any format :func:`workbench.prefdata.load_comparisons` reads (TL;DR, HH-RLHF,
  UltraFeedback, the plain CSV / JSONL schema): its **distinct** prompts, in order of first appearance;
* a plain prompts file: ``.txt`` (one prompt per line; blank lines skipped), or ``.jsonl`` whose records have a
  ``prompt`` field and no response fields (``{"prompt": "..."}`` per line).

The pool is split into training and held-out prompts **by prompt** (a seeded permutation; no prompt is in
both), as :meth:`workbench.prefdata.Comparisons.split` does for comparisons. A file with no prompt, a record
without a usable ``prompt`` and an empty prompt are errors naming the file and line.

:func:`fit_prompts` makes prompts fit a model: a prompt whose tokens (with the chat template a chat model
uses) exceed the model's context minus the response budget is cut **from the left** (the end of a prompt is
what the response continues), and the count is reported, never silently.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

PLAIN_SUFFIXES = (".txt",)


class PromptsError(ValueError):
    """A prompts file that cannot give a prompt pool (named with the file and, where known, the line)."""


@dataclass(frozen=True)
class PromptSplit:
    """Training and held-out prompts (disjoint, distinct) and where they came from."""

    train: list[str]
    heldout: list[str]
    source: str

    def __len__(self) -> int:
        return len(self.train) + len(self.heldout)


def _plain_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PromptsError(f"load_prompts: {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def _prompt_records(path: Path) -> list[str] | None:
    """The ``prompt`` fields of a JSON-lines file of prompt-only records, or ``None`` when the file holds
    comparisons (records with response fields) and should go to the comparisons loader."""
    out = []
    with open(path, encoding="utf-8", errors="strict") as fh:
        for i, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise PromptsError(f"load_prompts: {path} line {i} is not valid JSON ({exc.msg})") from None
            if not isinstance(rec, dict):
                raise PromptsError(f"load_prompts: {path} line {i} is a {type(rec).__name__}, not a JSON object")
            if set(rec) & {"chosen", "rejected", "response_a", "response_b", "summaries", "choice"}:
                return None
            p = rec.get("prompt")
            if not isinstance(p, str) or not p.strip():
                raise PromptsError(f"load_prompts: {path} line {i} has no non-empty 'prompt' field (got {p!r})")
            out.append(p.strip())
    return out


def read_prompts(path: str | os.PathLike) -> list[str]:
    """Distinct prompts of a prompts or comparisons file, in order of first appearance (see the module doc)."""
    path = Path(path)
    if not path.exists():
        raise PromptsError(f"load_prompts: no file {path}")
    if path.is_dir():
        raise PromptsError(f"load_prompts: {path} is a folder; give a prompts or comparisons file")
    if path.suffix.lower() in PLAIN_SUFFIXES:
        prompts = _plain_lines(path)
    else:
        prompts = _prompt_records(path) if path.suffix.lower() in (".jsonl", ".json") else None
        if prompts is None:
            from workbench.prefdata import load_comparisons

            try:
                prompts = load_comparisons(path).prompts
            except ValueError as exc:
                raise PromptsError(f"load_prompts: {path} is neither a prompts file nor a comparisons file: "
                                   f"{exc}") from None
    prompts = list(dict.fromkeys(p for p in prompts))  # distinct, first appearance kept
    if not prompts:
        raise PromptsError(f"load_prompts: {path} holds no prompt")
    return prompts


def split_prompts(prompts: Sequence[str], heldout: float = 0.2, seed: int = 0, source: str = "") -> PromptSplit:
    """Shuffle the distinct prompts with ``numpy.random.default_rng(seed)`` and hold out ``round(heldout * n)``
    of them (at least one of each part when ``0 < heldout < 1`` and there are two prompts or more)."""
    if isinstance(heldout, bool) or not isinstance(heldout, (int, float)) or not 0 <= heldout < 1:
        raise PromptsError(f"load_prompts: heldout must be a fraction in [0, 1); got {heldout!r}")
    distinct = list(dict.fromkeys(prompts))
    n = len(distinct)
    k = int(round(heldout * n))
    if heldout > 0:
        if n < 2:
            raise PromptsError(f"load_prompts: {source or 'the pool'} has {n} distinct prompt; a held-out split "
                               f"needs two or more (or heldout=0)")
        k = min(max(k, 1), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    held = sorted(order[:k].tolist())
    train = sorted(order[k:].tolist())
    return PromptSplit([distinct[i] for i in train], [distinct[i] for i in held], source)


def load_prompts(path: str | os.PathLike, *, heldout: float = 0.2, seed: int = 0) -> PromptSplit:
    """Distinct prompts of ``path`` split into training and held-out prompts by prompt (module doc)."""
    return split_prompts(read_prompts(path), heldout, seed, source=str(path))


def prompt_budget(policy, max_new_tokens: int) -> int | None:
    """Tokens a prompt may take: the model's context (``max_position_embeddings``, else the tokenizer's
    ``model_max_length`` when it is a real limit) minus ``max_new_tokens``; ``None`` when the model has no limit."""
    config = getattr(policy.model, "config", None)
    limit = getattr(config, "max_position_embeddings", None)
    tok_limit = getattr(policy.tokenizer, "model_max_length", None)
    if limit is None and tok_limit is not None and tok_limit < 1_000_000:
        limit = tok_limit
    if limit is None:
        return None
    budget = int(limit) - int(max_new_tokens)
    if budget < 1:
        raise PromptsError(f"max_new_tokens={max_new_tokens} leaves no room for a prompt in the model's context of "
                           f"{limit} tokens")
    return budget


def fit_prompts(policy, prompts: Sequence[str], max_new_tokens: int) -> tuple[list[str], int]:
    """``(prompts, n_cut)``: every prompt whose encoding (chat template included) exceeds :func:`prompt_budget`
    is cut from the left to fit, by tokens of the raw prompt, decoded back to text."""
    budget = prompt_budget(policy, max_new_tokens)
    if budget is None:
        return list(prompts), 0
    tok = policy.tokenizer
    out, cut = [], 0
    for p in prompts:
        overhead = len(tok.encode(policy.format_prompt(""), add_special_tokens=not policy.chat)) if policy.chat else 0
        ids = tok.encode(p, add_special_tokens=False)
        room = budget - overhead - (0 if policy.chat else 2)  # BOS / EOS a tokenizer may add
        if len(ids) > room:
            if room < 1:
                raise PromptsError(f"the chat template alone takes {overhead} of the {budget} prompt tokens")
            p = tok.decode(ids[len(ids) - room:], skip_special_tokens=False).strip()  # [UNK] kept: never empty
            cut += 1
        out.append(p)
    return out, cut
