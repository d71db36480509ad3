"""Save and load a preference model as a folder; the weights a checkpoint or a saved judge must keep.

A saved model is a folder, written atomically (:func:`workbench.io.atomic_directory`)::

    judge.json           format version, model kind, head config, backbone spec, the SHA-256 of the weights
                         file (``weights_sha256``), plus the caller's extras (``ModelJudge`` adds its batch
                         size and free-form metadata)
    tokenizer/           the tiny backbone's tokenizer (``save_pretrained``; pretrained backbones reload theirs)
    weights.safetensors  :func:`persistent_state`: every weight of a tiny model; the trainable weights
                         (head, LoRA adapters, or all for full fine-tuning) of a pretrained one

:func:`load_model` rebuilds the backbone from its spec (:func:`~workbench.prefmodels.backbones.rebuild_backbone`:
the tiny ``LlamaModel`` from its config, a pretrained one from its checkpoint folder, peft adapters re-applied),
builds the head and loads the weights, so the reloaded model gives identical predictions. It refuses a
folder whose weights do not match their stored checksum (damaged bytes would otherwise load and predict
NaN) and names the file in every error (missing, truncated or unreadable ``judge.json``, tokenizer or
weights). Saving over an existing folder replaces only these three entries: other files in the folder
(notes, metrics, plots) are carried over into the new folder.

The training loop (:mod:`~workbench.prefmodels.training`) uses :func:`persistent_state` /
:func:`load_persistent_state` for its checkpoints and best weights; the serving wrapper
(:class:`~workbench.prefmodels.judge.ModelJudge`) calls :func:`save_model` / :func:`load_model`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
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
OWN_ENTRIES = (CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_DIR)  # what a save replaces; anything else is kept


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(2**20):
            h.update(block)
    return h.hexdigest()


def _carry_over(old: Path, new: Path) -> None:
    """Copy the entries of ``old`` that a save does not own into ``new`` (hard links where possible)."""
    if not old.is_dir():
        return

    def link_or_copy(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    for entry in old.iterdir():
        if entry.name in OWN_ENTRIES:
            continue
        if entry.is_symlink():
            os.symlink(os.readlink(entry), new / entry.name)
        elif entry.is_dir():
            shutil.copytree(entry, new / entry.name, symlinks=True, copy_function=link_or_copy)
        else:
            link_or_copy(str(entry), str(new / entry.name))


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

    ``extra`` (JSON-serialisable) is stored in ``judge.json`` beside the model's own fields. Files of an
    existing folder other than ``judge.json``, ``tokenizer/`` and ``weights.safetensors`` are kept.
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
        if bb.spec.kind == "tiny":
            bb.tokenizer.save_pretrained(str(tmp / TOKENIZER_DIR))
        save_file(state, str(tmp / WEIGHTS_FILE))
        cfg["weights_sha256"] = file_sha256(tmp / WEIGHTS_FILE)
        (tmp / CONFIG_FILE).write_text(json.dumps(cfg, indent=2, default=str))
        _carry_over(Path(path), tmp)
    return Path(path)


def read_config(path: str | os.PathLike) -> dict[str, Any]:
    """``judge.json`` of a saved model, checked (format version, model kind); errors name the file."""
    cfg_file = Path(path) / CONFIG_FILE
    if not cfg_file.exists():
        raise FileNotFoundError(f"load_model: no {CONFIG_FILE} in {path}")
    try:
        cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"load_model: {cfg_file} is not valid JSON (truncated or damaged?): {e}") from None
    if not isinstance(cfg, dict):
        raise ValueError(f"load_model: {cfg_file} must hold a JSON object, got {type(cfg).__name__}")
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
    weights = path / WEIGHTS_FILE
    if not weights.is_file():
        raise FileNotFoundError(f"load_model: no {WEIGHTS_FILE} in {path}")
    expected = cfg.get("weights_sha256")
    if not isinstance(expected, str) or len(expected) != 64:
        raise ValueError(f"load_model: {path / CONFIG_FILE} has no valid weights_sha256 (got {expected!r}): the "
                         "checksum that vouches for weights.safetensors was removed or damaged; refusing to load "
                         "it (save the model again with ModelJudge.save / save_model)")
    if file_sha256(weights) != expected:
        raise ValueError(f"load_model: {weights} does not match the checksum in {path / CONFIG_FILE} "
                         f"(sha256 {file_sha256(weights)[:16]}..., expected {str(expected)[:16]}...): "
                         "the file is damaged or was replaced; refusing to load it")
    spec = BackboneSpec.from_dict(cfg["backbone"])
    tok = None
    if spec.kind == "tiny":
        try:
            tok = AutoTokenizer.from_pretrained(str(path / TOKENIZER_DIR))
        except Exception as e:  # noqa: BLE001 - transformers / tokenizers raise many types
            raise ValueError(f"load_model: cannot read the tokenizer in {path / TOKENIZER_DIR} "
                             f"({type(e).__name__}: {e})") from e
    dev = resolve_device(device)
    bb = rebuild_backbone(spec, tokenizer=tok, device=dev, cache_dir=cache_dir)
    head = dict(cfg["head"])
    if cfg["model"] == "pairwise":  # judges saved before the skew skip term (no "skip_rank") are bare MLPs
        head.setdefault("skip_rank", 0)
    model = MODEL_CLASSES[cfg["model"]](bb, **head).to(dev)
    try:
        state = load_file(str(weights), device=str(dev))
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error types for a bad header
        raise ValueError(f"load_model: {weights} is not a readable safetensors file (truncated or damaged?) "
                         f"({type(e).__name__}: {e})") from e
    load_persistent_state(model, state)
    return model.eval(), cfg
