"""The report of ``linkadapt evaluate``: markdown tables, frontier plots and the JSON.

Per scenario: the frontier tables (each policy at its own BLER; each baseline
family against tuned OLLA), the table of all policies against the reference, and
a frontier plot; then the summary over scenarios, all with the models at the
primary BLER target. With several ``--target-bler`` values, one compact table per
target follows. The result's layout is in :mod:`training.evaluate`; how to read
the figures, in docs/evaluation.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from training import evaluate
from training.evaluate import GENIE, OLLA
from training.sim import config

REPORT_FILES: Final = ("report.md", "throughput.png", "bler.png", "mcs_distribution.png",
                       "evaluation.json")
"""Besides one ``frontier-SCENARIO.png`` per scenario (:func:`frontier_file`)."""


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
             "| mean share of OLLA-to-genie-delayed gap closed % "
             "| mean share of OLLA-to-genie gap closed % |", "|---|---|---|---|---|"]
    for name, s in summary["policies"].items():
        worst = _num(s["worst_throughput_gain_pct"], ".1f", signed=True)
        if s["worst_scenario"] is not None:
            worst += f" ({s['worst_scenario']})"
        gaps = [None if s[key] is None else 100 * s[key]
                for key in ("mean_gap_closed_genie_delayed", "mean_gap_closed")]
        lines.append(f"| {name} | {_num(s['mean_throughput_gain_pct'], '.1f', signed=True)} "
                     f"| {worst} | {_num(gaps[0], '.1f')} | {_num(gaps[1], '.1f')} |")
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


def _target_pct(target: float) -> str:
    return f"{100 * target:.4g}%"


def _target_table(t: Mapping[str, Any], scenarios: Sequence[str]) -> list[str]:
    limit = f"BLER <= {_target_pct(t['bler_limit'])}"
    lines = ["| model | " + " | ".join(scenarios) + " | mean gain % | worst gain % "
             f"| mean frontier->genie-delayed gap closed % | {limit} |",
             "|---|" + "---|" * (len(scenarios) + 4)]
    for name, m in t["models"].items():
        cells = [f"{_num(p['gain_pct'], '.1f', signed=True)} / {_pct(p['bler'], '.1f')}"
                 for p in (m["scenarios"][sc] for sc in scenarios)]
        worst = _num(m["worst_gain_pct"], ".1f", signed=True)
        if m["worst_scenario"] is not None:
            worst += f" ({m['worst_scenario']})"
        check = "yes" if m["bler_within_limit"] else f"no ({', '.join(m['bler_over_limit'])})"
        cells += [_num(m["mean_gain_pct"], ".1f", signed=True), worst,
                  _pct(m["mean_gap_share_genie_delayed"], ".0f"), check]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _targets_section(result: Mapping[str, Any]) -> list[str]:
    """One compact table per BLER target, the primary one first (its sections are above)."""
    primary = result["config"]["primary_target_bler"]
    targets = sorted(result["targets"].values(), key=lambda t: t["target_bler"] != primary)
    lines = ["## BLER targets", "",
             "Each model asked for each target of --target-bler (every UE's report carries "
             "it), judged against the same frontier as above. Cells: gain at no higher BLER % "
             "/ BLER %. The last column checks the BLER against 1.2 x the target, the "
             "tolerance of the olla row's 10% +- 2%."]
    for t in targets:
        heading = f"At the {_target_pct(t['target_bler'])} target"
        if t["target_bler"] == primary:
            heading += " (the sections above)"
        lines += ["", f"### {heading}", "", *_target_table(t, list(result["scenarios"]))]
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
    olla_line = "" if not steps else (
        f"olla: OLLA at the 10% target, best d_up of {', '.join(f'{d:g}' for d in steps)} dB "
        f"by throughput with BLER within {100 * cfg['bler_target']:g} +- "
        f"{100 * cfg['bler_tolerance']:g} %. ")
    lines += ["", f"{olla_line}Changes are relative to {reference}."]
    several = len(result.get("targets", {})) > 1
    if several:
        lines += ["", f"The models' UEs report a {_target_pct(cfg['primary_target_bler'])} "
                  "BLER target in the sections below; each target of --target-bler has its "
                  "table at the end (BLER targets)."]
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
    if several:
        lines += ["", *_targets_section(result)]
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
    others = [p["bler"] for t in result.get("targets", {}).values()
              for m in t["models"].values() for p in [m["scenarios"][scenario]]]
    right = max([100 * r["bler"] for r in [*runs.values(), *rows.values()]]
                + [100 * b for b in others] + x) * 1.05 + 0.5
    ax.plot([*x, right], [*y, y[-1]], color="black", linewidth=1.2, label="frontier")
    genie_style = {GENIE: ":", evaluate.GENIE_DELAYED: "--"}
    for name, row in rows.items():
        if name in genie_style:
            ax.axhline(row["throughput_mbps"], color="black", linestyle=genie_style[name],
                       linewidth=1, label=name)
        elif row["role"] == "model":
            ax.scatter(100 * row["bler"], row["throughput_mbps"], marker="*", s=160,
                       edgecolors="black", linewidths=0.6, zorder=5, label=name)
    primary = result["config"].get("primary_target_bler")
    for t in result.get("targets", {}).values():
        if t["target_bler"] == primary:
            continue  # the stars above
        for name, m in t["models"].items():
            p = m["scenarios"][scenario]
            ax.scatter(100 * p["bler"], p["throughput_mbps"], marker="P", s=60,
                       edgecolors="black", linewidths=0.5, zorder=5,
                       label=f"{name} @ {_target_pct(t['target_bler'])}")
    ax.set(xlabel="BLER, first transmissions (%)", ylabel="throughput, mean per UE (Mbit/s)",
           title=f"{scenario}: throughput-BLER frontier of the baselines", xlim=(0, right),
           ylim=(0, None))
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
