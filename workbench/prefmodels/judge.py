"""One judge interface for every consumer: ``prob(prompts, responses_a, responses_b) -> (B,)``.

The tabular lab, the bandit lab and the LLM stage call a :class:`Judge` and never care which model is
behind it. :class:`ModelJudge` wraps a trained :class:`~workbench.prefmodels.models.PreferenceModel`
(batched, ``no_grad``, eval mode, returns CPU float tensors) and saves / reloads itself as a folder::

    judge.json          model kind, head config, backbone spec, free-form metadata
    tokenizer/          the backbone's tokenizer (tiny backbones; pretrained ones rebuild theirs)
    weights.safetensors the weights that are not rebuilt from the spec (all of a tiny model; the head
                        and LoRA adapters of a pretrained one)

so ``ModelJudge.load(path)`` gives identical predictions.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch

from workbench.device import DeviceLike, resolve_device
from workbench.prefmodels.backbones import BackboneSpec, rebuild_backbone
from workbench.prefmodels.models import MODEL_CLASSES, PreferenceModel

JUDGE_FORMAT_VERSION = 1


@runtime_checkable
class Judge(Protocol):
    """Anything that returns ``P(a ≻ b | x)`` for a batch of triples, as a ``(B,)`` tensor."""

    def prob(self, prompts: Sequence[str], responses_a: Sequence[str], responses_b: Sequence[str]) -> torch.Tensor:
        ...


def persistent_state(model: PreferenceModel) -> dict[str, torch.Tensor]:
    """The weights not rebuilt from the spec: everything for a tiny backbone, trainable ones otherwise."""
    if model.backbone.spec.kind == "tiny":
        return {k: v for k, v in model.state_dict().items()}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    return {k: v for k, v in model.state_dict().items() if k in trainable}


def load_persistent_state(model: PreferenceModel, state: dict[str, torch.Tensor]) -> None:
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected:
        raise KeyError(f"load_persistent_state: unexpected weights {unexpected[:5]}")
    expected = set(persistent_state(model))
    lost = [k for k in missing if k in expected]
    if lost:
        raise KeyError(f"load_persistent_state: missing weights {lost[:5]}")


class ModelJudge:
    """A trained preference model behind the :class:`Judge` interface."""

    def __init__(self, model: PreferenceModel, batch_size: int = 256, meta: dict[str, Any] | None = None):
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
        """Write the judge folder atomically (temporary folder, then rename); returns ``path``."""
        from safetensors.torch import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
        try:
            bb = self.model.backbone
            cfg = {
                "format_version": JUDGE_FORMAT_VERSION,
                "model": self.model.kind,
                "head": self.model.head_config(),
                "backbone": bb.spec.to_dict(),
                "batch_size": self.batch_size,
                "meta": self.meta,
            }
            (tmp / "judge.json").write_text(json.dumps(cfg, indent=2, default=str))
            if bb.spec.kind == "tiny":
                bb.tokenizer.save_pretrained(str(tmp / "tokenizer"))
            state = {k: v.detach().cpu().contiguous() for k, v in persistent_state(self.model).items()}
            save_file(state, str(tmp / "weights.safetensors"))
            old = None
            if path.exists():
                old = path.with_name(f".{path.name}.old")
                if old.exists():
                    shutil.rmtree(old)
                os.replace(path, old)
            os.replace(tmp, path)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, device: DeviceLike = "auto", cache_dir=None) -> "ModelJudge":
        """Rebuild a judge saved by :meth:`save` (same predictions)."""
        from safetensors.torch import load_file

        from workbench.prefmodels.tokenizer import load_tokenizer

        path = Path(path)
        cfg_file = path / "judge.json"
        if not cfg_file.exists():
            raise FileNotFoundError(f"ModelJudge.load: no judge.json in {path}")
        cfg = json.loads(cfg_file.read_text())
        if cfg.get("format_version") != JUDGE_FORMAT_VERSION:
            raise ValueError(f"ModelJudge.load: {cfg_file} has format_version={cfg.get('format_version')!r}, expected {JUDGE_FORMAT_VERSION}")
        if cfg["model"] not in MODEL_CLASSES:
            raise ValueError(f"ModelJudge.load: {cfg_file} names unknown model {cfg['model']!r}")
        spec = BackboneSpec.from_dict(cfg["backbone"])
        tok = load_tokenizer(path / "tokenizer") if spec.kind == "tiny" else None
        dev = resolve_device(device)
        bb = rebuild_backbone(spec, tokenizer=tok, device=dev, cache_dir=cache_dir)
        model = MODEL_CLASSES[cfg["model"]](bb, **cfg["head"]).to(dev)
        state = load_file(str(path / "weights.safetensors"), device=str(dev))
        load_persistent_state(model, state)
        model.eval()
        return cls(model, batch_size=cfg.get("batch_size", 256), meta=cfg.get("meta"))


class TruthJudge:
    """Adapter: any object with ``prob(a, b, prompt)`` returning numpy (e.g. ``SyntheticTruth``) as a Judge."""

    def __init__(self, truth):
        self.truth = truth

    def prob(self, prompts, responses_a, responses_b) -> torch.Tensor:
        return torch.as_tensor(self.truth.prob(list(responses_a), list(responses_b), list(prompts)), dtype=torch.float32)
