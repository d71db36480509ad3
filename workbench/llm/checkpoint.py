"""The LLM loop's checkpoint file: a checksummed payload, the run's identity, and one owner at a time.

**Format.** One file, written atomically (:func:`workbench.io.atomic_write_bytes`)::

    WBLLMCKPT <version> <sha256 of the payload bytes>\\n
    <payload: torch.save of a dict>

A file whose payload does not match its checksum (a truncated copy, flipped bytes) is refused by name
before anything is unpickled; so is one of another version or whose payload lacks a field or holds one of
the wrong type (:func:`load_checkpoint`).

**Identity.** Besides the loop's config and the trainer's hyperparameters (compared by the loop), a
checkpoint records what the run was trained *on* (:func:`run_identity`): the model (its name or folder and
a SHA-256 of its reference weights), the fine-tuning mode and LoRA rank, the judge (kind and checksum of
its tables or weights), a digest of the prompt pool and the evaluator's beta. A resume with any of them
changed is refused, naming each field.

**Ownership** (:class:`CheckpointLock`, :func:`check_checkpoint_path`). Without ``resume`` an existing
checkpoint is somebody's run: it is refused unless ``overwrite``. While a run trains, a lock file
``<checkpoint>.lock`` holds its process id; a second run on the same checkpoint is refused naming that
process; a lock left by a dead process (kill -9) is taken over with a warning.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from workbench.io import atomic_write_bytes

VERSION = 2  # 2: checksummed header + run identity; 1 (before) was a bare torch.save
MAGIC = b"WBLLMCKPT"

# field -> type(s) of a valid payload (checked before use: a payload of another structure is a clear error)
PAYLOAD_FIELDS: dict[str, type | tuple[type, ...]] = {
    "config": dict, "trainer": dict, "identity": dict, "weights": dict, "optimizer": dict,
    "generator": torch.Tensor, "rows": list, "step": int, "queries": int, "tokens": int, "processes": int,
}


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: damaged, of another version or structure, or of another run."""


# ---------------------------------------------------------------------------- digests
def tensor_digest(tensors: Mapping[str, torch.Tensor] | Sequence[torch.Tensor]) -> str:
    """SHA-256 over names, dtypes, shapes and bytes of tensors (any dtype, any device)."""
    items = tensors.items() if isinstance(tensors, Mapping) else enumerate(tensors)
    h = hashlib.sha256()
    for name, t in sorted(((str(k), v) for k, v in items), key=lambda kv: kv[0]):
        t = t.detach().cpu().contiguous().reshape(-1)
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def text_digest(texts: Sequence[str]) -> str:
    """SHA-256 of a list of strings (order matters: the loop draws prompts by index)."""
    return hashlib.sha256(json.dumps(list(texts), ensure_ascii=False).encode()).hexdigest()


def reference_digest(policy) -> str:
    """SHA-256 of the weights that define ``mu`` (cached on the policy: they are frozen): the base model's
    weights under the LoRA adapters, or the frozen reference copy of full fine-tuning."""
    cached = getattr(policy, "_reference_digest", None)
    if cached is not None:
        return cached
    if policy.finetune == "lora":
        state = {n: p for n, p in policy.model.named_parameters() if "lora_" not in n}
    else:
        ref = policy.ref_model if policy.ref_model is not None else policy.model
        state = dict(ref.named_parameters())
    digest = tensor_digest(state)
    policy._reference_digest = digest
    return digest


def judge_identity(judge) -> dict[str, Any]:
    """``{"kind", "checksum"}`` of a judge: its own ``identity()`` when it has one, the weights of a
    :class:`~workbench.prefmodels.ModelJudge`, else the class name alone (checksum ``None``)."""
    inner = getattr(judge, "judge", judge)  # a counting wrapper: the judge behind it
    own = getattr(inner, "identity", None)
    if callable(own):
        return dict(own())
    model = getattr(inner, "model", None)
    if model is not None and hasattr(model, "kind") and hasattr(model, "backbone"):
        from workbench.prefmodels.persistence import persistent_state

        return {"kind": f"{type(inner).__name__}/{model.kind}", "checksum": tensor_digest(persistent_state(model))}
    return {"kind": type(inner).__name__, "checksum": None}


def lora_rank(policy) -> int | None:
    """The LoRA rank of a LoRA policy (from peft's config of the active adapter), else ``None``."""
    if policy.finetune != "lora":
        return None
    configs = getattr(policy.model, "peft_config", {}) or {}
    active = getattr(policy.model, "active_adapter", None)
    cfg = configs.get(active) if isinstance(active, str) else next(iter(configs.values()), None)
    return None if cfg is None else int(cfg.r)


def evaluator_beta(evaluator) -> float | None:
    """The beta of an evaluator's game: ``evaluator.beta`` (free text), else ``evaluator.game.beta`` (exact)."""
    beta = getattr(evaluator, "beta", None)
    if beta is None and getattr(evaluator, "game", None) is not None:
        beta = evaluator.game.beta
    if isinstance(beta, torch.Tensor):
        flat = beta.reshape(-1)
        if not bool((flat == flat[0]).all()):
            raise ValueError("train: the evaluator's game has several betas; the loop trains one")
        beta = flat[0]
    return None if beta is None else float(beta)


def run_identity(policy, judge, prompts: Sequence[str], evaluator=None, model_name: str | None = None) -> dict:
    """What a run is trained on, recorded in its checkpoint and compared on resume (see the module doc)."""
    jid = judge_identity(judge)
    return {
        "model": str(model_name if model_name is not None else getattr(policy, "source", "?")),
        "model_weights_sha256": reference_digest(policy),
        "finetune": policy.finetune,
        "lora_r": lora_rank(policy),
        "judge_kind": jid.get("kind"),
        "judge_checksum": jid.get("checksum"),
        "prompts_sha256": text_digest(prompts),
        "n_prompts": len(prompts),
        "evaluator_beta": None if evaluator is None else evaluator_beta(evaluator),
    }


# ---------------------------------------------------------------------------- the file
def save_checkpoint(payload: dict, path: str | os.PathLike) -> Path:
    """Write ``payload`` with its checksum header, atomically (a failed save leaves the old file)."""
    buf = io.BytesIO()
    torch.save({**payload, "version": VERSION}, buf)
    data = buf.getvalue()
    header = MAGIC + f" {VERSION} {hashlib.sha256(data).hexdigest()}\n".encode()
    return atomic_write_bytes(path, header + data)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read and verify a checkpoint written by :func:`save_checkpoint`; every error names the file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"checkpoint {path} cannot be read ({exc.strerror or exc})") from None
    head, sep, data = raw.partition(b"\n")
    parts = head.split(b" ")
    if not sep or len(parts) != 3 or parts[0] != MAGIC:
        raise CheckpointError(f"checkpoint {path} is not a workbench LLM checkpoint of version {VERSION} (no "
                              f"checksummed header; an older version or another file); start a new run or point "
                              f"--checkpoint elsewhere")
    if parts[1] != str(VERSION).encode():
        raise CheckpointError(f"checkpoint {path} has version {parts[1].decode(errors='replace')}; this workbench "
                              f"reads version {VERSION}")
    if hashlib.sha256(data).hexdigest().encode() != parts[2]:
        raise CheckpointError(f"checkpoint {path} is damaged: its payload does not match its SHA-256 checksum "
                              f"(truncated or modified); refusing to load it")
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - unpickling raises many types
        raise CheckpointError(f"checkpoint {path} cannot be unpickled ({type(exc).__name__}: {exc})") from None
    if not isinstance(payload, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(payload).__name__}, not the loop's payload dict")
    bad = [f"{k} (missing)" if k not in payload else f"{k} ({type(payload[k]).__name__}, expected "
           f"{t.__name__ if isinstance(t, type) else ' or '.join(x.__name__ for x in t)})"
           for k, t in PAYLOAD_FIELDS.items() if k not in payload or not isinstance(payload[k], t)]
    if bad:
        raise CheckpointError(f"checkpoint {path} has the wrong structure: " + ", ".join(bad))
    return payload


# ---------------------------------------------------------------------------- ownership
def lock_path(checkpoint: str | os.PathLike) -> Path:
    p = Path(checkpoint)
    return p.with_name(p.name + ".lock")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _holder(lock: Path) -> dict | None:
    try:
        info = json.loads(lock.read_text())
        return info if isinstance(info, dict) and isinstance(info.get("pid"), int) else None
    except (OSError, ValueError):
        return None


def check_checkpoint_path(checkpoint, *, resume: bool, overwrite: bool = False, extend: bool = False) -> Path | None:
    """Refuse a checkpoint path a run may not use, before anything is loaded; returns it as a ``Path``.

    ``resume``: the file must exist. Otherwise an existing file is another run's and is refused unless
    ``overwrite``. A folder, or a live lock held by another process, is refused either way."""
    if checkpoint is None:
        if resume or extend:
            raise ValueError("train: resume=True needs a checkpoint path (--checkpoint FILE)")
        return None
    path = Path(checkpoint)
    if path.is_dir():
        raise ValueError(f"train: checkpoint {path} is a folder; give a file path, e.g. {path / 'run.ckpt'}")
    if resume and overwrite:
        raise ValueError("train: resume=True and overwrite=True contradict each other; choose one")
    if resume and not path.exists():
        raise FileNotFoundError(f"train: resume=True but no checkpoint at {path}; drop --resume to start a new run")
    if not resume and path.exists() and not overwrite:
        raise FileExistsError(f"train: checkpoint {path} already exists (another run's); resume it with --resume, "
                              f"replace it with --overwrite, or choose another --checkpoint")
    lock = lock_path(path)
    info = _holder(lock)
    if info is not None and info["pid"] != os.getpid() and info.get("host") == socket.gethostname() and _alive(info["pid"]):
        raise RuntimeError(f"train: checkpoint {path} is in use by process {info['pid']} (lock file {lock}); wait "
                           f"for it to finish, or stop it")
    probe_writable(path.parent, "train: the checkpoint's folder")
    return path


def probe_writable(folder: str | os.PathLike, what: str) -> None:
    """Create ``folder`` if needed and write (then remove) a file in it: ``os.access`` says yes to root on
    read-only or virtual file systems (``/proc``), where the first real write, after training, would fail."""
    import tempfile

    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".probe-", dir=folder)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise PermissionError(f"{what} {folder} is not writable ({exc.strerror or exc})") from None


class CheckpointLock:
    """``with CheckpointLock(path):`` holds ``<path>.lock`` (this process's id and host) for the run."""

    def __init__(self, checkpoint: str | os.PathLike):
        self.path = lock_path(checkpoint)
        self.held = False

    def __enter__(self) -> "CheckpointLock":
        me = {"pid": os.getpid(), "host": socket.gethostname()}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                info = _holder(self.path)
                live = (info is not None and info.get("host") == me["host"] and info["pid"] != me["pid"]
                        and _alive(info["pid"]))
                if live:
                    raise RuntimeError(f"train: checkpoint {self.path.with_suffix('')} is in use by process "
                                       f"{info['pid']} (lock file {self.path}); wait for it to finish, or stop it") from None
                if info is None or info["pid"] != me["pid"]:
                    warnings.warn(f"train: taking over the stale lock {self.path} (process "
                                  f"{None if info is None else info['pid']} is gone)", stacklevel=3)
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as fh:
                json.dump(me, fh)
            self.held = True
            return self
        raise RuntimeError(f"train: could not take the lock {self.path}")

    def __exit__(self, *exc) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False
