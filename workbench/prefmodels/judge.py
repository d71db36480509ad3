"""One judge interface for every consumer: ``prob(prompts, responses_a, responses_b) -> (B,)``.

The tabular lab, the bandit lab and the LLM stage call a :class:`Judge` and never care which model is
behind it. :class:`ModelJudge` wraps a trained :class:`~workbench.prefmodels.models.PreferenceModel`
(batched, ``no_grad``, eval mode, returns CPU float tensors). ``judge.save(path)`` / ``ModelJudge.load(path)``
write and read the model folder of :mod:`workbench.prefmodels.persistence` (``judge.json``, ``tokenizer/``,
``weights.safetensors``) with the judge's batch size and metadata in ``judge.json``, so the reloaded judge
gives identical predictions.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch

from workbench.device import DeviceLike
from workbench.prefmodels.models import PreferenceModel
from workbench.prefmodels.persistence import load_model, save_model


@runtime_checkable
class Judge(Protocol):
    """Anything that returns ``P(a ≻ b | x)`` for a batch of triples, as a ``(B,)`` tensor."""

    def prob(self, prompts: Sequence[str], responses_a: Sequence[str], responses_b: Sequence[str]) -> torch.Tensor:
        ...


class ModelJudge:
    """A trained preference model behind the :class:`Judge` interface."""

    def __init__(self, model: PreferenceModel, batch_size: int = 256, meta: dict[str, Any] | None = None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"ModelJudge: batch_size must be a positive integer, got {batch_size!r}")
        self.model = model
        self.batch_size = int(batch_size)
        self.meta = dict(meta or {})

    @property
    def device(self) -> torch.device:
        return self.model.backbone.device

    @torch.no_grad()
    def logit(self, prompts, responses_a, responses_b) -> torch.Tensor:
        """Batched logits ``(B,)`` on CPU (float32)."""
        prompts, a, b = list(prompts), list(responses_a), list(responses_b)
        if not (len(prompts) == len(a) == len(b)):
            raise ValueError(f"Judge: prompts/responses_a/responses_b lengths differ: {len(prompts)}, {len(a)}, {len(b)}")
        was = self.model.training
        self.model.eval()
        try:
            out = [
                self.model.logit(prompts[i:i + self.batch_size], a[i:i + self.batch_size], b[i:i + self.batch_size]).float().cpu()
                for i in range(0, len(prompts), self.batch_size)
            ]
        finally:
            self.model.train(was)
        return torch.cat(out) if out else torch.zeros(0)

    def prob(self, prompts, responses_a, responses_b) -> torch.Tensor:
        """``P(a ≻ b | x)``, ``(B,)`` on CPU."""
        return torch.sigmoid(self.logit(prompts, responses_a, responses_b))

    @torch.no_grad()
    def matrix(self, prompt: str, responses: Sequence[str]) -> torch.Tensor:
        """``(n, n)`` preference matrix over candidate responses (for the tabular / bandit labs)."""
        was = self.model.training
        self.model.eval()
        try:
            return self.model.matrix(prompt, list(responses)).float().cpu()
        finally:
            self.model.train(was)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write the model folder (:func:`~workbench.prefmodels.persistence.save_model`) atomically; returns ``path``."""
        return save_model(self.model, path, extra={"batch_size": self.batch_size, "meta": self.meta})

    @classmethod
    def load(cls, path: str | os.PathLike, device: DeviceLike = "auto", cache_dir=None) -> "ModelJudge":
        """Rebuild a judge saved by :meth:`save` (same predictions)."""
        model, cfg = load_model(path, device=device, cache_dir=cache_dir)
        return cls(model, batch_size=cfg.get("batch_size", 256), meta=cfg.get("meta"))
