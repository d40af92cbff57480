"""``linkadapt train-label-teacher``: the teacher learned from full-information labels.

The options become one :class:`~training.label_teacher.pipeline.LabelTeacherConfig`;
the pipeline is :func:`training.label_teacher.pipeline.train_label_teacher`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from training.label_teacher.pipeline import PROFILES, LabelTeacherConfig, train_label_teacher
from training.teacher_config import TrainingError

_EXAMPLES = """examples:
  linkadapt train-label-teacher --profile smoke --out runs/label-smoke   # ~1 min
  linkadapt train-label-teacher --profile quick                          # ~25 min on 2 cores
  linkadapt train-label-teacher --profile long --ray-address 10.0.0.5:6379
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``train-label-teacher``."""
    parser.epilog = _EXAMPLES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--profile", default="quick", choices=sorted(PROFILES),
                        help="run size (default: quick)")
    parser.add_argument("--scenario", default="random",
                        help="train on one benchmark scenario (its UEs still draw their "
                             "targets) instead of domain randomization (default: random)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--actors", type=int, default=None,
                        help="Ray collection actors (default: the profile's)")
    parser.add_argument("--out", type=Path, default=None,
                        help="run directory (default: runs/label-teacher-PROFILE-SCENARIO)")
    parser.add_argument("--model-version", default=None, metavar="VERSION",
                        help="version in the model card (default: PROFILE-sSEED)")
    parser.add_argument("--ray-address", default=None, metavar="HOST:PORT",
                        help="join an existing Ray cluster instead of starting Ray locally")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the run that --out already holds")


def config(args: argparse.Namespace) -> LabelTeacherConfig:
    """The command line as the pipeline's configuration."""
    return LabelTeacherConfig(profile=args.profile, scenario=args.scenario, seed=args.seed,
                              actors=args.actors, out=args.out, model_version=args.model_version,
                              ray_address=args.ray_address, overwrite=args.overwrite)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``linkadapt train-label-teacher``."""
    try:
        summary = train_label_teacher(config(args), log=lambda line: print(line, file=sys.stderr))
    except (ValueError, TrainingError) as exc:
        print(f"linkadapt train-label-teacher: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({k: summary[k] for k in ("profile", "seed", "samples", "seconds")}))
    return 0
