"""The ``train-teacher`` pipeline: check the options, train (or resume), export the teacher.

:class:`TrainTeacherConfig` holds one value per ``linkadapt train-teacher`` option
(``None``: not given); :func:`plan` checks all of them, and the checkpoint, before
anything starts or is written; :func:`train_teacher` runs the plan. A run directory
holds one run: a new run refuses one that holds another unless ``overwrite``; a
resumed run keeps its checkpoint's configuration except ``simulations`` and ``actors``.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from training import placement, teacher
from training.options import directory_problem, flag, model_version_problem, seed_problem
from training.teacher_config import DQN_TARGET_BLER, REWARD_FLAGS, TeacherConfig, TrainingError

RUN_FILES: Final = ("config.json", "checkpoint.pt", "teacher.onnx")
"""Files whose presence means a directory already holds a teacher run."""
_REWARD_FIELD: Final = re.compile(r"\b(" + "|".join(REWARD_FLAGS) + r")\b")
"""A reward field named in a message of the rollout configuration's own check."""


@dataclass(frozen=True)
class TrainTeacherConfig:
    """One value per ``linkadapt train-teacher`` option; ``None``: not given."""

    profile: str | None = None
    """Run size, a name of :data:`training.teacher.PROFILES` (None: quick)."""
    scenario: str | None = None
    """Benchmark scenario to train on (None: the profile's domain randomization)."""
    actors: int | None = None
    """Ray rollout actors (None: the profile's); may change on resume."""
    simulations: int | None = None
    """Simulations of the run (None: the profile's); on resume, extend the run to this many."""
    reward: dict[str, float] = field(default_factory=dict)
    """Reward settings given, by :data:`~training.teacher_config.REWARD_FLAGS` name."""
    hidden: str | None = None
    """Hidden layers as LAYERSxWIDTH, e.g. 7x160 (None: the profile's)."""
    seed: int | None = None
    """Random seed (None: 0, or the checkpoint's on resume)."""
    model_version: str | None = None
    """Version in the teacher's model card (None: PROFILE-sSEED)."""
    out: Path | None = None
    """Run directory (None: runs/teacher-PROFILE-SCENARIO, or the checkpoint's on resume)."""
    export: Path | None = None
    """Where the ONNX teacher goes (None: OUT/teacher.onnx)."""
    resume: Path | None = None
    """A checkpoint.pt whose run to continue."""
    overwrite: bool = False
    """Start even if the run directory holds a run (or the export file exists)."""
    ray_address: str | None = None
    """HOST:PORT of a Ray cluster to join (None: Ray in-process)."""
    no_progress: bool = False
    """No progress bar."""

    def check(self) -> None:
        """Check each option on its own; ValueError naming the bad one."""
        if self.actors is not None and self.actors < 1:
            raise ValueError(f"--actors must be at least 1, got {self.actors}")
        if self.simulations is not None and self.simulations < 1:
            raise ValueError(f"--simulations must be at least 1, got {self.simulations}")
        if self.seed is not None and (problem := seed_problem(self.seed)):
            raise ValueError(problem)
        if self.model_version is not None and (
                problem := model_version_problem(self.model_version)):
            raise ValueError(problem)
        if self.hidden is not None:
            _hidden(self.hidden)
        for name in REWARD_FLAGS:
            value = self.reward.get(name)
            if value is not None and not value >= 0:
                raise ValueError(f"{flag(name)} must be >= 0, got {value}")

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
        reward: dict[str, Any] = {name: self.reward[name] for name in REWARD_FLAGS
                                  if name in self.reward}
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
        parts = ["linkadapt train-teacher", "--resume", shlex.quote(str(checkpoint))]
        if self.out.resolve() != checkpoint.parent.resolve():
            parts += ["--out", shlex.quote(str(self.out))]
        if not written:
            parts += [f"--simulations {self.cfg.simulations}", f"--actors {self.cfg.actors}"]
        if export and self.options.export is not None:
            parts += ["--export", shlex.quote(str(self.options.export))]
        if self.options.model_version is not None:
            parts += ["--model-version", shlex.quote(self.options.model_version)]
        if self.options.ray_address:
            parts += ["--ray-address", shlex.quote(self.options.ray_address)]
        return " ".join(parts)


def plan(options: TrainTeacherConfig) -> TeacherPlan:
    """Check every option (and the checkpoint) before anything starts or is written.

    Raises:
        ValueError: a bad option, naming it.
        TrainingError: an unusable checkpoint, naming it and what is wrong, or a
            Ray cluster that cannot be reached.

    """
    options.check()
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
        *((flag(name), options.reward.get(name), getattr(cfg.rollout, name))
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
