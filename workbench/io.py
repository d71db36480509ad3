"""Atomic writes: a reader sees the old file (or folder) or the new one, never a half-written one.

Every write goes to a temporary file (or folder) in the *same* folder as the target, then ``os.replace``
moves it into place (atomic on POSIX and Windows when source and target share a file system). On any
failure, ``KeyboardInterrupt`` included, the temporary is removed and the old target is left as it was.

- ``atomic_write_bytes(path, data)`` / ``atomic_write_text(path, text)``: one file.
- ``atomic_save_torch(obj, path)``: ``torch.save`` to one file (checkpoints).
- ``atomic_directory(path)``: a context manager yielding a temporary folder to fill; on a clean exit it
  replaces ``path`` (a folder of several files: model caches, saved judges).

Files get the usual ``0o666 & ~umask`` permissions (``mkstemp`` alone would make them ``0600``). No
``fsync``: the guarantee is against crashes of this process, not against power loss.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Callable, Iterator

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_save_torch", "atomic_directory"]

_UMASK = os.umask(0o022)  # read once at import (os.umask can only be read by setting it)
os.umask(_UMASK)


def _atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(fh)`` on a temporary file beside ``path``, then ``os.replace`` it onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.stem}-", suffix=path.suffix, dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``. Creates missing parent folders."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"atomic_write_bytes({str(path)!r}): data must be bytes, got {type(data).__name__}")
    return _atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` (encoded with ``encoding``) to ``path`` atomically; returns ``path``."""
    if not isinstance(text, str):
        raise TypeError(f"atomic_write_text({str(path)!r}): text must be str, got {type(text).__name__}")
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_save_torch(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj, ...)`` to ``path`` atomically (a failed save leaves the old checkpoint); returns ``path``."""
    import torch

    return _atomic_write(path, lambda fh: torch.save(obj, fh))


@contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; on a clean exit it becomes ``path``.

    An existing ``path`` is first renamed to ``.<name>.old`` and removed only after the new folder is in
    place (a folder cannot be ``os.replace``-d onto a non-empty one). If the body raises, the temporary
    folder is removed and ``path`` is untouched.

    >>> with atomic_directory("cache/model") as tmp:   # doctest: +SKIP
    ...     (tmp / "config.json").write_text("{}")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{path.name}-", dir=path.parent))
    try:
        os.chmod(tmp, 0o777 & ~_UMASK)
        yield tmp
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(path, old)
        try:
            os.replace(tmp, path)
        except BaseException:
            if old is not None:
                os.replace(old, path)  # put the old folder back
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
