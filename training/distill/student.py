"""Fit a student network to a distillation dataset.

Adam over shuffled minibatches for a number of epochs, with a cosine learning-rate
decay; a held-out share of the dataset measures after every epoch how often the
student picks the teacher's MCS (*agreement*) and how much teacher Q-value its
choices give away (*regret*, in reward units). TensorBoard scalars under
``distill/`` and ``validation/``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import torch

from training.distill.dataset import Dataset
from training.distill.losses import loss_function, relative_temperature
from training.dqn import valid_actions
from training.networks import QNetwork, student_network
from xapp.features import FEATURE_NAMES


@dataclass(frozen=True)
class StudentConfig:
    """How a student is trained."""

    size: str = "3x32"
    """Student size: ``4x64``, ``4x32`` or ``3x32`` hidden units."""
    loss: str = "kl"
    """Distillation loss: ``kl``, ``nll`` or ``mse``."""
    tau: float = 0.01
    """Teacher softmax temperature of the KL loss (small: sharp teacher)."""
    tau_reference: float | None = None
    """With a score: the temperature of a state shrinks with the teacher's best score in it
    below this one (:func:`training.distill.losses.relative_temperature`); ``None``: ``tau``
    in every state."""
    epochs: int = 30
    """Passes over the training split."""
    batch_size: int = 1024
    """Samples per gradient step."""
    learning_rate: float = 3e-3
    """Adam step size at the start (cosine decay to 2% of it)."""
    validation_fraction: float = 0.05
    """Share of the dataset held out for agreement and regret."""
    seed: int = 0
    """Seed of the initialization and the shuffling."""
    threads: int = 1
    """Torch threads (a network this small gains nothing from more; they contend for cores)."""
    finite_buffer_share: float | None = None
    """Share of finite-traffic states (:func:`finite_buffer_rows`) in every epoch: the rows
    of the rarer kind are repeated to reach it; ``None``: the dataset's own share."""

    def __post_init__(self) -> None:
        student_network(self.size)  # unknown size -> ValueError
        loss_function(self.loss)  # unknown loss -> ValueError
        if not (self.tau > 0 and math.isfinite(self.tau)):
            raise ValueError(f"--tau must be a positive number, got {self.tau}")
        if self.tau_reference is not None and not (
                self.tau_reference > 0 and math.isfinite(self.tau_reference)):
            raise ValueError(f"--tau-reference must be a positive number, got "
                             f"{self.tau_reference}")
        if self.tau_reference is not None and self.loss != "kl":
            raise ValueError(f"--loss {self.loss} has no temperature (that is the KL loss's); "
                             "drop --tau-reference")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ValueError(f"--learning-rate must be a positive number, got "
                             f"{self.learning_rate}")
        if self.seed < 0:
            raise ValueError(f"--seed must be >= 0, got {self.seed}")
        if self.epochs < 1 or self.batch_size < 1 or self.threads < 1:
            raise ValueError("epochs, batch_size and threads must be >= 1")
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError("validation_fraction must be in (0, 1)")
        share = self.finite_buffer_share
        if share is not None and not 0.0 < share < 1.0:
            raise ValueError(f"--finite-buffer-share must be between 0 and 1 (exclusive), "
                             f"got {share}")


@dataclass
class StudentResult:
    """A trained student and its validation figures."""

    net: QNetwork
    config: StudentConfig
    agreement: float
    """Share of held-out states where the student picks the teacher's MCS."""
    regret: float
    """Mean teacher Q-value lost by the student's choices on held-out states."""
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {"size": self.config.size, "parameters": self.net.parameter_count(),
                "size_kbit": self.net.size_kbit(), "agreement": self.agreement,
                "regret": self.regret, "seconds": round(self.seconds, 1),
                "config": asdict(self.config)}


FULL_BUFFER_LOG10: Final = 8.9
"""``log_buffer`` at or above which a state is a full-buffer UE's: the simulator reports
their backlog as 1e9 bytes (9.0), every finite-traffic buffer far below it."""
_LOG_BUFFER: Final = FEATURE_NAMES.index("log_buffer")


def finite_buffer_rows(obs: npt.NDArray[np.float32]) -> npt.NDArray[np.bool_]:
    """Which states are of UEs with finite traffic (a reported buffer below the full one)."""
    return np.asarray(obs[:, _LOG_BUFFER] < FULL_BUFFER_LOG10)


def balanced_rows(rows: npt.NDArray[np.int64], finite: npt.NDArray[np.bool_],
                  share: float | None, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """One epoch's rows in random order: ``rows``, the rarer kind repeated to make ``share``.

    ``finite`` marks the finite-traffic rows of the whole dataset. A kind repeated
    ``k`` times (``k`` not whole: each row once more with probability ``k - floor(k)``)
    makes finite-traffic rows ``share`` of the epoch in expectation. ``None``, or rows
    of one kind only: ``rows`` as they are.
    """
    boost, k = _repeated_kind(rows, finite, share)
    if k == 1.0:
        return rows[rng.permutation(len(rows))]
    whole = int(k)
    extra = boost[rng.random(len(boost)) < k - whole]
    out = np.concatenate([rows, np.tile(boost, whole - 1), extra])
    return out[rng.permutation(len(out))]


def balanced_length(rows: npt.NDArray[np.int64], finite: npt.NDArray[np.bool_],
                    share: float | None) -> int:
    """The expected number of rows :func:`balanced_rows` gives."""
    boost, k = _repeated_kind(rows, finite, share)
    return len(rows) + round((k - 1.0) * len(boost))


def _repeated_kind(rows: npt.NDArray[np.int64], finite: npt.NDArray[np.bool_],
                   share: float | None) -> tuple[npt.NDArray[np.int64], float]:
    """The rows of the kind to repeat and how many times each counts (1.0: none)."""
    is_finite = finite[rows]
    have = float(is_finite.mean()) if len(rows) else 0.0
    if share is None or have in (0.0, 1.0):
        return rows[:0], 1.0
    if share >= have:
        return rows[is_finite], share * (1 - have) / (have * (1 - share))
    return rows[~is_finite], (1 - share) * have / ((1 - have) * share)


def agreement_and_regret(net: QNetwork, obs: npt.NDArray[np.float32],
                         teacher_q: npt.NDArray[np.float32],
                         batch: int = 65536) -> tuple[float, float]:
    """Action agreement with the teacher and the teacher-Q regret of ``net`` on ``obs``."""
    agree, regret = 0.0, 0.0
    with torch.no_grad():
        for start in range(0, len(obs), batch):
            o = torch.from_numpy(obs[start:start + batch])
            q_t = torch.from_numpy(teacher_q[start:start + batch])
            mask = valid_actions(o)
            a_s = net(o).masked_fill(~mask, -math.inf).argmax(1)
            best = q_t.masked_fill(~mask, -math.inf)
            a_t = best.argmax(1)
            agree += float((a_s == a_t).sum())
            regret += float((best.max(1).values - q_t.gather(1, a_s[:, None])[:, 0]).sum())
    n = max(len(obs), 1)
    return agree / n, regret / n


def cosine_decay(progress: float) -> float:
    """Learning-rate factor at ``progress`` (0..1, clipped) of a run: cosine from 1 down to 0.02."""
    return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(progress, 1)))


def new_student(size: str, teacher: QNetwork | None, data: Dataset,
                rows: npt.NDArray[np.int64] | None = None) -> QNetwork:
    """A fresh student taking the teacher's input normalization (or the data's, without one).

    A label teacher normalizes only the columns its heads read: its students take the
    data's, measured on up to 200,000 of ``rows`` (default: the dataset's first).
    """
    net = student_network(size)
    if teacher is not None and teacher.obs_mean.shape == net.obs_mean.shape:
        net.obs_mean.copy_(teacher.obs_mean)
        net.obs_std.copy_(teacher.obs_std)
    else:
        net.set_normalization(data.obs[: 200_000] if rows is None else data.obs[rows[:200_000]])
    return net


def train_student(data: Dataset, cfg: StudentConfig, teacher: QNetwork | None = None,
                  log_dir: Path | None = None,
                  on_epoch: Callable[[dict[str, float]], None] | None = None,
                  net: QNetwork | None = None) -> StudentResult:
    """Train a ``cfg.size`` student on ``data``.

    Args:
        data: states with teacher Q-values (already shuffled or not: split at random here).
        cfg: training settings.
        teacher: the teacher network whose normalization the student copies (single
            teacher); ``None`` measures it on the data (several teachers).
        log_dir: TensorBoard directory (``None``: no logs).
        on_epoch: called after every epoch with its metrics (progress bars).
        net: a network (with its normalization set) to train instead of a fresh
            ``cfg.size`` student (experiments with other architectures).

    """
    started = time.monotonic()
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    order = rng.permutation(len(data))
    n_val = max(1, round(cfg.validation_fraction * len(data)))
    val, train = order[:n_val], order[n_val:]
    if len(train) == 0:
        raise ValueError("dataset too small: nothing left to train on after the validation split")
    if net is None:
        # normalized over what it trains on: the balanced rows where they are balanced
        sample = None if cfg.finite_buffer_share is None else balanced_rows(
            train, finite_buffer_rows(data.obs), cfg.finite_buffer_share,
            np.random.default_rng(cfg.seed))
        net = new_student(cfg.size, teacher, data, sample)
    writer = None
    if log_dir is not None:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(log_dir))
    try:
        history = _fit(net, data, train, val, cfg, rng,
                       lambda metrics: _publish(metrics, writer, on_epoch))
    finally:
        if writer is not None:
            writer.close()
    net.eval()
    last = history[-1]
    return StudentResult(net=net, config=cfg, agreement=last["validation/agreement"],
                         regret=last["validation/regret"],
                         seconds=time.monotonic() - started, history=history)


def _fit(net: QNetwork, data: Dataset, train: npt.NDArray[np.int64],
         val: npt.NDArray[np.int64], cfg: StudentConfig, rng: np.random.Generator,
         publish: Callable[[dict[str, float]], None]) -> list[dict[str, float]]:
    """Run ``cfg.epochs`` epochs of Adam over ``train``; the metrics of every epoch, in order."""
    obs = torch.from_numpy(data.obs)
    q_t = torch.from_numpy(data.q)
    mask = valid_actions(obs)
    val_obs, val_q = data.obs[val], data.q[val]
    loss_fn = loss_function(cfg.loss)
    finite = finite_buffer_rows(data.obs)
    # the epoch's length varies by a few rows where a kind is repeated a fractional time
    steps_per_epoch = math.ceil(balanced_length(train, finite, cfg.finite_buffer_share)
                                / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: cosine_decay(step / total))
    history: list[dict[str, float]] = []
    for epoch in range(cfg.epochs):
        net.train()
        perm = torch.from_numpy(balanced_rows(train, finite, cfg.finite_buffer_share, rng))
        running = 0.0
        for start in range(0, len(perm), cfg.batch_size):
            idx = perm[start:start + cfg.batch_size]
            tau: float | torch.Tensor = cfg.tau
            if cfg.tau_reference is not None:
                tau = relative_temperature(q_t[idx], mask[idx], cfg.tau, cfg.tau_reference)
            loss = loss_fn(net(obs[idx]), q_t[idx], mask[idx], tau)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            running += float(loss.detach())
        net.eval()
        agreement, regret = agreement_and_regret(net, val_obs, val_q)
        metrics = {"epoch": float(epoch + 1),
                   "distill/loss": running / math.ceil(len(perm) / cfg.batch_size),
                   "distill/learning_rate": float(schedule.get_last_lr()[0]),
                   "validation/agreement": agreement, "validation/regret": regret}
        history.append(metrics)
        publish(metrics)
    return history


def _publish(metrics: dict[str, float], writer: Any,
             on_epoch: Callable[[dict[str, float]], None] | None) -> None:
    """Hand one epoch's metrics to TensorBoard (``writer``, if any) and to ``on_epoch``."""
    if writer is not None:
        for key, value in metrics.items():
            writer.add_scalar(key, value, int(metrics["epoch"]))
    if on_epoch is not None:
        on_epoch(metrics)
