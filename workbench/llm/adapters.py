"""The peft internals the lab relies on, in one place: find the LoRA layers, switch them off, scale them per row.

peft's public switches cost more than a tiny model's forward: ``model.disable_adapter()`` builds a report of
every module's status on each entry, and a mixed-adapter batch (``adapter_names=[..., "__base__"]``) gathers
and scatters each adapter's sub-batch in every LoRA layer. The three functions below reach into peft's
layers instead; ``tests/test_llm_adapters.py`` checks each against the public peft API it replaces, so an
upgrade of peft that changes these internals fails there, not silently in training.

* :func:`lora_layers`: the tuner layers of a peft model, or ``None`` when it has wrappers (``modules_to_save``
  and the like) that only peft's own switch handles;
* :func:`adapters_off`: the adapters disabled by flipping each layer's ``_disable_adapters`` flag
  (= ``model.disable_adapter()``);
* :func:`row_scalable` / :func:`rows_on`: one forward in which row ``r`` has the adapters on iff ``on[r]``,
  each layer's LoRA scaling made a per-row factor ``(R, 1, 1)`` (= peft's mixed-adapter batch with
  ``"__base__"`` for the off rows), possible when every tuner layer is a plain LoRA ``Linear`` with one
  active adapter (``base(x) + B(A(x)) * scaling``).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

BASE = "__base__"  # peft's adapter name for "adapters off" in a mixed-adapter batch


def lora_layers(model: nn.Module) -> list[nn.Module] | None:
    """The tuner layers of ``model``, or ``None`` when it has auxiliary wrappers only peft can switch off."""
    from peft.tuners.tuners_utils import BaseTunerLayer
    from peft.utils.other import AuxiliaryTrainingWrapper

    mods = list(model.modules())
    if any(isinstance(m, AuxiliaryTrainingWrapper) for m in mods):
        return None
    return [m for m in mods if isinstance(m, BaseTunerLayer)]


def row_scalable(layers: list[nn.Module] | None) -> bool:
    """Whether every layer is a plain LoRA ``Linear`` with one active adapter (a per-row scaling is exact)."""
    from peft.tuners.lora.layer import Linear as LoraLinear

    return bool(layers) and all(isinstance(m, LoraLinear) and not m.lora_variant and len(m.active_adapters) == 1
                                for m in layers)


@contextmanager
def adapters_off(model: nn.Module, layers: list[nn.Module] | None) -> Iterator[nn.Module]:
    """``model`` with its adapters disabled: each layer's flag flipped (``layers``), or peft's own
    ``disable_adapter()`` when ``layers`` is ``None``. The adapters' ``requires_grad`` is left as it is (peft's
    context clears and restores it): a disabled adapter takes no part in the forward either way."""
    if layers is None:
        with model.disable_adapter():
            yield model
        return
    saved = [m._disable_adapters for m in layers]
    try:
        for m in layers:
            m._disable_adapters = True
        yield model
    finally:
        for m, s in zip(layers, saved):
            m._disable_adapters = s


@contextmanager
def rows_on(layers: list[nn.Module], on: torch.Tensor) -> Iterator[None]:
    """One forward in which row ``r`` has the adapters on iff ``on[r]`` ``(R,)``: each layer's scaling becomes
    ``scaling * on`` of shape ``(R, 1, 1)``, so the off rows add zero. ``layers`` must be :func:`row_scalable`."""
    saved = []
    try:
        for m in layers:
            name = m.active_adapters[0]
            w = m.lora_B[name].weight
            saved.append((m, name, m.scaling[name]))
            m.scaling[name] = on.to(device=w.device, dtype=w.dtype)[:, None, None] * m.scaling[name]  # (R, 1, 1)
        yield
    finally:
        for m, name, sc in saved:
            m.scaling[name] = sc


def adapter_names(model: nn.Module, on: torch.Tensor) -> list[str]:
    """peft's mixed-batch argument for rows ``on`` ``(R,)``: the active adapter's name or ``"__base__"``."""
    name = model.active_adapter
    return [name if bool(o) else BASE for o in on.tolist()]
