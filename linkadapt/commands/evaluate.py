"""``linkadapt evaluate``: learned policies judged against the baselines' frontier, as a report.

Writes ``report.md``, ``frontier-SCENARIO.png`` (one per scenario),
``throughput.png``, ``bler.png``, ``mcs_distribution.png`` and ``evaluation.json``
to ``--out``; prints the markdown report, or with ``--json`` the result as one
JSON object (the layout is in :mod:`training.evaluate`). How a policy is judged:
docs/evaluation.md.
"""

from __future__ import annotations

import argparse
import sys
import time

from linkadapt.config import add_flags, parse_config
from training import evaluate
from training.evaluate import EvaluationConfig
from training.evaluation_config import EvaluateOptions
from training.evaluation_report import REPORT_FILES, format_report, write_report

EXAMPLES = """examples:
  linkadapt evaluate --model runs/student-3x32.onnx
  linkadapt evaluate --model a.onnx --model b.onnx --scenarios mimo,cell-edge --workers 2
  linkadapt evaluate --model student.onnx --model training/models/teacher-labels-long.onnx \\
      --reference teacher-labels-random:long-s0 --json
  linkadapt evaluate --model student.onnx --targets 0.05,0.1,0.2 --olla-steps 0.5,1
  linkadapt evaluate --model student.onnx --baselines olla:0.5,olla:1,illa,fixed:0,fixed:12
  linkadapt evaluate --model student.onnx --target-bler 0.1,0.02,0.3
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``evaluate``: the fields of its config."""
    add_flags(parser, EvaluateOptions)


def _fail(message: str) -> int:
    print(f"linkadapt evaluate: error: {message}", file=sys.stderr)
    return 2


def baseline_specs_from_args(args: argparse.Namespace) -> tuple[str, ...]:
    """The frontier's spec list the command line asks for; ValueError naming a bad flag."""
    return parse_config(EvaluateOptions, args).baseline_specs()


def config_from_args(args: argparse.Namespace) -> EvaluationConfig:
    """The run the command line asks for; ValueError naming a bad flag."""
    return parse_config(EvaluateOptions, args).evaluation()


def run(args: argparse.Namespace) -> int:
    """Entry point of ``linkadapt evaluate``."""
    try:
        options = parse_config(EvaluateOptions, args)
        cfg = options.evaluation()
    except ValueError as exc:
        return _fail(str(exc))
    try:
        options.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return _fail(f"cannot create --out {str(options.out)!r}: {exc.strerror}")

    def progress(scenario: str, seconds: float) -> None:
        if not options.json:
            print(f"evaluate: {scenario} done ({seconds:.1f} s)", file=sys.stderr)

    start = time.perf_counter()
    result = evaluate.evaluate(cfg, progress)
    try:
        write_report(result, options.out)
    except OSError as exc:
        return _fail(f"cannot write the report to {str(options.out)!r}: {exc.strerror}")
    if options.json:
        print(evaluate.to_json(result))
    else:
        print(format_report(result))
        print(f"wrote {', '.join(REPORT_FILES)} and the frontier plots to {options.out}",
              file=sys.stderr)
    print(f"evaluate: {result['config']['runs']} runs on {len(cfg.scenarios)} scenarios in "
          f"{time.perf_counter() - start:.1f} s with {cfg.workers} worker(s)", file=sys.stderr)
    return 0
