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
from training.distill.student import StudentConfig
from training.dqn import DqnLearner, valid_actions
from training.networks import QNetwork, student_network
from training.replay import Batch


@dataclass
class RealtimeResult:
    """Both networks of a real-time run, and its wall time."""

    teacher: teacher_training.TrainResult
    student: QNetwork
    student_updates: int
    seconds: float


class RealtimeStudent:
    """The ``on_update`` hook: one student step per teacher step."""

    def __init__(self, cfg: StudentConfig, expected_updates: int) -> None:
        torch.manual_seed(cfg.seed)
        self.cfg = cfg
        self.net = student_network(cfg.size)
        self.loss = loss_function(cfg.loss)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=cfg.learning_rate)
        self.expected = max(expected_updates, 1)
        self.updates = 0
        self.last_loss = float("nan")

    def __call__(self, learner: DqnLearner, batch: Batch) -> None:
        """Distill the learner's current Q-values on ``batch.obs`` into the student."""
        if self.updates == 0:  # the teacher's normalization is fixed before its first update
            self.net.obs_mean.copy_(learner.online.obs_mean)
            self.net.obs_std.copy_(learner.online.obs_std)
        progress = min(self.updates / self.expected, 1.0)
        for group in self.optimizer.param_groups:
            group["lr"] = self.cfg.learning_rate * (0.02 + 0.98 * 0.5 * (1 + math.cos(
                math.pi * progress)))
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


def expected_updates(cfg: teacher_training.TeacherConfig) -> int:
    """Rough number of teacher gradient steps of a run (for the student's schedule)."""
    decisions_per_ue_slot = 0.6  # measured on the quick teacher run: 0.604
    transitions = cfg.simulations * cfg.rollout.ues * cfg.rollout.episode_slots \
        * decisions_per_ue_slot
    learning = max(transitions - cfg.learning_starts, 0)
    return int(cfg.replay_ratio * learning / cfg.dqn.batch_size)


def train_realtime(cfg: teacher_training.TeacherConfig, student: StudentConfig,
                   run_dir: Path,
                   on_chunk: Callable[[dict[str, float]], None] | None = None) -> RealtimeResult:
    """Train a teacher with ``cfg`` and a student alongside it; return both."""
    started = time.monotonic()
    hook = RealtimeStudent(student, expected_updates(cfg))
    result = teacher_training.train(cfg, run_dir, on_chunk=on_chunk, on_update=hook)
    hook.net.eval()
    return RealtimeResult(teacher=result, student=hook.net, student_updates=hook.updates,
                          seconds=time.monotonic() - started)
