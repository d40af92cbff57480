"""``linkadapt train-teacher``: train the DQN teacher on Ray and export it to ONNX.

The options become one :class:`~training.teacher_run.TrainTeacherConfig`; the pipeline
(checks, training or resuming, export) is :func:`training.teacher_run.train_teacher`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from training.networks import TEACHER_HIDDEN
from training.options import MAX_SEED, flag
from training.rollout import RolloutConfig
from training.teacher_config import PROFILES, REWARD_FLAGS, TrainingError
from training.teacher_run import TeacherPlan, TrainTeacherConfig, train_teacher
from training.teacher_run import plan as plan_run

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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``train-teacher``."""
    parser.epilog = _EXAMPLES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--profile", default=None, choices=sorted(PROFILES),
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
    for name, text in REWARD_FLAGS.items():
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


def config(args: argparse.Namespace) -> TrainTeacherConfig:
    """The options of the command line as the pipeline's configuration."""
    reward = {name: getattr(args, name) for name in REWARD_FLAGS
              if getattr(args, name) is not None}
    return TrainTeacherConfig(
        profile=args.profile, scenario=args.scenario, actors=args.actors,
        simulations=args.simulations, reward=reward, hidden=args.hidden, seed=args.seed,
        model_version=args.model_version, out=args.out, export=args.export,
        resume=args.resume, overwrite=args.overwrite, ray_address=args.ray_address,
        no_progress=args.no_progress)


def plan(args: argparse.Namespace) -> TeacherPlan:
    """Check every option (and the checkpoint) before anything starts or is written."""
    return plan_run(config(args))


def run(args: argparse.Namespace) -> int:
    """Entry point of ``linkadapt train-teacher``."""
    try:
        summary = train_teacher(config(args))
    except (ValueError, TrainingError) as exc:
        return _fail(str(exc))
    print(json.dumps(summary))
    return 0
