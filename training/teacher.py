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
import logging
import os
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import torch

from training.dqn import DqnConfig, DqnLearner
from training.networks import TEACHER_HIDDEN, QNetwork
from training.placement import Placement, actor_placements
from training.replay import Batch, ReplayBuffer
from training.rollout import RolloutConfig, RolloutResult, RolloutWorker
from training.sim import config as sim_config


class TrainingError(RuntimeError):
    """A run cannot start or continue; the message says why."""


@dataclass(frozen=True)
class TeacherConfig:
    """Everything that defines a teacher run (saved as ``config.json`` beside it)."""

    profile: str = "quick"
    """Name of the profile the values came from."""
    simulations: int = 240
    """Simulations to learn from, over all actors."""
    actors: int = 2
    """Ray rollout actors."""
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    """What each actor simulates."""
    dqn: DqnConfig = field(default_factory=DqnConfig)
    """Learner hyperparameters."""
    hidden: tuple[int, ...] = TEACHER_HIDDEN
    """Hidden layer widths of the Q-network."""
    chunk_slots: int = 50
    """Slots an actor simulates per chunk it streams to the learner."""
    replay_capacity: int = 2_000_000
    """Transitions kept for replay."""
    learning_starts: int = 50_000
    """Transitions collected before the first gradient step."""
    replay_ratio: float = 0.75
    """Transitions sampled for learning per transition collected."""
    epsilon_start: float = 1.0
    """Exploration rate at the start."""
    epsilon_end: float = 0.03
    """Exploration rate after the decay."""
    epsilon_decay_fraction: float = 0.3
    """Share of the simulations over which exploration decays linearly."""
    normalization_slots: int = 30
    """Slots of random play per actor used to measure the input statistics."""
    checkpoint_every: int = 50
    """Chunks between checkpoints."""
    seed: int = 0
    """Seed of everything random in the run."""
    learner_threads: int = 1
    """Torch threads of the learner; 1 leaves the other cores to the rollout actors."""

    def __post_init__(self) -> None:
        if self.simulations < 1 or self.actors < 1 or self.learner_threads < 1:
            raise ValueError("simulations, actors and learner_threads must be >= 1")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.rollout.episode_slots % self.chunk_slots:
            raise ValueError("episode_slots must be a multiple of chunk_slots")
        sim_config.config_source(self.rollout.scenario)  # unknown scenario -> ValueError

    def epsilon(self, simulations_done: float) -> float:
        """Linear decay from ``epsilon_start`` to ``epsilon_end``."""
        progress = simulations_done / max(self.simulations * self.epsilon_decay_fraction, 1e-9)
        return float(max(self.epsilon_end,
                         self.epsilon_start + (self.epsilon_end - self.epsilon_start) * progress))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> TeacherConfig:
        """Inverse of :meth:`to_dict`."""
        data = dict(data)
        data["rollout"] = RolloutConfig(**data["rollout"])
        data["dqn"] = DqnConfig(**data["dqn"])
        data["hidden"] = tuple(data["hidden"])
        return TeacherConfig(**data)


PROFILES: dict[str, TeacherConfig] = {
    # tests: a couple of small simulations, well under two minutes
    "smoke": TeacherConfig(
        profile="smoke", simulations=4, actors=1,
        rollout=RolloutConfig(ues=128, episode_slots=100),
        dqn=DqnConfig(batch_size=256, target_update_interval=50),
        chunk_slots=50, replay_capacity=200_000, learning_starts=2_000, replay_ratio=0.5,
        normalization_slots=10, checkpoint_every=2),
    # a useful teacher on a 2-core machine in well under 30 minutes
    "quick": TeacherConfig(profile="quick"),
    # the paper's scale: 5000 simulations over 16 actors (a Ray cluster)
    "paper": TeacherConfig(
        profile="paper", simulations=5000, actors=16,
        rollout=RolloutConfig(ues=1024, episode_slots=1000),
        replay_capacity=10_000_000, learning_starts=500_000, replay_ratio=1.0),
}


def profile(name: str, **overrides: Any) -> TeacherConfig:
    """Return the named profile with fields (``actors``, ``seed``, ``scenario``...) overridden."""
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")
    base = PROFILES[name]
    scenario = overrides.pop("scenario", None)
    if scenario is not None:
        overrides["rollout"] = dataclasses.replace(base.rollout, scenario=scenario)
    return dataclasses.replace(base, **overrides)


# -- Ray -------------------------------------------------------------------------------------

def check_ray_address(address: str, timeout_s: float = 5.0) -> None:
    """TrainingError unless ``address`` is HOST:PORT and something listens there."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise TrainingError(f"Ray address must be HOST:PORT, got {address!r}")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise TrainingError(f"cannot reach the Ray cluster at {address}: {exc}") from None


def start_ray(address: str | None, actors: int) -> None:
    """Join the cluster at ``address`` or start Ray in-process with ``actors`` CPUs.

    Ray's start-up notices do not reach the terminal (see :func:`_quiet_ray`); its
    warnings and errors do.
    """
    if address:
        check_ray_address(address)
    _quiet_ray()
    import ray

    if ray.is_initialized():
        available = ray.cluster_resources().get("CPU", 0)
        if available < actors:
            raise TrainingError(f"{actors} actors need {actors} CPUs; the running Ray "
                                f"instance has {available:g}")
        return
    if address:
        try:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        except Exception as exc:  # something listens there, but not a Ray cluster it can join
            raise TrainingError(_join_failure(address, exc)) from None
        available = ray.cluster_resources().get("CPU", 0)
        if available < actors:  # the actors beyond the cluster's CPUs would wait forever
            ray.shutdown()
            raise TrainingError(f"{actors} actors need {actors} CPUs; the Ray cluster at "
                                f"{address} has {available:g}: lower --actors or add nodes")
    else:
        ray.init(num_cpus=max(actors, os.cpu_count() or 1), include_dashboard=False,
                 log_to_driver=False, configure_logging=False)


_RAY_NOTICES: Final = ("ray._private.authentication.authentication_token_setup",)
"""Ray loggers whose warnings are notices: "Token authentication is enabled for this Ray
cluster. Set RAY_AUTH_MODE=disabled to opt out" is logged as a warning each time a
command starts its own in-process Ray, where nothing else can connect anyway."""


def _quiet_ray() -> None:
    """Keep Ray's start-up notices off the terminal; its errors stay visible.

    ``configure_logging=False`` (in :func:`start_ray`) leaves Ray's Python loggers
    without handlers, so only warnings and errors reach stderr (through Python's
    last-resort handler) and the INFO lines ("Connecting to existing Ray cluster",
    "Started a local Ray instance") do not. Of the warnings, the token-authentication
    notice goes.
    """
    for name in _RAY_NOTICES:
        logging.getLogger(name).setLevel(logging.ERROR)


def _join_failure(address: str, exc: BaseException) -> str:
    """The one line that says why joining the cluster at ``address`` failed."""
    chain: list[str] = []
    cause: BaseException | None = exc
    while cause is not None and len(chain) < 5:
        chain.append(str(cause))
        cause = cause.__cause__ or cause.__context__
    if any("InvalidAuthToken" in text or "Authentication token" in text for text in chain):
        mode = os.environ.get("RAY_AUTH_MODE", "unset")
        return (f"cannot join the Ray cluster at {address}: it uses token authentication and "
                f"did not accept this process (RAY_AUTH_MODE is {mode}); set "
                "RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH) to the "
                "cluster's token, which `ray get-auth-token` prints on its head node")
    return f"cannot join the Ray cluster at {address}: {_one_line(exc)}"


def actor_nodes(workers: list[Any]) -> list[Placement]:
    """Where each rollout actor runs, once all have started.

    Raises:
        TrainingError: an actor failed to start (on a cluster, typically a node without
            this version of linkadapt), with the last line of its error.

    """
    import ray

    try:
        return actor_placements(workers)
    except ray.exceptions.RayError as exc:
        lines = [line.strip() for line in _ANSI.sub("", str(exc)).splitlines() if line.strip()]
        last = lines[-1] if lines else type(exc).__name__
        raise TrainingError(f"a Ray rollout actor could not start: {last} (every node of a "
                            "Ray cluster needs this version of linkadapt installed)") from None


_ANSI: Final = re.compile(r"\x1b\[[0-9;]*m")
"""Colour codes in Ray's error texts."""


def _remote_workers(cfg: TeacherConfig, run_seed: int) -> list[Any]:
    import ray

    remote = ray.remote(num_cpus=1)(RolloutWorker)
    return [remote.remote(cfg.rollout, cfg.hidden, run_seed * 1000 + i)
            for i in range(cfg.actors)]


# -- the run ---------------------------------------------------------------------------------

@dataclass
class Progress:
    """Counters of a run (checkpointed)."""

    simulations: float = 0.0
    chunks: int = 0
    transitions: int = 0
    ue_slots: int = 0
    resumes: int = 0
    seconds: float = 0.0


def _weights(net: QNetwork) -> dict[str, npt.NDArray[np.float32]]:
    return {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}


def _save_checkpoint(path: Path, learner: DqnLearner, cfg: TeacherConfig, progress: Progress,
                     rng: np.random.Generator) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"learner": learner.state_dict(), "config": cfg.to_dict(),
                "progress": dataclasses.asdict(progress),
                "rng": rng.bit_generator.state}, tmp)
    os.replace(tmp, path)


_CHECKPOINT_KEYS = ("learner", "config", "progress", "rng")


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read and check a checkpoint.

    Every part a resumed run uses is checked here (the config, the counters, the
    generator state, and that the learner state fits the network the config
    describes), so that a checkpoint of another version fails before anything starts.

    Raises:
        TrainingError: naming the checkpoint and what is wrong with it.

    """
    where = f"checkpoint {str(path)!r}"
    if path.is_dir():
        raise TrainingError(f"{where} is a directory; give the checkpoint.pt file in it")
    if not path.is_file():
        raise TrainingError(f"{where} does not exist")
    try:
        data = torch.load(path, weights_only=False)
    except Exception as exc:  # torch raises several types for corrupt files
        raise TrainingError(f"cannot read {where}: {_one_line(exc)}") from None
    if not isinstance(data, dict):
        raise TrainingError(f"{str(path)!r} is not a linkadapt teacher checkpoint")
    missing = [key for key in _CHECKPOINT_KEYS if key not in data]
    if missing:
        raise TrainingError(f"{str(path)!r} is not a linkadapt teacher checkpoint: it has no "
                            f"{', '.join(map(repr, missing))} entry")
    _check_checkpoint(data, where)
    return data


def _check_checkpoint(data: dict[str, Any], where: str) -> None:
    try:
        cfg = TeacherConfig.from_dict(data["config"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise TrainingError(f"{where} has a config this version cannot use: "
                            f"{_one_line(exc)}") from None
    try:
        Progress(**data["progress"])
    except TypeError as exc:
        raise TrainingError(f"{where} has unusable progress counters: {_one_line(exc)}") from None
    try:
        np.random.default_rng().bit_generator.state = data["rng"]
    except (KeyError, TypeError, ValueError) as exc:
        raise TrainingError(f"{where} has an unusable generator state: "
                            f"{_one_line(exc)}") from None
    try:
        DqnLearner(QNetwork(cfg.hidden), cfg.dqn).load_state_dict(data["learner"])
    except Exception as exc:  # torch raises RuntimeError, KeyError, ValueError...
        raise TrainingError(f"{where}: its learner state does not fit the network of its "
                            f"config (hidden {'x'.join(map(str, cfg.hidden))}): "
                            f"{_one_line(exc)}") from None


def _one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as one line: a KeyError names the missing key, long texts are cut."""
    if isinstance(exc, KeyError) and exc.args:
        return f"no {exc.args[0]!r} field"
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


@dataclass
class TrainResult:
    """The trained network and what the run measured."""

    net: QNetwork
    config: TeacherConfig
    progress: Progress
    history: list[dict[str, float]]
    placements: list[Placement] = field(default_factory=list)
    """The Ray node of each rollout actor (of this invocation, when resumed)."""


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
    from torch.utils.tensorboard import SummaryWriter

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

    import ray

    workers = _remote_workers(cfg, cfg.seed + 7919 * progress.resumes)
    try:
        placements = actor_nodes(workers)
    except TrainingError:
        for w in workers:  # those that started would hold their CPUs for nothing
            ray.kill(w)
        raise
    if state is None:
        samples = ray.get([w.random_observations.remote(cfg.normalization_slots)
                           for w in workers])
        net.set_normalization(np.concatenate(samples))
        learner.target.load_state_dict(net.state_dict())

    replay = ReplayBuffer(cfg.replay_capacity)
    writer = SummaryWriter(str(run_dir / "tensorboard"))
    history: list[dict[str, float]] = []
    weights = ray.put(_weights(net))
    eps = cfg.epsilon(progress.simulations)
    pending = {w.rollout.remote(weights, cfg.chunk_slots, eps): w for w in workers}
    sims_per_chunk = cfg.chunk_slots / cfg.rollout.episode_slots
    started = time.monotonic() - progress.seconds
    loss = float("nan")
    try:
        while progress.simulations < cfg.simulations - 1e-9:
            ready, _ = ray.wait(list(pending), num_returns=1)
            worker = pending.pop(ready[0])
            result: RolloutResult = ray.get(ready[0])
            replay.add(result.transitions)
            progress.chunks += 1
            progress.transitions += len(result.transitions)
            progress.ue_slots += result.stats.ue_slots
            progress.simulations += sims_per_chunk
            if len(replay) >= min(cfg.learning_starts, cfg.replay_capacity):
                steps = round(cfg.replay_ratio * len(result.transitions) / cfg.dqn.batch_size)
                for _ in range(steps):
                    batch = replay.sample(rng, cfg.dqn.batch_size)
                    loss = learner.update(batch)
                    if on_update is not None:
                        on_update(learner, batch)
            eps = cfg.epsilon(progress.simulations)
            weights = ray.put(_weights(net))
            if progress.simulations < cfg.simulations - 1e-9:
                pending[worker.rollout.remote(weights, cfg.chunk_slots, eps)] = worker
            progress.seconds = time.monotonic() - started
            metrics = _metrics(result, loss, eps, progress, learner.updates)
            history.append(metrics)
            for key, value in metrics.items():
                writer.add_scalar(key, value, progress.chunks)
            if on_chunk is not None:
                on_chunk(metrics)
            if progress.chunks % cfg.checkpoint_every == 0:
                _save_checkpoint(run_dir / "checkpoint.pt", learner, cfg, progress, rng)
    finally:
        for w in workers:  # also drops any chunk still in flight
            ray.kill(w)
        writer.close()
    _save_checkpoint(run_dir / "checkpoint.pt", learner, cfg, progress, rng)
    return TrainResult(net, cfg, progress, history, placements)


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
