"""Q-networks: MLPs over the feature vector with the input normalization built in.

The normalization (per-feature mean and standard deviation measured on
simulator observations) is part of the module's buffers, so the exported ONNX
graph takes the raw feature vector of :func:`xapp.features.observe` and the
service never has to know the statistics.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Protocol, cast

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from xapp.features import NUM_FEATURES
from xapp.nr_tables import NUM_ACTIONS

TEACHER_HIDDEN: Final = (128,) * 7
"""The teacher: 7 hidden layers of 128 units, 108,445 parameters (the paper's ~105k)."""
STUDENT_HIDDEN: Final[dict[str, tuple[int, ...]]] = {
    "4x64": (64,) * 4,
    "4x32": (32,) * 4,
    "3x32": (32,) * 3,
}
_MIN_STD: Final = 1e-3


class ExportableNetwork(Protocol):
    """What export needs of a network: a torch module with its layer widths and size."""

    hidden: tuple[int, ...]

    def __call__(self, observation: torch.Tensor) -> torch.Tensor: ...  # noqa: D102
    def parameter_count(self) -> int: ...  # noqa: D102
    def size_kbit(self, bits_per_parameter: int = 32) -> float: ...  # noqa: D102
    def cpu(self) -> nn.Module: ...  # noqa: D102


class QNetwork(nn.Module):
    """``observation (batch, 44) -> q_values (batch, 29)``: normalize, then an MLP with ReLUs."""

    obs_mean: torch.Tensor
    obs_std: torch.Tensor

    def __init__(self, hidden: Sequence[int], mean: npt.ArrayLike | None = None,
                 std: npt.ArrayLike | None = None) -> None:
        super().__init__()
        if not hidden or any(h < 1 for h in hidden):
            raise ValueError(f"hidden layer widths must be positive, got {list(hidden)}")
        self.hidden = tuple(int(h) for h in hidden)
        mean_t = torch.zeros(NUM_FEATURES) if mean is None else torch.as_tensor(
            np.asarray(mean, dtype=np.float32))
        std_t = torch.ones(NUM_FEATURES) if std is None else torch.as_tensor(
            np.maximum(np.asarray(std, dtype=np.float32), _MIN_STD))
        self.register_buffer("obs_mean", mean_t.reshape(NUM_FEATURES))
        self.register_buffer("obs_std", std_t.reshape(NUM_FEATURES))
        layers: list[nn.Module] = []
        width = NUM_FEATURES
        for h in self.hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, NUM_ACTIONS))
        self.mlp = nn.Sequential(*layers)

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        """Q-values (or scores) per MCS index."""
        return self.mlp((observation - self.obs_mean) / self.obs_std)

    def set_normalization(self, observations: npt.NDArray[np.float32]) -> None:
        """Set the input statistics from a sample of observations, ``(n, 44)``."""
        obs = np.asarray(observations, dtype=np.float64)
        self.obs_mean.copy_(torch.as_tensor(obs.mean(axis=0), dtype=torch.float32))
        self.obs_std.copy_(torch.as_tensor(np.maximum(obs.std(axis=0), _MIN_STD),
                                           dtype=torch.float32))

    def parameter_count(self) -> int:
        """Trainable parameters (the normalization statistics are not counted)."""
        return sum(p.numel() for p in self.parameters())

    def size_kbit(self, bits_per_parameter: int = 32) -> float:
        """Model size in kbit at ``bits_per_parameter`` (float32: 32)."""
        return self.parameter_count() * bits_per_parameter / 1000.0


def teacher_network() -> QNetwork:
    """A fresh teacher network (normalization to be set from data)."""
    return QNetwork(TEACHER_HIDDEN)


def student_network(size: str) -> QNetwork:
    """A fresh student network of size ``4x64``, ``4x32`` or ``3x32``."""
    try:
        return QNetwork(STUDENT_HIDDEN[size])
    except KeyError:
        raise ValueError(f"unknown student size {size!r}; choose one of "
                         f"{', '.join(STUDENT_HIDDEN)}") from None


def network_from_state(state: dict[str, torch.Tensor]) -> QNetwork:
    """Rebuild a network from its ``state_dict`` (layer widths are read from the weights).

    A label teacher's state (:mod:`training.label_teacher.network`) rebuilds that
    network: it computes its scores from the same observation, so every consumer of
    Q-values (distillation, rollouts) uses it as it would a Q-network.
    """
    from training.label_teacher.network import is_label_state, label_network_from_state

    if is_label_state(state):
        return cast("QNetwork", label_network_from_state(state))
    weights = sorted((k for k in state if k.startswith("mlp.") and k.endswith(".weight")),
                     key=lambda k: int(k.split(".")[1]))
    hidden = [int(state[k].shape[0]) for k in weights[:-1]]
    net = QNetwork(hidden)
    net.load_state_dict(state)
    return net


def masked_greedy(q: npt.NDArray[np.float32], mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """Argmax over the valid actions of each row."""
    return np.asarray(np.argmax(np.where(mask, q, -np.inf), axis=1), dtype=np.int64)
