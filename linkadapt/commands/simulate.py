"""``linkadapt simulate``: a closed-loop simulation of one policy, KPIs as a table or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from linkadapt.config import add_flags, parse_config
from training.options import directory_problem
from training.sim import closed_loop
from training.sim.closed_loop import RunResult
from training.sim.simulate import SimulateConfig

EXAMPLES = """examples:
  linkadapt simulate --scenario mimo --policy olla --ues 512 --slots 2000
  linkadapt simulate --scenario high-mobility --policy genie --json
  linkadapt simulate --scenario mimo --policy olla --target-bler 0.01   # voice-like 1%
  linkadapt simulate --scenario mimo --policy salad:0.02 --ues 256 --slots 2000 --json
  linkadapt simulate --scenario random --policy xapp/models/default.onnx --plot mcs.png
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``simulate``: the fields of its config."""
    add_flags(parser, SimulateConfig)


def _fail(message: str) -> int:
    print(f"linkadapt simulate: error: {message}", file=sys.stderr)
    return 2


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
        cfg = parse_config(SimulateConfig, args)
        if cfg.plot is not None:
            _check_plot_path(cfg.plot)
        policy, ues = cfg.setup()
        bar = None if cfg.no_progress or cfg.json else _progress_bar(cfg.slots)
        try:
            result = closed_loop.run(policy, ues, cfg.slots, cfg.seed,
                                     progress=None if bar is None else bar.update)
        finally:
            if bar is not None:
                bar.close()
    except ValueError as exc:
        return _fail(str(exc))
    if cfg.plot is not None:
        try:
            plot(result, cfg.plot, f"{cfg.scenario} / {policy.name}")
        except OSError as exc:
            return _fail(f"cannot write {str(cfg.plot)!r}: {exc.strerror}")
    if cfg.json:
        print(json.dumps({"scenario": cfg.scenario, "policy": policy.name, **result.kpis}))
    else:
        print(format_table(result.kpis, cfg.scenario, policy.name))
    return 0
