"""Training loop for preference models: soft-label cross-entropy, early stopping, atomic checkpoints, resume.

Loss: ``L = -mean( y log sigmoid(z) + (1 - y) log sigmoid(-z) )`` with ``z = model.logit(x, a, b)`` and
labels ``y`` in [0, 1] (the maximum-likelihood objective of Bradley-Terry / pairwise preference models).
AdamW on the trainable parameters. Batches come from a permutation per epoch drawn from a generator
seeded by ``(seed, epoch)``, so the batch at global step ``t`` is a pure function of ``(seed, t)``: a run
resumed from a checkpoint written at step ``t`` replays exactly the same steps as an uninterrupted run
(the tiny backbone has no dropout).

Every ``eval_every`` steps (default: once per epoch) the validation log-loss and accuracy are computed,
the best weights kept (early stopping with ``patience`` evaluations without improvement by ``min_delta``)
and, if ``checkpoint_path`` is set, a checkpoint written atomically (:func:`workbench.io.atomic_save_torch`)
with model and optimizer state, step, best weights and history. ``resume=True`` continues from it, and
refuses (naming the fields) a checkpoint written with other settings: the fields of :data:`RESUME_FIELDS`
(batch size, learning rate, weight decay, clipping, seed, validation schedule, early stopping) and the
SHA-256 of the training and validation sets must match, unless listed in ``resume_changes``
(e.g. ``resume_changes=("lr",)`` continues the saved run at a new learning rate). ``epochs`` /
``max_steps`` may change: they only say where the run stops.

The loop is split into named steps (in the style of Spinning Up's ``compute_loss`` / ``update``):
:func:`batch_indices` (which comparisons), :func:`compute_loss` (the cross-entropy of one batch),
:func:`update` (one AdamW step), :func:`validate` (early-stopping bookkeeping) and
:func:`write_checkpoint` / :func:`resume_state`; :func:`train` strings them together.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from workbench.device import make_generator
from workbench.io import atomic_save_torch
from workbench.prefmodels.evaluation import accuracy, log_loss
from workbench.prefmodels.models import PreferenceModel
from workbench.prefmodels.persistence import load_persistent_state, persistent_state

CHECKPOINT_VERSION = 1
# TrainConfig fields a resumed run must share with its checkpoint (they shape the steps taken), and the data
RESUME_FIELDS = ("batch_size", "lr", "weight_decay", "grad_clip", "eval_every", "patience", "min_delta", "seed")
DATA_FIELDS = ("train_data", "val_data")


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
    resume: bool = False  # continue from checkpoint_path when it exists (same settings and data, else an error)
    resume_changes: tuple[str, ...] = ()  # RESUME_FIELDS / DATA_FIELDS allowed to differ from the checkpoint
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
    """``torch.save`` atomically (:func:`workbench.io.atomic_save_torch`): never a half-written file."""
    return atomic_save_torch(payload, path)


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


# ------------------------------------------------------------------------------------------ steps
@dataclass
class RunState:
    """What a run carries from step to step (and what a checkpoint stores besides model and optimizer)."""

    step: int = 0  # optimizer steps done
    best_loss: float = math.inf  # best validation log-loss so far
    best_step: int = 0  # step of best_loss
    bad_evals: int = 0  # validations since the last improvement
    best_state: dict[str, torch.Tensor] | None = None  # persistent weights at best_step (CPU)
    rows: list[tuple] = field(default_factory=list)  # history rows (algo, seed, step, epoch, metric, value)
    stopped: bool = False  # early stopping triggered
    resumed_from: int | None = None  # step of the checkpoint resumed from


def _epoch_perm(n: int, seed: int, epoch: int) -> torch.Tensor:
    g = make_generator(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1)[0])
    return torch.randperm(n, generator=g)


def batch_indices(n: int, step: int, steps_per_epoch: int, batch_size: int, seed: int) -> list[int]:
    """Indices of the comparisons of global step ``step``: slice ``step mod steps_per_epoch`` of the
    permutation of epoch ``step // steps_per_epoch`` (seeded by ``(seed, epoch)``, so resumable)."""
    epoch, pos = divmod(step, steps_per_epoch)
    return _epoch_perm(n, seed, epoch)[pos * batch_size:(pos + 1) * batch_size].tolist()


def compute_loss(model: PreferenceModel, prompts, responses_a, responses_b, labels: torch.Tensor) -> torch.Tensor:
    """Soft-label cross-entropy ``-mean(y log sigmoid(z) + (1 - y) log sigmoid(-z))``, ``z = model.logit``."""
    z = model.logit(prompts, responses_a, responses_b)  # (B,)
    return F.binary_cross_entropy_with_logits(z, labels.to(z.device, z.dtype))


def update(model: PreferenceModel, opt: torch.optim.Optimizer, params: list[torch.Tensor], batch, grad_clip: float | None) -> float:
    """One optimizer step on ``batch = (prompts, responses_a, responses_b, labels)``; returns the loss."""
    loss = compute_loss(model, *batch)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
    opt.step()
    return float(loss.detach())


def validate(model: PreferenceModel, val, cfg: TrainConfig, name: str, st: RunState, epoch: float) -> None:
    """Validation log-loss and accuracy into ``st.rows``; keep the best weights; set ``st.stopped`` after
    ``cfg.patience`` validations without an improvement of ``cfg.min_delta``."""
    frame = pd.DataFrame({"prompt": val[0], "response_a": val[1], "response_b": val[2], "label": val[3].numpy()})
    p = predict(model, frame, cfg.eval_batch_size)
    vl, va = log_loss(p, val[3]), accuracy(p, val[3])
    st.rows.extend([(name, cfg.seed, st.step, epoch, "val_log_loss", vl), (name, cfg.seed, st.step, epoch, "val_accuracy", va)])
    if vl < st.best_loss - cfg.min_delta:
        st.best_loss, st.best_step, st.bad_evals = vl, st.step, 0
        st.best_state = {k: v.detach().cpu().clone() for k, v in persistent_state(model).items()}
    else:
        st.bad_evals += 1
        if cfg.patience and st.bad_evals >= cfg.patience:
            st.stopped = True


def write_checkpoint(model: PreferenceModel, opt: torch.optim.Optimizer, cfg: TrainConfig, st: RunState,
                     data: dict[str, str | None] | None = None) -> None:
    """Model (persistent weights) + optimizer + :class:`RunState` + config and data fingerprints
    (:func:`data_fingerprint`) to ``cfg.checkpoint_path``, atomically."""
    save_checkpoint(cfg.checkpoint_path, {
        "version": CHECKPOINT_VERSION, "model_kind": model.kind,
        "model": {k: v.detach().cpu() for k, v in persistent_state(model).items()},
        "optimizer": opt.state_dict(), "step": st.step, "best_loss": st.best_loss, "best_step": st.best_step,
        "bad_evals": st.bad_evals, "best_state": st.best_state, "history": st.rows, "stopped": st.stopped,
        "config": asdict(cfg), "data_sha256": dict(data or {}),
    })


def data_fingerprint(columns) -> str | None:
    """SHA-256 of ``(prompts, responses_a, responses_b, labels)`` as :func:`_columns` returns them (None: no data)."""
    if columns is None:
        return None
    h = hashlib.sha256()
    for texts in columns[:3]:
        for t in texts:
            h.update(t.encode("utf-8"))
            h.update(b"\0")
        h.update(b"\1")
    h.update(columns[3].numpy().tobytes())
    return h.hexdigest()


def check_resume(ck: dict, cfg: TrainConfig, data: dict[str, str | None], path) -> None:
    """Refuse a checkpoint written with other :data:`RESUME_FIELDS` or other data, naming what differs
    (fields in ``cfg.resume_changes`` may differ)."""
    unknown = [f for f in cfg.resume_changes if f not in RESUME_FIELDS + DATA_FIELDS]
    if unknown:
        raise ValueError(f"train: resume_changes names {unknown}; allowed: {list(RESUME_FIELDS + DATA_FIELDS)}")
    saved = ck.get("config", {})
    diff = [f"{k}: checkpoint {saved[k]!r}, now {getattr(cfg, k)!r}" for k in RESUME_FIELDS
            if k in saved and k not in cfg.resume_changes and saved[k] != getattr(cfg, k)]
    saved_data = ck.get("data_sha256", {})
    diff += [f"{k}: a different set (sha256 {str(saved_data[k])[:12]}... in the checkpoint, {str(v)[:12]}... now)"
             for k, v in data.items() if k in saved_data and k not in cfg.resume_changes and saved_data[k] != v]
    if diff:
        raise ValueError(f"train: resume=True but checkpoint {path} was written with other settings:\n  "
                         + "\n  ".join(diff) + "\n(resume with the same settings, pass resume_changes=(<fields>) "
                         "to continue with the new ones, or use a new checkpoint_path)")


def resume_state(model: PreferenceModel, opt: torch.optim.Optimizer, cfg: TrainConfig,
                 data: dict[str, str | None] | None = None) -> RunState:
    """A fresh :class:`RunState`, or the one of ``cfg.checkpoint_path`` (model and optimizer restored) after
    :func:`check_resume` (``data``: :func:`data_fingerprint` of the training / validation sets)."""
    if not (cfg.resume and cfg.checkpoint_path and Path(cfg.checkpoint_path).exists()):
        return RunState()
    ck = load_checkpoint(cfg.checkpoint_path)
    if ck["model_kind"] != model.kind:
        raise ValueError(f"train: checkpoint {cfg.checkpoint_path} holds a {ck['model_kind']!r} model, not {model.kind!r}")
    check_resume(ck, cfg, data or {}, cfg.checkpoint_path)
    dev = model.backbone.device
    load_persistent_state(model, {k: v.to(dev) for k, v in ck["model"].items()})
    opt.load_state_dict(ck["optimizer"])
    for group in opt.param_groups:  # a changed lr / weight decay allowed by resume_changes takes effect
        group["lr"], group["weight_decay"] = cfg.lr, cfg.weight_decay
    return RunState(ck["step"], ck["best_loss"], ck["best_step"], ck["bad_evals"], ck["best_state"],
                    list(ck["history"]), ck.get("stopped", False), resumed_from=ck["step"])


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
    val = _columns(val_data) if val_data is not None and len(val_data) else None
    if isinstance(cfg.batch_size, bool) or not isinstance(cfg.batch_size, int) or cfg.batch_size < 1:
        raise ValueError(f"train: batch_size must be a positive integer, got {cfg.batch_size!r}")
    if isinstance(cfg.eval_batch_size, bool) or not isinstance(cfg.eval_batch_size, int) or cfg.eval_batch_size < 1:
        raise ValueError(f"train: eval_batch_size must be a positive integer, got {cfg.eval_batch_size!r}")
    fingerprints = {"train_data": data_fingerprint((x, a, b, y)), "val_data": data_fingerprint(val)}
    spe = math.ceil(n / cfg.batch_size)
    total = min(cfg.max_steps if cfg.max_steps is not None else cfg.epochs * spe, cfg.epochs * spe)
    eval_every = cfg.eval_every or spe
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    st = resume_state(model, opt, cfg, fingerprints)

    model.train()
    bar = tqdm(total=total, initial=st.step, desc=f"train {name}", disable=not cfg.progress, leave=False)
    running = None
    while st.step < total and not st.stopped:
        idx = batch_indices(n, st.step, spe, cfg.batch_size, cfg.seed)
        lv = update(model, opt, params, ([x[i] for i in idx], [a[i] for i in idx], [b[i] for i in idx], y[idx]), cfg.grad_clip)
        st.step += 1
        running = lv if running is None else 0.9 * running + 0.1 * lv
        st.rows.append((name, cfg.seed, st.step, st.step / spe, "train_loss", lv))
        bar.update(1)
        bar.set_postfix(loss=f"{running:.3f}", best_val=f"{st.best_loss:.3f}")
        if st.step % eval_every == 0 or st.step == total:
            if val is not None:
                validate(model, val, cfg, name, st, st.step / spe)
            if cfg.checkpoint_path:
                write_checkpoint(model, opt, cfg, st, fingerprints)
    if st.stopped:  # stopped early on purpose: a full bar, not the red "interrupted" bar of tqdm.auto
        bar.total = bar.n
        bar.refresh()
    bar.close()
    model.eval()
    if cfg.restore_best and st.best_state is not None:
        load_persistent_state(model, {k: v.to(model.backbone.device) for k, v in st.best_state.items()})
    history = pd.DataFrame(st.rows, columns=["algo", "seed", "step", "epoch", "metric", "value"])
    return TrainResult(history, st.step, st.best_step, float(st.best_loss), bool(st.stopped), st.resumed_from, asdict(cfg))
