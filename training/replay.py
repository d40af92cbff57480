"""Experience replay: a fixed-size ring of decision transitions, sampled uniformly."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import torch

from xapp.features import NUM_FEATURES


class Transitions(NamedTuple):
    """Decision transitions of one rollout chunk, ``(m, ...)`` numpy arrays."""

    obs: npt.NDArray[np.float32]  # (m, 44) observation the action was chosen on
    actions: npt.NDArray[np.int64]  # (m,) MCS index
    rewards: npt.NDArray[np.float32]  # (m,) learning reward
    next_obs: npt.NDArray[np.float32]  # (m, 44) observation of the next slot

    def __len__(self) -> int:
        return int(self.actions.shape[0])


class Batch(NamedTuple):
    """A sampled minibatch as torch tensors."""

    obs: torch.Tensor  # (b, 44) float32
    actions: torch.Tensor  # (b,) int64
    rewards: torch.Tensor  # (b,) float32
    next_obs: torch.Tensor  # (b, 44) float32


class ReplayBuffer:
    """Ring buffer of the most recent ``capacity`` transitions."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"replay capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._obs = np.zeros((capacity, NUM_FEATURES), dtype=np.float32)
        self._next_obs = np.zeros((capacity, NUM_FEATURES), dtype=np.float32)
        self._actions = np.zeros(capacity, dtype=np.int64)
        self._rewards = np.zeros(capacity, dtype=np.float32)
        self._next = 0
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, chunk: Transitions) -> None:
        """Append a chunk, overwriting the oldest transitions when full."""
        m = len(chunk)
        if m == 0:
            return
        if m > self.capacity:  # only the newest fit
            chunk = Transitions(chunk.obs[-self.capacity:], chunk.actions[-self.capacity:],
                                chunk.rewards[-self.capacity:], chunk.next_obs[-self.capacity:])
            m = self.capacity
        idx = (self._next + np.arange(m)) % self.capacity
        self._obs[idx] = chunk.obs
        self._next_obs[idx] = chunk.next_obs
        self._actions[idx] = chunk.actions
        self._rewards[idx] = chunk.rewards
        self._next = int((self._next + m) % self.capacity)
        self._size = min(self._size + m, self.capacity)

    def sample(self, rng: np.random.Generator, batch_size: int) -> Batch:
        """Draw ``batch_size`` transitions uniformly (with replacement)."""
        if self._size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        idx = rng.integers(0, self._size, batch_size)
        return Batch(torch.from_numpy(self._obs[idx]), torch.from_numpy(self._actions[idx]),
                     torch.from_numpy(self._rewards[idx]), torch.from_numpy(self._next_obs[idx]))
