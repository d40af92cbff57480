"""``linkadapt distill``: teachers -> small students, exported to ONNX (float and INT8).

Modes:

* ``single``: one (scenario-agnostic) teacher, its dataset, one student per ``--student``;
* ``multi``: several scenario teachers, each run in its own scenario, their datasets
  aggregated and shuffled into one generalist student;
* ``realtime``: a teacher trained with DQN and a student distilled from its latest
  Q-values in the same run, then polished on the final teacher's labels of the
  last states it saw (no ``--teacher``; ``--profile`` sizes the teacher run);
* ``scratch``: the control: the student network trained from scratch with DQN.

The options become the mode's configuration (:mod:`training.distill.config`), which
:func:`training.distill.pipeline.distill` runs; this module parses, refuses by name an
option the mode would ignore (``--mode scratch`` has no ``--loss``, a ``--dataset`` run
collects nothing, so ``--samples`` means nothing), and prints one JSON line with the
figures. What the run writes is described in :mod:`training.distill.pipeline`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from training.distill import dataset as ds
from training.distill.config import (
    MODES,
    AttachConfig,
    ConfigError,
    DistillConfig,
    default,
)
from training.distill.pipeline import attach_evaluation, distill
from training.distill.teachers import TeacherError
from training.export import ExportError
from training.networks import STUDENT_HIDDEN
from training.options import MAX_SEED, flag
from training.teacher_config import TrainingError

__all__ = ["add_arguments", "command_line", "run"]

_EXAMPLES = """examples:
  linkadapt distill --teacher runs/teacher-quick/teacher.onnx --profile quick \\
      --student 4x64,4x32,3x32 --out runs/distill-quick
  linkadapt distill --teacher t.onnx --dataset runs/distill-quick/dataset --sweep-tau 0.01,0.1,1
  linkadapt distill --mode multi --teacher mimo.onnx --teacher cell-edge.onnx --profile quick
  linkadapt distill --mode realtime --profile quick --out runs/realtime-quick
  linkadapt distill --mode scratch --profile quick --out runs/scratch-quick
  linkadapt distill --teacher t.onnx --profile paper --ray-address 10.0.0.5:6379
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``distill``."""
    parser.epilog = _EXAMPLES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--teacher", action="append", default=[], metavar="PATH.onnx",
                        help="teacher ONNX (repeatable for --mode multi)")
    parser.add_argument("--mode", default=None, choices=tuple(MODES),
                        help="single, multi, realtime or scratch (default: single)")
    parser.add_argument("--student", default=None, metavar="SIZE[,SIZE...]",
                        help=f"student sizes, of {', '.join(STUDENT_HIDDEN)} "
                             f"(default: {default('student')})")
    parser.add_argument("--loss", default=None, choices=("kl", "nll", "mse"),
                        help="distillation loss (default: kl; not --mode scratch)")
    parser.add_argument("--tau", type=float, default=None,
                        help="teacher temperature of the KL loss (default: 0.01)")
    parser.add_argument("--sweep-tau", default=None, metavar="TAU,TAU,...",
                        help="train one student per temperature instead of --tau")
    parser.add_argument("--profile", default=None, choices=("smoke", "quick", "paper"),
                        help="dataset size and epochs; the teacher run for realtime/scratch")
    parser.add_argument("--dataset", action="append", default=[], type=Path, metavar="DIR",
                        help="use collected datasets instead of collecting (repeatable)")
    parser.add_argument("--samples", type=int, default=None,
                        help="override the profile's samples per teacher (single, multi)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="override the profile's epochs (single, multi)")
    parser.add_argument("--dagger-rounds", type=int, default=None, metavar="N",
                        help="single mode: after training, N rounds of running the student, "
                             "labelling the states it visits with the teacher, and training "
                             "again on all data (dataset aggregation; default: 0)")
    parser.add_argument("--dagger-samples", type=int, default=None, metavar="N",
                        help="states collected per aggregation round (default: half the "
                             "profile's samples)")
    parser.add_argument("--simulations", type=int, default=None,
                        help="realtime/scratch: override the teacher profile's simulations")
    parser.add_argument("--polish-epochs", type=int, default=None, metavar="N",
                        help="realtime: passes over the run's last minibatch states, labelled "
                             "by the final teacher, after the run (0: none; default: 10)")
    parser.add_argument("--polish-states", type=int, default=None, metavar="N",
                        help="realtime: how many of the last minibatch states the polish "
                             "uses (default: 1,000,000)")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="Adam step size of the student (default: 3e-3; realtime: at "
                             "most 1e-3)")
    parser.add_argument("--actors", type=int, default=None, help="Ray actors")
    parser.add_argument("--ray-address", default=None, metavar="HOST:PORT",
                        help="run the Ray actors on an existing Ray cluster instead of "
                             "starting Ray locally (as train-teacher --ray-address)")
    parser.add_argument("--seed", type=int, default=None,
                        help=f"random seed, 0 to {MAX_SEED} (default: 0)")
    parser.add_argument("--no-int8", action="store_true", help="skip the INT8 variants")
    parser.add_argument("--model-version", default=None, metavar="VERSION",
                        help="version in the model cards (default: from the recipe, e.g. "
                             "single-kl-tau0.01-quick-s0); give a new one when a retrained "
                             "model must sit beside an earlier one in a model store. INT8 "
                             "variants add -int8, --sweep-tau students -tauT, a realtime "
                             "run's teacher -realtime")
    parser.add_argument("--out", type=Path, default=None,
                        help="output directory (default: runs/distill-MODE-PROFILE)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    _add_attach_arguments(parser)


def _add_attach_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``--attach-evaluation`` (:class:`~training.distill.config.AttachConfig`)."""
    parser.add_argument("--attach-evaluation", type=Path, default=None, metavar="EVAL.json",
                        help="instead of distilling: store this 'linkadapt evaluate' result "
                             "(evaluation.json) in the cards of the --model files")
    parser.add_argument("--model", action="append", type=Path, default=[], metavar="PATH.onnx",
                        help="model whose card gets --attach-evaluation (repeatable)")
    parser.add_argument("--regenerate", action="append", default=[], metavar="COMMAND",
                        help="with --attach-evaluation: a command that regenerates the model, "
                             "recorded in its card (repeatable, in order)")


def _fail(message: str) -> int:
    print(f"linkadapt distill: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    """Entry point of ``linkadapt distill``: parse -> configuration -> pipeline -> print."""
    try:
        _check_usage(args)
        if args.attach_evaluation is not None:
            for entry in attach_evaluation(_attach_config(args)):
                print(json.dumps(entry))
            return 0
        _apply_defaults(args)
        summary = distill(_config(args))
    except (ConfigError, TeacherError, ds.DatasetError, ExportError, TrainingError,
            ValueError, OSError) as exc:
        return _fail(str(exc))
    print(json.dumps(summary))
    return 0


def _uses(cls: type) -> set[str]:
    """The options a configuration takes: its fields."""
    return {f.name for f in dataclasses.fields(cls)}


def _flags(names: Iterable[str]) -> str:
    return ", ".join(flag(n) for n in names)


def _given(args: argparse.Namespace) -> list[str]:
    """The options given on the command line, in the order they are declared."""
    return [name for name, value in vars(args).items()
            if not (value is None or value is False or value == [])]


def _check_usage(args: argparse.Namespace) -> None:
    """Refuse options the chosen mode (or ``--attach-evaluation``) would silently ignore."""
    given = _given(args)
    if args.attach_evaluation is not None:
        unused = [n for n in given if n not in _uses(AttachConfig)]
        if unused:
            raise ConfigError(f"--attach-evaluation only updates model cards; it does not use "
                              f"{_flags(unused)}")
        return
    if args.model or args.regenerate:
        raise ConfigError(f"{_flags(n for n in given if n in ('model', 'regenerate'))}: "
                          "only with --attach-evaluation")
    mode = args.mode or next(iter(MODES))
    if mode == "multi" and args.dagger_rounds is not None:
        raise ConfigError("--dagger-rounds needs --mode single (one teacher labels the "
                          "student's states)")
    if mode in ("realtime", "scratch") and (args.teacher or args.dataset):
        raise ConfigError(f"--mode {mode} trains its own teacher network; "
                          "drop --teacher/--dataset")
    unused = [n for n in given if n not in _uses(MODES[mode]) | {"mode"}]
    if unused:
        raise ConfigError(f"--mode {mode} does not use {_flags(unused)}")
    loss = args.loss or default("loss")
    unused = [n for n in given if n in ("tau", "sweep_tau")]
    if loss != "kl" and unused:
        raise ConfigError(f"--loss {loss} has no temperature (that is the KL loss's); "
                          f"drop {_flags(unused)}")
    if args.tau is not None and args.sweep_tau is not None:
        raise ConfigError("give --tau or --sweep-tau, not both")
    if args.dagger_samples is not None and not args.dagger_rounds:
        raise ConfigError("--dagger-samples needs --dagger-rounds N (N >= 1)")
    if args.dataset and not args.dagger_rounds:
        unused = [n for n in given if n in ("samples", "actors", "ray_address")]
        if unused:
            raise ConfigError(f"nothing is collected with --dataset: {_flags(unused)} "
                              "would be ignored")
    if args.dataset and args.dagger_samples is not None and args.samples is not None:
        raise ConfigError("--dagger-samples sizes the aggregation rounds; with --dataset, "
                          "--samples would be ignored")


def _apply_defaults(args: argparse.Namespace) -> None:
    """Fill in the options left out with the defaults of the mode's configuration."""
    args.mode = args.mode or next(iter(MODES))
    for f in dataclasses.fields(MODES[args.mode]):
        if getattr(args, f.name) is None:
            setattr(args, f.name, f.default)


def _config(args: argparse.Namespace) -> DistillConfig:
    """The mode's configuration from the (checked) options."""
    cls = MODES[args.mode or next(iter(MODES))]
    given: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        value = getattr(args, f.name)
        if value is not None:
            given[f.name] = tuple(value) if isinstance(value, list) else value
    return cls(**given)


def _attach_config(args: argparse.Namespace) -> AttachConfig:
    return AttachConfig(attach_evaluation=args.attach_evaluation, model=tuple(args.model),
                        regenerate=tuple(args.regenerate), no_progress=args.no_progress)


def command_line(args: argparse.Namespace) -> str:
    """The canonical ``linkadapt distill`` command that reproduces this run."""
    return _config(args).command()
