"""workbench.device: device resolution and the one generator factory (same seed, same draws, any spelling)."""

import ast
from pathlib import Path

import pytest
import torch

import workbench
from workbench.device import make_generator, resolve_device, seed_everything


def test_make_generator_is_seeded_and_reproducible():
    a = torch.rand(5, generator=make_generator(7), dtype=torch.float64)
    b = torch.rand(5, generator=make_generator(7, "cpu"), dtype=torch.float64)
    c = torch.rand(5, generator=make_generator(7, torch.device("cpu")), dtype=torch.float64)
    assert torch.equal(a, b) and torch.equal(a, c)
    # the same stream as a plain generator seeded the same way: switching call sites moves no number
    assert torch.equal(a, torch.rand(5, generator=torch.Generator().manual_seed(7), dtype=torch.float64))
    assert not torch.equal(a, torch.rand(5, generator=make_generator(8), dtype=torch.float64))
    assert make_generator(0, "auto").device == resolve_device("auto")


def test_resolve_device_errors_and_auto():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None) == resolve_device("auto")
    if not torch.cuda.is_available():
        assert resolve_device("auto").type == "cpu"
        with pytest.raises(ValueError, match="device='cuda' was asked for but CUDA is not available"):
            resolve_device("cuda")


def test_seed_everything_seeds_torch():
    seed_everything(3)
    a = torch.rand(3)
    seed_everything(3)
    assert torch.equal(a, torch.rand(3))


def test_library_code_makes_generators_only_through_make_generator():
    """``torch.Generator(`` appears in workbench/device.py only (issue 8: generators only through workbench.device)."""
    root = Path(workbench.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "device.py" and path.parent == root:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "Generator" \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch":
                offenders.append(f"{path.relative_to(root.parent)}:{node.lineno}")
    assert not offenders, f"use workbench.device.make_generator instead of torch.Generator at {offenders}"
