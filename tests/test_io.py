"""workbench.io: round trips, and a failed write leaves the old file (or folder) intact with no leftovers."""

from __future__ import annotations

import os

import pytest
import torch

from workbench.io import atomic_directory, atomic_save_torch, atomic_write_bytes, atomic_write_text


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_bytes_and_text_round_trip(tmp_path):
    target = tmp_path / "sub" / "a.bin"  # missing parent is created
    assert atomic_write_bytes(target, b"\x00\x01abc") == target
    assert target.read_bytes() == b"\x00\x01abc"
    atomic_write_text(tmp_path / "t.txt", "héllo\n")
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "héllo\n"
    atomic_write_text(tmp_path / "t.txt", "second")  # overwrite
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "second"
    assert _leftovers(tmp_path) == [] and _leftovers(tmp_path / "sub") == []


def test_files_get_umask_permissions_not_mkstemp_0600(tmp_path):
    mask = os.umask(0o022)
    os.umask(mask)
    path = atomic_write_text(tmp_path / "r.json", "{}")
    if os.name == "posix":
        assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_torch_round_trip(tmp_path):
    obj = {"w": torch.arange(6, dtype=torch.float64).reshape(2, 3), "step": 7}
    path = atomic_save_torch(obj, tmp_path / "ck.pt")
    back = torch.load(path, weights_only=True)
    assert back["step"] == 7 and torch.equal(back["w"], obj["w"])


def test_failed_write_keeps_old_file_and_cleans_up(tmp_path):
    path = tmp_path / "ck.pt"
    atomic_write_text(path, "old")

    class Boom:  # torch.save pickles it and fails halfway through the write
        def __reduce__(self):
            raise RuntimeError("cannot pickle Boom")

    with pytest.raises(RuntimeError, match="Boom"):
        atomic_save_torch({"a": torch.zeros(1000), "b": Boom()}, path)
    assert path.read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_interrupt_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "index.json"
    atomic_write_text(path, "old")

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(path, "new")
    monkeypatch.undo()
    assert path.read_text() == "old" and _leftovers(tmp_path) == []


def test_wrong_types_name_the_path(tmp_path):
    with pytest.raises(TypeError, match=r"x\.bin.*must be bytes, got str"):
        atomic_write_bytes(tmp_path / "x.bin", "text")
    with pytest.raises(TypeError, match=r"y\.txt.*must be str, got bytes"):
        atomic_write_text(tmp_path / "y.txt", b"raw")


def test_directory_replaces_old_folder(tmp_path):
    target = tmp_path / "model"
    with atomic_directory(target) as tmp:
        (tmp / "a.txt").write_text("1")
        assert not target.exists()  # invisible until the block ends
    assert sorted(p.name for p in target.iterdir()) == ["a.txt"]
    with atomic_directory(target) as tmp:
        (tmp / "b.txt").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]  # old content gone, not merged
    assert _leftovers(tmp_path) == []


def test_directory_failure_keeps_old_folder(tmp_path):
    target = tmp_path / "model"
    with atomic_directory(target) as tmp:
        (tmp / "a.txt").write_text("old")
    with pytest.raises(ValueError, match="half"):
        with atomic_directory(target) as tmp:
            (tmp / "a.txt").write_text("new, half written")
            raise ValueError("failed half way")
    assert (target / "a.txt").read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_directory_failed_rename_restores_old_folder(tmp_path, monkeypatch):
    target = tmp_path / "model"
    with atomic_directory(target) as tmp:
        (tmp / "a.txt").write_text("old")
    real_replace = os.replace

    def replace(src, dst):  # moving the old folder aside works, moving the new one in fails
        if "tmp-" in str(src):
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match="disk full"):
        with atomic_directory(target) as tmp:
            (tmp / "a.txt").write_text("new")
    monkeypatch.undo()
    assert (target / "a.txt").read_text() == "old"
    assert _leftovers(tmp_path) == []
