"""The options of ``linkadapt evaluate``: one typed config, from which its flags come.

:class:`EvaluateOptions` is what the command line says; :meth:`EvaluateOptions.evaluation`
reads the models' cards and resolves the defaults into the
:class:`~training.evaluation_config.EvaluationConfig` that the pipeline runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import pydantic

from linkadapt.config import CONFIG, CommaList
from training.baselines import (
    DEFAULT_FIXED_MCS,
    DEFAULT_OLLA_STEPS_DB,
    DEFAULT_TARGETS,
    baseline_specs,
    describe,
)
from training.evaluation_config import (
    BLER_TARGET,
    GENIE,
    OLLA,
    EvaluationConfig,
    ModelSpec,
    check_targets,
)
from training.evaluation_models import model_spec, unique_names

_GRID = {"olla_steps": DEFAULT_OLLA_STEPS_DB, "targets": DEFAULT_TARGETS,
         "fixed_mcs": DEFAULT_FIXED_MCS}


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
    targets: Annotated[tuple[float, ...], CommaList("T")] = DEFAULT_TARGETS
    """BLER targets of OLLA, eOLLA and SALAD in the frontier's grid, each in (0, 1)"""
    fixed_mcs: Annotated[tuple[int, ...], CommaList("K")] = DEFAULT_FIXED_MCS
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
        return tuple(baseline_specs(self.olla_steps, self.targets, self.fixed_mcs))

    def evaluation(self) -> EvaluationConfig:
        """The run: the models' cards read, the defaults resolved.

        Raises:
            ValueError: one line naming the flag: a model that cannot be used, a bad
                scenario, size, spec or reference.

        """
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
        if any(describe(s).family == OLLA and describe(s).target == BLER_TARGET for s in specs):
            return OLLA
    except ValueError:
        return OLLA  # a bad spec: the configuration's spec check names it
    return models[0].name if models else GENIE
