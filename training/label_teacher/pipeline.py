"""``train-label-teacher``: collect, fit, calibrate, repeat; export the ONNX teacher.

Round 0 collects under the non-learned baselines; every later round collects
under the previous round's network (so the reports show the HARQ history that the
network itself produces, as DAgger does), adds the samples to the earlier ones and
fits again from the current weights. After each fit the error prices are
calibrated (:mod:`training.label_teacher.calibrate`). The run directory gets
``teacher.onnx`` with its model card, ``summary.json`` and ``config.json``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import pydantic
import torch
from torch import nn

from linkadapt.config import CONFIG, command_line
from training.export import export_onnx, write_file
from training.label_teacher import calibrate as calibration
from training.label_teacher.collect import (
    Collector,
    Episode,
    Samples,
    episode_seed,
    numpy_state,
)
from training.label_teacher.network import LABEL_HIDDEN, LabelNetwork
from training.options import seed_problem
from training.sim.config import SCENARIOS, TRAINED_TARGET_BLER
from training.teacher_config import TrainingError

GOODPUT_WEIGHT: Final = 20.0
"""Weight of the goodput head's squared error beside the error head's cross-entropy:
both then move the loss by similar amounts near the decision."""
VALIDATION_SHARE: Final = 0.05


@dataclass(frozen=True)
class Round:
    """One round: what to collect and how long to fit."""

    episodes: int
    ues: int
    slots: int
    epsilon: float
    epochs: int
    keep: float = 0.5


@dataclass(frozen=True)
class Profile:
    """A run size."""

    rounds: tuple[Round, ...]
    hidden: tuple[int, ...]
    calibration_ues: int
    calibration_slots: int
    actors: int
    batch: int = 4096
    learning_rate: float = 2e-3


PROFILES: Final[dict[str, Profile]] = {
    "smoke": Profile(rounds=(Round(2, 64, 80, 0.15, 1), Round(1, 64, 80, 0.1, 1)),
                     hidden=(32, 32), calibration_ues=120, calibration_slots=200, actors=1),
    "quick": Profile(rounds=(Round(48, 1024, 400, 0.15, 3), Round(24, 1024, 400, 0.1, 2)),
                     hidden=LABEL_HIDDEN, calibration_ues=3072, calibration_slots=1500, actors=2),
    "long": Profile(rounds=(Round(96, 1024, 400, 0.15, 4), Round(48, 1024, 400, 0.1, 3),
                            Round(48, 1024, 400, 0.05, 3)),
                    hidden=LABEL_HIDDEN, calibration_ues=6144, calibration_slots=2000, actors=2),
}


ProfileName = Literal["smoke", "quick", "long"]


@pydantic.dataclasses.dataclass(frozen=True, config=CONFIG)
class LabelTeacherConfig:
    """Every option of a run; :meth:`command` reproduces it."""

    profile: ProfileName = "quick"
    """run size"""
    scenario: str = "random"
    """train on one benchmark scenario (its UEs still draw their targets) instead of
    domain randomization"""
    seed: int = 0
    """random seed"""
    actors: int | None = None
    """Ray collection actors (default: the profile's)"""
    out: Path | None = None
    """run directory (default: runs/label-teacher-PROFILE-SCENARIO)"""
    model_version: str | None = None
    """version in the model card (default: PROFILE-sSEED)"""
    goodput: Literal["learned", "exact"] = "learned"
    """how the network gets an MCS's expected goodput: a head of its own ('learned') or
    the transport block's bits (TS 38.214, from the report's PRBs, rank, table and
    buffer) times the error head's chance of decoding ('exact')"""
    ray_address: str | None = None
    """HOST:PORT of a Ray cluster to join instead of starting Ray locally"""
    overwrite: bool = False
    """replace the run that --out already holds"""

    def check(self) -> None:
        """TrainingError naming the first bad option."""
        if self.profile not in PROFILES:
            raise TrainingError(f"--profile must be one of {', '.join(PROFILES)}, "
                                f"got {self.profile!r}")
        if self.scenario != "random" and self.scenario not in SCENARIOS:
            raise TrainingError(f"--scenario must be 'random' or one of {', '.join(SCENARIOS)}, "
                                f"got {self.scenario!r}")
        if problem := seed_problem(self.seed):
            raise TrainingError(problem)
        if self.actors is not None and self.actors < 1:
            raise TrainingError(f"--actors must be >= 1, got {self.actors}")
        out = self.run_dir
        if not self.overwrite and (out / "teacher.onnx").exists():
            raise TrainingError(f"--out {str(out)!r} already holds a run (teacher.onnx); "
                                "give --overwrite to replace it")

    @property
    def spec(self) -> Profile:
        """The profile's sizes."""
        return PROFILES[self.profile]

    @property
    def run_dir(self) -> Path:
        """The run directory."""
        return self.out or Path(f"runs/label-teacher-{self.profile}-{self.scenario}")

    @property
    def model_id(self) -> str:
        """The model card's id."""
        return f"teacher-labels-{self.scenario}"

    @property
    def version(self) -> str:
        """The model card's version."""
        return self.model_version or f"{self.profile}-s{self.seed}"

    def command(self) -> str:
        """The command line that reproduces this run."""
        return command_line(["linkadapt", "train-label-teacher"], replace(self, out=self.run_dir),
                            always=("profile", "seed", "out"), exclude=("ray_address", "overwrite"))


def fit(net: LabelNetwork, data: Samples, epochs: int, batch: int, learning_rate: float,
        seed: int, log: Callable[[str], None]) -> list[dict[str, float]]:
    """Fit both heads to ``data``; return the train and validation loss of each epoch."""
    gen = torch.Generator().manual_seed(seed)
    n = len(data)
    order = torch.randperm(n, generator=gen)
    held = order[: max(1, int(n * VALIDATION_SHARE))]
    train = order[held.numel():]
    obs, goodput, error = (torch.from_numpy(a) for a in (data.obs, data.goodput, data.error))
    valid = torch.from_numpy(data.valid)  # as booleans: a float copy would be 4x their size
    steps = max(1, train.numel() // batch)
    opt = torch.optim.Adam(net.parameters(), lr=learning_rate)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, learning_rate, total_steps=epochs * steps)
    bce = nn.BCELoss(reduction="none")

    def loss_of(idx: torch.Tensor) -> torch.Tensor:
        g, e = net.heads(obs[idx])
        mask = valid[idx].to(torch.float32)
        per = GOODPUT_WEIGHT * (g - goodput[idx]) ** 2 + bce(e, error[idx])
        return (per * mask).sum() / mask.sum().clamp(min=1.0)

    history = []
    for epoch in range(epochs):
        net.train()
        perm = train[torch.randperm(train.numel(), generator=gen)]
        total, started = 0.0, time.monotonic()
        for i in range(steps):
            loss = loss_of(perm[i * batch : (i + 1) * batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
        net.eval()
        with torch.no_grad():
            held_loss = float(np.mean([float(loss_of(c)) for c in held.split(65536)]))
        history.append({"train_loss": round(total / steps, 5),
                        "validation_loss": round(held_loss, 5)})
        log(f"  epoch {epoch + 1}/{epochs}: loss {total / steps:.4f}, held-out {held_loss:.4f} "
            f"({time.monotonic() - started:.0f} s)")
    return history


def _append(columns: dict[str, npt.NDArray[Any]], fresh: Samples) -> None:
    """Add ``fresh`` to ``columns`` (the samples so far, by field), one field at a time.

    Each field's old array is released as soon as its longer copy exists, so the
    memory a round needs beyond its samples is one field's, not all of them (the
    `long` profile's last round holds 23 M samples, 10 GB).
    """
    for name in Samples._fields:
        part = getattr(fresh, name)
        columns[name] = np.concatenate([columns[name], part]) if name in columns else part


def _collect(workers: list[Any], cfg: LabelTeacherConfig, index: int, spec: Round,
             net: LabelNetwork | None) -> Samples:
    import ray

    state = None if net is None else ray.put(numpy_state(net))
    episode = Episode(spec.ues, spec.slots, spec.epsilon, spec.keep, cfg.scenario)
    jobs = []
    for e in range(spec.episodes):
        seq = episode_seed(cfg.seed, index, e)
        jobs.append(workers[e % len(workers)].episode.remote(
            seq.entropy, tuple(seq.spawn_key), episode, state))
    return Samples.join(ray.get(jobs))


def train_label_teacher(cfg: LabelTeacherConfig,
                        log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run ``cfg``: every check first, then the rounds, calibration and export."""
    cfg.check()
    import ray

    from training.ray_setup import actor_nodes, start_ray

    spec = cfg.spec
    actors = cfg.actors or spec.actors
    torch.manual_seed(cfg.seed)
    start_ray(cfg.ray_address, actors)
    started = time.monotonic()
    remote = ray.remote(num_cpus=1)(Collector)
    workers: list[Any] = [remote.remote(spec.hidden) for _ in range(actors)]
    placements = actor_nodes(workers)
    net = LabelNetwork(spec.hidden, exact_bits=cfg.goodput == "exact")
    net.set_prices(calibration.CALIBRATION_TARGETS,
                   calibration.initial_prices(calibration.CALIBRATION_TARGETS))
    data: Samples | None = None
    columns: dict[str, npt.NDArray[Any]] = {}
    rounds: list[dict[str, Any]] = []
    try:
        for index, round_spec in enumerate(spec.rounds):
            t0 = time.monotonic()
            fresh = _collect(workers, cfg, index, round_spec, None if index == 0 else net)
            new = len(fresh)
            data = None  # the columns alone hold the samples while they grow
            _append(columns, fresh)
            del fresh
            data = Samples(**columns)
            log(f"round {index + 1}/{len(spec.rounds)}: {new:,} new samples, "
                f"{len(data):,} in all ({time.monotonic() - t0:.0f} s)")
            if index == 0:
                net.set_normalization(data.obs)
            losses = fit(net, data, round_spec.epochs, spec.batch, spec.learning_rate,
                         cfg.seed + index, log)
            cal = calibration.calibrate(net, cfg.seed * 100 + index, spec.calibration_ues,
                                        spec.calibration_slots, scenario=cfg.scenario)
            log(f"  prices {cal['prices']} -> BLER {cal['bler']} at {cal['targets']}")
            rounds.append({**asdict(round_spec), "samples": new, "losses": losses,
                           "calibration": cal})
    finally:
        for w in workers:
            ray.kill(w)
    out = cfg.run_dir
    summary = {"profile": cfg.profile, "scenario": cfg.scenario, "seed": cfg.seed, "actors": actors,
               "goodput": cfg.goodput,
               "hidden": list(spec.hidden), "samples": 0 if data is None else len(data),
               "rounds": rounds, "seconds": round(time.monotonic() - started, 1),
               "ray_nodes": placements, "command": cfg.command()}
    card = {"model_id": cfg.model_id, "version": cfg.version, "kind": "teacher",
            "target_bler_range": list(TRAINED_TARGET_BLER),
            "training": {"algorithm": "supervised on full-information labels (expected "
                         "goodput and error probability of every MCS on the true channel), "
                         "DAgger rounds, error price per BLER target calibrated",
                         **{k: v for k, v in summary.items() if k != "ray_nodes"}}}
    export_onnx(net, out / "teacher.onnx", card)
    write_file(out / "summary.json", json.dumps(summary, indent=2).encode())
    write_file(out / "config.json", json.dumps(
        {"profile": cfg.profile, "seed": cfg.seed, "actors": actors,
         "model_version": cfg.version}, indent=2).encode())
    torch.save({"state": net.state_dict(), "hidden": list(spec.hidden)}, out / "network.pt")
    return summary
