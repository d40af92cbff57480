"""Teacher checkpoints: the run's counters and the checks a resumed run relies on.

A checkpoint (``checkpoint.pt``) holds the learner state, the run's configuration,
its :class:`Progress` and the state of its random generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import torch

from training.dqn import DqnLearner
from training.networks import QNetwork
from training.teacher_config import TeacherConfig, TrainingError, one_line


@dataclass
class Progress:
    """Counters of a run (checkpointed)."""

    simulations: float = 0.0
    chunks: int = 0
    transitions: int = 0
    ue_slots: int = 0
    resumes: int = 0
    seconds: float = 0.0


_CHECKPOINT_KEYS: Final = ("learner", "config", "progress", "rng")


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
        raise TrainingError(f"cannot read {where}: {one_line(exc)}") from None
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
                            f"{one_line(exc)}") from None
    try:
        Progress(**data["progress"])
    except TypeError as exc:
        raise TrainingError(f"{where} has unusable progress counters: {one_line(exc)}") from None
    try:
        np.random.default_rng().bit_generator.state = data["rng"]
    except (KeyError, TypeError, ValueError) as exc:
        raise TrainingError(f"{where} has an unusable generator state: "
                            f"{one_line(exc)}") from None
    try:
        DqnLearner(QNetwork(cfg.hidden), cfg.dqn).load_state_dict(data["learner"])
    except Exception as exc:  # torch raises RuntimeError, KeyError, ValueError...
        raise TrainingError(f"{where}: its learner state does not fit the network of its "
                            f"config (hidden {'x'.join(map(str, cfg.hidden))}): "
                            f"{one_line(exc)}") from None
