"""``linkadapt distill``: teachers -> small students, exported to ONNX (float and INT8).

Modes:

* ``single``: one (scenario-agnostic) teacher, its dataset, one student per ``--student``;
* ``multi``: several scenario teachers, each run in its own scenario, their datasets
  aggregated and shuffled into one generalist student;
* ``realtime``: a teacher trained with DQN and a student distilled from its latest
  Q-values in the same run, then polished on the final teacher's labels of the
  last states it saw (no ``--teacher``; ``--profile`` sizes the teacher run);
* ``scratch``: the control: the student network trained from scratch with DQN.

The flags are the fields of the modes' configurations (:mod:`training.distill.config`),
grouped by the modes that use them; the mode's configuration is what
:func:`training.distill.pipeline.distill` runs. This module parses, refuses by name an
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

from linkadapt.config import add_flags, flag, parse_config
from training.distill import dataset as ds
from training.distill.config import MODES, AttachConfig, ConfigError, DistillConfig
from training.distill.pipeline import attach_evaluation, distill
from training.distill.teachers import TeacherError
from training.export import ExportError
from training.teacher_config import TrainingError

__all__ = ["add_arguments", "command_line", "config", "run"]

EXAMPLES = """examples:
  linkadapt distill --teacher runs/teacher-quick/teacher.onnx --profile quick \\
      --student 4x64,4x32,3x32 --out runs/distill-quick
  linkadapt distill --teacher t.onnx --dataset runs/distill-quick/dataset --sweep-tau 0.01,0.1,1
  linkadapt distill --mode multi --teacher mimo.onnx --teacher cell-edge.onnx --profile quick
  linkadapt distill --mode realtime --profile quick --out runs/realtime-quick
  linkadapt distill --mode scratch --profile quick --out runs/scratch-quick
  linkadapt distill --teacher t.onnx --profile paper --ray-address 10.0.0.5:6379
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``distill``: the fields of the modes' configurations.

    ``--mode`` picks the configuration class, so it is no field of one and is declared
    here. The options of every mode come under "options", the others in one group per
    set of modes that use them, ``--attach-evaluation``'s last.
    """
    parser.add_argument("--mode", default=argparse.SUPPRESS, choices=tuple(MODES),
                        help="single, multi, realtime or scratch (default: single)")
    declared: set[str] = set()
    for modes, names in _groups():
        every = len(modes) == len(MODES)
        group = parser if every else parser.add_argument_group(f"--mode {', '.join(modes)}")
        add_flags(group, MODES[modes[0]], exclude=_names(MODES[modes[0]]) - set(names))
        declared |= set(names)
    attach = parser.add_argument_group("--attach-evaluation (instead of distilling)")
    add_flags(attach, AttachConfig, exclude=declared)


def _names(cls: type) -> set[str]:
    """The options a configuration takes: its fields."""
    return {f.name for f in dataclasses.fields(cls)}


def _groups() -> list[tuple[tuple[str, ...], list[str]]]:
    """The fields of the modes grouped by the modes that use them.

    A group's modes are in ``MODES`` order; groups come by their first mode, the wider
    first, the options of every mode last (the order refusals name options in).
    """
    names = list(dict.fromkeys(f.name for cls in MODES.values() for f in dataclasses.fields(cls)))
    uses = {n: tuple(m for m, cls in MODES.items() if n in _names(cls)) for n in names}
    order = sorted(set(uses.values()), key=lambda modes: (
        len(modes) == len(MODES), list(MODES).index(modes[0]), -len(modes)))
    return [(modes, [n for n in names if uses[n] == modes]) for modes in order]


def _given(args: argparse.Namespace) -> list[str]:
    """The options given on the command line, in the order of their groups."""
    known = ["mode", *(n for _, names in _groups() for n in names),
             *(f.name for f in dataclasses.fields(AttachConfig))]
    return [n for n in dict.fromkeys(known) if n in vars(args)]


def _flags(names: Iterable[str]) -> str:
    return ", ".join(flag(n) for n in names)


def _fail(message: str) -> int:
    print(f"linkadapt distill: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    """Entry point of ``linkadapt distill``: parse -> configuration -> pipeline -> print."""
    try:
        cfg = config(args)
        if isinstance(cfg, AttachConfig):
            for entry in attach_evaluation(cfg):
                print(json.dumps(entry))
            return 0
        summary = distill(cfg)
    except (ConfigError, TeacherError, ds.DatasetError, ExportError, TrainingError,
            ValueError, OSError) as exc:
        return _fail(str(exc))
    print(json.dumps(summary))
    return 0


def config(args: argparse.Namespace) -> DistillConfig | AttachConfig:
    """The configuration the options give; ConfigError naming an option it would ignore."""
    _check_usage(args)
    if "attach_evaluation" in vars(args):
        return parse_config(AttachConfig, _only(args, AttachConfig))
    cls = MODES[getattr(args, "mode", next(iter(MODES)))]
    cfg = parse_config(cls, _only(args, cls))
    _check_values(cfg, _given(args))
    return cfg


def _only(args: argparse.Namespace, cls: type) -> argparse.Namespace:
    return argparse.Namespace(**{k: v for k, v in vars(args).items() if k in _names(cls)})


def _check_usage(args: argparse.Namespace) -> None:
    """Refuse options the chosen mode (or ``--attach-evaluation``) would silently ignore."""
    given = _given(args)
    if "attach_evaluation" in given:
        unused = [n for n in given if n not in _names(AttachConfig)]
        if unused:
            raise ConfigError(f"--attach-evaluation only updates model cards; it does not use "
                              f"{_flags(unused)}")
        return
    if "model" in given or "regenerate" in given:
        raise ConfigError(f"{_flags(n for n in given if n in ('model', 'regenerate'))}: "
                          "only with --attach-evaluation")
    mode = getattr(args, "mode", next(iter(MODES)))
    if mode == "multi" and "dagger_rounds" in given:
        raise ConfigError("--dagger-rounds needs --mode single (one teacher labels the "
                          "student's states)")
    if mode in ("realtime", "scratch") and ("teacher" in given or "dataset" in given):
        raise ConfigError(f"--mode {mode} trains its own teacher network; "
                          "drop --teacher/--dataset")
    unused = [n for n in given if n not in _names(MODES[mode]) | {"mode"}]
    if unused:
        raise ConfigError(f"--mode {mode} does not use {_flags(unused)}")


def _check_values(cfg: DistillConfig, given: list[str]) -> None:
    """Refuse options that the values of the others make meaningless."""
    unused = [n for n in given if n in ("tau", "sweep_tau", "tau_reference")]
    loss = getattr(cfg, "loss", "kl")
    if loss != "kl" and unused:
        raise ConfigError(f"--loss {loss} has no temperature (that is the KL loss's); "
                          f"drop {_flags(unused)}")
    if "tau" in given and "sweep_tau" in given:
        raise ConfigError("give --tau or --sweep-tau, not both")
    rounds = getattr(cfg, "dagger_rounds", 0)
    if "dagger_samples" in given and not rounds:
        raise ConfigError("--dagger-samples needs --dagger-rounds N (N >= 1)")
    if "dataset" in given and not rounds and "scenario_states" not in given:
        unused = [n for n in given if n in ("samples", "actors", "ray_address")]
        if unused:
            raise ConfigError(f"nothing is collected with --dataset: {_flags(unused)} "
                              "would be ignored")
    if "dataset" in given and "dagger_samples" in given and "samples" in given:
        raise ConfigError("--dagger-samples sizes the aggregation rounds; with --dataset, "
                          "--samples would be ignored")


def command_line(args: argparse.Namespace) -> str:
    """The canonical ``linkadapt distill`` command that reproduces this run."""
    cfg = config(args)
    if isinstance(cfg, AttachConfig):
        raise ConfigError("--attach-evaluation runs no distillation to reproduce")
    return cfg.command()
