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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from training import baselines, evaluate
from training.evaluate import GENIE, OLLA, EvaluationConfig
from training.sim import config

_EXAMPLES = """examples:
  linkadapt evaluate --model runs/student-3x32.onnx
  linkadapt evaluate --model a.onnx --model b.onnx --scenarios mimo,cell-edge --workers 2
  linkadapt evaluate --model student.onnx --model runs/teacher-quick-random/teacher.onnx \\
      --reference teacher-random:quick-s0 --json
  linkadapt evaluate --model student.onnx --targets 0.05,0.1,0.2 --olla-steps 0.5,1
  linkadapt evaluate --model student.onnx --baselines olla:0.5,olla:1,illa,fixed:0,fixed:12
"""
REPORT_FILES: Final = ("report.md", "throughput.png", "bler.png", "mcs_distribution.png",
                       "evaluation.json")
"""Besides one ``frontier-SCENARIO.png`` per scenario (:func:`frontier_file`)."""


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
    parser.add_argument("--no-genie-delayed", action="store_true",
                        help="skip the genie-delayed reference row")
    parser.add_argument("--reference", default=None, metavar="NAME",
                        help="policy the 'change vs' figures compare against: olla, illa, "
                             "genie or a model's name, its card's model_id:version (default: "
                             "olla; with --no-baselines the first model)")
    parser.add_argument("--no-baselines", action="store_true",
                        help="skip the frontier's baselines and the genies (models only)")
    parser.add_argument("--workers", type=int, default=1,
                        help="runs ((scenario, policy) pairs) in parallel processes "
                             "(default: 1)")
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
        return OLLA  # a malformed OLLA spec: the spec check names it
    return models[0].name if models else GENIE


def config_from_args(args: argparse.Namespace) -> EvaluationConfig:
    """Validate the options into an :class:`EvaluationConfig`; ValueError for bad input."""
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
            genie_delayed=not args.no_genie_delayed, reference=reference, workers=args.workers)
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


# --- report -----------------------------------------------------------------------


def frontier_file(scenario: str) -> str:
    """Name of a scenario's frontier plot."""
    return f"frontier-{scenario}.png"


def write_report(result: Mapping[str, Any], out: Path) -> None:
    """Write the report files of :data:`REPORT_FILES` and the frontier plots to ``out``."""
    (out / "report.md").write_text(format_report(result) + "\n", encoding="utf-8")
    (out / "evaluation.json").write_text(evaluate.to_json(result) + "\n", encoding="utf-8")
    for scenario in result.get("frontiers", {}):
        plot_frontier(result, scenario, out / frontier_file(scenario))
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


def _pct(value: float | None, fmt: str = ".1f", signed: bool = False) -> str:
    return _num(None if value is None else 100 * value, fmt, signed)


def _frontier_from(f: Mapping[str, Any]) -> str:
    specs, weights = f["frontier_specs"], f["frontier_weights"]
    if len(specs) == 1:
        text = specs[0]
    else:
        text = " + ".join(f"{100 * w:.0f}% {spec}" for spec, w in zip(specs, weights,
                                                                         strict=True))
    return text + (" (below range)" if f["extrapolated"] else "")


def _frontier_table(rows: Mapping[str, Mapping[str, Any]]) -> list[str]:
    head = ["policy", "throughput Mbit/s", "BLER %", "frontier at that BLER Mbit/s",
            "gain at no higher BLER %", "frontier->genie-delayed gap closed %",
            "frontier->genie gap closed %", "frontier from"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in rows.items():
        f = row.get("frontier")
        if f is None or name == GENIE:  # the genie closes its own gap by definition
            continue
        cells = [_label(name, row), _num(row["throughput_mbps"], ".2f"),
                 _pct(row["bler"], ".2f"), _num(f["frontier_mbps"], ".2f"),
                 _num(f["gain_pct"], ".1f", signed=True),
                 _pct(f["gap_share_genie_delayed"], ".0f"), _pct(f["gap_share_genie"], ".0f"),
                 _frontier_from(f)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _family_table(f: Mapping[str, Any]) -> list[str]:
    lines = ["| family | spec | BLER % | throughput Mbit/s | OLLA frontier at that BLER Mbit/s "
             "| gain over OLLA at no higher BLER % | OLLA frontier from |",
             "|---|---|---|---|---|---|---|"]
    for family, entries in f["families"].items():
        for e in entries:
            known = "frontier_mbps" in e
            lines.append(
                f"| {family} | {e['spec']} | {_pct(e['bler'], '.2f')} "
                f"| {_num(e['throughput_mbps'], '.2f')} "
                f"| {_num(e.get('frontier_mbps'), '.2f')} "
                f"| {_num(e.get('gain_pct'), '.1f', signed=True)} "
                f"| {_frontier_from(e) if known else '-'} |")
    return lines


def _hull_line(f: Mapping[str, Any]) -> str:
    vertices = ", ".join(f"{p['spec']} ({100 * p['bler']:.1f}%, {p['throughput_mbps']:.1f})"
                         for p in f["hull"])
    return f"Frontier vertices (BLER, Mbit/s), by BLER: {vertices}."


def _frontier_summary(summary: Mapping[str, Any], scenarios: Sequence[str]) -> list[str]:
    lines = ["Gain at no higher BLER % (throughput over the baselines' frontier at the "
             "policy's own BLER):", "",
             "| policy | mean | worst (scenario) | " + " | ".join(scenarios)
             + " | mean frontier->genie-delayed gap closed % | mean frontier->genie gap "
             "closed % |", "|---|---|---|" + "---|" * (len(scenarios) + 2)]
    for name, s in summary["policies"].items():
        if name == GENIE:
            continue
        worst = _num(s["worst_frontier_gain_pct"], ".1f", signed=True)
        if s["worst_frontier_scenario"] is not None:
            worst += f" ({s['worst_frontier_scenario']})"
        cells = [_num((p["frontier"] or {}).get("gain_pct"), ".1f", signed=True)
                 for p in (s["scenarios"][sc] for sc in scenarios)]
        cells += [_pct(s["mean_gap_share_genie_delayed"], ".0f"),
                  _pct(s["mean_gap_share_genie"], ".0f")]
        lines.append(f"| {name} | {_num(s['mean_frontier_gain_pct'], '.1f', signed=True)} "
                     f"| {worst} | " + " | ".join(cells) + " |")
    families = summary.get("families", {})
    if families:
        lines += ["", "Each baseline family's best configuration against tuned OLLA (OLLA's "
                  "frontier over all its steps and targets) at equal BLER, gain %:", "",
                  "| family | " + " | ".join(scenarios) + " |",
                  "|---|" + "---|" * len(scenarios)]
        for family, per in families.items():
            cells = [f"{per[sc]['gain_pct']:+.1f} ({per[sc]['spec']})" if sc in per else "-"
                     for sc in scenarios]
            lines.append(f"| {family} | " + " | ".join(cells) + " |")
    return lines


def format_report(result: Mapping[str, Any]) -> str:
    """Render the result as markdown: per scenario the frontier tables, then the summary."""
    cfg, scenarios = result["config"], result["scenarios"]
    reference = result["summary"]["reference"]
    frontiers = result.get("frontiers", {})
    steps = sorted({float(d) for rows in scenarios.values()
                    for d in rows.get(OLLA, {}).get("sweep", {})})
    lines = ["# Link-adaptation evaluation", "",
             f"{cfg['ues']} UEs x {cfg['slots']} slots per run, evaluation seed {cfg['seed']}, "
             "the same for every policy of a scenario (common random numbers), drawn under a "
             "spawn key that training never uses. "
             f"{cfg.get('runs', '?')} runs in {cfg['elapsed_s']:.0f} s with "
             f"{cfg['workers']} worker(s)."]
    if frontiers:
        lines += ["", f"Each policy is judged at its own BLER against the frontier of "
                  f"{len(cfg['baseline_specs'])} non-learned baseline configurations per "
                  "scenario: the upper concave hull of their (BLER, throughput) points "
                  "(time-sharing two configurations reaches any mix of theirs), taken as the "
                  "best throughput at a BLER no higher than the policy's. Below the lowest "
                  "baseline BLER the frontier is the lowest-BLER point's throughput, flagged "
                  "'below range'. How to read it: docs/evaluation.md."]
    if steps:
        lines += ["", f"olla: OLLA at the 10% target, best d_up of "
                  f"{', '.join(f'{d:g}' for d in steps)} dB by throughput with BLER within "
                  f"{100 * cfg['bler_target']:g} +- {100 * cfg['bler_tolerance']:g} %. "
                  f"Changes are relative to {reference}."]
    for name, rows in scenarios.items():
        lines += ["", f"## {name}", "", config.scenario(name).summary]
        if name in frontiers:
            lines += ["", _hull_line(frontiers[name]), "", f"![frontier]({frontier_file(name)})",
                      ""]
            lines += _frontier_table(rows)
            if frontiers[name]["families"]:
                lines += ["", "Baselines against tuned OLLA at equal BLER:", ""]
                lines += _family_table(frontiers[name])
        lines += ["", f"All policies against {reference}:", ""]
        lines += _scenario_table(rows, reference)
    lines += ["", "## Summary", ""]
    if frontiers:
        lines += [*_frontier_summary(result["summary"], list(scenarios)), ""]
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


_FAMILY_STYLE: Final = {"olla": ("tab:blue", "o"), "eolla": ("tab:orange", "s"),
                        "salad": ("tab:green", "D"), "illa": ("tab:purple", "^"),
                        "fixed": ("tab:gray", "x")}


def plot_frontier(result: Mapping[str, Any], scenario: str, path: Path) -> None:
    """Throughput against BLER: baseline points by family, the frontier, policies, genies."""
    plt = _pyplot()
    runs = result["baselines"][scenario]
    f = result["frontiers"][scenario]
    rows = result["scenarios"][scenario]
    fig, ax = plt.subplots(figsize=(7.5, 5.0))
    for family in dict.fromkeys(r["family"] for r in runs.values()):
        color, marker = _FAMILY_STYLE.get(family, ("black", "."))
        pts = [r for r in runs.values() if r["family"] == family]
        ax.scatter([100 * r["bler"] for r in pts], [r["throughput_mbps"] for r in pts],
                   color=color, marker=marker, s=22, alpha=0.8, label=family)
    hull = f["hull"]
    x = [100 * p["bler"] for p in hull]
    y = [p["throughput_mbps"] for p in hull]
    right = max([100 * r["bler"] for r in [*runs.values(), *rows.values()]] + x) * 1.05 + 0.5
    ax.plot([*x, right], [*y, y[-1]], color="black", linewidth=1.2, label="frontier")
    genie_style = {GENIE: ":", evaluate.GENIE_DELAYED: "--"}
    for name, row in rows.items():
        if name in genie_style:
            ax.axhline(row["throughput_mbps"], color="black", linestyle=genie_style[name],
                       linewidth=1, label=name)
        elif row["role"] == "model":
            ax.scatter(100 * row["bler"], row["throughput_mbps"], marker="*", s=160,
                       edgecolors="black", linewidths=0.6, zorder=5, label=name)
    ax.set(xlabel="BLER, first transmissions (%)", ylabel="throughput, mean per UE (Mbit/s)",
           title=f"{scenario}: throughput-BLER frontier of the baselines", xlim=(0, right),
           ylim=(0, None))
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
