"""The ``train-teacher`` pipeline: check the options, train (or resume), export the teacher.

:class:`TrainTeacherConfig` holds one value per ``linkadapt train-teacher`` option
(``None``: not given) and checks each on its own; :func:`plan` checks them together,
and the checkpoint, before anything starts or is written; :func:`train_teacher` runs
the plan. A run directory holds one run: a new run refuses one that holds another
unless ``overwrite``; a resumed run keeps its checkpoint's configuration except
``simulations`` and ``actors``.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import pydantic
from pydantic import ValidationInfo

from linkadapt.config import CONFIG, command_line, flag
from training import placement, teacher
from training.options import directory_problem, model_version_problem, seed_problem
from training.teacher_config import (
    DQN_TARGET_BLER,
    PROFILES,
    REWARD_FLAGS,
    TeacherConfig,
    TrainingError,
)

RUN_FILES: Final = ("config.json", "checkpoint.pt", "teacher.onnx")
"""Files whose presence means a directory already holds a teacher run."""
_REWARD_FIELD: Final = re.compile(r"\b(" + "|".join(REWARD_FLAGS) + r")\b")
"""A reward field named in a message of the rollout configuration's own check."""


ProfileName = Literal["paper", "quick", "smoke"]
"""The names of :data:`~training.teacher_config.PROFILES`, in the order --help lists them."""


@pydantic.dataclasses.dataclass(frozen=True, config=CONFIG)
class TrainTeacherConfig:
    """Every ``linkadapt train-teacher`` option; ``None``: not given.

    An option not given takes the profile's value (on resume, the checkpoint's). The
    fields are the flags, in the order of ``--help`` and of the commands that
    :meth:`command`, :meth:`of_run` and :meth:`TeacherPlan.resume_command` write.
    """

    profile: ProfileName | None = None
    """run size (default: quick)"""
    seed: int | None = None
    """random seed, 0 to 4294967295 (default: 0)"""
    out: Path | None = None
    """run directory (default: runs/teacher-PROFILE-SCENARIO; with --resume, the
    checkpoint's directory)"""
    simulations: int | None = None
    """override the profile's number of simulations; with --resume, extend the run to
    this many"""
    actors: int | None = None
    """Ray rollout actors (default: the profile's; may change on --resume)"""
    hidden: str | None = None
    """teacher hidden layers as LAYERSxWIDTH, e.g. 7x160 (default: the profile's, 7x128)"""
    harq_credit: float | None = None
    """share of a failed first transmission's block value it earns in any state
    (default: the profile's, 0)"""
    bler_floor: float | None = None
    """KPM-window BLER below which failures earn --floor-credit (default: the profile's,
    0.08)"""
    floor_credit: float | None = None
    """share of the block value a failure earns below the BLER floor (default: the
    profile's, 0.5)"""
    nack_penalty: float | None = None
    """fixed cost of a failed initial transmission (default: the profile's, 0)"""
    nack_cost: float | None = None
    """cost of a failed initial transmission as a share of what it would have earned
    (default: the profile's, 0)"""
    bler_ceiling: float | None = None
    """KPM-window BLER above which failures cost --ceiling-cost more (default: the
    profile's, 0.12)"""
    ceiling_cost: float | None = None
    """extra cost share of a failure above the BLER ceiling (default: the profile's, 1)"""
    scenario: str | None = None
    """train on one benchmark scenario instead of domain randomization"""
    export: Path | None = None
    """where to write the ONNX teacher (default: OUT/teacher.onnx)"""
    model_version: str | None = None
    """version in the teacher's model card (default: PROFILE-sSEED); give a new one when a
    retrained teacher must sit beside an earlier one in a model store"""
    ray_address: str | None = None
    """HOST:PORT of a Ray cluster to join instead of starting Ray locally (its nodes need
    this linkadapt installed; a cluster with token authentication needs
    RAY_AUTH_MODE=token and RAY_AUTH_TOKEN)"""
    resume: Path | None = None
    """continue a run from its checkpoint.pt"""
    overwrite: bool = False
    """start even if --out already holds a run (or --export exists): its files are
    replaced as the new run writes them; its TensorBoard logs stay beside the new run's"""
    no_progress: bool = False
    """no progress bar"""

    @pydantic.field_validator("actors", "simulations", *REWARD_FLAGS)
    @classmethod
    def _in_range(cls, value: float | None, info: ValidationInfo) -> float | None:
        least = ("at least 1", 1) if info.field_name in ("actors", "simulations") else (">= 0", 0)
        if value is not None and not value >= least[1]:
            raise ValueError(f"{flag(str(info.field_name))} must be {least[0]}, got {value}")
        return value

    @pydantic.field_validator("seed", "model_version", "hidden")
    @classmethod
    def _valid(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return value
        if info.field_name == "hidden":
            _hidden(value)
        elif problem := (seed_problem(value) if info.field_name == "seed" else
                         model_version_problem(value)):
            raise ValueError(problem)
        return value

    @classmethod
    def of_run(cls, cfg: TeacherConfig, model_version: str | None = None) -> TrainTeacherConfig:
        """The options that train ``cfg`` again (``model_version``: its --model-version).

        The profile, the seed and every reward setting are given; the simulations, the
        network and the scenario only where they differ from the profile's.
        """
        base = PROFILES[cfg.profile]
        return cls(profile=cfg.profile, seed=cfg.seed,  # type: ignore[arg-type]
                   simulations=None if cfg.simulations == base.simulations else cfg.simulations,
                   hidden=None if cfg.hidden == base.hidden else
                   f"{len(cfg.hidden)}x{cfg.hidden[0]}",
                   scenario=None if cfg.rollout.scenario == "random" else cfg.rollout.scenario,
                   model_version=model_version or None,
                   **{name: getattr(cfg.rollout, name) for name in REWARD_FLAGS})

    def command(self, *words: str) -> str:
        """The ``linkadapt train-teacher`` command (then ``words``) that gives these options."""
        return command_line(["linkadapt", "train-teacher", *words], self)

    def run_config(self) -> TeacherConfig:
        """The configuration of a new run: the profile with the options applied."""
        overrides: dict[str, Any] = {"seed": 0 if self.seed is None else self.seed}
        if self.actors is not None:
            overrides["actors"] = self.actors
        if self.simulations is not None:
            overrides["simulations"] = self.simulations
        if self.scenario is not None:
            overrides["scenario"] = self.scenario
        if self.hidden is not None:
            overrides["hidden"] = _hidden(self.hidden)
        cfg = teacher.profile(self.profile or "quick", **overrides)
        reward = {name: getattr(self, name) for name in REWARD_FLAGS
                  if getattr(self, name) is not None}
        if reward:
            try:
                cfg = dataclasses.replace(cfg, rollout=dataclasses.replace(cfg.rollout,
                                                                           **reward))
            except ValueError as exc:  # the reward's own check names fields: name the flags
                raise ValueError(_REWARD_FIELD.sub(lambda m: flag(m.group(0)), str(exc))) \
                    from None
        return cfg


@dataclass(frozen=True)
class TeacherPlan:
    """A checked run: what to train, where, and from which checkpoint."""

    cfg: TeacherConfig
    out: Path
    export: Path
    resume: Path | None
    options: TrainTeacherConfig
    """The options the plan was made from (the resume hints repeat some)."""

    def resume_command(self, checkpoint: Path, written: bool, export: bool = True) -> str:
        """The command that continues from ``checkpoint`` with this invocation's targets.

        A checkpoint this invocation has ``written`` carries its configuration (extended
        simulations, actors); an older one needs them again. ``export``: repeat --export.
        """
        again = not written
        options = TrainTeacherConfig(
            out=None if self.out.resolve() == checkpoint.parent.resolve() else self.out,
            simulations=self.cfg.simulations if again else None,
            actors=self.cfg.actors if again else None,
            export=self.options.export if export else None,
            model_version=self.options.model_version,
            ray_address=self.options.ray_address or None)
        return options.command("--resume", str(checkpoint))


def plan(options: TrainTeacherConfig) -> TeacherPlan:
    """Check every option (and the checkpoint) before anything starts or is written.

    Raises:
        ValueError: a bad option, naming it.
        TrainingError: an unusable checkpoint, naming it and what is wrong, or a
            Ray cluster that cannot be reached.

    """
    if options.resume is not None:
        cfg = _resumed_config(options, teacher.load_checkpoint(options.resume))
    else:
        cfg = options.run_config()
    out = options.out or (options.resume.parent if options.resume is not None else
                          Path("runs") / f"teacher-{cfg.profile}-{cfg.rollout.scenario}")
    export = options.export or out / "teacher.onnx"
    if problem := directory_problem(out, "--out"):
        raise ValueError(problem)
    _check_export(export)
    if options.ray_address:
        teacher.check_ray_address(options.ray_address)
    if not options.overwrite:
        problem = _existing_run(out, export, options.resume)
        if problem:
            raise ValueError(problem)
    return TeacherPlan(cfg, out, export, options.resume, options)


def train_teacher(options: TrainTeacherConfig) -> dict[str, Any]:
    """Plan, train (or resume) and export a teacher; the figures of the run.

    Raises:
        ValueError: a bad option, naming it.
        TrainingError: the run cannot start or continue, or the teacher cannot be
            exported (the message says how to export it from its checkpoint).
        KeyboardInterrupt: interrupted; its text says where to continue from.

    """
    checked = plan(options)
    cfg, out = checked.cfg, checked.out
    print(f"teacher: {cfg.profile} profile, {cfg.simulations} simulations of "
          f"{cfg.rollout.ues} UEs x {cfg.rollout.episode_slots} slots "
          f"({cfg.rollout.scenario}), {cfg.actors} Ray actor(s), run directory {out}",
          file=sys.stderr)
    result = _train(checked)
    print(f"teacher: {placement.describe(result.placements)}", file=sys.stderr)
    from training.cards import teacher_card
    from training.export import ExportError, export_onnx

    try:
        export_onnx(result.net, checked.export, teacher_card(result, options.model_version),
                    target_bler_range=DQN_TARGET_BLER)
    except ExportError as exc:
        checkpoint = out / "checkpoint.pt"
        command = checked.resume_command(checkpoint, written=True, export=False)
        raise TrainingError(f"cannot export the teacher: {exc}; the run is saved in "
                            f"{checkpoint}: export it with {command} --export PATH.onnx") \
            from None
    return {"onnx": str(checked.export), "parameters": result.net.parameter_count(),
            "simulations": result.progress.simulations, "ue_slots": result.progress.ue_slots,
            "seconds": round(result.progress.seconds, 1), "ray_nodes": result.placements}


def _train(checked: TeacherPlan) -> teacher.TrainResult:
    """Train with a progress bar; an interrupt says where the run can continue."""
    bar = None if checked.options.no_progress else _progress_bar(checked.cfg.simulations)
    done = 0.0

    def on_chunk(metrics: dict[str, float]) -> None:
        nonlocal done
        if bar is None:
            return
        bar.update(metrics["train/simulations"] - done)
        done = metrics["train/simulations"]
        bar.set_postfix(reward=f"{metrics['rollout/reward']:.3f}",
                        bler=f"{metrics['rollout/bler']:.3f}",
                        thp=f"{metrics['rollout/throughput_mbps']:.1f}Mb/s",
                        eps=f"{metrics['train/epsilon']:.2f}")

    before = _file_id(checked.out / "checkpoint.pt")
    try:
        return teacher.train(checked.cfg, checked.out, ray_address=checked.options.ray_address,
                             resume=checked.resume, on_chunk=on_chunk)
    except KeyboardInterrupt:
        # linkadapt.cli prints this as the one line after "interrupted"
        raise KeyboardInterrupt(_interrupted(checked, before)) from None
    finally:
        if bar is not None:
            bar.close()


def _file_id(path: Path) -> tuple[int, int] | None:
    """Identity of the file at ``path`` (checkpoints are replaced, never rewritten in place)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def _interrupted(checked: TeacherPlan, before: tuple[int, int] | None) -> str:
    """Where an interrupted run can be continued from, as one line."""
    checkpoint = checked.out / "checkpoint.pt"
    current = _file_id(checkpoint)
    if current is not None and current != before:
        written = True
    elif checked.resume is not None:
        checkpoint, written = checked.resume, False
    else:
        return "no checkpoint was written yet"
    return (f"last checkpoint {checkpoint}; continue with: "
            f"{checked.resume_command(checkpoint, written=written)}")


def _progress_bar(total: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="sim", file=sys.stderr, dynamic_ncols=True,
                bar_format="{l_bar}{bar}| {n:.1f}/{total} sims [{elapsed}<{remaining}{postfix}]")


def _resumed_config(options: TrainTeacherConfig, state: dict[str, Any]) -> TeacherConfig:
    """The checkpoint's configuration with what a resume may change; ValueError otherwise."""
    cfg = TeacherConfig.from_dict(state["config"])
    given: list[tuple[str, Any, Any]] = [
        ("--profile", options.profile, cfg.profile),
        ("--scenario", options.scenario, cfg.rollout.scenario),
        ("--seed", options.seed, cfg.seed),
        ("--hidden", None if options.hidden is None else _hidden(options.hidden), cfg.hidden),
        *((flag(name), getattr(options, name), getattr(cfg.rollout, name))
          for name in REWARD_FLAGS),
    ]
    conflicts = [f"{option} {_shown(value)} (the checkpoint's: {_shown(own)})"
                 for option, value, own in given if value is not None and value != own]
    if conflicts:
        raise ValueError(f"--resume continues the run of {str(options.resume)!r} as it was "
                         f"configured; these options would change it: {', '.join(conflicts)}. "
                         "Drop them, or start a new run in another --out")
    done = float(state["progress"].get("simulations", 0.0))
    if options.simulations is not None:
        if options.simulations < done - 1e-9:
            raise ValueError(f"--simulations {options.simulations} is fewer than the "
                             f"{done:g} the checkpoint has done")
        cfg = dataclasses.replace(cfg, simulations=options.simulations)  # extend the run
    if options.actors is not None:
        cfg = dataclasses.replace(cfg, actors=options.actors)
    return cfg


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return f"{len(value)}x{value[0]}" if len(set(value)) == 1 else "x".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _hidden(text: str) -> tuple[int, ...]:
    layers, _, width = text.lower().partition("x")
    if not (layers.isdigit() and width.isdigit() and int(layers) >= 1 and int(width) >= 1):
        raise ValueError(f"--hidden must be LAYERSxWIDTH with positive numbers, e.g. 7x160; "
                         f"got {text!r}")
    return (int(width),) * int(layers)


def _check_export(path: Path) -> None:
    if path.is_dir():
        raise ValueError(f"--export {str(path)!r} is a directory; give the .onnx file to write")
    # An existing file is replaced in its folder; a new one is created along its path.
    target = path.parent if path.exists() else path
    if problem := directory_problem(target, "--export"):
        raise ValueError(problem)


def _existing_run(out: Path, export: Path, resume: Path | None) -> str | None:
    """Why starting would replace another run's files, or None when it would not."""
    own = resume is not None and out.resolve() == resume.parent.resolve()
    held = [] if own else [name for name in RUN_FILES if (out / name).exists()]
    if held:
        hint = (f"continue it with --resume {out / 'checkpoint.pt'}, "
                if "checkpoint.pt" in held else "")
        return (f"--out {str(out)!r} already holds a teacher run ({', '.join(held)}): "
                f"{hint}choose another --out, or pass --overwrite to replace it")
    if export.exists() and export.resolve() != (out / "teacher.onnx").resolve():
        return (f"--export {str(export)!r} already exists: choose another path, or pass "
                "--overwrite to replace it")
    return None
