"""Save and load a preference model as a folder; the weights a checkpoint or a saved judge must keep.

A saved model is a folder, written atomically (:func:`workbench.io.atomic_directory`)::

    judge.json           format version, model kind, head config, backbone spec, plus the caller's extras
                         (``ModelJudge`` adds its batch size and free-form metadata)
    tokenizer/           the tiny backbone's tokenizer (``save_pretrained``; pretrained backbones reload theirs)
    weights.safetensors  :func:`persistent_state`: every weight of a tiny model; the trainable weights
                         (head, LoRA adapters, or all for full fine-tuning) of a pretrained one

:func:`load_model` rebuilds the backbone from its spec (:func:`~workbench.prefmodels.backbones.rebuild_backbone`:
the tiny ``LlamaModel`` from its config, a pretrained one from its checkpoint folder, peft adapters re-applied),
builds the head and loads the weights, so the reloaded model gives identical predictions.

The training loop (:mod:`~workbench.prefmodels.training`) uses :func:`persistent_state` /
:func:`load_persistent_state` for its checkpoints and best weights; the serving wrapper
(:class:`~workbench.prefmodels.judge.ModelJudge`) calls :func:`save_model` / :func:`load_model`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from workbench.device import DeviceLike, resolve_device
from workbench.io import atomic_directory
from workbench.prefmodels.backbones import BackboneSpec, rebuild_backbone
from workbench.prefmodels.models import MODEL_CLASSES, PreferenceModel

FORMAT_VERSION = 2  # 2: tiny backbone is a transformers LlamaModel, tokenizer saved with save_pretrained
CONFIG_FILE = "judge.json"
WEIGHTS_FILE = "weights.safetensors"
TOKENIZER_DIR = "tokenizer"


def persistent_state(model: PreferenceModel) -> dict[str, torch.Tensor]:
    """The weights not rebuilt from the spec: everything for a tiny backbone, trainable ones otherwise."""
    if model.backbone.spec.kind == "tiny":
        return dict(model.state_dict())
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    return {k: v for k, v in model.state_dict().items() if k in trainable}


def load_persistent_state(model: PreferenceModel, state: dict[str, torch.Tensor]) -> None:
    """Load ``state`` (from :func:`persistent_state`) into ``model``; a missing or unexpected weight is named."""
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected:
        raise KeyError(f"load_persistent_state: unexpected weights {unexpected[:5]}")
    expected = set(persistent_state(model))
    lost = [k for k in missing if k in expected]
    if lost:
        raise KeyError(f"load_persistent_state: missing weights {lost[:5]}")


def save_model(model: PreferenceModel, path: str | os.PathLike, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` as a folder at ``path`` (see the module docstring), atomically; returns ``path``.

    ``extra`` (JSON-serialisable) is stored in ``judge.json`` beside the model's own fields.
    """
    from safetensors.torch import save_file

    bb = model.backbone
    cfg = {
        **(extra or {}),
        "format_version": FORMAT_VERSION,
        "model": model.kind,
        "head": model.head_config(),
        "backbone": bb.spec.to_dict(),
    }
    state = {k: v.detach().cpu().contiguous() for k, v in persistent_state(model).items()}
    with atomic_directory(path) as tmp:
        (tmp / CONFIG_FILE).write_text(json.dumps(cfg, indent=2, default=str))
        if bb.spec.kind == "tiny":
            bb.tokenizer.save_pretrained(str(tmp / TOKENIZER_DIR))
        save_file(state, str(tmp / WEIGHTS_FILE))
    return Path(path)


def read_config(path: str | os.PathLike) -> dict[str, Any]:
    """``judge.json`` of a saved model, checked (format version, model kind); errors name the file."""
    cfg_file = Path(path) / CONFIG_FILE
    if not cfg_file.exists():
        raise FileNotFoundError(f"load_model: no {CONFIG_FILE} in {path}")
    cfg = json.loads(cfg_file.read_text())
    if cfg.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"load_model: {cfg_file} has format_version={cfg.get('format_version')!r}, expected {FORMAT_VERSION}")
    if cfg.get("model") not in MODEL_CLASSES:
        raise ValueError(f"load_model: {cfg_file} names unknown model {cfg.get('model')!r}")
    return cfg


def load_model(path: str | os.PathLike, device: DeviceLike = "auto", cache_dir=None) -> tuple[PreferenceModel, dict[str, Any]]:
    """Rebuild a model saved by :func:`save_model` (eval mode); returns ``(model, config)``."""
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    path = Path(path)
    cfg = read_config(path)
    spec = BackboneSpec.from_dict(cfg["backbone"])
    tok = AutoTokenizer.from_pretrained(str(path / TOKENIZER_DIR)) if spec.kind == "tiny" else None
    dev = resolve_device(device)
    bb = rebuild_backbone(spec, tokenizer=tok, device=dev, cache_dir=cache_dir)
    model = MODEL_CLASSES[cfg["model"]](bb, **cfg["head"]).to(dev)
    load_persistent_state(model, load_file(str(path / WEIGHTS_FILE), device=str(dev)))
    return model.eval(), cfg
