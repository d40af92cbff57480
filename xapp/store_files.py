"""The model store's files: their layout, the state file, the writers' lock.

Layout under the store directory (a volume in Kubernetes)::

    state.json                            {"format": 1, "generation": N, "active": KEY|null,
                                           "history": [KEY...]}
    .lock                                 the writers' lock (fcntl.flock)
    models/<model_id>/<version>/model.onnx
    models/<model_id>/<version>/meta.json {"sha256", "size_bytes", "uploaded", "card"}

``KEY`` is ``model_id@version``, or ``default`` for the embedded default model
(configured, not stored: it has no directory). :mod:`xapp.registry` is the only
writer and describes the guarantees; this module names the files, reads and
checks them, and turns a failed write into :class:`~xapp.errors.StoreUnavailable`.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from xapp.atomic import fsync_dir
from xapp.errors import ModelNotFound, StoreUnavailable
from xapp.model_card import ModelCard, parse_model_card

STATE_FORMAT: Final = 1
MODEL_FILE: Final = "model.onnx"
META_FILE: Final = "meta.json"
STATE_FILE: Final = "state.json"
LOCK_FILE: Final = ".lock"


@dataclass(frozen=True, slots=True)
class StoredModel:
    """One model of the store, as listed."""

    card: ModelCard
    sha256: str
    size_bytes: int
    uploaded: str

    @property
    def key(self) -> str:
        """``model_id@version``."""
        return self.card.key

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {
            "model_id": self.card.model_id,
            "version": self.card.version,
            "kind": self.card.kind,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "uploaded": self.uploaded,
            "card": self.card.to_dict(),
        }


def model_dir(root: Path, key: str) -> Path:
    """The directory of stored model ``key`` (``model_id@version``) under store ``root``.

    Raises:
        ModelNotFound: ``key`` is no model key, or would lead out of the store.

    """
    model_id, sep, version = key.partition("@")
    # Keys come from URLs: keep them inside the store.
    if not sep or not model_id or not version or "/" in key or key.startswith("."):
        raise ModelNotFound(f"no stored model {key}")
    if model_id in (".", "..") or version in (".", ".."):
        raise ModelNotFound(f"no stored model {key}")
    return root / "models" / model_id / version


def read_meta(path: Path) -> StoredModel:
    """The :class:`StoredModel` a ``meta.json`` describes."""
    meta = json.loads(path.read_text())
    return StoredModel(parse_model_card(meta["card"]), meta["sha256"],
                       int(meta["size_bytes"]), meta["uploaded"])


def read_state_bytes(root: Path) -> bytes:
    """The state file of store ``root`` as it is now (empty if there is none yet)."""
    try:
        return (root / STATE_FILE).read_bytes()
    except FileNotFoundError:
        return b""


def state_bytes(active: str | None, history: Sequence[str], generation: int) -> bytes:
    """The state file's content for ``active``, ``history`` and ``generation``."""
    state = {"format": STATE_FORMAT, "generation": generation, "active": active,
             "history": history}
    return json.dumps(state, indent=2).encode()


def parse_state(raw: bytes, path: Path) -> tuple[str | None, list[str], int]:
    """``(active, history, generation)`` of the state file's bytes (empty: a new store).

    Raises:
        ValueError: the content is not a valid state, naming ``path``.

    """
    if not raw:
        return None, [], 0
    state = json.loads(raw)
    if not isinstance(state, dict):
        raise ValueError(f"{path}: must hold a JSON object, holds {type(state).__name__}")
    if state.get("format") != STATE_FORMAT:
        raise ValueError(f"{path}: unknown store format {state.get('format')!r}")
    active, history = state.get("active"), state.get("history", [])
    generation = state.get("generation", 0)  # stores written before fleets had none
    if not (active is None or isinstance(active, str)) or not (
            isinstance(history, list) and all(isinstance(k, str) for k in history)):
        raise ValueError(f"{path}: 'active' must be a model key or null and 'history' a "
                         "list of model keys")
    if not isinstance(generation, int) or isinstance(generation, bool) or generation < 0:
        raise ValueError(f"{path}: 'generation' must be a whole number >= 0")
    return active, history, generation


@contextmanager
def store_lock(root: Path, action: str) -> Iterator[None]:
    """Hold the store's exclusive lock: writers on every replica take turns.

    ``flock`` on a file of the store: released when the holder closes it or
    dies. On NFS v4 the kernel turns it into a lease-backed lock.

    Raises:
        StoreUnavailable: the lock file cannot be created (a read-only store).

    """
    with store_write(action):
        fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        with store_write(action):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextmanager
def store_write(action: str) -> Iterator[None]:
    """Turn an ``OSError`` while writing the store into :class:`StoreUnavailable`."""
    try:
        yield
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        raise StoreUnavailable(f"cannot {action}: the model store cannot be written{where}: "
                               f"{exc.strerror or exc}; nothing was changed") from exc


@contextmanager
def staged_model_dir(root: Path, target: Path, action: str) -> Iterator[Path]:
    """A fresh directory to write a model into, renamed to ``target`` (one rename) after the block.

    If the block fails, the directory is removed and ``target`` never appears. An
    ``OSError`` becomes :class:`StoreUnavailable` (:func:`store_write`).
    """
    with store_write(action):
        staging = Path(tempfile.mkdtemp(dir=root / "models", prefix=".upload-"))
        try:
            yield staging
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(staging, target)
            fsync_dir(target.parent)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def model_dir_removed(root: Path, directory: Path, action: str) -> Iterator[None]:
    """Move ``directory`` out of the listing (one rename) for the block, then delete it.

    If the block fails, the directory is put back. An ``OSError`` becomes
    :class:`StoreUnavailable` (:func:`store_write`).
    """
    with store_write(action):
        trash = Path(tempfile.mkdtemp(dir=root / "models", prefix=".delete-"))
        try:
            os.rename(directory, trash / "model")
            try:
                yield
            except BaseException:
                os.rename(trash / "model", directory)
                raise
        finally:
            shutil.rmtree(trash, ignore_errors=True)


def now() -> str:
    """The current UTC time, to the second, as the store records it."""
    return datetime.now(UTC).isoformat(timespec="seconds")
