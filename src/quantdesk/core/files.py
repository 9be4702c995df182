"""Crash-safe file writes: temp file in the same folder, fsync, then rename."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def atomic_writer(path: Path, mode: int = 0o644) -> Iterator[BinaryIO]:
    """Yield a binary file handle whose content replaces ``path`` only on success.

    Readers see either the old file or the complete new one, never a partial write; on an
    exception the temporary file is removed and ``path`` is untouched. The file gets ``mode``
    (``mkstemp``'s 0600 would hide the catalog from the sandboxed jobs that read it).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # The temp name must fit NAME_MAX (255 bytes) when ``path``'s own name nearly fills it.
    stem = path.name.encode()[:200].decode(errors="ignore")
    fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` atomically, with permissions ``mode``."""
    with atomic_writer(path, mode) as fh:
        fh.write(data)


def remove_temp_files(root: Path) -> int:
    """Delete the temporary files ``atomic_writer`` leaves under ``root``.

    Those are left when its process is killed mid-write (``.<name>.<random>.tmp``). Only safe
    while nothing writes there (at start-up, before the workers). Returns the number removed.
    """
    removed = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            if name.startswith(".") and name.endswith(".tmp"):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(folder, name))
                    removed += 1
    return removed


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the ``with`` block.

    Serialises read-modify-write cycles of files shared by processes (the API and the
    workers write the catalog). The kernel drops the lock when its process dies, so a killed
    writer never leaves it held. ``fcntl.flock`` is the standard library's own binding; a
    lock-file package would add nothing on Linux.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
