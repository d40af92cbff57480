"""Gymnasium environments over the link simulator: one UE, or many UEs as a native VectorEnv.

``LinkAdaptation-v0`` (registered when :mod:`training.sim` is imported and
Gymnasium is installed)::

    env = gymnasium.make("LinkAdaptation-v0", scenario="mimo")
    envs = gymnasium.make_vec("LinkAdaptation-v0", num_envs=4096,
                              vectorization_mode="vector_entry_point")

**Action space**: ``Discrete(29)``, the MCS index for the UE's next new transport
block (TS 38.214 Table 5.1.3.1-1 or -2 depending on the UE's table; indices above
the table's top MCS are clipped to it). In slots where the UE retransmits or has
no data the action has no effect (``info["new_tx"]`` is False).
``info["tb_value"]`` is what the slot's transport block would earn if decoded
(its payload over the same scale as the reward), failed or not.

**Observation space**: ``Box(-inf, inf, (44,), float32)``, exactly
:func:`xapp.features.observe` of the gNB's report for the slot, the vector the
xApp computes from a KPM report when serving.

**Reward**: bits delivered in the slot (decoded transport blocks, new or
retransmitted) divided by the TBS of the table's top MCS on the reported rank, so
it lies in [0, 1] and its mean is the throughput relative to the allocation's
peak.

**Episode end**: never terminates; truncates after ``episode_slots`` slots. Each
episode draws a fresh configuration from the scenario (``random``: the
domain-randomization table of :mod:`training.sim.config`) and fresh random
streams from the seed sequence given at ``reset``. The vector env resets all its
rows together (same-step autoreset: the returned observation is the new episode's
first, ``info["final_obs"]`` holds the last one of the finished episode).
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
import numpy.typing as npt
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from training.sim import config
from training.sim.link import LinkSimulator
from xapp import nr_tables
from xapp.features import NUM_FEATURES, observe

ENV_ID = "LinkAdaptation-v0"
OBSERVATION_SPACE = spaces.Box(-np.inf, np.inf, shape=(NUM_FEATURES,), dtype=np.float32)
ACTION_SPACE = spaces.Discrete(nr_tables.NUM_ACTIONS)


class _Episodes:
    """Episodes of ``n`` UE rows drawn from one configuration source."""

    def __init__(self, n: int, scenario: str, episode_slots: int,
                 target_bler: tuple[float, float] | None = None) -> None:
        if n < 1:
            raise ValueError(f"the number of UEs must be >= 1, got {n}")
        if episode_slots < 1:
            raise ValueError(f"episode_slots must be >= 1, got {episode_slots}")
        self.n = n
        self.scenario = scenario
        self.source = config.config_source(scenario, target_bler)
        self.episode_slots = episode_slots
        self.seq = np.random.SeedSequence()
        self.sim: LinkSimulator | None = None

    def seed(self, seed: int | None) -> None:
        self.seq = np.random.SeedSequence(seed)

    def start(self) -> npt.NDArray[np.float32]:
        config_seq, sim_seq = self.seq.spawn(2)
        cfg = self.source(np.random.default_rng(config_seq), self.n)
        self.sim = LinkSimulator(cfg, sim_seq)
        return observe(self.sim.reports)

    def step(self, actions: npt.ArrayLike) -> tuple[npt.NDArray[np.float32],
                                                     npt.NDArray[np.float64], bool, dict[str, Any]]:
        sim = self.sim
        if sim is None:
            raise RuntimeError("call reset() before step()")
        scale = sim.reward_scale_bits()
        outcome = sim.step(np.asarray(actions, dtype=np.int64).reshape(self.n))
        reward = outcome.delivered_bits / scale
        info = {"new_tx": outcome.new, "transmitted": outcome.transmitted,
                "decoded": outcome.decoded, "mcs": outcome.mcs,
                "delivered_bits": outcome.delivered_bits,
                "tb_value": outcome.payload_bits / scale}
        return observe(sim.reports), reward, sim.slot >= self.episode_slots, info


class LinkAdaptationEnv(gymnasium.Env[npt.NDArray[np.float32], np.int64]):
    """One UE's downlink: choose the MCS of each new transport block. See the module docstring."""

    metadata = {"render_modes": []}  # noqa: RUF012 - Gymnasium declares it per class

    def __init__(self, scenario: str = "random", episode_slots: int = 1000) -> None:
        self.observation_space = OBSERVATION_SPACE
        self.action_space = ACTION_SPACE
        self._episodes = _Episodes(1, scenario, episode_slots)

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[npt.NDArray[np.float32], dict]:
        """Start an episode with a fresh configuration."""
        super().reset(seed=seed)
        if seed is not None:
            self._episodes.seed(seed)
        return self._episodes.start()[0], {}

    def step(self, action: np.int64) -> tuple[npt.NDArray[np.float32], float, bool, bool, dict]:
        """Transmit with MCS ``action`` and advance one slot."""
        if not self.action_space.contains(action):
            raise ValueError(f"action must be an MCS index 0..{nr_tables.NUM_ACTIONS - 1}, "
                             f"got {action!r}")
        obs, reward, truncated, info = self._episodes.step([action])
        return obs[0], float(reward[0]), False, truncated, {k: v[0] for k, v in info.items()}


class LinkAdaptationVectorEnv(VectorEnv):
    """``num_envs`` UEs simulated together by the vectorized simulator (one row per UE)."""

    metadata = {  # noqa: RUF012 - Gymnasium declares it per class
        "render_modes": [], "autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, num_envs: int = 64, scenario: str = "random",
                 episode_slots: int = 1000,
                 target_bler: tuple[float, float] | None = None) -> None:
        self.num_envs = num_envs
        self._episodes = _Episodes(num_envs, scenario, episode_slots, target_bler)
        self.single_observation_space = OBSERVATION_SPACE
        self.single_action_space = ACTION_SPACE
        self.observation_space = batch_space(OBSERVATION_SPACE, num_envs)
        self.action_space = batch_space(ACTION_SPACE, num_envs)

    @property
    def simulator(self) -> LinkSimulator:
        """The simulator of the current episode (for baselines and diagnostics)."""
        if self._episodes.sim is None:
            raise RuntimeError("call reset() first")
        return self._episodes.sim

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[npt.NDArray[np.float32], dict]:
        """Start an episode for every row with fresh configurations."""
        if seed is not None:
            self._episodes.seed(seed)
        return self._episodes.start(), {}

    def step(self, actions: npt.ArrayLike) -> tuple[npt.NDArray[np.float32],
                                                     npt.NDArray[np.float64],
                                                     npt.NDArray[np.bool_],
                                                     npt.NDArray[np.bool_], dict]:
        """Transmit with one MCS per row and advance one slot (same-step autoreset)."""
        obs, reward, done, info = self._episodes.step(actions)
        truncated = np.full(self.num_envs, done)
        if done:
            info["final_obs"] = obs
            info["final_info"] = {k: v.copy() for k, v in info.items() if k != "final_obs"}
            obs = self._episodes.start()
        return obs, reward, np.zeros(self.num_envs, dtype=bool), truncated, info


def register() -> None:
    """Register ``LinkAdaptation-v0`` (idempotent)."""
    if ENV_ID not in gymnasium.registry:
        gymnasium.register(id=ENV_ID, entry_point="training.sim.env:LinkAdaptationEnv",
                           vector_entry_point="training.sim.env:LinkAdaptationVectorEnv")
