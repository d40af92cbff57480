"""``linkadapt simulate``: a closed-loop simulation of one policy, KPIs as a table or JSON."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, Final

import numpy as np

from training.options import directory_problem
from training.sim import closed_loop, config
from training.sim.closed_loop import RunResult
from training.sim.policies import parse_policy

_EXAMPLES = """examples:
  linkadapt simulate --scenario mimo --policy olla --ues 512 --slots 2000
  linkadapt simulate --scenario high-mobility --policy genie --json
  linkadapt simulate --scenario mimo --policy olla --target-bler 0.01   # voice-like 1%
  linkadapt simulate --scenario mimo --policy salad:0.02 --ues 256 --slots 2000 --json
  linkadapt simulate --scenario random --policy xapp/models/default.onnx --plot mcs.png
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``simulate``."""
    parser.epilog = _EXAMPLES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--scenario", default="mimo",
                        help=f"benchmark scenario ({', '.join(config.SCENARIOS)}) or 'random' "
                             "for domain-randomized configurations (default: mimo)")
    parser.add_argument("--policy", default="olla",
                        help="olla[:D_UP_DB[:TARGET]] | eolla:TARGET | salad:TARGET | illa | "
                             "genie | genie-delayed | fixed:K | PATH.onnx; TARGET is the "
                             "first-transmission BLER in (0, 1) (default: olla, i.e. "
                             "olla:0.5 at 10%%)")
    parser.add_argument("--ues", type=int, default=256, help="UEs simulated (default: 256)")
    parser.add_argument("--slots", type=int, default=2000, help="slots simulated (default: 2000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--speed-kmh", type=float, default=None,
                        help="override every UE's speed, km/h")
    parser.add_argument("--target-bler", type=float, default=None, metavar="T",
                        help=TARGET_BLER_HELP)
    parser.add_argument("--json", action="store_true", help="print the KPIs as one JSON object")
    parser.add_argument("--plot", type=Path, default=None, metavar="FILE.png",
                        help="draw the MCS histogram and throughput over time")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


TARGET_BLER_HELP: Final = (
    "first-transmission BLER target every UE reports, in (0, 1); baseline specs written "
    "without a target (olla, olla:D, eolla, salad) run at it too (default: the "
    "scenario's, 0.1; 'random' draws each UE's in 0.01..0.3)")


def check_target_bler(target: float | None) -> None:
    """Raise ValueError naming ``--target-bler`` unless ``target`` is None or in (0, 1)."""
    if target is not None and not (math.isfinite(target) and 0 < target < 1):
        raise ValueError(f"--target-bler must be a BLER in (0, 1), got {target:g}")


def spec_target(target: float | None) -> float:
    """The target of baseline specs written without one: ``--target-bler`` or 10%."""
    return config.DEFAULT_TARGET_BLER if target is None else target


def _fail(message: str) -> int:
    print(f"linkadapt simulate: error: {message}", file=sys.stderr)
    return 2


def run_simulation(args: argparse.Namespace) -> tuple[RunResult, str]:
    """Validate the options and run; ValueError for bad input. Returns result and policy name."""
    if args.ues < 1:
        raise ValueError(f"--ues must be at least 1, got {args.ues}")
    if args.slots < 1:
        raise ValueError(f"--slots must be at least 1, got {args.slots}")
    if args.speed_kmh is not None and not (np.isfinite(args.speed_kmh) and args.speed_kmh >= 0):
        raise ValueError(f"--speed-kmh must be a number >= 0, got {args.speed_kmh}")
    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    check_target_bler(args.target_bler)
    if args.plot is not None:
        _check_plot_path(args.plot)
    source = config.config_source(args.scenario)
    policy = parse_policy(args.policy, spec_target(args.target_bler))
    cfg = source(np.random.default_rng([args.seed, 1]), args.ues)
    if args.speed_kmh is not None:
        cfg = cfg.with_speed_kmh(args.speed_kmh)
    if args.target_bler is not None:
        cfg = cfg.with_target_bler(args.target_bler)
    bar = None if args.no_progress or args.json else _progress_bar(args.slots)
    try:
        result = closed_loop.run(policy, cfg, args.slots, args.seed,
                     progress=None if bar is None else bar.update)
    finally:
        if bar is not None:
            bar.close()
    return result, policy.name


def _check_plot_path(path: Path) -> None:
    """Fail before the run, not after it, when the plot cannot be written."""
    if path.suffix.lower() != ".png":
        raise ValueError(f"--plot must name a .png file, got {str(path)!r}")
    if path.is_dir():
        raise ValueError(f"--plot {str(path)!r} is a directory")
    folder = path.parent
    if not folder.is_dir():
        raise ValueError(f"--plot {str(path)!r}: directory {str(folder)!r} does not exist")
    if problem := directory_problem(folder, "--plot"):
        raise ValueError(problem)


def _progress_bar(total: int) -> Any:
    try:
        from tqdm import tqdm
    except ImportError:  # the serving image has no tqdm: run quietly
        return None
    return tqdm(total=total, unit="slot", file=sys.stderr, leave=False, dynamic_ncols=True)


def format_table(kpis: dict[str, Any], scenario: str, policy: str) -> str:
    """Render the KPIs as a plain-text table."""
    lines = [
        f"scenario {scenario}, policy {policy}: {kpis['ues']} UEs x {kpis['slots']} slots",
        f"  throughput (mean per UE)   {kpis['throughput_mbps']:10.2f} Mbit/s",
        f"  BLER (first transmissions) {kpis['bler'] * 100:10.2f} %",
        f"  residual BLER              {kpis['residual_bler'] * 100:10.3f} %",
        f"  spectral efficiency        {kpis['spectral_efficiency']:10.3f} bit/s/Hz",
        f"  retransmission share       {kpis['retransmission_share'] * 100:10.2f} %",
        f"  mean MCS                   {kpis['mean_mcs']:10.2f}",
        f"  reward (per slot)          {kpis['reward']:10.4f}",
        "  MCS histogram (initial transmissions):",
    ]
    hist = kpis["mcs_histogram"]
    total = max(sum(hist), 1)
    for mcs, count in enumerate(hist):
        if count:
            bar = "#" * max(1, round(40 * count / max(hist)))
            lines.append(f"    {mcs:2d} {100 * count / total:6.2f} % {bar}")
    return "\n".join(lines)


def plot(result: RunResult, path: Path, title: str) -> None:
    """Write the MCS histogram and the throughput trace to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_hist, ax_thp) = plt.subplots(1, 2, figsize=(11, 4))
    hist = np.asarray(result.kpis["mcs_histogram"], dtype=float)
    ax_hist.bar(np.arange(hist.size), hist / max(hist.sum(), 1) * 100)
    ax_hist.set(xlabel="MCS index", ylabel="share of initial transmissions (%)",
                title="MCS distribution")
    ax_thp.plot(result.trace_slots, result.trace_throughput_mbps)
    ax_thp.set(xlabel="slot", ylabel="throughput, mean per UE (Mbit/s)",
               title="throughput over time")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``linkadapt simulate``."""
    try:
        result, policy_name = run_simulation(args)
    except ValueError as exc:
        return _fail(str(exc))
    if args.plot is not None:
        try:
            plot(result, args.plot, f"{args.scenario} / {policy_name}")
        except OSError as exc:
            return _fail(f"cannot write {str(args.plot)!r}: {exc.strerror}")
    if args.json:
        print(json.dumps({"scenario": args.scenario, "policy": policy_name, **result.kpis}))
    else:
        print(format_table(result.kpis, args.scenario, policy_name))
    return 0
