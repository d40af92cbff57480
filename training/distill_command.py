"""``linkadapt distill``: teachers -> small students, exported to ONNX (float and INT8).

Modes:

* ``single``: one (scenario-agnostic) teacher, its dataset, one student per ``--student``;
* ``multi``: several scenario teachers, each run in its own scenario, their datasets
  aggregated and shuffled into one generalist student;
* ``realtime``: a teacher trained with DQN and a student distilled from its latest
  Q-values in the same run, then polished on the final teacher's labels of the
  last states it saw (no ``--teacher``; ``--profile`` sizes the teacher run);
* ``scratch``: the control: the student network trained from scratch with DQN.

Writes to ``--out``: ``dataset*/`` (shards + manifest), ``student-SIZE.onnx`` and
``student-SIZE.card.json``, ``student-SIZE-int8.onnx`` (+ card), ``tensorboard/``
and ``summary.json``; prints one JSON line with the figures. Every file is written
whole or not at all: a dataset is collected beside its directory and renamed over
it when complete, models and cards are renamed over the old ones.

Every option is checked before any dataset is collected or network trained, and an
option the mode would ignore is refused by name (``--mode scratch`` has no
``--loss``, a ``--dataset`` run collects nothing, so ``--samples`` means nothing).
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from training.distill import dataset as ds
from training.distill.profiles import DistillProfile, distill_profile
from training.distill.student import StudentConfig, StudentResult
from training.distill.teachers import Teacher, TeacherError, load_teacher
from training.export import ExportError
from training.networks import STUDENT_HIDDEN, QNetwork
from training.options import (
    MAX_SEED,
    directory_problem,
    flag,
    model_version_problem,
    seed_problem,
)
from training.placement import describe, nodes
from training.teacher import TrainingError, check_ray_address

if TYPE_CHECKING:
    from training.teacher import TeacherConfig

MODES = ("single", "multi", "realtime", "scratch")
DEFAULTS: Final[dict[str, Any]] = {
    "mode": "single", "student": "3x32", "loss": "kl", "tau": 0.01, "profile": "quick",
    "dagger_rounds": 0, "polish_epochs": 10, "polish_states": 1_000_000,
    "learning_rate": 3e-3, "seed": 0,
}
"""Defaults, applied once the options are checked against the mode: argparse leaves them
``None``, so that an option given can be told from one left out."""
_DISTILLING: Final = frozenset({"teacher", "dataset", "student", "loss", "tau", "sweep_tau",
                                "profile", "samples", "epochs", "learning_rate", "actors",
                                "seed", "no_int8", "out", "model_version", "ray_address"})
USES: Final[dict[str, frozenset[str]]] = {
    "single": _DISTILLING | {"dagger_rounds", "dagger_samples"},
    "multi": _DISTILLING,
    "realtime": frozenset({"student", "loss", "tau", "profile", "simulations", "polish_epochs",
                           "polish_states", "learning_rate", "actors", "seed", "no_int8",
                           "out", "model_version", "ray_address"}),
    "scratch": frozenset({"student", "profile", "simulations", "actors", "seed", "no_int8",
                          "out", "model_version", "ray_address"}),
}
"""Options each mode uses, besides ``--mode`` and ``--no-progress``; any other is refused."""
_ATTACHING: Final = frozenset({"attach_evaluation", "model", "regenerate", "no_progress"})
_EXAMPLES = """examples:
  linkadapt distill --teacher runs/teacher-quick/teacher.onnx --profile quick \\
      --student 4x64,4x32,3x32 --out runs/distill-quick
  linkadapt distill --teacher t.onnx --dataset runs/distill-quick/dataset --sweep-tau 0.01,0.1,1
  linkadapt distill --mode multi --teacher mimo.onnx --teacher cell-edge.onnx --profile quick
  linkadapt distill --mode realtime --profile quick --out runs/realtime-quick
  linkadapt distill --mode scratch --profile quick --out runs/scratch-quick
  linkadapt distill --teacher t.onnx --profile paper --ray-address 10.0.0.5:6379
"""


class CommandError(ValueError):
    """Bad options or inputs; printed as ``linkadapt distill: error: ...``."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``distill``."""
    parser.epilog = _EXAMPLES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--teacher", action="append", default=[], metavar="PATH.onnx",
                        help="teacher ONNX (repeatable for --mode multi)")
    parser.add_argument("--mode", default=None, choices=MODES,
                        help="single, multi, realtime or scratch (default: single)")
    parser.add_argument("--student", default=None, metavar="SIZE[,SIZE...]",
                        help=f"student sizes, of {', '.join(STUDENT_HIDDEN)} (default: 3x32)")
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
    """Entry point of ``linkadapt distill``.

    Every option is checked, and everything that can refuse them (student and
    teacher configurations, teachers, given datasets, the output paths) is built
    before any dataset is collected or any network trained.
    """
    try:
        _check_usage(args)
        if args.attach_evaluation is not None:
            return _attach(args)
        _apply_defaults(args)
        plan = _plan(args)
        if args.mode in ("realtime", "scratch"):
            summary = _run_training_modes(args, plan)
        else:
            summary = _run_distillation(args, plan)
        _write_file(args.out / "summary.json", json.dumps(summary, indent=2) + "\n")
    except (CommandError, TeacherError, ds.DatasetError, ExportError, TrainingError,
            ValueError, OSError) as exc:
        return _fail(str(exc))
    print(json.dumps(summary))
    return 0


# --- options ----------------------------------------------------------------------


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
        unused = [n for n in given if n not in _ATTACHING]
        if unused:
            raise CommandError(f"--attach-evaluation only updates model cards; it does not use "
                               f"{_flags(unused)}")
        return
    if args.model or args.regenerate:
        raise CommandError(f"{_flags(n for n in given if n in ('model', 'regenerate'))}: "
                           "only with --attach-evaluation")
    mode = args.mode or DEFAULTS["mode"]
    if mode == "multi" and args.dagger_rounds is not None:
        raise CommandError("--dagger-rounds needs --mode single (one teacher labels the "
                           "student's states)")
    if mode in ("realtime", "scratch") and (args.teacher or args.dataset):
        raise CommandError(f"--mode {mode} trains its own teacher network; "
                           "drop --teacher/--dataset")
    unused = [n for n in given if n not in USES[mode] | {"mode", "no_progress"}]
    if unused:
        raise CommandError(f"--mode {mode} does not use {_flags(unused)}")
    loss = args.loss or DEFAULTS["loss"]
    unused = [n for n in given if n in ("tau", "sweep_tau")]
    if loss != "kl" and unused:
        raise CommandError(f"--loss {loss} has no temperature (that is the KL loss's); "
                           f"drop {_flags(unused)}")
    if args.tau is not None and args.sweep_tau is not None:
        raise CommandError("give --tau or --sweep-tau, not both")
    if args.dagger_samples is not None and not args.dagger_rounds:
        raise CommandError("--dagger-samples needs --dagger-rounds N (N >= 1)")
    if args.dataset and not args.dagger_rounds:
        unused = [n for n in given if n in ("samples", "actors", "ray_address")]
        if unused:
            raise CommandError(f"nothing is collected with --dataset: {_flags(unused)} "
                               "would be ignored")
    if args.dataset and args.dagger_samples is not None and args.samples is not None:
        raise CommandError("--dagger-samples sizes the aggregation rounds; with --dataset, "
                           "--samples would be ignored")


def _apply_defaults(args: argparse.Namespace) -> None:
    for name, value in DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.out = args.out or Path("runs") / f"distill-{args.mode}-{args.profile}"


def command_line(args: argparse.Namespace) -> str:
    """The canonical ``linkadapt distill`` command that reproduces this run.

    Only the options the mode uses: the command is run again as it is.
    """
    parts = ["linkadapt", "distill", "--mode", args.mode]
    for t in args.teacher:
        parts += ["--teacher", str(t)]
    for d in args.dataset:
        parts += ["--dataset", str(d)]
    parts += ["--profile", args.profile, "--student", args.student]
    if args.mode != "scratch":
        parts += ["--loss", args.loss]
        if args.loss == "kl":
            parts += (["--sweep-tau", args.sweep_tau] if args.sweep_tau
                      else ["--tau", f"{args.tau:g}"])
    for name in ("samples", "epochs", "simulations", "actors", "dagger_rounds",
                 "dagger_samples"):
        if getattr(args, name):  # unset (None) or, for --dagger-rounds, the default 0
            parts += [flag(name), str(getattr(args, name))]
    if args.mode != "scratch" and args.learning_rate != DEFAULTS["learning_rate"]:
        parts += ["--learning-rate", f"{args.learning_rate:g}"]
    if args.mode == "realtime":
        parts += ["--polish-epochs", str(args.polish_epochs),
                  "--polish-states", str(args.polish_states)]
    parts += ["--seed", str(args.seed), "--out", str(args.out)]
    if args.model_version is not None:
        parts += ["--model-version", args.model_version]
    return shlex.join(parts)


_REALTIME_TEACHER: Final = "-realtime"
"""What the version of a realtime run's teacher ends with."""


def _tau_suffix(tau: float) -> str:
    """``-tau0.01``: what tells students of a --sweep-tau run apart (file stem, version)."""
    return f"-tau{tau:g}"


def _sizes(text: str) -> list[str]:
    sizes = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in STUDENT_HIDDEN]
    if not sizes or unknown:
        raise CommandError(f"--student: unknown size {', '.join(unknown) or text!r}; choose "
                           f"of {', '.join(STUDENT_HIDDEN)}")
    return sizes


def _taus(args: argparse.Namespace) -> list[float]:
    if args.sweep_tau is None:
        return [args.tau]
    try:
        taus = [float(t) for t in args.sweep_tau.split(",") if t.strip()]
    except ValueError:
        raise CommandError(f"--sweep-tau must be comma-separated numbers, got "
                           f"{args.sweep_tau!r}") from None
    if not taus or any(not (t > 0 and math.isfinite(t)) for t in taus):
        raise CommandError("--sweep-tau: temperatures must be positive numbers")
    return taus


def _profile(args: argparse.Namespace) -> DistillProfile:
    import dataclasses

    prof = distill_profile(args.profile)
    collect = prof.collect
    if args.samples is not None:
        if args.samples < 1:
            raise CommandError(f"--samples must be at least 1, got {args.samples}")
        collect = dataclasses.replace(collect, samples=args.samples)
    if args.actors is not None:
        if args.actors < 1:
            raise CommandError(f"--actors must be at least 1, got {args.actors}")
        collect = dataclasses.replace(collect, actors=args.actors)
    collect = dataclasses.replace(collect, seed=args.seed)
    epochs = prof.epochs if args.epochs is None else args.epochs
    if epochs < 1:
        raise CommandError(f"--epochs must be at least 1, got {epochs}")
    return dataclasses.replace(prof, collect=collect, epochs=epochs)


@dataclass(frozen=True)
class _Plan:
    """A checked run: what is built before any collection or training."""

    prof: DistillProfile
    """The profile with the command line's overrides."""
    students: list[tuple[str, StudentConfig]]
    """File stem and configuration of each student (realtime: the one it trains)."""
    teachers: list[Teacher]
    """Loaded teachers (single, multi)."""
    teacher_cfg: TeacherConfig | None = None
    """The DQN run of realtime and scratch."""


def _plan(args: argparse.Namespace) -> _Plan:
    if problem := seed_problem(args.seed):
        raise CommandError(problem)
    if not (args.learning_rate > 0 and math.isfinite(args.learning_rate)):
        raise CommandError(f"--learning-rate must be a positive number, got "
                           f"{args.learning_rate}")
    sizes, taus, prof = _sizes(args.student), _taus(args), _profile(args)
    if args.ray_address:
        check_ray_address(args.ray_address)
    if args.model_version is not None:
        tau_suffixes = [_tau_suffix(t) for t in taus] if len(taus) > 1 else [""]
        int8 = ("",) if args.no_int8 else ("", "-int8")
        teacher = (_REALTIME_TEACHER,) if args.mode == "realtime" else ()
        if problem := model_version_problem(
                args.model_version, (*(t + i for t in tau_suffixes for i in int8), *teacher)):
            raise CommandError(problem)
    if args.mode in ("realtime", "scratch"):
        return _plan_training_modes(args, sizes, taus, prof)
    return _plan_distillation(args, sizes, taus, prof)


def _check_out(args: argparse.Namespace, stems: Iterable[str], files: Iterable[str] = ()) -> None:
    """Refuse an ``--out`` that cannot take the run's files, before any work starts."""
    out: Path = args.out
    if problem := directory_problem(out, "--out"):
        raise CommandError(problem)
    names = ["summary.json", *files]
    for stem in stems:
        variants = [stem] if args.no_int8 else [stem, f"{stem}-int8"]
        names += [f"{v}{suffix}" for v in variants for suffix in (".onnx", ".card.json")]
    for name in names:
        if (out / name).is_dir():
            raise CommandError(f"--out: {str(out / name)!r} is a directory; the run writes a "
                               "file there")
    tensorboard = out / "tensorboard"
    if tensorboard.exists() and not tensorboard.is_dir():
        raise CommandError(f"--out: {str(tensorboard)!r} is a file; the run writes TensorBoard "
                           "logs there")


def _write_file(path: Path, text: str) -> None:
    from training.export import write_file

    write_file(path, text.encode())


# --- attach an evaluation ----------------------------------------------------------


def _attach(args: argparse.Namespace) -> int:
    """All or nothing: every model is read and its new card built before any is written."""
    from training.distill.card import read_evaluation, with_evaluation
    from training.export import write_file

    if not args.model:
        raise CommandError("--attach-evaluation needs --model PATH.onnx")
    result = read_evaluation(args.attach_evaluation)
    updated = [(model, *with_evaluation(model, result, args.attach_evaluation,
                                        commands=args.regenerate))
               for model in args.model]
    for model, proto, card in updated:
        write_file(model, proto.SerializeToString())
        write_card_json(model)
        print(json.dumps({"model": str(model), "evaluation": card["evaluation"]}))
    return 0


# --- single / multi ---------------------------------------------------------------


def _plan_distillation(args: argparse.Namespace, sizes: list[str], taus: list[float],
                       prof: DistillProfile) -> _Plan:
    if not args.teacher:
        raise CommandError(f"--mode {args.mode} needs --teacher PATH.onnx")
    if args.mode == "single" and len(args.teacher) != 1:
        raise CommandError("--mode single takes one --teacher; use --mode multi for several")
    if args.mode == "multi" and len(args.teacher) < 2:
        raise CommandError("--mode multi needs at least two --teacher")
    if args.dagger_rounds < 0:
        raise CommandError(f"--dagger-rounds must be >= 0, got {args.dagger_rounds}")
    if args.dagger_samples is not None and args.dagger_samples < 1:
        raise CommandError(f"--dagger-samples must be at least 1, got {args.dagger_samples}")
    if args.dataset and len(args.dataset) != len(args.teacher):
        raise CommandError(f"give one --dataset per --teacher ({len(args.teacher)}), "
                           f"got {len(args.dataset)}")
    students = [(f"student-{size}" + (_tau_suffix(tau) if len(taus) > 1 else ""),
                 StudentConfig(size=size, loss=args.loss, tau=tau, epochs=prof.epochs,
                               batch_size=prof.batch_size, learning_rate=args.learning_rate,
                               seed=args.seed))
                for size in sizes for tau in taus]
    _check_out(args, [stem for stem, _ in students])
    teachers = [load_teacher(p) for p in args.teacher]
    for directory, teacher in zip(args.dataset, teachers, strict=False):
        manifest = ds.read_manifest(directory)
        if manifest["teacher_sha256"] != teacher.sha256:
            raise CommandError(f"dataset {str(directory)!r} was collected with teacher "
                               f"{manifest['teacher_id']!r}, not with "
                               f"{teacher.path!r} (SHA-256 differs)")
    targets = [] if args.dataset else _dataset_dirs(args, teachers)
    targets += [_dagger_dir(args, stem, r) for stem, _ in students
                for r in range(1, args.dagger_rounds + 1)]
    for directory in targets:
        ds.check_target(directory)
    return _Plan(prof, students, teachers)


def _dataset_dirs(args: argparse.Namespace, teachers: list[Teacher]) -> list[Path]:
    """Where the teachers' datasets are collected (one per teacher)."""
    if len(teachers) == 1:
        return [args.out / "dataset"]
    return [args.out / f"dataset-{i}-{t.scenario}" for i, t in enumerate(teachers)]


def _dagger_dir(args: argparse.Namespace, stem: str, round_: int) -> Path:
    return args.out / f"dataset-{stem}-dagger-{round_}"


def _datasets(args: argparse.Namespace, teachers: list[Teacher],
              prof: DistillProfile) -> tuple[ds.Dataset, list[Path]]:
    """The given datasets, or the teachers' collected now; with their directories."""
    if args.dataset:
        return ds.load_datasets(args.dataset, seed=args.seed), list(args.dataset)
    dirs = _dataset_dirs(args, teachers)
    for teacher, directory in zip(teachers, dirs, strict=True):
        bar = _bar(args, prof.collect.samples, "samples", f"collect {teacher.scenario}")
        last = 0

        def on_chunk(n: int, bar: Any = bar) -> None:
            nonlocal last
            if bar is not None:
                bar.update(n - last)
            last = n

        try:
            manifest = ds.collect(teacher, directory, prof.collect, profile=prof.name,
                                  ray_address=args.ray_address, on_chunk=on_chunk)
        finally:
            if bar is not None:
                bar.close()
        print(f"distill: dataset {directory}: {manifest['samples']} states of "
              f"{manifest['scenario']} in {manifest['seconds']} s, "
              f"{describe(manifest['ray_nodes'])}", file=sys.stderr)
    return ds.load_datasets(dirs, seed=args.seed), dirs


def _run_distillation(args: argparse.Namespace, plan: _Plan) -> dict[str, Any]:
    from training.distill.student import train_student

    teachers, prof = plan.teachers, plan.prof
    data, dirs = _datasets(args, teachers, prof)
    print(f"distill: {len(data)} states from {', '.join(t.teacher_id for t in teachers)}",
          file=sys.stderr)
    single_teacher = teachers[0].net if args.mode == "single" else None
    # the manifests of the datasets this run collected say where their actors ran
    collected = [] if args.dataset else list(data.manifests)
    students = []
    for stem, cfg in plan.students:
        bar = _bar(args, prof.epochs, "epoch", stem)

        def on_epoch(m: dict[str, float], bar: Any = bar) -> None:
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{m['distill/loss']:.4f}",
                                agree=f"{m['validation/agreement']:.4f}")

        try:
            result = train_student(data, cfg, single_teacher,
                                   log_dir=args.out / "tensorboard" / stem, on_epoch=on_epoch)
        finally:
            if bar is not None:
                bar.close()
        student_data = data
        if args.dagger_rounds:
            result, student_data = _aggregate(args, prof, teachers[0], stem, dirs, result)
            collected += student_data.manifests[len(data.manifests):]
        card = _student_card(args, result, teachers, student_data, prof)
        students.append(_export_student(args, stem, result.net, card, student_data))
    return {"mode": args.mode, "samples": len(data), "out": str(args.out),
            "teachers": [t.teacher_id for t in teachers], "students": students,
            "ray_nodes": nodes([p for m in collected for p in m.get("ray_nodes", [])])}


def _aggregate(args: argparse.Namespace, prof: DistillProfile, teacher: Teacher, stem: str,
               base: list[Path], result: StudentResult) -> tuple[StudentResult, ds.Dataset]:
    """Dataset aggregation: the student acts, the teacher labels, the student trains again."""
    import dataclasses

    from training.distill.student import train_student

    samples = args.dagger_samples or max(1, prof.collect.samples // 2)
    added: list[Path] = []
    for r in range(1, args.dagger_rounds + 1):
        directory = _dagger_dir(args, stem, r)
        collect = dataclasses.replace(prof.collect, samples=samples,
                                      seed=prof.collect.seed + 1000 * r)
        manifest = ds.collect(teacher, directory, collect, profile=prof.name,
                              actor=result.net, actor_id=f"{stem} (aggregation round {r})",
                              ray_address=args.ray_address)
        added.append(directory)
        data = ds.load_datasets([*base, *added], seed=args.seed + r)
        print(f"distill: {stem}: aggregation round {r}: {manifest['samples']} states visited "
              f"by the student in {manifest['seconds']} s; training on {len(data)}",
              file=sys.stderr)
        before = result.agreement
        result = train_student(data, result.config, teacher.net,
                               log_dir=args.out / "tensorboard" / f"{stem}-dagger-{r}")
        print(f"distill: {stem}: held-out agreement {before:.4f} -> {result.agreement:.4f}",
              file=sys.stderr)
    return result, data


def _student_card(args: argparse.Namespace, result: StudentResult, teachers: list[Teacher],
                  data: ds.Dataset, prof: DistillProfile) -> dict[str, Any]:
    cfg = result.config
    tau = _tau_suffix(cfg.tau) if cfg.loss == "kl" else ""
    if args.model_version is None:
        version = f"{args.mode}-{cfg.loss}{tau}-{prof.name}-s{cfg.seed}"
    else:  # a --sweep-tau run makes one student per temperature: their versions differ
        version = args.model_version + (_tau_suffix(cfg.tau) if len(_taus(args)) > 1 else "")
    return {
        "model_id": f"student-{cfg.size}",
        "version": version,
        "kind": "student",
        "training": {
            "mode": args.mode, "loss": cfg.loss, "tau": cfg.tau,
            "teacher_id": ",".join(t.teacher_id for t in teachers),
            "teacher_sha256": [t.sha256 for t in teachers],
            "teacher_parameters": [t.net.parameter_count() for t in teachers],
            "dataset_samples": len(data),
            "aggregation_rounds": args.dagger_rounds,
            "datasets": [{k: m.get(k) for k in ("teacher_id", "scenario", "samples", "profile")}
                         for m in data.manifests],
            "student": result.summary(),
            "command": command_line(args),
        },
        "evaluation": {"validation_agreement": result.agreement,
                       "validation_regret": result.regret},
    }


def _export_student(args: argparse.Namespace, stem: str, net: QNetwork,
                    card: dict[str, Any], data: ds.Dataset | None) -> dict[str, Any]:
    from training.export import export_onnx, read_card

    path = export_onnx(net, args.out / f"{stem}.onnx", card)
    write_card_json(path)
    entry: dict[str, Any] = {"onnx": str(path), "parameters": net.parameter_count(),
                             "size_kbit": net.size_kbit(),
                             "evaluation": read_card(path).get("evaluation")}
    print(f"distill: {stem}: {net.parameter_count():,} parameters, {net.size_kbit():.1f} kbit "
          f"float32 -> {path}", file=sys.stderr)
    if not args.no_int8:
        from training.distill.quantize import fidelity, quantize_int8

        int8 = quantize_int8(path, args.out / f"{stem}-int8.onnx")
        if data is not None:
            sample = min(len(data), 200_000)
            entry["int8_fidelity"] = fidelity(path, int8, data.obs[-sample:], data.q[-sample:])
        write_card_json(int8)
        entry["int8_onnx"] = str(int8)
        print(f"distill: {stem}-int8: {net.parameter_count() * 8 / 1000:.1f} kbit -> {int8}"
              + (f", MCS agreement with float {entry['int8_fidelity']['agreement_with_float']:.4f}"
                 if "int8_fidelity" in entry else ""), file=sys.stderr)
    return entry


def write_card_json(onnx_path: Path) -> Path:
    """Mirror the model card of ``onnx_path`` to ``NAME.card.json`` beside it (atomically)."""
    from training.export import read_card

    out = onnx_path.with_suffix(".card.json")
    _write_file(out, json.dumps(read_card(onnx_path), indent=2, sort_keys=True) + "\n")
    return out


# --- realtime / scratch -----------------------------------------------------------


def _plan_training_modes(args: argparse.Namespace, sizes: list[str], taus: list[float],
                        prof: DistillProfile) -> _Plan:
    from training import teacher as teacher_training

    if len(sizes) != 1:
        raise CommandError(f"--mode {args.mode} trains one student: give one --student")
    size = sizes[0]
    overrides: dict[str, Any] = {"seed": args.seed}
    if args.simulations is not None:
        if args.simulations < 1:
            raise CommandError(f"--simulations must be at least 1, got {args.simulations}")
        overrides["simulations"] = args.simulations
    if args.actors is not None:
        overrides["actors"] = args.actors  # checked by _profile
    if args.mode == "scratch":
        cfg = teacher_training.profile(args.profile, hidden=STUDENT_HIDDEN[size], **overrides)
        _check_out(args, [f"scratch-{size}"], files=["config.json", "checkpoint.pt"])
        return _Plan(prof, [], [], cfg)
    if args.polish_epochs < 0 or args.polish_states < 1:
        raise CommandError("--polish-epochs must be >= 0 and --polish-states >= 1")
    cfg = teacher_training.profile(args.profile, **overrides)
    student = StudentConfig(size=size, loss=args.loss, tau=taus[0],
                            learning_rate=min(args.learning_rate, 1e-3), seed=args.seed)
    _check_out(args, [f"student-{size}"],
               files=["config.json", "checkpoint.pt", "teacher.onnx", "teacher.card.json"])
    return _Plan(prof, [(f"student-{size}", student)], [], cfg)


def _run_training_modes(args: argparse.Namespace, plan: _Plan) -> dict[str, Any]:
    from training import teacher as teacher_training
    from training.teacher_command import teacher_card

    cfg = plan.teacher_cfg
    assert cfg is not None  # planned for these modes
    bar = _bar(args, cfg.simulations, "sim", args.mode)
    done = 0.0

    def on_chunk(m: dict[str, float]) -> None:
        nonlocal done
        if bar is not None:
            bar.update(m["train/simulations"] - done)
            bar.set_postfix(thp=f"{m['rollout/throughput_mbps']:.1f}Mb/s",
                            bler=f"{m['rollout/bler']:.3f}")
        done = m["train/simulations"]

    try:
        if args.mode == "scratch":
            size = _sizes(args.student)[0]
            result = teacher_training.train(cfg, args.out, ray_address=args.ray_address,
                                            on_chunk=on_chunk)
            card = teacher_card(result, args.model_version)
            card.update(model_id=f"scratch-{size}", kind="scratch")
            card["training"]["mode"] = "scratch"
            card["training"]["command"] = command_line(args)
            entry = _export_student(args, f"scratch-{size}", result.net, card, None)
            print(f"distill: {describe(result.placements)}", file=sys.stderr)
            return {"mode": "scratch", "out": str(args.out), "seconds":
                    round(result.progress.seconds, 1), "students": [entry],
                    "ray_nodes": nodes(result.placements)}
        from training.distill.realtime import train_realtime
        from training.export import export_onnx

        stem, scfg = plan.students[0]
        rt = train_realtime(cfg, scfg, args.out, on_chunk=on_chunk,
                            polish_epochs=args.polish_epochs, polish_states=args.polish_states,
                            ray_address=args.ray_address)
    finally:
        if bar is not None:
            bar.close()
    tcard = teacher_card(rt.teacher)
    # -realtime: not the key of a train-teacher run of the same version
    tcard["version"] = f"{args.model_version or tcard['version']}{_REALTIME_TEACHER}"
    teacher_path = export_onnx(rt.teacher.net, args.out / "teacher.onnx", tcard)
    write_card_json(teacher_path)
    card = {
        "model_id": stem, "version": args.model_version or f"realtime-{args.loss}-tau"
        f"{scfg.tau:g}-{args.profile}-s{args.seed}", "kind": "student",
        "training": {"mode": "realtime", "loss": args.loss, "tau": scfg.tau,
                     "teacher_id": f"{tcard['model_id']}:{tcard['version']}",
                     "student_updates": rt.student_updates,
                     "polish_epochs": args.polish_epochs if rt.polish_states else 0,
                     "polish_states": rt.polish_states,
                     "dataset_samples": rt.teacher.progress.transitions,
                     "seconds": round(rt.seconds, 1), "command": command_line(args)},
    }
    entry = _export_student(args, stem, rt.student, card, None)
    print(f"distill: {describe(rt.teacher.placements)}", file=sys.stderr)
    return {"mode": "realtime", "out": str(args.out), "teacher_onnx": str(teacher_path),
            "seconds": round(rt.seconds, 1), "student_updates": rt.student_updates,
            "students": [entry], "ray_nodes": nodes(rt.teacher.placements)}


def _bar(args: argparse.Namespace, total: float, unit: str, desc: str) -> Any:
    if args.no_progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=desc, file=sys.stderr, dynamic_ncols=True)
