"""``linkadapt train-teacher``: train the DQN teacher on Ray and export it to ONNX."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from training import placement, teacher
from training.networks import TEACHER_HIDDEN
from training.options import (
    MAX_SEED,
    directory_problem,
    flag,
    model_version_problem,
    seed_problem,
)
from training.rollout import RolloutConfig

_EXAMPLES = """examples:
  linkadapt train-teacher --profile quick                     # ~8 min on 2 idle cores
  linkadapt train-teacher --profile quick --scenario mimo     # a scenario-specific teacher
  linkadapt train-teacher --profile paper --ray-address 10.0.0.5:6379
  linkadapt train-teacher --resume runs/teacher-quick-random/checkpoint.pt
  linkadapt train-teacher --resume runs/teacher-quick-random/checkpoint.pt --simulations 480

A run directory holds one run: a new run refuses an --out that already holds one
(config.json, checkpoint.pt or teacher.onnx) unless --overwrite is given.
--resume continues the checkpoint's run with its own profile, scenario, network,
seed and reward; of the run's options only --simulations (to extend it) and
--actors may change, and any other that differs from the checkpoint is refused.
"""
RUN_FILES: Final = ("config.json", "checkpoint.pt", "teacher.onnx")
"""Files whose presence means a directory already holds a teacher run."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``train-teacher``."""
    parser.epilog = _EXAMPLES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--profile", default=None, choices=sorted(teacher.PROFILES),
                        help="run size (default: quick)")
    parser.add_argument("--scenario", default=None,
                        help="train on one benchmark scenario instead of domain randomization")
    parser.add_argument("--actors", type=int, default=None,
                        help="Ray rollout actors (default: the profile's; may change on "
                             "--resume)")
    parser.add_argument("--simulations", type=int, default=None,
                        help="override the profile's number of simulations; with --resume, "
                             "extend the run to this many")
    defaults = RolloutConfig()
    for name, text in _REWARD_FLAGS.items():
        parser.add_argument(flag(name), type=float, default=None,
                            help=f"{text} (default: the profile's, {getattr(defaults, name):g})")
    parser.add_argument("--hidden", default=None, metavar="LAYERSxWIDTH",
                        help="teacher hidden layers, e.g. 7x160 (default: the profile's, "
                             f"{len(TEACHER_HIDDEN)}x{TEACHER_HIDDEN[0]})")
    parser.add_argument("--seed", type=int, default=None,
                        help=f"random seed, 0 to {MAX_SEED} (default: 0)")
    parser.add_argument("--model-version", default=None, metavar="VERSION",
                        help="version in the teacher's model card (default: PROFILE-sSEED); "
                             "give a new one when a retrained teacher must sit beside an "
                             "earlier one in a model store")
    parser.add_argument("--out", type=Path, default=None,
                        help="run directory (default: runs/teacher-PROFILE-SCENARIO; with "
                             "--resume, the checkpoint's directory)")
    parser.add_argument("--export", type=Path, default=None, metavar="PATH.onnx",
                        help="where to write the ONNX teacher (default: OUT/teacher.onnx)")
    parser.add_argument("--resume", type=Path, default=None, metavar="CHECKPOINT",
                        help="continue a run from its checkpoint.pt")
    parser.add_argument("--overwrite", action="store_true",
                        help="start even if --out already holds a run (or --export exists): "
                             "its files are replaced as the new run writes them; its "
                             "TensorBoard logs stay beside the new run's")
    parser.add_argument("--ray-address", default=None, metavar="HOST:PORT",
                        help="join an existing Ray cluster instead of starting Ray locally "
                             "(its nodes need this linkadapt installed; a cluster with token "
                             "authentication needs RAY_AUTH_MODE=token and RAY_AUTH_TOKEN)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _fail(message: str) -> int:
    print(f"linkadapt train-teacher: error: {message}", file=sys.stderr)
    return 2


def _check_options(args: argparse.Namespace) -> None:
    """Check each option on its own; ValueError naming the bad one."""
    if args.actors is not None and args.actors < 1:
        raise ValueError(f"--actors must be at least 1, got {args.actors}")
    if args.simulations is not None and args.simulations < 1:
        raise ValueError(f"--simulations must be at least 1, got {args.simulations}")
    if args.seed is not None and (problem := seed_problem(args.seed)):
        raise ValueError(problem)
    if args.model_version is not None and (problem := model_version_problem(args.model_version)):
        raise ValueError(problem)
    if args.hidden is not None:
        _hidden(args.hidden)
    for name in _REWARD_FLAGS:
        value = getattr(args, name)
        if value is not None and not value >= 0:
            raise ValueError(f"{flag(name)} must be >= 0, got {value}")


def _config(args: argparse.Namespace) -> teacher.TeacherConfig:
    """The configuration of a new run: the profile with the options applied."""
    overrides: dict[str, Any] = {"seed": 0 if args.seed is None else args.seed}
    if args.actors is not None:
        overrides["actors"] = args.actors
    if args.simulations is not None:
        overrides["simulations"] = args.simulations
    if args.scenario is not None:
        overrides["scenario"] = args.scenario
    if args.hidden is not None:
        overrides["hidden"] = _hidden(args.hidden)
    cfg = teacher.profile(args.profile or "quick", **overrides)
    reward = {name: getattr(args, name) for name in _REWARD_FLAGS
              if getattr(args, name) is not None}
    if reward:
        try:
            cfg = dataclasses.replace(cfg, rollout=dataclasses.replace(cfg.rollout, **reward))
        except ValueError as exc:  # the reward's own check names fields: name the flags
            raise ValueError(_REWARD_FIELD.sub(lambda m: flag(m.group(0)), str(exc))) from None
    return cfg


def _resumed_config(args: argparse.Namespace, state: dict[str, Any]) -> teacher.TeacherConfig:
    """The checkpoint's configuration with what --resume may change; ValueError otherwise."""
    cfg = teacher.TeacherConfig.from_dict(state["config"])
    given: list[tuple[str, Any, Any]] = [
        ("--profile", args.profile, cfg.profile),
        ("--scenario", args.scenario, cfg.rollout.scenario),
        ("--seed", args.seed, cfg.seed),
        ("--hidden", None if args.hidden is None else _hidden(args.hidden), cfg.hidden),
        *((flag(name), getattr(args, name), getattr(cfg.rollout, name))
          for name in _REWARD_FLAGS),
    ]
    conflicts = [f"{flag} {_shown(value)} (the checkpoint's: {_shown(own)})"
                 for flag, value, own in given if value is not None and value != own]
    if conflicts:
        raise ValueError(f"--resume continues the run of {str(args.resume)!r} as it was "
                         f"configured; these options would change it: {', '.join(conflicts)}. "
                         "Drop them, or start a new run in another --out")
    done = float(state["progress"].get("simulations", 0.0))
    if args.simulations is not None:
        if args.simulations < done - 1e-9:
            raise ValueError(f"--simulations {args.simulations} is fewer than the "
                             f"{done:g} the checkpoint has done")
        cfg = dataclasses.replace(cfg, simulations=args.simulations)  # extend the run
    if args.actors is not None:
        cfg = dataclasses.replace(cfg, actors=args.actors)
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


_REWARD_FLAGS: dict[str, str] = {
    "harq_credit": "share of a failed first transmission's block value it earns in any state",
    "bler_floor": "KPM-window BLER below which failures earn --floor-credit",
    "floor_credit": "share of the block value a failure earns below the BLER floor",
    "nack_penalty": "fixed cost of a failed initial transmission",
    "nack_cost": "cost of a failed initial transmission as a share of what it would have earned",
    "bler_ceiling": "KPM-window BLER above which failures cost --ceiling-cost more",
    "ceiling_cost": "extra cost share of a failure above the BLER ceiling",
}
"""Flags that set the learning reward (fields of :class:`~training.rollout.RolloutConfig`)."""
_REWARD_FIELD: Final = re.compile(r"\b(" + "|".join(_REWARD_FLAGS) + r")\b")


def _check_directory(path: Path, option: str) -> None:
    """``path`` is, or can be created as, a directory this process can write to."""
    if problem := directory_problem(path, option):
        raise ValueError(problem)


def _check_export(path: Path) -> None:
    if path.is_dir():
        raise ValueError(f"--export {str(path)!r} is a directory; give the .onnx file to write")
    # An existing file is replaced in its folder; a new one is created along its path.
    _check_directory(path.parent if path.exists() else path, "--export")


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


@dataclass(frozen=True)
class _Plan:
    """A checked run: what to train, where, and from which checkpoint."""

    cfg: teacher.TeacherConfig
    out: Path
    export: Path
    resume: Path | None


def plan(args: argparse.Namespace) -> _Plan:
    """Check every option (and the checkpoint) before anything starts or is written.

    Raises:
        ValueError: a bad option, naming it.
        teacher.TrainingError: an unusable checkpoint, naming it and what is wrong, or a
            Ray cluster that cannot be reached.

    """
    _check_options(args)
    if args.resume is not None:
        cfg = _resumed_config(args, teacher.load_checkpoint(args.resume))
    else:
        cfg = _config(args)
    out = args.out or (args.resume.parent if args.resume is not None else
                       Path("runs") / f"teacher-{cfg.profile}-{cfg.rollout.scenario}")
    export = args.export or out / "teacher.onnx"
    _check_directory(out, "--out")
    _check_export(export)
    if args.ray_address:
        teacher.check_ray_address(args.ray_address)
    if not args.overwrite:
        problem = _existing_run(out, export, args.resume)
        if problem:
            raise ValueError(problem)
    return _Plan(cfg, out, export, args.resume)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``linkadapt train-teacher``."""
    try:
        checked = plan(args)
    except (ValueError, teacher.TrainingError) as exc:
        return _fail(str(exc))
    cfg, out, export_path = checked.cfg, checked.out, checked.export
    print(f"teacher: {cfg.profile} profile, {cfg.simulations} simulations of "
          f"{cfg.rollout.ues} UEs x {cfg.rollout.episode_slots} slots "
          f"({cfg.rollout.scenario}), {cfg.actors} Ray actor(s), run directory {out}",
          file=sys.stderr)
    bar = None if args.no_progress else _progress_bar(cfg.simulations)
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

    before = _file_id(out / "checkpoint.pt")
    try:
        result = teacher.train(cfg, out, ray_address=args.ray_address, resume=checked.resume,
                               on_chunk=on_chunk)
    except teacher.TrainingError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        # linkadapt.cli prints this as the one line after "interrupted"
        raise KeyboardInterrupt(_interrupted(args, checked, before)) from None
    finally:
        if bar is not None:
            bar.close()
    print(f"teacher: {placement.describe(result.placements)}", file=sys.stderr)
    from training.export import ExportError, export_onnx

    card = teacher_card(result, args.model_version)
    try:
        export_onnx(result.net, export_path, card)
    except ExportError as exc:
        checkpoint = out / "checkpoint.pt"
        command = _resume_command(args, checked, checkpoint, written=True, export=False)
        return _fail(f"cannot export the teacher: {exc}; the run is saved in {checkpoint}: "
                     f"export it with {command} --export PATH.onnx")
    print(json.dumps({"onnx": str(export_path), "parameters": result.net.parameter_count(),
                      "simulations": result.progress.simulations,
                      "ue_slots": result.progress.ue_slots,
                      "seconds": round(result.progress.seconds, 1),
                      "ray_nodes": result.placements}))
    return 0


def _file_id(path: Path) -> tuple[int, int] | None:
    """Identity of the file at ``path`` (checkpoints are replaced, never rewritten in place)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def _interrupted(args: argparse.Namespace, checked: _Plan,
                 before: tuple[int, int] | None) -> str:
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
            f"{_resume_command(args, checked, checkpoint, written=written)}")


def _resume_command(args: argparse.Namespace, checked: _Plan, checkpoint: Path,
                    written: bool, export: bool = True) -> str:
    """The command that continues from ``checkpoint`` with this invocation's targets.

    A checkpoint this invocation has ``written`` carries its configuration (extended
    simulations, actors); an older one needs them again. ``export``: repeat --export.
    """
    parts = ["linkadapt train-teacher", "--resume", shlex.quote(str(checkpoint))]
    if checked.out.resolve() != checkpoint.parent.resolve():
        parts += ["--out", shlex.quote(str(checked.out))]
    if not written:
        parts += [f"--simulations {checked.cfg.simulations}", f"--actors {checked.cfg.actors}"]
    if export and args.export is not None:
        parts += ["--export", shlex.quote(str(args.export))]
    if args.model_version is not None:
        parts += ["--model-version", shlex.quote(args.model_version)]
    if args.ray_address:
        parts += ["--ray-address", shlex.quote(args.ray_address)]
    return " ".join(parts)


def teacher_card(result: teacher.TrainResult, version: str | None = None) -> dict[str, Any]:
    """Model card fields of a trained teacher (``version``: ``--model-version``, if given)."""
    cfg = result.config
    return {
        "model_id": f"teacher-{cfg.rollout.scenario}",
        "version": version or f"{cfg.profile}-s{cfg.seed}",
        "kind": "teacher",
        "training": {
            "algorithm": "double DQN, Huber loss, target network, epsilon-greedy",
            "config": cfg.to_dict(),
            "simulations": result.progress.simulations,
            "ue_slots": result.progress.ue_slots,
            "transitions": result.progress.transitions,
            "seconds": round(result.progress.seconds, 1),
            "resumes": result.progress.resumes,
            "command": "linkadapt train-teacher --profile "
                       f"{cfg.profile} --seed {cfg.seed}"
                       + (f" --simulations {cfg.simulations}"
                          if cfg.simulations != teacher.PROFILES[cfg.profile].simulations else "")
                       + (f" --hidden {len(cfg.hidden)}x{cfg.hidden[0]}"
                          if cfg.hidden != teacher.PROFILES[cfg.profile].hidden else "")
                       + "".join(f" {flag(name)} {getattr(cfg.rollout, name):g}"
                                 for name in _REWARD_FLAGS)
                       + (f" --scenario {cfg.rollout.scenario}"
                          if cfg.rollout.scenario != "random" else "")
                       + (f" --model-version {shlex.quote(version)}" if version else ""),
        },
    }


def _progress_bar(total: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="sim", file=sys.stderr, dynamic_ncols=True,
                bar_format="{l_bar}{bar}| {n:.1f}/{total} sims [{elapsed}<{remaining}{postfix}]")
