"""Rollout workers: vectorized simulations driven by the current Q-network.

A worker owns one :class:`~training.sim.env.LinkAdaptationVectorEnv` (``ues``
rows, each episode a fresh domain-randomized configuration), acts epsilon-greedily
with the weights the learner last broadcast, and returns the decision transitions
(slots in which the UE started a new transport block, so the action mattered).
The same class runs in-process or as a Ray actor.

Learning reward of a decision (:func:`learning_reward`): the bits its transport
block delivered at the first transmission over the TBS of the table's top MCS
(the environment's reward for that slot). A failed first transmission earns a
share of what the block would have earned (negative: a cost), set by the UE's own
KPM-window BLER, a feature of the state: below a floor, failures earn a credit
(HARQ delivers most failed blocks a slot later, and a UE that never fails is
leaving throughput unused), above a ceiling they cost the block's value. The
policy learns to keep each UE's BLER in the band, as outer-loop link adaptation
steers towards its target, while choosing the MCS from far more than the last
ACK/NACK. Shares of the block's value keep the trade-off the same for a UE at
MCS 3 and at MCS 27.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import torch

from training.networks import QNetwork, network_from_state
from training.placement import current_node
from training.replay import Transitions
from training.sim.env import LinkAdaptationVectorEnv
from xapp.features import FEATURE_NAMES
from xapp.nr_tables import NUM_ACTIONS, max_mcs

_TABLE_FEATURE = FEATURE_NAMES.index("table_qam256")
_WINDOW_BLER = FEATURE_NAMES.index("window_bler")
_LOG_WINDOW_TBS = FEATURE_NAMES.index("log_window_tbs")


@dataclass(frozen=True)
class RolloutConfig:
    """What each rollout worker simulates."""

    scenario: str = "random"
    """Scenario name, or ``random`` for domain randomization."""
    ues: int = 1024
    """UE rows per simulation (one vectorized simulator)."""
    episode_slots: int = 400
    """Slots per simulation before a fresh configuration is drawn."""
    target_bler: tuple[float, float] | None = None
    """Range each UE of a benchmark scenario draws its BLER target from (log-uniform);
    ``None``: the scenario's 10%. ``random`` draws its own either way."""
    harq_credit: float = 0.0
    """Share of a failed first transmission's block value it earns in any state."""
    nack_penalty: float = 0.0
    """Fixed cost of a failed initial transmission, on the reward's scale."""
    nack_cost: float = 0.0
    """Cost of a failed initial transmission as a share of the reward it would have earned."""
    bler_floor: float = 0.08
    """KPM-window BLER of the UE below which a failure earns ``floor_credit`` more."""
    floor_credit: float = 0.5
    """Extra share of the block value a failure earns while the UE is below ``bler_floor``."""
    bler_ceiling: float = 0.12
    """KPM-window BLER of the UE above which a failure costs ``ceiling_cost`` more."""
    ceiling_cost: float = 1.0
    """Extra cost share of a failure decided while the UE was above ``bler_ceiling``."""
    window_min_tbs: int = 3
    """Initial TBs the KPM window must hold before its BLER counts against floor or ceiling."""

    def __post_init__(self) -> None:
        for name in ("nack_penalty", "nack_cost", "ceiling_cost"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("harq_credit", "floor_credit", "bler_floor", "bler_ceiling"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be within [0, 1], got {getattr(self, name)}")
        if self.bler_floor > self.bler_ceiling:
            raise ValueError(f"bler_floor ({self.bler_floor}) must not exceed bler_ceiling "
                             f"({self.bler_ceiling})")


def learning_reward(config: RolloutConfig, obs: npt.NDArray[np.float32],
                    decoded: npt.NDArray[np.bool_], reward: npt.NDArray[np.float64],
                    tb_value: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    """Learning reward of decisions taken in states ``obs`` (rows of new transport blocks).

    ``reward`` is the environment's reward (bits decoded over the top-MCS TBS),
    ``tb_value`` what the block would have earned if decoded. A decoded block earns
    ``reward``; a failed one earns ``tb_value * share - nack_penalty`` with share
    ``harq_credit - nack_cost``, plus ``floor_credit`` when the state's KPM-window
    BLER was below ``bler_floor`` or minus ``ceiling_cost`` when it was above
    ``bler_ceiling``, either over at least ``window_min_tbs`` initial TBs.
    """
    window_tbs = np.expm1(obs[:, _LOG_WINDOW_TBS])
    counted = window_tbs >= config.window_min_tbs - 0.5
    bler = obs[:, _WINDOW_BLER]
    share = (config.harq_credit - config.nack_cost
             + np.where(counted & (bler < config.bler_floor), config.floor_credit, 0.0)
             - np.where(counted & (bler > config.bler_ceiling), config.ceiling_cost, 0.0))
    failed = tb_value * share - config.nack_penalty
    return np.where(decoded, reward, failed).astype(np.float32)


class RolloutStats(NamedTuple):
    """Aggregates of one rollout chunk, for logs and progress bars."""

    slots: int
    ue_slots: int
    decisions: int
    nacks: int
    reward_sum: float
    throughput_mbps: float  # mean over UEs of delivered bits per second
    simulations_done: int


class RolloutResult(NamedTuple):
    """What a worker returns for one chunk."""

    transitions: Transitions
    stats: RolloutStats


def max_mcs_of(observations: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
    """Highest valid MCS per observation (from its MCS-table feature)."""
    table_row = (observations[:, _TABLE_FEATURE] > 0.5).astype(np.int64)
    return max_mcs(table_row + 1)


class RolloutWorker:
    """One vectorized simulation acting with broadcast weights."""

    def __init__(self, config: RolloutConfig, hidden: tuple[int, ...], seed: int) -> None:
        torch.set_num_threads(1)
        self.config = config
        self.env = LinkAdaptationVectorEnv(num_envs=config.ues, scenario=config.scenario,
                                           episode_slots=config.episode_slots,
                                           target_bler=config.target_bler)
        self.obs, _ = self.env.reset(seed=seed)
        self.net = QNetwork(hidden)
        self.net.requires_grad_(False)
        self.rng = np.random.default_rng([seed, 0x5EED])
        self._columns = np.arange(NUM_ACTIONS)

    def node(self) -> tuple[str, str]:
        """``(node_id, node_ip)`` of the Ray node this worker runs on (as a Ray actor)."""
        return current_node()

    def random_observations(self, slots: int) -> npt.NDArray[np.float32]:
        """Observations under uniformly random MCS choices (for input normalization)."""
        seen = [self.obs]
        for _ in range(slots):
            self.obs, *_ = self.env.step(self._random_actions(self.obs))
            seen.append(self.obs)
        return np.concatenate(seen)

    def _random_actions(self, obs: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
        return self.rng.integers(0, max_mcs_of(obs) + 1)

    def act(self, obs: npt.NDArray[np.float32], epsilon: float) -> npt.NDArray[np.int64]:
        """Epsilon-greedy MCS over the valid actions of each row."""
        with torch.no_grad():
            q = self.net(torch.from_numpy(obs)).numpy()
        top = max_mcs_of(obs)
        greedy = np.argmax(np.where(self._columns <= top[:, None], q, -np.inf), axis=1)
        explore = self.rng.random(obs.shape[0]) < epsilon
        return np.where(explore, self.rng.integers(0, top + 1), greedy)

    def rollout(self, weights: dict[str, npt.NDArray[np.float32]], slots: int,
                epsilon: float) -> RolloutResult:
        """Simulate ``slots`` slots with ``weights``; return the decision transitions."""
        state = {k: torch.from_numpy(v) for k, v in weights.items()}
        if state.keys() != self.net.state_dict().keys():  # another kind of network acts
            self.net = network_from_state(state).requires_grad_(False)
        else:
            self.net.load_state_dict(state)
        chunks: list[tuple[npt.NDArray, ...]] = []
        nacks = 0
        reward_sum = 0.0
        bits = np.zeros(self.config.ues)
        seconds = np.zeros(self.config.ues)
        simulations = 0
        for _ in range(slots):
            obs = self.obs
            slot_s = self.env.simulator.cfg.slot_s()
            actions = self.act(obs, epsilon)
            next_obs, reward, _, truncated, info = self.env.step(actions)
            new = info["new_tx"]
            decoded = info["decoded"][new]
            learn = learning_reward(self.config, obs[new], decoded, reward[new],
                                    info["tb_value"][new])
            final = info.get("final_obs", next_obs)
            chunks.append((obs[new], actions[new], learn, final[new]))
            nacks += int((~decoded).sum())
            reward_sum += float(learn.sum())
            bits += info["delivered_bits"]
            seconds += slot_s
            if truncated[0]:
                simulations += 1
            self.obs = next_obs
        transitions = Transitions(*(np.concatenate(parts) for parts in zip(*chunks, strict=True)))
        stats = RolloutStats(
            slots=slots, ue_slots=slots * self.config.ues, decisions=len(transitions),
            nacks=nacks, reward_sum=reward_sum,
            throughput_mbps=float((bits / seconds).mean() / 1e6),
            simulations_done=simulations)
        return RolloutResult(transitions, stats)
