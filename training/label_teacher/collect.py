"""Data of the label teacher: reports and the full-information labels of their decisions.

Each episode draws ``ues`` domain-randomized UE rows (every UE with its own BLER
target, :data:`training.sim.config.TRAINED_TARGET_BLER`) and simulates ``slots``
slots. A behaviour policy acts: in the first round a non-learned baseline (SALAD or
OLLA at a target drawn per episode, so that the HARQ history covers many
operating points), later the network of the previous round at each UE's own
target. An ``epsilon`` share of its decisions moves by up to 3 MCS either way so
that the reports also show what neighbouring MCS do. Of the UEs that start a new
transport block in a slot, a ``keep`` share is recorded: the report's
observation and :meth:`~training.sim.link.LinkSimulator.mcs_outcomes`.

:class:`Collector` runs episodes in a Ray actor; each episode's streams derive from
its own seed, so a dataset does not depend on how episodes were spread over actors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import numpy as np
import numpy.typing as npt
import torch

from training.label_teacher.network import LabelNetwork, label_network_from_state
from training.networks import masked_greedy
from training.placement import current_node
from training.sim import config
from training.sim.link import LinkSimulator
from training.sim.policies.spec import parse_policy
from xapp import nr_tables
from xapp.features import observe

WARM_UP_SLOTS: Final = 20
"""Slots before recording starts: the HARQ history and the KPM window fill first."""
BASELINE_TARGETS: Final = (0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3)
_NUDGE: Final = 3
_SPAWN_KEY: Final = 0x4C424C53  # "LBLS": label collection, apart from every other stream


class Samples(NamedTuple):
    """Recorded decisions: observations ``(m, F)``; goodput, error, valid ``(m, 29)``."""

    obs: npt.NDArray[np.float32]
    goodput: npt.NDArray[np.float32]
    error: npt.NDArray[np.float32]
    valid: npt.NDArray[np.bool_]

    @staticmethod
    def join(parts: list[Samples]) -> Samples:
        """Concatenate ``parts`` (at least one)."""
        return Samples(*(np.concatenate([getattr(p, f) for p in parts]) for f in Samples._fields))

    def __len__(self) -> int:
        return int(self.obs.shape[0])


@dataclass(frozen=True)
class Episode:
    """One episode's size and behaviour; ``scenario``: ``random`` or a benchmark scenario."""

    ues: int
    slots: int
    epsilon: float
    keep: float
    scenario: str = "random"


class NetworkBehaviour:
    """A :class:`LabelNetwork` acting at each UE's own target (masked argmax)."""

    name = "label-teacher"

    def __init__(self, net: LabelNetwork) -> None:
        self.net = net.eval()

    def reset(self, n: int) -> None:
        """No state."""

    def act(self, reports: Any, sim: LinkSimulator) -> npt.NDArray[np.int64]:
        """The highest-scoring valid MCS of each UE."""
        with torch.no_grad():
            q = self.net(torch.from_numpy(observe(reports))).numpy()
        return masked_greedy(q, nr_tables.valid_action_mask(reports.mcs_table))


def episode_seed(run_seed: int, round_index: int, episode: int) -> np.random.SeedSequence:
    """The seed of one episode of one round of a run."""
    return np.random.SeedSequence(run_seed, spawn_key=(_SPAWN_KEY, round_index, episode))


def draw_config(scenario: str, rng: np.random.Generator, ues: int) -> config.LinkConfig:
    """UE rows of ``scenario``, each with its own target drawn as the randomized ones are."""
    return config.config_source(scenario, config.TRAINED_TARGET_BLER)(rng, ues)


def run_episode(seq: np.random.SeedSequence, spec: Episode,
                net: LabelNetwork | None) -> Samples:
    """Simulate one episode and return its recorded decisions."""
    config_seq, sim_seq, own_seq = seq.spawn(3)
    rng = np.random.default_rng(own_seq)
    cfg = draw_config(spec.scenario, np.random.default_rng(config_seq), spec.ues)
    sim = LinkSimulator(cfg, sim_seq)
    if net is None:
        target = float(rng.choice(BASELINE_TARGETS))
        family = str(rng.choice(["salad", "olla:0.5", "olla:1"]))
        behaviour: Any = parse_policy(f"{family}:{target:g}")
    else:
        behaviour = NetworkBehaviour(net)
    behaviour.reset(spec.ues)
    parts: list[Samples] = []
    for t in range(spec.slots):
        reports = sim.reports
        action = behaviour.act(reports, sim)
        if t >= WARM_UP_SLOTS:
            deciding = np.flatnonzero(sim.needs_decision())
            rows = deciding[rng.random(deciding.size) < spec.keep]
            if rows.size:
                goodput, error, valid = sim.mcs_outcomes(rows)
                parts.append(Samples(observe(reports.take(rows)), goodput, error, valid))
        nudge = rng.random(spec.ues) < spec.epsilon
        moved = action + rng.integers(-_NUDGE, _NUDGE + 1, spec.ues)
        sim.step(np.where(nudge, np.clip(moved, 0, nr_tables.NUM_ACTIONS - 1), action))
    return Samples.join(parts)


class Collector:
    """A Ray actor that runs episodes with the weights it is handed."""

    def __init__(self, hidden: tuple[int, ...]) -> None:
        torch.set_num_threads(1)
        self.hidden = hidden

    def node(self) -> tuple[str, str]:
        """``(node_id, node_ip)`` of the Ray node this actor runs on."""
        return current_node()

    def episode(self, entropy: int, spawn_key: tuple[int, ...], spec: Episode,
                state: dict[str, Any] | None) -> Samples:
        """Run one episode (``state``: the behaviour network's, None for the baselines)."""
        net = None
        if state is not None:
            net = label_network_from_state({k: torch.as_tensor(v) for k, v in state.items()})
        return run_episode(np.random.SeedSequence(entropy, spawn_key=spawn_key), spec, net)


def numpy_state(net: LabelNetwork) -> dict[str, npt.NDArray[Any]]:
    """The network's state as numpy arrays (what Ray ships cheaply)."""
    return {k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()}
