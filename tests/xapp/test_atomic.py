"""xapp.atomic: the new content or the old, never a mix, and nothing left behind."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from xapp.atomic import atomic_file, write_atomic


def test_write_replaces_the_file_with_the_asked_mode(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(b"old")
    write_atomic(path, b"new", mode=0o644)
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    write_atomic(path, b"private")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_an_error_while_writing_keeps_the_old_file_and_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shard.npz"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk"), atomic_file(path) as out:
        out.write(b"half of it")
        raise RuntimeError("disk gone")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["shard.npz"]


def test_a_missing_directory_is_an_os_error_naming_nothing_written(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "absent" / "file", b"x")
    assert list(tmp_path.iterdir()) == []
