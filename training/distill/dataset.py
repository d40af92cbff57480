"""Distillation datasets: states visited by a teacher, with its Q-values, in checked shards.

Collection runs the teacher on the same Ray actors as teacher training
(:class:`~training.rollout.RolloutWorker`, here with the teacher's weights and a
small exploration rate so that states just off the greedy path are covered too)
over domain-randomized simulations (or the teacher's own scenario). Only
decision states (a new transport block starts) are kept: the others never reach
the policy.

A dataset can also be collected with a *student* acting and the teacher labelling
the states it visits (``collect(..., actor=student)``): the states a student reaches
by its own small mistakes are rare under the teacher, and labelling them is how
dataset aggregation (DAgger, Ross et al. 2011) corrects the drift that imitation on
the teacher's states alone leaves.

On disk, a dataset is a directory::

    manifest.json       {"format", "format_version", "feature_schema_version",
                         "num_features", "num_actions", "teacher_id", "teacher_sha256",
                         "scenario", "samples", "shards": [{"file", "samples", "sha256"}], ...}
    shard-00000.npz     obs (n, 44) float32 raw features, q (n, 29) float32 teacher Q-values

:func:`load_dataset` checks everything (format, feature schema, shapes, checksums,
finite values) and raises :class:`DatasetError` naming the file and the problem.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, NamedTuple

import numpy as np
import numpy.typing as npt
import torch

from training.distill.dataset_format import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    Dataset,
    DatasetError,
    file_sha256,
    load_dataset,
    load_datasets,
    read_manifest,
)
from training.distill.teachers import Teacher, trained_range
from training.networks import QNetwork, network_from_state
from training.placement import Placement
from training.rollout import RolloutConfig, RolloutWorker
from xapp import features, nr_tables
from xapp.atomic import atomic_file, write_atomic

__all__ = [
    "FORMAT", "FORMAT_VERSION", "MANIFEST", "CollectConfig", "Dataset", "DatasetError",
    "TeacherSamples", "check_target", "collect", "collection_targets", "load_dataset",
    "load_datasets",
    "read_manifest", "teacher_chunks", "write_dataset", "write_shard",
]

_DATASET_FILE: Final = re.compile(
    r"shard-\d{5}\.npz|\.(shard-\d{5}\.npz|manifest\.json)(\.[a-z0-9_]+)?\.tmp")
"""Files other than the manifest that a dataset directory may hold (shards, their temporaries)."""


@dataclass(frozen=True)
class CollectConfig:
    """How a distillation dataset is collected."""

    samples: int = 2_000_000
    """Decision states to store."""
    actors: int = 2
    """Ray actors running the teacher."""
    ues: int = 1024
    """UE rows per simulation."""
    episode_slots: int = 400
    """Slots per simulation before a fresh configuration is drawn."""
    chunk_slots: int = 50
    """Slots an actor simulates per chunk it returns."""
    epsilon: float = 0.05
    """Share of random (valid) MCS choices, for coverage of states off the greedy path."""
    shard_samples: int = 500_000
    """Samples per shard file."""
    seed: int = 0
    """Seed of the simulations."""

    def __post_init__(self) -> None:
        if self.samples < 1 or self.actors < 1 or self.shard_samples < 1:
            raise ValueError("samples, actors and shard_samples must be >= 1")
        if not 0.0 <= self.epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {self.epsilon}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")


class TeacherSamples(NamedTuple):
    """States and the teacher's Q-values on them."""

    obs: npt.NDArray[np.float32]  # (n, 44) raw features
    q: npt.NDArray[np.float32]  # (n, 29) teacher Q-values


class TeacherWorker(RolloutWorker):
    """A rollout worker that returns the teacher's Q-values of the states it decided on.

    ``hidden`` is the acting network's. With ``label_weights`` (the teacher's) another
    network acts (a student) and the teacher, rebuilt from them, only labels.
    """

    def __init__(self, config: RolloutConfig, hidden: tuple[int, ...], seed: int,
                 label_weights: dict[str, npt.NDArray[np.float32]] | None = None) -> None:
        super().__init__(config, hidden, seed)
        self.labeller: QNetwork | None = None  # None: the acting network labels
        if label_weights is not None:
            self.labeller = network_from_state({k: torch.from_numpy(v)
                                                for k, v in label_weights.items()})
            self.labeller.requires_grad_(False)

    def samples(self, weights: dict[str, npt.NDArray[np.float32]], slots: int,
                epsilon: float) -> TeacherSamples:
        """Simulate ``slots`` slots acting with ``weights``; teacher Q-values at every decision."""
        result = self.rollout(weights, slots, epsilon)
        obs = result.transitions.obs
        labeller = self.net if self.labeller is None else self.labeller
        with torch.no_grad():
            q = labeller(torch.from_numpy(obs)).numpy()
        return TeacherSamples(obs.astype(np.float32), q.astype(np.float32))


def collect(teacher: Teacher, out: Path, cfg: CollectConfig, *, profile: str = "custom",
            scenario: str | None = None, actor: QNetwork | None = None,
            actor_id: str = "teacher", ray_address: str | None = None,
            on_chunk: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Run ``teacher`` on Ray actors and write a dataset of ``cfg.samples`` states to ``out``.

    The dataset is written into a temporary sibling directory that replaces ``out``
    only once it is complete, so an interrupted or failed collection leaves a
    dataset already at ``out`` as it was and no temporary directory behind.

    Args:
        teacher: the loaded teacher.
        out: dataset directory (created; an existing dataset there is replaced).
        cfg: collection settings.
        profile: profile name recorded in the manifest.
        scenario: scenario to simulate; default: the one the teacher was trained on.
        actor: a network that acts instead of the teacher (a student, for dataset
            aggregation); the teacher still gives the Q-values.
        actor_id: name of ``actor`` recorded in the manifest (``collected_by``).
        ray_address: HOST:PORT of a Ray cluster to run the actors on; None: in-process Ray.
            The node of each actor is recorded in the manifest (``ray_nodes``).
        on_chunk: called with the number of samples collected so far (progress bars).

    Returns:
        The manifest written.

    Raises:
        DatasetError: ``out`` exists and is not a dataset directory (nothing is collected).

    """
    check_target(out)
    scenario = scenario or teacher.scenario
    started = time.monotonic()
    placements: list[Placement] = []
    chunks = teacher_chunks(teacher, cfg, scenario, actor, ray_address=ray_address,
                            on_placed=placements.extend)
    with _staging(out) as staging, contextlib.closing(chunks):
        writer = _ShardWriter(staging, cfg.shard_samples)
        collected = 0
        while collected < cfg.samples:
            chunk = next(chunks)
            take = min(len(chunk.obs), cfg.samples - collected)
            writer.add(chunk.obs[:take], chunk.q[:take])
            collected += take
            if on_chunk is not None:
                on_chunk(collected)
        manifest = _manifest(teacher, cfg, scenario=scenario, profile=profile,
                             collected=collected, actor_id=actor_id, placements=placements,
                             started=started, writer=writer)
        _write_json(staging / MANIFEST, manifest)
    return manifest


def _manifest(teacher: Teacher, cfg: CollectConfig, *, scenario: str, profile: str,
              collected: int, actor_id: str, placements: list[Placement], started: float,
              writer: _ShardWriter) -> dict[str, Any]:
    """The manifest of a finished collection; closes ``writer`` for its shard list."""
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "feature_schema_version": features.FEATURE_SCHEMA_VERSION,
        "num_features": features.NUM_FEATURES, "num_actions": nr_tables.NUM_ACTIONS,
        "teacher_id": teacher.teacher_id, "teacher_sha256": teacher.sha256,
        "teacher_path": teacher.path, "scenario": scenario, "profile": profile,
        "samples": collected, "collect": asdict(cfg), "collected_by": actor_id,
        "ray_nodes": placements,
        "seconds": round(time.monotonic() - started, 1),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "shards": writer.close(),
    }


def collection_targets(teacher: Teacher) -> tuple[float, float] | None:
    """The range the UEs of a benchmark scenario draw their BLER targets from, or ``None``.

    A teacher trained for a range of targets (its card's ``target_bler_range``) labels
    states at targets across it: a scenario's own 10% alone would leave its students
    untrained at every other target their cards claim. One trained at one target
    (feature schema 1's DQN teachers) keeps the scenario's.
    """
    lo, hi = trained_range(teacher)
    return (lo, hi) if lo < hi else None


def teacher_chunks(teacher: Teacher, cfg: CollectConfig, scenario: str,
                   actor: QNetwork | None = None, *, ray_address: str | None = None,
                   on_placed: Callable[[list[Placement]], None] | None = None,
                   ) -> Generator[TeacherSamples, None, None]:
    """Chunks of decision states with the teacher's Q-values, from ``cfg.actors`` Ray actors.

    Endless: the caller stops when it has enough and closes the generator, which
    kills the actors (so does an exception in the caller). The actors run on the
    cluster at ``ray_address`` (None: in-process Ray); ``on_placed`` hears where, once
    they are up.
    """
    import ray

    from training.ray_setup import actor_nodes, start_ray

    start_ray(ray_address, cfg.actors)
    rollout = RolloutConfig(scenario=scenario, ues=cfg.ues, episode_slots=cfg.episode_slots,
                            target_bler=collection_targets(teacher))
    remote = ray.remote(num_cpus=1)(TeacherWorker)
    acting = teacher.net if actor is None else actor
    labels = None if actor is None else ray.put(
        {k: v.numpy().copy() for k, v in teacher.net.state_dict().items()})
    workers: list[Any] = [remote.remote(rollout, acting.hidden, cfg.seed * 1000 + i, labels)
                          for i in range(cfg.actors)]
    weights = ray.put({k: v.numpy().copy() for k, v in acting.state_dict().items()})
    try:
        if on_placed is not None:
            on_placed(actor_nodes(workers))
        pending = {w.samples.remote(weights, cfg.chunk_slots, cfg.epsilon): w for w in workers}
        while True:
            ready, _ = ray.wait(list(pending), num_returns=1)
            worker = pending.pop(ready[0])
            chunk: TeacherSamples = ray.get(ready[0])
            pending[worker.samples.remote(weights, cfg.chunk_slots, cfg.epsilon)] = worker
            yield chunk
    finally:
        for w in workers:
            ray.kill(w)


def check_target(out: Path) -> None:
    """Refuse an ``out`` a dataset may not be written to: a file, or a directory of other files.

    Raises:
        DatasetError: naming ``out`` and the reason.

    """
    out = Path(out)
    if not out.exists():
        for parent in out.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise DatasetError(f"cannot write a dataset to {str(out)!r}: "
                                       f"{str(parent)!r} is not a directory")
                break
        return
    if not out.is_dir():
        raise DatasetError(f"cannot write a dataset to {str(out)!r}: it is a file, "
                           "not a directory")
    foreign = sorted(p.name for p in out.iterdir() if not _is_dataset_file(p.name))
    if foreign:
        raise DatasetError(f"{str(out)!r} holds files that are not a dataset's "
                           f"({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}); "
                           "not replacing it")


def _is_dataset_file(name: str) -> bool:
    return name == MANIFEST or bool(_DATASET_FILE.fullmatch(name))


@contextlib.contextmanager
def _staging(out: Path) -> Iterator[Path]:
    """A fresh sibling directory of ``out`` to write into; it replaces ``out`` on success.

    On any exception (an interruption too) the sibling is removed and ``out`` is
    left as it was.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = _fresh_sibling(out, "tmp")
    try:
        yield staging
        _replace_directory(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _fresh_sibling(out: Path, kind: str) -> Path:
    while True:
        path = out.with_name(f".{out.name}.{secrets.token_hex(4)}.{kind}")
        try:
            path.mkdir()  # the umask's mode, as a plain mkdir of ``out`` would have
        except FileExistsError:
            continue
        return path


def _replace_directory(new: Path, out: Path) -> None:
    """Rename ``new`` to ``out``; an existing ``out`` is moved aside first, removed after."""
    if not out.exists():
        os.rename(new, out)
        return
    aside = _fresh_sibling(out, "old")
    try:
        os.rename(out, aside / out.name)
        try:
            os.rename(new, out)
        except BaseException:
            os.rename(aside / out.name, out)
            raise
    except BaseException:
        with contextlib.suppress(OSError):
            aside.rmdir()  # empty once ``out`` is back; never remove the old dataset here
        raise
    shutil.rmtree(aside, ignore_errors=True)


class _ShardWriter:
    """Buffers samples and writes ``shard-NNNNN.npz`` files of ``size`` samples."""

    def __init__(self, out: Path, size: int) -> None:
        self.out, self.size = out, size
        self.obs: list[npt.NDArray[np.float32]] = []
        self.q: list[npt.NDArray[np.float32]] = []
        self.buffered = 0
        self.shards: list[dict[str, Any]] = []

    def add(self, obs: npt.NDArray[np.float32], q: npt.NDArray[np.float32]) -> None:
        self.obs.append(obs)
        self.q.append(q)
        self.buffered += len(obs)
        while self.buffered >= self.size:
            self._flush(self.size)

    def _flush(self, n: int) -> None:
        obs, q = np.concatenate(self.obs), np.concatenate(self.q)
        name = f"shard-{len(self.shards):05d}.npz"
        self.shards.append(write_shard(self.out / name, obs[:n], q[:n]))
        self.obs, self.q = [obs[n:]], [q[n:]]
        self.buffered = len(obs) - n

    def close(self) -> list[dict[str, Any]]:
        if self.buffered:
            self._flush(self.buffered)
        return self.shards


def write_shard(path: Path, obs: npt.NDArray[np.float32],
                q: npt.NDArray[np.float32]) -> dict[str, Any]:
    """Write one shard atomically; return its manifest entry ``{file, samples, sha256}``."""
    with atomic_file(path, mode=0o644) as f:
        np.savez(f, obs=np.ascontiguousarray(obs, np.float32),
                 q=np.ascontiguousarray(q, np.float32))
    return {"file": path.name, "samples": len(obs), "sha256": file_sha256(path)}


def write_dataset(out: Path, samples: TeacherSamples, *, teacher_id: str,
                  teacher_sha256: str, scenario: str = "random",
                  shard_samples: int = 500_000) -> dict[str, Any]:
    """Write in-memory samples as a dataset (tests, conversions); return the manifest.

    As :func:`collect`: written beside ``out`` and renamed over it once complete.
    """
    check_target(out)
    with _staging(out) as staging:
        writer = _ShardWriter(staging, shard_samples)
        writer.add(samples.obs, samples.q)
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "feature_schema_version": features.FEATURE_SCHEMA_VERSION,
            "num_features": features.NUM_FEATURES, "num_actions": nr_tables.NUM_ACTIONS,
            "teacher_id": teacher_id, "teacher_sha256": teacher_sha256, "scenario": scenario,
            "samples": len(samples.obs),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "shards": writer.close(),
        }
        _write_json(staging / MANIFEST, manifest)
    return manifest


def _write_json(path: Path, data: dict[str, Any]) -> None:
    write_atomic(path, (json.dumps(data, indent=2) + "\n").encode(), mode=0o644)
