"""Writing a file so that readers see the old or the new content, never a mix."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def atomic_file(path: Path, mode: int | None = None) -> Iterator[BinaryIO]:
    """Yield a binary file that replaces ``path`` when the block ends without error.

    The data goes to a temporary file beside ``path`` (same file system, so the
    rename is atomic), is fsynced, renamed over ``path``, and the directory is
    fsynced so that the rename survives a crash. On any error the temporary file
    is removed and ``path`` is left as it was.

    Args:
        path: the file to write; its directory must exist.
        mode: permission bits of the new file; ``None`` keeps the temporary
            file's 0600 (private: the model store's state).

    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_atomic(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` with :func:`atomic_file`."""
    with atomic_file(path, mode) as out:
        out.write(data)


def fsync_dir(path: Path) -> None:
    """Flush a directory's entries (a rename or a new file in it) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
