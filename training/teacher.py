"""Teacher training: double DQN fed by Ray rollout actors over domain-randomized simulations.

Phases (each logged under its own TensorBoard prefix):

1. ``setup``: connect to Ray (in-process by default, ``ray_address`` to join a
   cluster), start ``actors`` :class:`~training.rollout.RolloutWorker` actors and
   measure the input normalization on observations under random MCS choices.
2. ``train``: every actor keeps one rollout chunk in flight; as each chunk
   arrives the learner stores its decision transitions, takes
   ``replay_ratio * transitions / batch_size`` gradient steps, and the actor
   gets the new weights with its next chunk (Ape-X-style asynchronous
   learner/actor split). With one actor the order of events is fixed, so a run
   is deterministic given its seed.
3. ``export``: the final network to ONNX with its model card.

A *simulation* is one episode of one actor's vectorized simulator: ``ues``
rows with freshly drawn configurations for ``episode_slots`` slots. Profiles
(``smoke``, ``quick``, ``paper``) fix how many and how big.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from training.checkpoint import Progress, load_checkpoint
from training.dqn import DqnLearner
from training.networks import QNetwork
from training.placement import Placement
from training.ray_setup import actor_nodes, check_ray_address, remote_workers, start_ray
from training.replay import Batch, ReplayBuffer
from training.rollout import RolloutResult
from training.teacher_config import PROFILES, TeacherConfig, TrainingError, profile

__all__ = ["PROFILES", "Progress", "TeacherConfig", "TrainResult", "TrainingError",
           "actor_nodes", "check_ray_address", "load_checkpoint", "profile", "start_ray",
           "train"]
"""The configuration, checkpoint and Ray names are re-exported: ``training.teacher`` is the
one import of code that trains or resumes a teacher."""


def _weights(net: QNetwork) -> dict[str, npt.NDArray[np.float32]]:
    return {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}


def _save_checkpoint(path: Path, learner: DqnLearner, cfg: TeacherConfig, progress: Progress,
                     rng: np.random.Generator) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"learner": learner.state_dict(), "config": cfg.to_dict(),
                "progress": dataclasses.asdict(progress),
                "rng": rng.bit_generator.state}, tmp)
    os.replace(tmp, path)


@dataclass
class TrainResult:
    """The trained network and what the run measured."""

    net: QNetwork
    config: TeacherConfig
    progress: Progress
    history: list[dict[str, float]]
    placements: list[Placement] = field(default_factory=list)
    """The Ray node of each rollout actor (of this invocation, when resumed)."""


@dataclass
class _Learning:
    """The learner side of a run: network, learner, counters and generator."""

    net: QNetwork
    learner: DqnLearner
    progress: Progress
    rng: np.random.Generator
    resumed: bool


def train(cfg: TeacherConfig, run_dir: Path, ray_address: str | None = None,
          resume: Path | None = None,
          on_chunk: Callable[[dict[str, float]], None] | None = None,
          on_update: Callable[[DqnLearner, Batch], None] | None = None) -> TrainResult:
    """Train a teacher; writes config.json, checkpoint.pt and TensorBoard logs to ``run_dir``.

    Args:
        cfg: the run's configuration; when resuming, normally the checkpoint's (possibly
            with more simulations, to extend a run).
        run_dir: where the run's files go.
        ray_address: HOST:PORT of an existing Ray cluster; None starts Ray in-process.
        resume: a checkpoint to continue from.
        on_chunk: called after every chunk with the latest metrics (progress bars).
        on_update: called after every gradient step with the learner and the minibatch it
            learned from (real-time distillation trains a student there).

    Raises:
        TrainingError: the checkpoint is unusable, Ray cannot start or be joined, or the
            run directory cannot be written; files are only written once Ray is up.

    """
    run = _open_run(cfg, run_dir, ray_address, resume)
    workers, placements = _start_actors(cfg, run)
    history = _learn(cfg, run_dir, run, workers, on_chunk, on_update)
    _save_checkpoint(run_dir / "checkpoint.pt", run.learner, cfg, run.progress, run.rng)
    return TrainResult(run.net, cfg, run.progress, history, placements)


def _open_run(cfg: TeacherConfig, run_dir: Path, ray_address: str | None,
              resume: Path | None) -> _Learning:
    """Check the checkpoint, start Ray, write config.json; the learner, restored if resumed."""
    state = load_checkpoint(resume) if resume is not None else None
    # Ray first: a run that cannot start leaves the run directory as it was.
    start_ray(ray_address, cfg.actors)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
    except OSError as exc:
        raise TrainingError(f"cannot write the run directory {str(run_dir)!r}: "
                            f"{exc.strerror or exc}") from None
    # Spare cores belong to the actors: on 2 cores, a 2-thread learner competing with
    # them is slower per update than a 1-thread one (docs/benchmarks.md).
    torch.set_num_threads(cfg.learner_threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    progress = Progress()
    net = QNetwork(cfg.hidden)
    learner = DqnLearner(net, cfg.dqn)
    if state is not None:
        learner.load_state_dict(state["learner"])
        progress = Progress(**state["progress"])
        progress.resumes += 1
        rng.bit_generator.state = state["rng"]
    return _Learning(net, learner, progress, rng, resumed=state is not None)


def _start_actors(cfg: TeacherConfig, run: _Learning) -> tuple[list[Any], list[Placement]]:
    """The rollout actors and where they run; a new run measures its input normalization."""
    import ray

    workers = remote_workers(cfg, cfg.seed + 7919 * run.progress.resumes)
    try:
        placements = actor_nodes(workers)
    except TrainingError:
        for w in workers:  # those that started would hold their CPUs for nothing
            ray.kill(w)
        raise
    if not run.resumed:
        samples = ray.get([w.random_observations.remote(cfg.normalization_slots)
                           for w in workers])
        run.net.set_normalization(np.concatenate(samples))
        run.learner.target.load_state_dict(run.net.state_dict())
    return workers, placements


def _learn(cfg: TeacherConfig, run_dir: Path, run: _Learning, workers: list[Any],
           on_chunk: Callable[[dict[str, float]], None] | None,
           on_update: Callable[[DqnLearner, Batch], None] | None) -> list[dict[str, float]]:
    """Learn from the actors' chunks until the run has its simulations; the metrics history."""
    import ray
    from torch.utils.tensorboard import SummaryWriter

    progress = run.progress
    replay = ReplayBuffer(cfg.replay_capacity)
    writer = SummaryWriter(str(run_dir / "tensorboard"))
    history: list[dict[str, float]] = []
    eps = cfg.epsilon(progress.simulations)
    pending = {w.rollout.remote(ray.put(_weights(run.net)), cfg.chunk_slots, eps): w
               for w in workers}
    started = time.monotonic() - progress.seconds
    loss = float("nan")
    try:
        while progress.simulations < cfg.simulations - 1e-9:
            ready, _ = ray.wait(list(pending), num_returns=1)
            worker = pending.pop(ready[0])
            result: RolloutResult = ray.get(ready[0])
            loss = _learn_from(cfg, run, replay, result, on_update, loss)
            eps = cfg.epsilon(progress.simulations)
            weights = ray.put(_weights(run.net))
            if progress.simulations < cfg.simulations - 1e-9:
                pending[worker.rollout.remote(weights, cfg.chunk_slots, eps)] = worker
            progress.seconds = time.monotonic() - started
            metrics = _metrics(result, loss, eps, progress, run.learner.updates)
            history.append(metrics)
            for key, value in metrics.items():
                writer.add_scalar(key, value, progress.chunks)
            if on_chunk is not None:
                on_chunk(metrics)
            if progress.chunks % cfg.checkpoint_every == 0:
                _save_checkpoint(run_dir / "checkpoint.pt", run.learner, cfg, progress, run.rng)
    finally:
        for w in workers:  # also drops any chunk still in flight
            ray.kill(w)
        writer.close()
    return history


def _learn_from(cfg: TeacherConfig, run: _Learning, replay: ReplayBuffer,
                result: RolloutResult, on_update: Callable[[DqnLearner, Batch], None] | None,
                loss: float) -> float:
    """Store a chunk's transitions, count it, and take its gradient steps; the last loss."""
    progress = run.progress
    replay.add(result.transitions)
    progress.chunks += 1
    progress.transitions += len(result.transitions)
    progress.ue_slots += result.stats.ue_slots
    progress.simulations += cfg.chunk_slots / cfg.rollout.episode_slots
    if len(replay) >= min(cfg.learning_starts, cfg.replay_capacity):
        steps = round(cfg.replay_ratio * len(result.transitions) / cfg.dqn.batch_size)
        for _ in range(steps):
            batch = replay.sample(run.rng, cfg.dqn.batch_size)
            loss = run.learner.update(batch)
            if on_update is not None:
                on_update(run.learner, batch)
    return loss


def _metrics(result: RolloutResult, loss: float, eps: float, progress: Progress,
             updates: int) -> dict[str, float]:
    s = result.stats
    return {
        "rollout/reward": s.reward_sum / max(s.decisions, 1),
        "rollout/bler": s.nacks / max(s.decisions, 1),
        "rollout/throughput_mbps": s.throughput_mbps,
        "train/loss": loss,
        "train/epsilon": eps,
        "train/updates": float(updates),
        "train/simulations": progress.simulations,
        "speed/ue_slots_per_s": progress.ue_slots / max(progress.seconds, 1e-9),
    }
