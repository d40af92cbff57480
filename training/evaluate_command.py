"""``linkadapt evaluate``: learned policies vs tuned OLLA, ILLA and the genie, as a report.

Writes ``report.md``, ``throughput.png``, ``bler.png``, ``mcs_distribution.png`` and
``evaluation.json`` to ``--out``; prints the markdown report, or with ``--json``
the result as one JSON object (the layout is in :mod:`training.evaluate`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from training import evaluate
from training.evaluate import OLLA, EvaluationConfig
from training.sim import config

_EXAMPLES = """examples:
  linkadapt evaluate --model runs/student-3x32.onnx
  linkadapt evaluate --model a.onnx --model b.onnx --scenarios mimo,cell-edge --workers 2
  linkadapt evaluate --model student.onnx --model runs/teacher-quick-random/teacher.onnx \\
      --reference teacher-random:quick-s0 --json
"""
REPORT_FILES: Final = ("report.md", "throughput.png", "bler.png", "mcs_distribution.png",
                       "evaluation.json")


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
                        help="seed of every run; the same for all policies (default: 0)")
    parser.add_argument("--olla-steps", default=",".join(
                        f"{d:g}" for d in evaluate.DEFAULT_OLLA_STEPS_DB), metavar="DB,DB,...",
                        help="OLLA d_up values swept per scenario; the best by throughput with "
                             "BLER within 10%% +- 2%% is reported as 'olla' (default: %(default)s)")
    parser.add_argument("--reference", default=None, metavar="NAME",
                        help="policy the 'change vs' figures compare against: olla, illa, "
                             "genie or a model's name, its card's model_id:version (default: "
                             "olla; with --no-baselines the first model)")
    parser.add_argument("--no-baselines", action="store_true",
                        help="skip OLLA, ILLA and the genie (models only)")
    parser.add_argument("--workers", type=int, default=1,
                        help="scenarios run in parallel processes (default: 1)")
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


def config_from_args(args: argparse.Namespace) -> EvaluationConfig:
    """Validate the options into an :class:`EvaluationConfig`; ValueError for bad input."""
    models = evaluate.unique_names([evaluate.model_spec(p) for p in args.model])
    baselines = not args.no_baselines
    reference = args.reference
    if reference is None:
        reference = OLLA if baselines or not models else models[0].name
    return EvaluationConfig(
        scenarios=tuple(s.strip() for s in args.scenarios.split(",") if s.strip()),
        ues=args.ues, slots=args.slots, seed=args.seed, models=models, baselines=baselines,
        olla_steps_db=_float_list(args.olla_steps, "--olla-steps"), reference=reference,
        workers=args.workers)


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

    result = evaluate.evaluate(cfg, progress)
    try:
        write_report(result, args.out)
    except OSError as exc:
        return _fail(f"cannot write the report to {str(args.out)!r}: {exc.strerror}")
    if args.json:
        print(evaluate.to_json(result))
    else:
        print(format_report(result))
        print(f"wrote {', '.join(REPORT_FILES)} to {args.out}", file=sys.stderr)
    return 0


# --- report -----------------------------------------------------------------------


def write_report(result: Mapping[str, Any], out: Path) -> None:
    """Write the report files of :data:`REPORT_FILES` to ``out``."""
    (out / "report.md").write_text(format_report(result) + "\n", encoding="utf-8")
    (out / "evaluation.json").write_text(evaluate.to_json(result) + "\n", encoding="utf-8")
    plot_bars(result, "throughput_mbps", "throughput, mean per UE (Mbit/s)",
              out / "throughput.png")
    plot_bars(result, "bler", "BLER, first transmissions (%)", out / "bler.png",
              scale=100.0, target=100.0 * evaluate.BLER_TARGET)
    plot_mcs(result, out / "mcs_distribution.png")


def _num(value: float | None, fmt: str, signed: bool = False) -> str:
    if value is None:
        return "-"
    return format(value, ("+" if signed else "") + fmt)


def _label(name: str, row: Mapping[str, Any]) -> str:
    if name == OLLA and "d_up_db" in row:
        flag = "" if row.get("bler_on_target", True) else ", BLER off target"
        return f"olla (d_up {row['d_up_db']:g} dB{flag})"
    return name


def _scenario_table(rows: Mapping[str, Mapping[str, Any]], reference: str) -> list[str]:
    with_meta = any(r.get("metadata", {}).get("parameter_count") is not None
                    for r in rows.values())
    head = ["policy", "throughput Mbit/s", f"vs {reference} %", "BLER %", "reward", "mean MCS",
            f"BLER vs {reference} %"]
    if with_meta:
        head += ["parameters", "size kbit", "inference us"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    ref = rows.get(reference)
    for name, row in rows.items():
        gain = None if ref is None else evaluate.gain_pct(row["throughput_mbps"],
                                                           ref["throughput_mbps"])
        cells = [_label(name, row), _num(row["throughput_mbps"], ".2f"),
                 "(reference)" if name == reference else _num(gain, ".1f", signed=True),
                 _num(100 * row["bler"], ".2f"), _num(row["reward"], ".4f"),
                 _num(row["mean_mcs"], ".2f")]
        bler_change = None if ref is None else evaluate.gain_pct(row["bler"], ref["bler"])
        cells.append("(reference)" if name == reference else _num(bler_change, ".1f", signed=True))
        if with_meta:
            meta = row.get("metadata", {})
            cells += [_num(meta.get("parameter_count"), ","), _num(meta.get("size_kbit"), ".1f"),
                      _num(meta.get("inference_us"), ".1f")]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _summary_tables(summary: Mapping[str, Any], scenarios: Sequence[str]) -> list[str]:
    reference = summary["reference"]
    lines = [f"| policy | mean throughput vs {reference} % | worst scenario % "
             "| mean share of OLLA-to-genie gap closed % |", "|---|---|---|---|"]
    for name, s in summary["policies"].items():
        worst = _num(s["worst_throughput_gain_pct"], ".1f", signed=True)
        if s["worst_scenario"] is not None:
            worst += f" ({s['worst_scenario']})"
        gap = None if s["mean_gap_closed"] is None else 100 * s["mean_gap_closed"]
        lines.append(f"| {name} | {_num(s['mean_throughput_gain_pct'], '.1f', signed=True)} "
                     f"| {worst} | {_num(gap, '.1f')} |")
    lines += ["", "BLER % per scenario (OLLA's in brackets); share of the OLLA-to-genie "
              "throughput gap closed %:", "",
              "| policy | " + " | ".join(scenarios) + " |", "|---|" + "---|" * len(scenarios)]
    for name, s in summary["policies"].items():
        cells = []
        for scenario in scenarios:
            p = s["scenarios"][scenario]
            cell = _num(100 * p["bler"], ".1f")
            if p["olla_bler"] is not None:
                cell += f" ({100 * p['olla_bler']:.1f})"
            if p["gap_closed"] is not None:
                cell += f"; gap {100 * p['gap_closed']:.0f}"
            cells.append(cell)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def format_report(result: Mapping[str, Any]) -> str:
    """Render the result as markdown: one table per scenario, then the summary."""
    cfg, scenarios = result["config"], result["scenarios"]
    reference = result["summary"]["reference"]
    lines = ["# Link-adaptation evaluation", "",
             f"{cfg['ues']} UEs x {cfg['slots']} slots per run, seed {cfg['seed']}, the same "
             "for every policy of a scenario (common random numbers). OLLA: best d_up of "
             f"{', '.join(f'{d:g}' for d in cfg['olla_steps_db'])} dB by throughput with BLER "
             f"within {100 * cfg['bler_target']:g} +- {100 * cfg['bler_tolerance']:g} %. "
             f"Changes are relative to {reference}."]
    for name, rows in scenarios.items():
        lines += ["", f"## {name}", "", config.scenario(name).summary, ""]
        lines += _scenario_table(rows, reference)
    lines += ["", "## Summary", ""]
    lines += _summary_tables(result["summary"], list(scenarios))
    return "\n".join(lines)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_bars(result: Mapping[str, Any], kpi: str, ylabel: str, path: Path,
              scale: float = 1.0, target: float | None = None) -> None:
    """Grouped bars of ``kpi``: one group per scenario, one bar per policy."""
    plt = _pyplot()
    scenarios = list(result["scenarios"])
    policies = list(next(iter(result["scenarios"].values())))
    width = 0.8 / len(policies)
    x = np.arange(len(scenarios))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(scenarios) + 2), 4.5))
    for i, policy in enumerate(policies):
        values = [scale * result["scenarios"][s][policy][kpi] for s in scenarios]
        ax.bar(x + (i - (len(policies) - 1) / 2) * width, values, width, label=policy)
    if target is not None:
        ax.axhline(target, color="black", linestyle="--", linewidth=1, label="target")
    ax.set_xticks(x, scenarios)
    ax.set(ylabel=ylabel, title=f"{ylabel} per scenario")
    ax.legend(fontsize="small", ncols=min(len(policies) + 1, 4))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_mcs(result: Mapping[str, Any], path: Path) -> None:
    """One panel per scenario: the share of initial transmissions per MCS of each policy."""
    plt = _pyplot()
    scenarios = list(result["scenarios"])
    cols = min(3, len(scenarios))
    rows = -(-len(scenarios) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.3 * rows), squeeze=False,
                             sharex=True)
    for ax, scenario in zip(axes.flat, scenarios, strict=False):
        for policy, row in result["scenarios"][scenario].items():
            hist = np.asarray(row["mcs_histogram"], dtype=float)
            ax.step(np.arange(hist.size), 100 * hist / max(hist.sum(), 1.0), where="mid",
                    label=policy)
        ax.set(title=scenario, xlabel="MCS index", ylabel="initial transmissions (%)")
    for ax in list(axes.flat)[len(scenarios):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
