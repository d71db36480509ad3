"""Training loop for preference models: soft-label cross-entropy, early stopping, atomic checkpoints, resume.

Loss: ``L = -mean( y log sigmoid(z) + (1 - y) log sigmoid(-z) )`` with ``z = model.logit(x, a, b)`` and
labels ``y`` in [0, 1] (the maximum-likelihood objective of Bradley-Terry / pairwise preference models).
AdamW on the trainable parameters. Batches come from a permutation per epoch drawn from a generator
seeded by ``(seed, epoch)``, so the batch at global step ``t`` is a pure function of ``(seed, t)``: a run
resumed from a checkpoint written at step ``t`` replays exactly the same steps as an uninterrupted run
(the tiny backbone has no dropout).

Every ``eval_every`` steps (default: once per epoch) the validation log-loss and accuracy are computed,
the best weights kept (early stopping with ``patience`` evaluations without improvement by ``min_delta``)
and, if ``checkpoint_path`` is set, a checkpoint written atomically (temporary file + ``os.replace``) with
model and optimizer state, step, best weights and history. ``resume=True`` continues from it.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from workbench.prefmodels.evaluation import accuracy, log_loss
from workbench.prefmodels.judge import load_persistent_state, persistent_state
from workbench.prefmodels.models import PreferenceModel

CHECKPOINT_VERSION = 1


@dataclass
class TrainConfig:
    """Hyperparameters of :func:`train` (one help line per field)."""

    epochs: int = 10  # passes over the training set (upper bound; early stopping may end sooner)
    max_steps: int | None = None  # hard cap on optimizer steps (None: epochs * steps_per_epoch)
    batch_size: int = 64  # comparisons per step
    lr: float = 3e-3  # AdamW learning rate
    weight_decay: float = 0.0  # AdamW weight decay
    grad_clip: float | None = 1.0  # max gradient norm (None: no clipping)
    eval_every: int | None = None  # steps between validations (None: once per epoch)
    patience: int = 3  # validations without improvement before stopping (0: never stop early)
    min_delta: float = 1e-4  # improvement of the validation log-loss that counts
    restore_best: bool = True  # load the best validation weights at the end
    seed: int = 0  # seeds the batch order
    checkpoint_path: str | None = None  # file for atomic checkpoints (None: no checkpoints)
    resume: bool = False  # continue from checkpoint_path when it exists
    eval_batch_size: int = 256  # batch size for validation predictions
    progress: bool = True  # show a tqdm progress bar
    name: str | None = None  # run name in the history frame (default: the model kind)


@dataclass
class TrainResult:
    """What :func:`train` returns."""

    history: pd.DataFrame  # tidy: algo, seed, step, epoch, metric, value
    steps: int  # optimizer steps done in total
    best_step: int  # step of the best validation log-loss
    best_val_loss: float  # best validation log-loss
    stopped_early: bool  # early stopping triggered
    resumed_from: int | None  # step of the checkpoint resumed from (None: fresh run)
    config: dict[str, Any]  # the TrainConfig as a dict


def _columns(data):
    df = data.frame if hasattr(data, "frame") else data
    for col in ("prompt", "response_a", "response_b", "label"):
        if col not in df.columns:
            raise ValueError(f"train: data has no column {col!r} (columns: {list(df.columns)})")
    return (df["prompt"].astype(str).tolist(), df["response_a"].astype(str).tolist(),
            df["response_b"].astype(str).tolist(), torch.tensor(df["label"].to_numpy(dtype=np.float32)))


@torch.no_grad()
def predict(model: PreferenceModel, data, batch_size: int = 256) -> torch.Tensor:
    """``P(a ≻ b)`` for every comparison of ``data`` (Comparisons or frame), ``(N,)`` on CPU."""
    x, a, b, _ = _columns(data)
    was = model.training
    model.eval()
    try:
        out = [torch.sigmoid(model.logit(x[i:i + batch_size], a[i:i + batch_size], b[i:i + batch_size])).float().cpu()
               for i in range(0, len(x), batch_size)]
    finally:
        model.train(was)
    return torch.cat(out) if out else torch.zeros(0)


def save_checkpoint(path: str | os.PathLike, payload: dict) -> Path:
    """``torch.save`` to a temporary file in the same folder, then ``os.replace``: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def load_checkpoint(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"load_checkpoint: no checkpoint at {path}")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)  # plain tensors / containers only
    except Exception as e:  # noqa: BLE001 - torch raises many types for a corrupt file
        raise ValueError(f"load_checkpoint: {path} is not a readable checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(ck, dict) or ck.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"load_checkpoint: {path} is not a preference-model checkpoint (version {CHECKPOINT_VERSION})")
    return ck


def _epoch_perm(n: int, seed: int, epoch: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1)[0]))
    return torch.randperm(n, generator=g)


def train(model: PreferenceModel, train_data, val_data=None, config: TrainConfig | None = None, **overrides) -> TrainResult:
    """Fit ``model`` on ``train_data`` (Comparisons), validating on ``val_data``; see the module docstring.

    ``overrides`` replace fields of ``config`` (``train(m, tr, va, epochs=5, lr=1e-3)``).
    """
    from tqdm.auto import tqdm

    cfg = TrainConfig(**{**(asdict(config) if config else {}), **overrides})
    name = cfg.name or model.kind
    x, a, b, y = _columns(train_data)
    n = len(x)
    if n == 0:
        raise ValueError("train: the training set is empty")
    dev = model.backbone.device
    val = _columns(val_data) if val_data is not None and len(val_data) else None
    spe = math.ceil(n / cfg.batch_size)
    total = min(cfg.max_steps if cfg.max_steps is not None else cfg.epochs * spe, cfg.epochs * spe)
    eval_every = cfg.eval_every or spe
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    step, best_loss, best_step, bad_evals, rows, resumed_from = 0, math.inf, 0, 0, [], None
    best_state = None
    stopped = False
    if cfg.resume and cfg.checkpoint_path and Path(cfg.checkpoint_path).exists():
        ck = load_checkpoint(cfg.checkpoint_path)
        if ck["model_kind"] != model.kind:
            raise ValueError(f"train: checkpoint {cfg.checkpoint_path} holds a {ck['model_kind']!r} model, not {model.kind!r}")
        load_persistent_state(model, {k: v.to(dev) for k, v in ck["model"].items()})
        opt.load_state_dict(ck["optimizer"])
        step, best_loss, best_step, bad_evals = ck["step"], ck["best_loss"], ck["best_step"], ck["bad_evals"]
        best_state, rows, stopped = ck["best_state"], list(ck["history"]), ck.get("stopped", False)
        resumed_from = step

    def evaluate_and_checkpoint():
        nonlocal best_loss, best_step, bad_evals, best_state, stopped
        epoch = step / spe
        if val is not None:
            p = predict(model, pd.DataFrame({"prompt": val[0], "response_a": val[1], "response_b": val[2], "label": val[3].numpy()}), cfg.eval_batch_size)
            vl, va = log_loss(p, val[3]), accuracy(p, val[3])
            rows.extend([(name, cfg.seed, step, epoch, "val_log_loss", vl), (name, cfg.seed, step, epoch, "val_accuracy", va)])
            if vl < best_loss - cfg.min_delta:
                best_loss, best_step, bad_evals = vl, step, 0
                best_state = {k: v.detach().cpu().clone() for k, v in persistent_state(model).items()}
            else:
                bad_evals += 1
                if cfg.patience and bad_evals >= cfg.patience:
                    stopped = True
        if cfg.checkpoint_path:
            save_checkpoint(cfg.checkpoint_path, {
                "version": CHECKPOINT_VERSION, "model_kind": model.kind,
                "model": {k: v.detach().cpu() for k, v in persistent_state(model).items()},
                "optimizer": opt.state_dict(), "step": step, "best_loss": best_loss, "best_step": best_step,
                "bad_evals": bad_evals, "best_state": best_state, "history": rows, "stopped": stopped,
                "config": asdict(cfg),
            })

    model.train()
    bar = tqdm(total=total, initial=step, desc=f"train {name}", disable=not cfg.progress, leave=False)
    running = None
    while step < total and not stopped:
        epoch, pos = divmod(step, spe)
        idx = _epoch_perm(n, cfg.seed, epoch)[pos * cfg.batch_size:(pos + 1) * cfg.batch_size].tolist()
        z = model.logit([x[i] for i in idx], [a[i] for i in idx], [b[i] for i in idx])  # (B,)
        loss = F.binary_cross_entropy_with_logits(z, y[idx].to(dev, z.dtype))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        step += 1
        lv = float(loss.detach())
        running = lv if running is None else 0.9 * running + 0.1 * lv
        rows.append((name, cfg.seed, step, step / spe, "train_loss", lv))
        bar.update(1)
        bar.set_postfix(loss=f"{running:.3f}", best_val=f"{best_loss:.3f}")
        if step % eval_every == 0 or step == total:
            evaluate_and_checkpoint()
    bar.close()
    model.eval()
    if cfg.restore_best and best_state is not None:
        load_persistent_state(model, {k: v.to(dev) for k, v in best_state.items()})
    history = pd.DataFrame(rows, columns=["algo", "seed", "step", "epoch", "metric", "value"])
    return TrainResult(history, step, best_step, float(best_loss), bool(stopped), resumed_from, asdict(cfg))
