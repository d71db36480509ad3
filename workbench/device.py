"""Devices, dtypes and random generators, passed explicitly (no hidden global state)."""

from __future__ import annotations

import random

import numpy as np
import torch

DeviceLike = str | torch.device | None


def resolve_device(device: DeviceLike = "auto") -> torch.device:
    """``"auto"`` (or None) picks CUDA when present, else CPU; anything else is passed to torch."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for but CUDA is not available on this machine")
    return dev


def make_generator(seed: int, device: DeviceLike = "cpu") -> torch.Generator:
    """A torch generator on ``device`` seeded with ``seed`` (sampling on CUDA needs a CUDA generator).

    The one place the workbench creates generators: library code takes a generator or a seed and calls
    this, never ``torch.Generator()`` directly.
    """
    gen = torch.Generator(device=resolve_device(device))
    gen.manual_seed(int(seed))
    return gen


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed python, numpy and torch for notebook-level reproducibility.

    Library code never relies on this (it takes explicit generators); notebooks call it once in
    their setup cell. ``deterministic=True`` also asks torch for deterministic kernels.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
