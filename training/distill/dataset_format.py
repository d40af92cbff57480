"""The distillation dataset's format on disk: names, the manifest, loading with checks.

A dataset is written by :mod:`training.distill.dataset` (see there for its
layout); :func:`load_dataset` checks everything (format, feature schema, shapes,
checksums, finite values) and raises :class:`DatasetError` naming the file and
the problem.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from xapp import features, nr_tables

FORMAT: Final = "linkadapt-distillation-dataset"
FORMAT_VERSION: Final = 1
MANIFEST: Final = "manifest.json"


class DatasetError(ValueError):
    """A dataset cannot be used; the message names the file and the reason."""


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- loading ----------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    """A loaded, checked dataset (or several aggregated)."""

    obs: npt.NDArray[np.float32]
    """``(n, 44)`` raw features."""
    q: npt.NDArray[np.float32]
    """``(n, 29)`` teacher Q-values."""
    manifests: tuple[dict[str, Any], ...]
    """Manifest of each source dataset."""

    def __len__(self) -> int:
        return int(self.obs.shape[0])


def read_manifest(directory: Path) -> dict[str, Any]:
    """Read and check a dataset's manifest; :class:`DatasetError` with the reason."""
    path = Path(directory) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise DatasetError(f"{str(directory)!r} is not a distillation dataset "
                           f"(no {MANIFEST})") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{str(path)!r}: unreadable manifest: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DatasetError(f"{str(path)!r}: not a {FORMAT} manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise DatasetError(f"{str(path)!r}: format_version {manifest.get('format_version')!r}"
                           f" is not supported (this code reads {FORMAT_VERSION})")
    schema = manifest.get("feature_schema_version")
    if schema != features.FEATURE_SCHEMA_VERSION:
        raise DatasetError(f"{str(path)!r}: collected with feature schema version {schema!r}, "
                           f"this code uses version {features.FEATURE_SCHEMA_VERSION}; "
                           "collect the dataset again")
    for key, expected in (("num_features", features.NUM_FEATURES),
                          ("num_actions", nr_tables.NUM_ACTIONS)):
        if manifest.get(key) != expected:
            raise DatasetError(f"{str(path)!r}: {key} is {manifest.get(key)!r}, "
                               f"needs {expected}")
    _check_fields(manifest, _MANIFEST_FIELDS, str(path))
    if manifest["samples"] < 1:
        raise DatasetError(f"{str(path)!r}: samples must be at least 1, is {manifest['samples']}")
    if not isinstance(manifest.get("shards"), list) or not manifest["shards"]:
        raise DatasetError(f"{str(path)!r}: no shards listed")
    for i, entry in enumerate(manifest["shards"]):
        if not isinstance(entry, dict):
            raise DatasetError(f"{str(path)!r}: shards[{i}] must be an object, is {entry!r}")
        _check_fields(entry, _SHARD_FIELDS, f"{str(path)!r}: shards[{i}]")
    listed = sum(entry["samples"] for entry in manifest["shards"])
    if listed != manifest["samples"]:
        raise DatasetError(f"{str(path)!r}: the shards list {listed} samples, samples says "
                           f"{manifest['samples']}")
    return manifest


_MANIFEST_FIELDS: Final = {"teacher_id": str, "teacher_sha256": str, "scenario": str,
                           "samples": int}
_SHARD_FIELDS: Final = {"file": str, "samples": int, "sha256": str}


def _check_fields(record: dict[str, Any], fields: dict[str, type], where: str) -> None:
    """Each of ``fields`` present in ``record`` with its type (an integer is not a bool)."""
    for key, kind in fields.items():
        value = record.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            what = "an integer" if kind is int else "a string"
            raise DatasetError(f"{where}: {key} must be {what}, is "
                               f"{'missing' if key not in record else repr(value)}")


def load_dataset(directory: str | Path) -> Dataset:
    """Load every shard of the dataset at ``directory``, checking each one."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    obs_parts, q_parts = [], []
    for entry in manifest["shards"]:
        obs, q = _load_shard(directory, entry)
        obs_parts.append(obs)
        q_parts.append(q)
    obs, q = np.concatenate(obs_parts), np.concatenate(q_parts)
    if len(obs) != manifest.get("samples"):
        raise DatasetError(f"{str(directory)!r}: shards hold {len(obs)} samples, the manifest "
                           f"says {manifest.get('samples')!r}")
    return Dataset(obs, q, (manifest,))


def _load_shard(directory: Path, entry: dict[str, Any]) -> tuple[npt.NDArray[np.float32],
                                                                 npt.NDArray[np.float32]]:
    path = directory / entry["file"]
    if path.parent != directory:
        raise DatasetError(f"{str(directory)!r}: shard {entry['file']!r} is outside the dataset")
    if not path.is_file():
        raise DatasetError(f"shard {str(path)!r} is missing")
    if file_sha256(path) != entry["sha256"]:
        raise DatasetError(f"shard {str(path)!r} is corrupt: its SHA-256 does not match the "
                           "manifest")
    try:
        with np.load(path, allow_pickle=False) as data:
            obs, q = np.asarray(data["obs"]), np.asarray(data["q"])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"shard {str(path)!r} is corrupt: {exc}") from None
    n = entry["samples"]
    if obs.shape != (n, features.NUM_FEATURES) or obs.dtype != np.float32:
        raise DatasetError(f"shard {str(path)!r}: obs must be float32 ({n}, "
                           f"{features.NUM_FEATURES}), is {obs.dtype} {obs.shape}")
    if q.shape != (n, nr_tables.NUM_ACTIONS) or q.dtype != np.float32:
        raise DatasetError(f"shard {str(path)!r}: q must be float32 ({n}, "
                           f"{nr_tables.NUM_ACTIONS}), is {q.dtype} {q.shape}")
    if not (np.isfinite(obs).all() and np.isfinite(q).all()):
        raise DatasetError(f"shard {str(path)!r}: non-finite values")
    return obs, q


TARGET_COVERAGE: Final = 1.5
"""A dataset covers a target range when its states' targets reach within this factor of
both ends (a log-uniform draw of thousands of UEs comes far closer)."""


def check_target_span(data: Dataset, targets: tuple[float, float], where: str) -> None:
    """Refuse ``data`` if its states' BLER targets do not span ``targets`` (low < high).

    A student claims the targets its teachers were trained for; states at one target
    alone (a benchmark scenario's 10%) would leave it untrained at all the others.
    """
    lo, hi = targets
    if lo >= hi or len(data) == 0:
        return
    column = data.obs[:, features.FEATURE_NAMES.index("log_target_bler")]
    have = float(np.exp(column.min())), float(np.exp(column.max()))
    if have[0] > lo * TARGET_COVERAGE or have[1] < hi / TARGET_COVERAGE:
        raise DatasetError(f"{where} holds states at BLER targets {have[0]:.3g} to "
                           f"{have[1]:.3g} only; the teachers were trained for {lo:g} to "
                           f"{hi:g}: collect it again")


def load_datasets(directories: Sequence[str | Path], seed: int = 0,
                  targets: tuple[float, float] | None = None) -> Dataset:
    """Load several datasets, aggregate and shuffle them (multi-policy distillation).

    ``targets``: each dataset must span this range of BLER targets (:func:`check_target_span`).
    """
    if not directories:
        raise DatasetError("no dataset given")
    parts = [load_dataset(d) for d in directories]
    if targets is not None:
        for directory, part in zip(directories, parts, strict=True):
            check_target_span(part, targets, f"dataset {str(directory)!r}")
    if len(parts) == 1:
        return parts[0]
    obs = np.concatenate([p.obs for p in parts])
    q = np.concatenate([p.q for p in parts])
    order = np.random.default_rng(seed).permutation(len(obs))
    return Dataset(obs[order], q[order], tuple(m for p in parts for m in p.manifests))
