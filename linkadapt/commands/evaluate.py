"""``linkadapt evaluate``: learned policies judged against the baselines' frontier, as a report.

Writes ``report.md``, ``frontier-SCENARIO.png`` (one per scenario),
``throughput.png``, ``bler.png``, ``mcs_distribution.png`` and ``evaluation.json``
to ``--out``; prints the markdown report, or with ``--json`` the result as one
JSON object (the layout is in :mod:`training.evaluate`). How a policy is judged:
docs/evaluation.md.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from training import baselines, evaluate
from training.evaluate import GENIE, OLLA, EvaluationConfig
from training.evaluation_config import check_targets
from training.evaluation_report import REPORT_FILES, format_report, write_report
from training.sim import config

_EXAMPLES = """examples:
  linkadapt evaluate --model runs/student-3x32.onnx
  linkadapt evaluate --model a.onnx --model b.onnx --scenarios mimo,cell-edge --workers 2
  linkadapt evaluate --model student.onnx --model runs/teacher-quick-random/teacher.onnx \\
      --reference teacher-labels-random:quick-s0 --json
  linkadapt evaluate --model student.onnx --targets 0.05,0.1,0.2 --olla-steps 0.5,1
  linkadapt evaluate --model student.onnx --baselines olla:0.5,olla:1,illa,fixed:0,fixed:12
  linkadapt evaluate --model student.onnx --target-bler 0.1,0.02,0.3
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``evaluate``."""
    parser.epilog = _EXAMPLES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--model", action="append", default=[], metavar="PATH.onnx",
                        help="ONNX policy model to evaluate (repeatable); named by its model "
                             "card's model_id:version, else by the file stem")
    parser.add_argument("--scenarios", default=",".join(config.BENCHMARK_SCENARIOS),
                        help="comma-separated benchmark scenarios (default: all: "
                             f"{','.join(config.BENCHMARK_SCENARIOS)})")
    parser.add_argument("--ues", type=int, default=256, help="UEs per scenario (default: 256)")
    parser.add_argument("--slots", type=int, default=2000,
                        help="slots per run (default: 2000)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of every run; the same for all policies. Runs draw under a "
                             "spawn key that training never derives, so no evaluation stream "
                             "is a training stream (default: 0)")
    parser.add_argument("--olla-steps", default=None, metavar="DB,DB,...",
                        help="OLLA d_up values of the frontier's grid; at the 10%% target the "
                             "best by throughput with BLER within 10%% +- 2%% is the 'olla' row "
                             "(default: " + ",".join(
                                 f"{d:g}" for d in baselines.DEFAULT_OLLA_STEPS_DB) + ")")
    parser.add_argument("--targets", default=None, metavar="T,T,...",
                        help="BLER targets of OLLA, eOLLA and SALAD in the frontier's grid, "
                             "each in (0, 1) (default: " + ",".join(
                                 f"{t:g}" for t in baselines.DEFAULT_TARGETS) + ")")
    parser.add_argument("--fixed-mcs", default=None, metavar="K,K,...",
                        help="fixed MCS indices in the frontier's grid (default: " + ",".join(
                            str(k) for k in baselines.DEFAULT_FIXED_MCS) + ")")
    parser.add_argument("--baselines", default=None, metavar="SPEC,SPEC,...",
                        help="the frontier's baselines as policy specs, instead of the grid "
                             "of --olla-steps, --targets and --fixed-mcs (default: olla:D:T "
                             "for every step and target, eolla:T, salad:T, illa, fixed:K)")
    parser.add_argument("--target-bler", default=None, metavar="T,T,...",
                        help="BLER targets the models are asked for (every UE's report "
                             "carries it), each in (0, 1); each model runs once per target, "
                             "the baselines once. The full report is at 0.1 when listed, "
                             "else at the first; with several targets it ends with one "
                             f"table per target (default: {evaluate.BLER_TARGET:g})")
    parser.add_argument("--no-genie-delayed", action="store_true",
                        help="skip the genie-delayed reference row")
    parser.add_argument("--reference", default=None, metavar="NAME",
                        help="policy the 'change vs' figures compare against: olla, illa, "
                             "genie or a model's name, its card's model_id:version (default: "
                             "olla; with --no-baselines the first model)")
    parser.add_argument("--no-baselines", action="store_true",
                        help="skip the frontier's baselines and the genies (models only)")
    parser.add_argument("--workers", type=int, default=1,
                        help="runs ((scenario, policy, target) triples) in parallel "
                             "processes (default: 1)")
    parser.add_argument("--out", type=Path, default=Path("reports/evaluation"), metavar="DIR",
                        help="directory of the report files (default: reports/evaluation)")
    parser.add_argument("--json", action="store_true",
                        help="print the result as one JSON object instead of the report")


def _fail(message: str) -> int:
    print(f"linkadapt evaluate: error: {message}", file=sys.stderr)
    return 2


def _float_list(text: str, option: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"{option} must be comma-separated numbers, got {text!r}") from None


def _int_list(text: str, option: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"{option} must be comma-separated integers, got {text!r}") from None


def baseline_specs_from_args(args: argparse.Namespace) -> tuple[str, ...]:
    """The frontier's spec list: ``--baselines`` as given, else the grid of the other flags.

    Raises:
        ValueError: one line naming the flag: unparsable lists, a step <= 0, a target
            outside (0, 1), an MCS outside 0..28, ``--baselines`` with a grid flag.

    """
    grid = {"--olla-steps": args.olla_steps, "--targets": args.targets,
            "--fixed-mcs": args.fixed_mcs}
    if args.baselines is not None:
        given = [flag for flag, value in grid.items() if value is not None]
        if given:
            raise ValueError(f"--baselines replaces the grid; drop {', '.join(given)}")
        return tuple(s.strip() for s in args.baselines.split(",") if s.strip())
    steps = (baselines.DEFAULT_OLLA_STEPS_DB if args.olla_steps is None
             else _float_list(args.olla_steps, "--olla-steps"))
    targets = (baselines.DEFAULT_TARGETS if args.targets is None
               else _float_list(args.targets, "--targets"))
    fixed = (baselines.DEFAULT_FIXED_MCS if args.fixed_mcs is None
             else _int_list(args.fixed_mcs, "--fixed-mcs"))
    if not steps:
        raise ValueError("--olla-steps: give at least one step")
    for step in steps:
        if not (math.isfinite(step) and step > 0):
            raise ValueError(f"--olla-steps: steps must be positive dB values, got {step:g}")
    if not targets:
        raise ValueError("--targets: give at least one target")
    for target in targets:
        if not 0 < target < 1:
            raise ValueError(f"--targets: targets must be in (0, 1), got {target:g}")
    for mcs in fixed:
        if not 0 <= mcs <= 28:  # TS 38.214 Table 5.1.3.1-1: MCS 0..28
            raise ValueError(f"--fixed-mcs: MCS must be in 0..28, got {mcs}")
    return tuple(baselines.baseline_specs(steps, targets, fixed))


def _default_reference(models: Sequence[evaluate.ModelSpec], use_baselines: bool,
                       specs: Sequence[str]) -> str:
    """``olla`` (tuned at 10%) when it runs, else the first model, else the genie."""
    if not use_baselines:
        return models[0].name if models else OLLA
    try:
        if any(baselines.describe(s).family == OLLA
               and baselines.describe(s).target == evaluate.BLER_TARGET for s in specs):
            return OLLA
    except ValueError:
        return OLLA  # a bad spec: the configuration's spec check names it
    return models[0].name if models else GENIE


def config_from_args(args: argparse.Namespace) -> EvaluationConfig:
    """Validate the options into an :class:`EvaluationConfig`; ValueError for bad input."""
    target_blers = ((evaluate.BLER_TARGET,) if args.target_bler is None
                    else _float_list(args.target_bler, "--target-bler"))
    check_targets(target_blers)  # before the models load: a bad flag fails at once
    models = evaluate.unique_names([evaluate.model_spec(p) for p in args.model])
    use_baselines = not args.no_baselines
    specs = baseline_specs_from_args(args)
    reference = args.reference
    if reference is None:
        reference = _default_reference(models, use_baselines, specs)
    try:
        return EvaluationConfig(
            scenarios=tuple(s.strip() for s in args.scenarios.split(",") if s.strip()),
            ues=args.ues, slots=args.slots, seed=args.seed, models=models,
            baselines=use_baselines, baseline_specs=specs,
            genie_delayed=not args.no_genie_delayed, reference=reference, workers=args.workers,
            target_blers=target_blers)
    except ValueError as exc:
        message = str(exc)
        if args.baselines is None and message.startswith("--baselines: "):
            # The user gave no --baselines: name what the list came from.
            message = ("default baseline grid (--olla-steps, --targets, --fixed-mcs): "
                       + message.removeprefix("--baselines: "))
        raise ValueError(message) from None


def run(args: argparse.Namespace) -> int:
    """Entry point of ``linkadapt evaluate``."""
    try:
        cfg = config_from_args(args)
    except ValueError as exc:
        return _fail(str(exc))
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return _fail(f"cannot create --out {str(args.out)!r}: {exc.strerror}")

    def progress(scenario: str, seconds: float) -> None:
        if not args.json:
            print(f"evaluate: {scenario} done ({seconds:.1f} s)", file=sys.stderr)

    start = time.perf_counter()
    result = evaluate.evaluate(cfg, progress)
    try:
        write_report(result, args.out)
    except OSError as exc:
        return _fail(f"cannot write the report to {str(args.out)!r}: {exc.strerror}")
    if args.json:
        print(evaluate.to_json(result))
    else:
        print(format_report(result))
        print(f"wrote {', '.join(REPORT_FILES)} and the frontier plots to {args.out}",
              file=sys.stderr)
    print(f"evaluate: {result['config']['runs']} runs on {len(cfg.scenarios)} scenarios in "
          f"{time.perf_counter() - start:.1f} s with {cfg.workers} worker(s)", file=sys.stderr)
    return 0
