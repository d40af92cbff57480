"""``linkadapt train-teacher``: train the DQN teacher on Ray and export it to ONNX."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from training import teacher
from training.networks import TEACHER_HIDDEN
from training.rollout import RolloutConfig

_EXAMPLES = """examples:
  linkadapt train-teacher --profile quick                     # ~8 min on 2 idle cores
  linkadapt train-teacher --profile quick --scenario mimo     # a scenario-specific teacher
  linkadapt train-teacher --profile paper --ray-address 10.0.0.5:6379
  linkadapt train-teacher --resume runs/teacher-quick-random/checkpoint.pt
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``train-teacher``."""
    parser.epilog = _EXAMPLES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--profile", default="quick", choices=sorted(teacher.PROFILES),
                        help="run size (default: quick)")
    parser.add_argument("--scenario", default=None,
                        help="train on one benchmark scenario instead of domain randomization")
    parser.add_argument("--actors", type=int, default=None, help="Ray rollout actors")
    parser.add_argument("--simulations", type=int, default=None,
                        help="override the profile's number of simulations")
    defaults = RolloutConfig()
    for name, text in _REWARD_FLAGS.items():
        parser.add_argument(_flag(name), type=float, default=None,
                            help=f"{text} (default: the profile's, {getattr(defaults, name):g})")
    parser.add_argument("--hidden", default=None, metavar="LAYERSxWIDTH",
                        help="teacher hidden layers, e.g. 7x160 (default: the profile's, "
                             f"{len(TEACHER_HIDDEN)}x{TEACHER_HIDDEN[0]})")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--out", type=Path, default=None,
                        help="run directory (default: runs/teacher-PROFILE-SCENARIO)")
    parser.add_argument("--export", type=Path, default=None, metavar="PATH.onnx",
                        help="where to write the ONNX teacher (default: OUT/teacher.onnx)")
    parser.add_argument("--resume", type=Path, default=None, metavar="CHECKPOINT",
                        help="continue a run from its checkpoint.pt")
    parser.add_argument("--ray-address", default=None, metavar="HOST:PORT",
                        help="join an existing Ray cluster instead of starting Ray locally")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _fail(message: str) -> int:
    print(f"linkadapt train-teacher: error: {message}", file=sys.stderr)
    return 2


def _config(args: argparse.Namespace) -> teacher.TeacherConfig:
    overrides: dict[str, Any] = {"seed": args.seed}
    if args.actors is not None:
        if args.actors < 1:
            raise ValueError(f"--actors must be at least 1, got {args.actors}")
        overrides["actors"] = args.actors
    if args.simulations is not None:
        if args.simulations < 1:
            raise ValueError(f"--simulations must be at least 1, got {args.simulations}")
        overrides["simulations"] = args.simulations
    if args.scenario is not None:
        overrides["scenario"] = args.scenario
    if args.hidden is not None:
        overrides["hidden"] = _hidden(args.hidden)
    cfg = teacher.profile(args.profile, **overrides)
    reward = {name: getattr(args, name) for name in _REWARD_FLAGS
              if getattr(args, name) is not None}
    for name, value in reward.items():
        if not value >= 0:
            raise ValueError(f"{_flag(name)} must be >= 0, got {value}")
    if reward:
        cfg = dataclasses.replace(cfg, rollout=dataclasses.replace(cfg.rollout, **reward))
    return cfg


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


def _flag(name: str) -> str:
    return f"--{name.replace('_', '-')}"


def run(args: argparse.Namespace) -> int:
    """Entry point of ``linkadapt train-teacher``."""
    try:
        cfg = _config(args)
    except ValueError as exc:
        return _fail(str(exc))
    if args.resume is not None:
        try:
            cfg = teacher.TeacherConfig.from_dict(teacher.load_checkpoint(args.resume)["config"])
        except teacher.TrainingError as exc:
            return _fail(str(exc))
        if args.simulations is not None:  # extend a finished run
            cfg = dataclasses.replace(cfg, simulations=args.simulations)
    out = args.out or (args.resume.parent if args.resume is not None else
                       Path("runs") / f"teacher-{cfg.profile}-{cfg.rollout.scenario}")
    export_path = args.export or out / "teacher.onnx"
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

    try:
        result = teacher.train(cfg, out, ray_address=args.ray_address, resume=args.resume,
                               on_chunk=on_chunk)
    except teacher.TrainingError as exc:
        return _fail(str(exc))
    finally:
        if bar is not None:
            bar.close()
    from training.export import export_onnx

    card = teacher_card(result)
    export_onnx(result.net, export_path, card)
    print(json.dumps({"onnx": str(export_path), "parameters": result.net.parameter_count(),
                      "simulations": result.progress.simulations,
                      "ue_slots": result.progress.ue_slots,
                      "seconds": round(result.progress.seconds, 1)}))
    return 0


def teacher_card(result: teacher.TrainResult) -> dict[str, Any]:
    """Model card fields of a trained teacher."""
    cfg = result.config
    return {
        "model_id": f"teacher-{cfg.rollout.scenario}",
        "version": f"{cfg.profile}-s{cfg.seed}",
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
                       + "".join(f" {_flag(name)} {getattr(cfg.rollout, name):g}"
                                 for name in _REWARD_FLAGS)
                       + (f" --scenario {cfg.rollout.scenario}"
                          if cfg.rollout.scenario != "random" else ""),
        },
    }


def _progress_bar(total: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="sim", file=sys.stderr, dynamic_ncols=True,
                bar_format="{l_bar}{bar}| {n:.1f}/{total} sims [{elapsed}<{remaining}{postfix}]")
