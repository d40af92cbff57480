"""``linkadapt train-label-teacher``: the teacher learned from full-information labels.

The flags are the fields of :class:`~training.label_teacher.pipeline.LabelTeacherConfig`;
the pipeline is :func:`training.label_teacher.pipeline.train_label_teacher`.
"""

from __future__ import annotations

import argparse
import json
import sys

from linkadapt.config import add_flags, parse_config
from training.label_teacher.pipeline import LabelTeacherConfig, train_label_teacher
from training.teacher_config import TrainingError

EXAMPLES = """examples:
  linkadapt train-label-teacher --profile smoke --out runs/label-smoke   # ~1 min
  linkadapt train-label-teacher --profile quick                          # ~10 min on 2 cores
  linkadapt train-label-teacher --goodput exact --out runs/label-teacher-quick-exact
  linkadapt train-label-teacher --profile long --ray-address 10.0.0.5:6379
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``train-label-teacher``: the fields of its config."""
    add_flags(parser, LabelTeacherConfig)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``linkadapt train-label-teacher``."""
    config = parse_config(LabelTeacherConfig, args)
    try:
        summary = train_label_teacher(config, log=lambda line: print(line, file=sys.stderr))
    except (ValueError, TrainingError) as exc:
        print(f"linkadapt train-label-teacher: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({k: summary[k] for k in ("profile", "seed", "samples", "seconds")}))
    return 0
