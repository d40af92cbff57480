"""What ``linkadapt simulate`` runs: one policy in closed loop, from one typed config."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pydantic

from linkadapt.config import CONFIG
from training.options import target_bler_problem
from training.sim import config
from training.sim.config import LinkConfig
from training.sim.policies import McsPolicy, parse_policy


@pydantic.dataclasses.dataclass(frozen=True, config=CONFIG)
class SimulateConfig:
    """Every option of ``linkadapt simulate``; :meth:`setup` builds its run."""

    scenario: str = "mimo"
    """benchmark scenario (mimo, mmimo, scsu, high-mobility, bursty, cell-edge) or 'random'
    for domain-randomized configurations"""
    policy: str = "olla"
    """olla[:D_UP_DB[:TARGET]] | eolla:TARGET | salad:TARGET | illa | genie | genie-delayed |
    fixed:K | PATH.onnx; TARGET is the first-transmission BLER in (0, 1); olla alone is
    olla:0.5 at 10%"""
    ues: int = 256
    """UEs simulated"""
    slots: int = 2000
    """slots simulated"""
    seed: int = 0
    """random seed"""
    speed_kmh: float | None = None
    """override every UE's speed, km/h"""
    target_bler: float | None = None
    """first-transmission BLER target every UE reports, in (0, 1); baseline specs written
    without a target (olla, olla:D, eolla, salad) run at it too (default: the scenario's,
    0.1; 'random' draws each UE's in 0.01..0.3)"""
    json: bool = False
    """print the KPIs as one JSON object"""
    plot: Path | None = None
    """draw the MCS histogram and throughput over time to this .png file"""
    no_progress: bool = False
    """no progress bar"""

    def __post_init__(self) -> None:
        if self.ues < 1:
            raise ValueError(f"--ues must be at least 1, got {self.ues}")
        if self.slots < 1:
            raise ValueError(f"--slots must be at least 1, got {self.slots}")
        if self.speed_kmh is not None and not (math.isfinite(self.speed_kmh)
                                               and self.speed_kmh >= 0):
            raise ValueError(f"--speed-kmh must be a number >= 0, got {self.speed_kmh}")
        if self.seed < 0:
            raise ValueError(f"--seed must be >= 0, got {self.seed}")
        if problem := target_bler_problem(self.target_bler):
            raise ValueError(problem)

    def setup(self) -> tuple[McsPolicy, LinkConfig]:
        """The policy and the UEs of the run; ValueError for a bad scenario or policy."""
        source = config.config_source(self.scenario)
        policy = parse_policy(self.policy, self.target_bler or config.DEFAULT_TARGET_BLER)
        ues = source(np.random.default_rng([self.seed, 1]), self.ues)
        if self.speed_kmh is not None:
            ues = ues.with_speed_kmh(self.speed_kmh)
        if self.target_bler is not None:
            ues = ues.with_target_bler(self.target_bler)
        return policy, ues
