"""What ``linkadapt evaluate`` runs: its configuration, the policies it names, and its seed.

The baselines of the frontier, the tuned ``olla`` row and the genie reference
rows follow from :class:`EvaluationConfig`; every run simulates from
:func:`evaluation_seed` of its ``seed`` (common random numbers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from training import baselines
from training.baselines import EOLLA, GENIE_DELAYED, ILLA, OLLA, SALAD
from training.sim import config, policies

GENIE: Final = baselines.GENIE
BASELINES: Final = (OLLA, ILLA, GENIE, GENIE_DELAYED)
"""Names of the baseline rows of a scenario's table (and names a model may not take)."""
DEFAULT_OLLA_STEPS_DB: Final = baselines.DEFAULT_OLLA_STEPS_DB
BLER_TARGET: Final = policies.BLER_TARGET
"""CQI is defined at 10% BLER (TS 38.214 5.2.2.1); the ``olla`` row aims at the same target."""
BLER_TOLERANCE: Final = 0.02
EVALUATION_SPAWN_KEY: Final = 0x4556_414C
"""First spawn-key word of every evaluation simulation ("EVAL" in ASCII). It must be
even: training's simulations sit under odd ones (see :func:`evaluation_seed`)."""
FAMILIES_VS_OLLA: Final = (EOLLA, SALAD, ILLA)
"""Families whose points are set against OLLA's own frontier in the report."""
BLER_LIMIT_FACTOR: Final = 1.2
"""A model asked for target T passes the BLER check at a BLER of at most 1.2 T: the
``olla`` row's 10% +- 2% tolerance (:data:`BLER_TOLERANCE`), scaled with the target."""


@dataclass(frozen=True)
class ModelSpec:
    """A learned policy to evaluate: an ONNX file and what its card says about it."""

    name: str
    """Name in tables and JSON: the card's ``model_id:version``, else the file stem."""
    path: str
    """Path of the ONNX file."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """``model_id``, ``version``, ``kind``, ``parameter_count``, ``size_kbit`` when known;
    ``inference_us``: median batch-1 ONNX Runtime time on one thread."""


def _default_specs() -> tuple[str, ...]:
    return tuple(baselines.baseline_specs())


@dataclass(frozen=True)
class EvaluationConfig:
    """What to evaluate and how long; one value per ``linkadapt evaluate`` option."""

    scenarios: tuple[str, ...] = config.BENCHMARK_SCENARIOS
    """Benchmark scenarios (names of :data:`training.sim.config.SCENARIOS`)."""
    ues: int = 256
    """UEs simulated per scenario."""
    slots: int = 2000
    """Slots simulated per run."""
    seed: int = 0
    """Seed of every run (the same for every policy: common random numbers); the
    simulation draws from :func:`evaluation_seed` of it."""
    models: tuple[ModelSpec, ...] = ()
    """Learned policies."""
    baselines: bool = True
    """Run the frontier's baselines and the genie reference rows."""
    baseline_specs: tuple[str, ...] = field(default_factory=_default_specs)
    """Policy specs of the frontier (:func:`training.baselines.baseline_specs`)."""
    genie_delayed: bool = True
    """Run ``genie-delayed`` as a reference row beside ``genie``."""
    reference: str = OLLA
    """Policy the "change vs reference" figures compare against."""
    workers: int = 1
    """Runs ((scenario, policy, target) triples) in parallel processes."""
    target_blers: tuple[float, ...] = (BLER_TARGET,)
    """BLER targets the models are asked for (every UE's report carries it); each model
    runs once per scenario per target. The baselines and genies do not read it."""

    def __post_init__(self) -> None:
        if self.ues < 1:
            raise ValueError(f"--ues must be at least 1, got {self.ues}")
        if self.slots < 1:
            raise ValueError(f"--slots must be at least 1, got {self.slots}")
        if self.workers < 1:
            raise ValueError(f"--workers must be at least 1, got {self.workers}")
        if self.seed < 0:
            raise ValueError(f"--seed must be >= 0, got {self.seed}")
        check_targets(self.target_blers)
        if not self.scenarios:
            raise ValueError("--scenarios: give at least one scenario")
        for name in self.scenarios:
            if name == "random":  # simulate's domain randomization: no fixed benchmark
                raise ValueError("--scenarios: 'random' is not a benchmark scenario; choose "
                                 f"from: {', '.join(config.BENCHMARK_SCENARIOS)}")
            config.scenario(name)  # raises with the list of valid names
        if len(set(self.scenarios)) != len(self.scenarios):
            raise ValueError("--scenarios: a scenario is named twice")
        if self.baselines and not self.baseline_specs:
            raise ValueError("--baselines: give at least one baseline spec")
        if not self.models and not self.baselines:
            raise ValueError("nothing to evaluate: give --model or drop --no-baselines")
        if self.baselines:  # first: the names below are read off the built specs
            baselines.check_specs(self.baseline_specs, "--baselines")
        if self.reference not in self.policy_names():
            raise ValueError(f"--reference {self.reference!r} is not an evaluated policy; "
                             f"choose one of: {', '.join(self.policy_names())}")
        if self.baselines:
            for model in self.models:
                if model.name in self.baseline_specs:
                    raise ValueError(f"--model: the name {model.name!r} is also a baseline "
                                     "spec; rename the model (its card's model_id:version)")
        names = {m.name for m in self.models}
        for model in self.models:
            for target in self.target_blers:
                key = self.model_key(model.name, target)
                if key != model.name and key in names:
                    raise ValueError(f"--model: the name {key!r} is also the run of model "
                                     f"{model.name!r} at --target-bler {target:g}; rename "
                                     "the model (its card's model_id:version)")

    @property
    def primary_target(self) -> float:
        """The target of the full report and of the result's top-level keys.

        10% when listed (the target of the ``olla`` row and of CQI), else the first.
        """
        return BLER_TARGET if BLER_TARGET in self.target_blers else self.target_blers[0]

    def model_key(self, name: str, target: float) -> str:
        """Key of a model's run at ``target``.

        Its name at the primary target, else ``NAME@T`` (``student:1@0.02``).
        """
        return name if target == self.primary_target else f"{name}@{target_label(target)}"

    def olla_specs(self) -> dict[float, str]:
        """The OLLA specs at the 10% target by step: the sweep of the ``olla`` row."""
        out: dict[float, str] = {}
        for spec in self.baseline_specs if self.baselines else ():
            info = baselines.describe(spec)
            if info.family == OLLA and info.target == BLER_TARGET and info.d_up_db is not None:
                out.setdefault(info.d_up_db, spec)
        return out

    def reference_specs(self) -> list[str]:
        """The genie reference rows that run (none without baselines)."""
        if not self.baselines:
            return []
        return [GENIE, GENIE_DELAYED] if self.genie_delayed else [GENIE]

    def policy_names(self) -> list[str]:
        """Names of the rows of a scenario's table, models first, in table order."""
        names = [m.name for m in self.models]
        if self.baselines:
            names += [OLLA] if self.olla_specs() else []
            names += [ILLA] if ILLA in self.baseline_specs else []
            names += self.reference_specs()
        return names


def target_label(target: float) -> str:
    """A BLER target as the result's keys write it: ``0.02``."""
    return f"{target:g}"


def check_targets(targets: tuple[float, ...]) -> None:
    """Refuse an empty, repeated or out-of-range ``--target-bler`` list (ValueError)."""
    if not targets:
        raise ValueError("--target-bler: give at least one target")
    for target in targets:
        if not (math.isfinite(target) and 0 < target < 1):
            raise ValueError(f"--target-bler: targets must be in (0, 1), got {target:g}")
    if len({target_label(t) for t in targets}) != len(targets):
        raise ValueError("--target-bler: a target is named twice")


def evaluation_seed(seed: int) -> np.random.SeedSequence:
    """The seed sequence of every evaluation run with ``--seed seed`` (a fresh one per call).

    Training never simulates from it, for any training seed below 2**128. Every
    random stream of ``train-teacher`` and ``distill`` comes from a rollout worker's
    environment (:class:`training.sim.env.LinkAdaptationVectorEnv`) reset with an
    integer ``s`` (``seed * 1000 + worker``), or from ``default_rng(seed)`` /
    ``default_rng([s, 0x5EED])``. Under ``SeedSequence(s)`` episode ``j`` draws its
    configuration from spawn key ``(2j,)`` and simulates from ``(2j + 1, c)``, c = 0..2.
    An evaluation simulates from ``(EVALUATION_SPAWN_KEY, c)`` under
    ``SeedSequence(seed)``: the key has another first word than any training
    simulation (even, not odd) and another length than any configuration draw, and
    numpy assembles a sequence's entropy from its seed words, zero-padded to four
    words, followed by its spawn key, so the words differ whatever ``seed`` and ``s``
    are, unless a training integer reaches 2**128 and spells out the spawn key
    itself. An evaluation with a plain integer seed did collide: its channel stream
    ``(0,)`` was the configuration draw of training's first episode.
    """
    return np.random.SeedSequence(seed, spawn_key=(EVALUATION_SPAWN_KEY,))
