"""``linkadapt train-teacher``: train the DQN teacher on Ray and export it to ONNX.

The flags are the fields of :class:`~training.teacher_run.TrainTeacherConfig`; the
pipeline (checks, training or resuming, export) is :func:`training.teacher_run.train_teacher`.
"""

from __future__ import annotations

import argparse
import json
import sys

from linkadapt.config import add_flags, parse_config
from training.teacher_config import TrainingError
from training.teacher_run import TeacherPlan, TrainTeacherConfig, train_teacher
from training.teacher_run import plan as plan_run

EXAMPLES = """examples:
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
    """Declare the options of ``train-teacher``: the fields of its config."""
    add_flags(parser, TrainTeacherConfig)


def plan(args: argparse.Namespace) -> TeacherPlan:
    """Check every option (and the checkpoint) before anything starts or is written."""
    return plan_run(parse_config(TrainTeacherConfig, args))


def run(args: argparse.Namespace) -> int:
    """Entry point of ``linkadapt train-teacher``."""
    options = parse_config(TrainTeacherConfig, args)
    try:
        summary = train_teacher(options)
    except (ValueError, TrainingError) as exc:
        print(f"linkadapt train-teacher: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0
