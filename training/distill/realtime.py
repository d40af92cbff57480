"""Real-time policy distillation (arXiv 1912.12630): the student learns while the teacher does.

The teacher's DQN run (:func:`training.teacher.train`) calls back after every
gradient step with the learner and the minibatch it just learned from; the
student takes one step of the distillation loss on the same states, against the
online network's *latest* Q-values: those the learner has just computed on them
for its own step (reusing them spares a teacher forward pass per step). One run
yields both models, and no separate collection or distillation phase follows it.

Early in the run the teacher is still poor, so the student's targets move; the
student's learning rate follows a cosine decay over the run's expected gradient
steps (down to 2%), so that it settles on the teacher of the run's last stretch.
That teacher still moves, so the run ends with a short polish: the states of the
last ``polish_states`` minibatch rows (kept as the student learns from them, so
no new simulation is needed) are labelled once by the final teacher, and the
student takes ``polish_epochs`` passes over them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from training import teacher as teacher_training
from training.distill.losses import loss_function
from training.distill.student import StudentConfig, cosine_decay
from training.dqn import DqnLearner, valid_actions
from training.networks import QNetwork, student_network
from training.replay import Batch
from xapp.features import NUM_FEATURES


@dataclass
class RealtimeResult:
    """Both networks of a real-time run, and its wall time."""

    teacher: teacher_training.TrainResult
    student: QNetwork
    student_updates: int
    seconds: float
    polish_states: int = 0
    """States the final teacher labelled for the polish (0: no polish)."""


class RealtimeStudent:
    """The ``on_update`` hook: one student step per teacher step."""

    def __init__(self, cfg: StudentConfig, expected_updates: int,
                 keep_states: int = 0) -> None:
        torch.manual_seed(cfg.seed)
        self.cfg = cfg
        self.net = student_network(cfg.size)
        self.loss = loss_function(cfg.loss)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=cfg.learning_rate)
        self.expected = max(expected_updates, 1)
        self.updates = 0
        self.last_loss = float("nan")
        self._kept = torch.empty(max(keep_states, 0), NUM_FEATURES)
        self._next = 0  # ring position
        self._filled = 0

    def __call__(self, learner: DqnLearner, batch: Batch) -> None:
        """Distill the learner's current Q-values on ``batch.obs`` into the student."""
        if self.updates == 0:  # the teacher's normalization is fixed before its first update
            self.net.obs_mean.copy_(learner.online.obs_mean)
            self.net.obs_std.copy_(learner.online.obs_std)
        for group in self.optimizer.param_groups:
            group["lr"] = self.cfg.learning_rate * cosine_decay(self.updates / self.expected)
        target = learner.last_q_values
        if target is None:
            raise RuntimeError("the learner has not computed Q-values on a batch yet")
        mask = valid_actions(batch.obs)
        loss = self.loss(self.net(batch.obs), target, mask, self.cfg.tau)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.updates += 1
        self.last_loss = float(loss.detach())
        self._keep(batch.obs)

    def _keep(self, obs: torch.Tensor) -> None:
        capacity = len(self._kept)
        if capacity == 0:
            return
        obs = obs[-capacity:]
        first = min(len(obs), capacity - self._next)
        self._kept[self._next:self._next + first] = obs[:first]
        self._kept[:len(obs) - first] = obs[first:]
        self._next = (self._next + len(obs)) % capacity
        self._filled = min(self._filled + len(obs), capacity)

    def kept_states(self) -> torch.Tensor:
        """The most recent minibatch states kept for the polish (order not meaningful)."""
        return self._kept[:self._filled]

    def polish(self, teacher: QNetwork, epochs: int, chunk: int = 65_536) -> int:
        """Label the kept states with ``teacher`` once; train ``epochs`` passes over them.

        Returns the number of states used.
        """
        obs = self.kept_states()
        if epochs < 1 or len(obs) == 0:
            return 0
        with torch.no_grad():
            q_t = torch.cat([teacher(obs[i:i + chunk]) for i in range(0, len(obs), chunk)])
        mask = valid_actions(obs)
        steps = epochs * math.ceil(len(obs) / self.cfg.batch_size)
        generator = torch.Generator().manual_seed(self.cfg.seed)
        self.net.train()
        step = 0
        for _ in range(epochs):
            order = torch.randperm(len(obs), generator=generator)
            for start in range(0, len(obs), self.cfg.batch_size):
                rows = order[start:start + self.cfg.batch_size]
                for group in self.optimizer.param_groups:
                    group["lr"] = self.cfg.learning_rate * cosine_decay(step / steps)
                loss = self.loss(self.net(obs[rows]), q_t[rows], mask[rows], self.cfg.tau)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                step += 1
        return len(obs)


def expected_updates(cfg: teacher_training.TeacherConfig) -> int:
    """Rough number of teacher gradient steps of a run (for the student's schedule)."""
    decisions_per_ue_slot = 0.6  # measured on the quick teacher run: 0.604
    transitions = cfg.simulations * cfg.rollout.ues * cfg.rollout.episode_slots \
        * decisions_per_ue_slot
    learning = max(transitions - cfg.learning_starts, 0)
    return int(cfg.replay_ratio * learning / cfg.dqn.batch_size)


def train_realtime(cfg: teacher_training.TeacherConfig, student: StudentConfig,
                   run_dir: Path,
                   on_chunk: Callable[[dict[str, float]], None] | None = None,
                   polish_epochs: int = 0, polish_states: int = 1_000_000,
                   ray_address: str | None = None) -> RealtimeResult:
    """Train a teacher with ``cfg`` and a student alongside it; return both.

    With ``polish_epochs`` > 0 the student ends with that many passes over the last
    ``polish_states`` minibatch states, labelled by the final teacher. ``ray_address``:
    the Ray cluster of the teacher's rollout actors (None: in-process Ray).
    """
    started = time.monotonic()
    hook = RealtimeStudent(student, expected_updates(cfg),
                           keep_states=polish_states if polish_epochs > 0 else 0)
    result = teacher_training.train(cfg, run_dir, ray_address=ray_address, on_chunk=on_chunk,
                                    on_update=hook)
    result.net.eval()
    polished = hook.polish(result.net, polish_epochs)
    hook.net.eval()
    return RealtimeResult(teacher=result, student=hook.net, student_updates=hook.updates,
                          seconds=time.monotonic() - started, polish_states=polished)
