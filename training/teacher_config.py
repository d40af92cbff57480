"""What defines a teacher run: :class:`TeacherConfig`, its profiles and its error type.

The configuration is saved as ``config.json`` beside the run and in its checkpoints;
the ``linkadapt train-teacher`` command that trains it again, which the teacher's model
card records, is :meth:`training.teacher_run.TrainTeacherConfig.of_run`'s.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Final

from training.dqn import DqnConfig
from training.networks import TEACHER_HIDDEN
from training.rollout import RolloutConfig
from training.sim import config as sim_config


class TrainingError(RuntimeError):
    """A run cannot start or continue; the message says why."""


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as one line: a KeyError names the missing key, long texts are cut."""
    if isinstance(exc, KeyError) and exc.args:
        return f"no {exc.args[0]!r} field"
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


DQN_TARGET_BLER: Final = (0.1, 0.1)
"""The BLER targets a DQN-trained network serves: its learning reward (its floor and
ceiling) is built around 10%, and it does not read the report's target, so its card
claims 10% alone and the service refuses reports asking it for another."""

REWARD_FLAGS: Final = ("harq_credit", "bler_floor", "floor_credit", "nack_penalty",
                       "nack_cost", "bler_ceiling", "ceiling_cost")
"""Options that set the learning reward (fields of :class:`~training.rollout.RolloutConfig`
and of :class:`~training.teacher_run.TrainTeacherConfig`); every teacher card's command
gives them all."""


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
