"""Check a distillation run before any dataset is collected or network trained.

:func:`plan` builds everything that can refuse the configuration (student and
teacher configurations, teachers, given datasets, the output paths); every refusal
is one :class:`~training.distill.config.ConfigError` line naming the option.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from training.distill import dataset as ds
from training.distill.config import (
    REALTIME_TEACHER,
    ConfigError,
    DistillConfig,
    LossOptions,
    MultiConfig,
    RealtimeConfig,
    RunConfig,
    SingleConfig,
    tau_suffix,
)
from training.distill.profiles import DistillProfile, distill_profile
from training.distill.student import StudentConfig
from training.distill.teachers import Teacher, load_teacher
from training.networks import STUDENT_HIDDEN
from training.options import directory_problem, model_version_problem, seed_problem
from training.ray_setup import check_ray_address

if TYPE_CHECKING:
    from training.teacher_config import TeacherConfig


@dataclass(frozen=True)
class DistillPlan:
    """A checked run: what is built before any collection or training."""

    prof: DistillProfile
    """The profile with the configuration's overrides."""
    students: list[tuple[str, StudentConfig]]
    """File stem and configuration of each student (realtime: the one it trains)."""
    teachers: list[Teacher]
    """Loaded teachers (single, multi)."""
    teacher_cfg: TeacherConfig | None = None
    """The DQN run of realtime and scratch."""


def plan(cfg: DistillConfig) -> DistillPlan:
    """Check the whole configuration; ConfigError (or the teachers' errors) naming the option."""
    if problem := seed_problem(cfg.seed):
        raise ConfigError(problem)
    if isinstance(cfg, LossOptions) and not (cfg.learning_rate > 0
                                             and math.isfinite(cfg.learning_rate)):
        raise ConfigError(f"--learning-rate must be a positive number, got {cfg.learning_rate}")
    sizes, taus, prof = cfg.sizes(), cfg.taus(), _profile(cfg)
    if cfg.ray_address:
        check_ray_address(cfg.ray_address)
    if cfg.model_version is not None:
        tau_suffixes = [tau_suffix(t) for t in taus] if len(taus) > 1 else [""]
        int8 = ("",) if cfg.no_int8 else ("", "-int8")
        teacher = (REALTIME_TEACHER,) if isinstance(cfg, RealtimeConfig) else ()
        if problem := model_version_problem(
                cfg.model_version, (*(t + i for t in tau_suffixes for i in int8), *teacher)):
            raise ConfigError(problem)
    if isinstance(cfg, MultiConfig):
        return _plan_distillation(cfg, sizes, taus, prof)
    return _plan_training_modes(cfg, sizes, taus, prof)


def _profile(cfg: RunConfig) -> DistillProfile:
    prof = distill_profile(cfg.profile)
    collect = prof.collect
    samples: int | None = getattr(cfg, "samples", None)
    if samples is not None:
        if samples < 1:
            raise ConfigError(f"--samples must be at least 1, got {samples}")
        collect = dataclasses.replace(collect, samples=samples)
    if cfg.actors is not None:
        if cfg.actors < 1:
            raise ConfigError(f"--actors must be at least 1, got {cfg.actors}")
        collect = dataclasses.replace(collect, actors=cfg.actors)
    collect = dataclasses.replace(collect, seed=cfg.seed)
    given: int | None = getattr(cfg, "epochs", None)
    epochs = prof.epochs if given is None else given
    if epochs < 1:
        raise ConfigError(f"--epochs must be at least 1, got {epochs}")
    return dataclasses.replace(prof, collect=collect, epochs=epochs)


def check_out(cfg: RunConfig, stems: Iterable[str], files: Iterable[str] = ()) -> None:
    """Refuse an ``--out`` that cannot take the run's files, before any work starts."""
    out = cfg.run_dir
    if problem := directory_problem(out, "--out"):
        raise ConfigError(problem)
    names = ["summary.json", *files]
    for stem in stems:
        variants = [stem] if cfg.no_int8 else [stem, f"{stem}-int8"]
        names += [f"{v}{suffix}" for v in variants for suffix in (".onnx", ".card.json")]
    for name in names:
        if (out / name).is_dir():
            raise ConfigError(f"--out: {str(out / name)!r} is a directory; the run writes a "
                              "file there")
    tensorboard = out / "tensorboard"
    if tensorboard.exists() and not tensorboard.is_dir():
        raise ConfigError(f"--out: {str(tensorboard)!r} is a file; the run writes TensorBoard "
                          "logs there")


def dataset_dirs(cfg: RunConfig, teachers: list[Teacher]) -> list[Path]:
    """Where the teachers' datasets are collected (one per teacher)."""
    if len(teachers) == 1:
        return [cfg.run_dir / "dataset"]
    return [cfg.run_dir / f"dataset-{i}-{t.scenario}" for i, t in enumerate(teachers)]


def scenario_dirs(cfg: RunConfig) -> list[tuple[str, int, Path]]:
    """The --scenario-states: scenario, states and where they are collected."""
    if not isinstance(cfg, SingleConfig):
        return []
    return [(name, n, cfg.run_dir / f"dataset-{name}") for name, n in cfg.scenario_samples()]


def student_version(cfg: MultiConfig, scfg: StudentConfig, prof: DistillProfile) -> str:
    """The version in a student's card: ``--model-version``, or one its recipe names."""
    if cfg.model_version is not None:  # a --sweep-tau run's students differ by their tau
        return cfg.model_version + (tau_suffix(scfg.tau) if len(cfg.taus()) > 1 else "")
    recipe = tau_suffix(scfg.tau) if scfg.loss == "kl" else ""  # what sets it apart
    if scfg.tau_reference is not None:
        recipe += f"-ref{scfg.tau_reference:g}"
    if scfg.finite_buffer_share is not None:
        recipe += f"-fb{scfg.finite_buffer_share:g}"
    if isinstance(cfg, SingleConfig):
        recipe += "".join(f"-{name}{n}" for name, n in cfg.scenario_samples())
    return f"{cfg.MODE}-{scfg.loss}{recipe}-{prof.name}-s{scfg.seed}"


def dagger_dir(cfg: RunConfig, stem: str, round_: int) -> Path:
    """Where the states of aggregation round ``round_`` of student ``stem`` are collected."""
    return cfg.run_dir / f"dataset-{stem}-dagger-{round_}"


def _plan_distillation(cfg: MultiConfig, sizes: list[str], taus: list[float],
                       prof: DistillProfile) -> DistillPlan:
    _check_teachers(cfg)
    students = [(f"student-{size}" + (tau_suffix(tau) if len(taus) > 1 else ""),
                 StudentConfig(size=size, loss=cfg.loss, tau=tau, tau_reference=cfg.tau_reference,
                               finite_buffer_share=cfg.finite_buffer_share, epochs=prof.epochs,
                               batch_size=prof.batch_size, learning_rate=cfg.learning_rate,
                               seed=cfg.seed))
                for size in sizes for tau in taus]
    check_out(cfg, [stem for stem, _ in students])
    if cfg.model_version is None:  # (a given one is checked with its suffixes in plan())
        _check_recipe_versions(cfg, [student_version(cfg, scfg, prof) for _, scfg in students])
    teachers = [load_teacher(p) for p in cfg.teacher]
    for directory, teacher in zip(cfg.dataset, teachers, strict=False):
        manifest = ds.read_manifest(directory)
        if manifest["teacher_sha256"] != teacher.sha256:
            raise ConfigError(f"dataset {str(directory)!r} was collected with teacher "
                              f"{manifest['teacher_id']!r}, not with "
                              f"{teacher.path!r} (SHA-256 differs)")
    rounds = cfg.dagger_rounds if isinstance(cfg, SingleConfig) else 0
    targets = [] if cfg.dataset else dataset_dirs(cfg, teachers)
    targets += [directory for _, _, directory in scenario_dirs(cfg)]
    targets += [dagger_dir(cfg, stem, r) for stem, _ in students for r in range(1, rounds + 1)]
    for directory in targets:
        ds.check_target(directory)
    return DistillPlan(prof, students, teachers)


def _check_recipe_versions(cfg: MultiConfig, versions: list[str]) -> None:
    """The versions the recipe names are card versions (--scenario-states can make them long)."""
    from xapp.model_card import NAME_RULE, is_valid_name

    int8 = ("",) if cfg.no_int8 else ("", "-int8")
    for name in (v + suffix for v in versions for suffix in int8):
        if not is_valid_name(name):
            raise ConfigError(f"the version the recipe names, {name!r}, is not a card "
                              f"version ({NAME_RULE}); give --model-version")


def _check_teachers(cfg: MultiConfig) -> None:
    """The teachers, datasets and aggregation rounds fit the mode."""
    if not cfg.teacher:
        raise ConfigError(f"--mode {cfg.MODE} needs --teacher PATH.onnx")
    if isinstance(cfg, SingleConfig) and len(cfg.teacher) != 1:
        raise ConfigError("--mode single takes one --teacher; use --mode multi for several")
    if not isinstance(cfg, SingleConfig) and len(cfg.teacher) < 2:
        raise ConfigError("--mode multi needs at least two --teacher")
    if isinstance(cfg, SingleConfig):
        if cfg.dagger_rounds < 0:
            raise ConfigError(f"--dagger-rounds must be >= 0, got {cfg.dagger_rounds}")
        if cfg.dagger_samples is not None and cfg.dagger_samples < 1:
            raise ConfigError(f"--dagger-samples must be at least 1, got {cfg.dagger_samples}")
    if cfg.dataset and len(cfg.dataset) != len(cfg.teacher):
        raise ConfigError(f"give one --dataset per --teacher ({len(cfg.teacher)}), "
                          f"got {len(cfg.dataset)}")


def _plan_training_modes(cfg: RunConfig, sizes: list[str], taus: list[float],
                         prof: DistillProfile) -> DistillPlan:
    from training import teacher as teacher_training

    if len(sizes) != 1:
        raise ConfigError(f"--mode {cfg.MODE} trains one student: give one --student")
    size = sizes[0]
    overrides: dict[str, int] = {"seed": cfg.seed}
    simulations: int | None = getattr(cfg, "simulations", None)
    if simulations is not None:
        if simulations < 1:
            raise ConfigError(f"--simulations must be at least 1, got {simulations}")
        overrides["simulations"] = simulations
    if cfg.actors is not None:
        overrides["actors"] = cfg.actors  # checked by _profile
    if not isinstance(cfg, RealtimeConfig):
        teacher_cfg = teacher_training.profile(cfg.profile, hidden=STUDENT_HIDDEN[size],
                                               **overrides)
        check_out(cfg, [f"scratch-{size}"], files=["config.json", "checkpoint.pt"])
        return DistillPlan(prof, [], [], teacher_cfg)
    if cfg.polish_epochs < 0 or cfg.polish_states < 1:
        raise ConfigError("--polish-epochs must be >= 0 and --polish-states >= 1")
    teacher_cfg = teacher_training.profile(cfg.profile, **overrides)
    student = StudentConfig(size=size, loss=cfg.loss, tau=taus[0],
                            learning_rate=min(cfg.learning_rate, 1e-3), seed=cfg.seed)
    check_out(cfg, [f"student-{size}"],
              files=["config.json", "checkpoint.pt", "teacher.onnx", "teacher.card.json"])
    return DistillPlan(prof, [(f"student-{size}", student)], [], teacher_cfg)
