"""What ``linkadapt evaluate`` runs: its options and configuration, its policies, its seed.

:class:`EvaluateOptions` is the command line; :meth:`EvaluateOptions.evaluation` reads the
models' cards and resolves it into the :class:`EvaluationConfig` that runs. The baselines
of the frontier, the tuned ``olla`` row and the genie reference rows follow from it; every
run simulates from :func:`evaluation_seed` of its ``seed`` (common random numbers).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Final

import numpy as np
import pydantic

from linkadapt.config import CONFIG, CommaList
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


_GRID = {"olla_steps": DEFAULT_OLLA_STEPS_DB, "targets": baselines.DEFAULT_TARGETS,
         "fixed_mcs": baselines.DEFAULT_FIXED_MCS}


@pydantic.dataclasses.dataclass(frozen=True, config=CONFIG)
class EvaluateOptions:
    """Every option of ``linkadapt evaluate``; :meth:`evaluation` is the run they ask for."""

    model: tuple[Path, ...] = ()
    """ONNX policy model to evaluate (repeatable); named by its model card's
    model_id:version, else by the file stem"""
    scenarios: Annotated[tuple[str, ...], CommaList("NAME")] = EvaluationConfig.scenarios
    """comma-separated benchmark scenarios"""
    ues: int = EvaluationConfig.ues
    """UEs per scenario"""
    slots: int = EvaluationConfig.slots
    """slots per run"""
    seed: int = EvaluationConfig.seed
    """seed of every run; the same for all policies. Runs draw under a spawn key that
    training never derives, so no evaluation stream is a training stream"""
    olla_steps: Annotated[tuple[float, ...], CommaList("DB")] = DEFAULT_OLLA_STEPS_DB
    """OLLA d_up values of the frontier's grid; at the 10% target the best by throughput
    with BLER within 10% +- 2% is the 'olla' row"""
    targets: Annotated[tuple[float, ...], CommaList("T")] = baselines.DEFAULT_TARGETS
    """BLER targets of OLLA, eOLLA and SALAD in the frontier's grid, each in (0, 1)"""
    fixed_mcs: Annotated[tuple[int, ...], CommaList("K")] = baselines.DEFAULT_FIXED_MCS
    """fixed MCS indices in the frontier's grid"""
    baselines: Annotated[tuple[str, ...], CommaList("SPEC")] | None = None
    """the frontier's baselines as policy specs, instead of the grid of --olla-steps,
    --targets and --fixed-mcs (default: olla:D:T for every step and target, eolla:T,
    salad:T, illa, fixed:K)"""
    target_bler: Annotated[tuple[float, ...], CommaList("T")] = EvaluationConfig.target_blers
    """BLER targets the models are asked for (every UE's report carries it), each in
    (0, 1); each model runs once per target, the baselines once. The full report is at
    0.1 when listed, else at the first; with several targets it ends with one table per
    target"""
    no_genie_delayed: bool = False
    """skip the genie-delayed reference row"""
    reference: str | None = None
    """policy the 'change vs' figures compare against: olla, illa, genie or a model's name,
    its card's model_id:version (default: olla; with --no-baselines the first model)"""
    no_baselines: bool = False
    """skip the frontier's baselines and the genies (models only)"""
    workers: int = EvaluationConfig.workers
    """runs ((scenario, policy, target) triples) in parallel processes"""
    out: Path = Path("reports/evaluation")
    """directory of the report files"""
    json: bool = False
    """print the result as one JSON object instead of the report"""

    def __post_init__(self) -> None:
        check_targets(self.target_bler)  # before the models load: a bad flag fails at once
        if self.baselines is not None:
            given = [f"--{name.replace('_', '-')}" for name, default in _GRID.items()
                     if getattr(self, name) != default]
            if given:
                raise ValueError(f"--baselines replaces the grid; drop {', '.join(given)}")
            return
        if not self.olla_steps:
            raise ValueError("--olla-steps: give at least one step")
        for step in self.olla_steps:
            if not (math.isfinite(step) and step > 0):
                raise ValueError(f"--olla-steps: steps must be positive dB values, got {step:g}")
        if not self.targets:
            raise ValueError("--targets: give at least one target")
        for target in self.targets:
            if not 0 < target < 1:
                raise ValueError(f"--targets: targets must be in (0, 1), got {target:g}")
        for mcs in self.fixed_mcs:
            if not 0 <= mcs <= 28:  # TS 38.214 Table 5.1.3.1-1: MCS 0..28
                raise ValueError(f"--fixed-mcs: MCS must be in 0..28, got {mcs}")

    def baseline_specs(self) -> tuple[str, ...]:
        """The frontier's spec list: ``--baselines`` as given, else the grid of the others."""
        if self.baselines is not None:
            return self.baselines
        return tuple(baselines.baseline_specs(self.olla_steps, self.targets, self.fixed_mcs))

    def evaluation(self) -> EvaluationConfig:
        """The run: the models' cards read, the defaults resolved.

        Raises:
            ValueError: one line naming the flag: a model that cannot be used, a bad
                scenario, size, spec or reference.

        """
        from training.evaluation_models import model_spec, unique_names  # imports this module

        models = unique_names([model_spec(p) for p in self.model])
        specs = self.baseline_specs()
        reference = self.reference
        if reference is None:
            reference = _default_reference(models, not self.no_baselines, specs)
        try:
            return EvaluationConfig(
                scenarios=self.scenarios, ues=self.ues, slots=self.slots, seed=self.seed,
                models=models, baselines=not self.no_baselines, baseline_specs=specs,
                genie_delayed=not self.no_genie_delayed, reference=reference,
                workers=self.workers, target_blers=self.target_bler)
        except ValueError as exc:
            message = str(exc)
            if self.baselines is None and message.startswith("--baselines: "):
                # The user gave no --baselines: name what the list came from.
                message = ("default baseline grid (--olla-steps, --targets, --fixed-mcs): "
                           + message.removeprefix("--baselines: "))
            raise ValueError(message) from None


def _default_reference(models: Sequence[ModelSpec], use_baselines: bool,
                       specs: Sequence[str]) -> str:
    """``olla`` (tuned at 10%) when it runs, else the first model, else the genie."""
    if not use_baselines:
        return models[0].name if models else OLLA
    try:
        if any(baselines.describe(s).family == OLLA
               and baselines.describe(s).target == BLER_TARGET for s in specs):
            return OLLA
    except ValueError:
        return OLLA  # a bad spec: the configuration's spec check names it
    return models[0].name if models else GENIE


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
