"""``linkadapt emulate``: simulated cells drive a running xApp in closed loop; KPIs and SLOs.

Exit status: 0 when the run met its SLOs, 1 when one was violated (``--slo-p99-us``,
``--max-bler``, ``--max-missed-slots``; a hot-swap drill with a failed slot or a
failed activation), the run gave up (no answer for ``--give-up-s``) or no request
got an answer (e.g. the service refused every batch as too large), 2 on bad
options, when the service cannot be reached at the start or refuses the decision
token (for a hot-swap drill: also when its admin API cannot be reached, refuses
the token or lacks one of the ``--swap-models``). This is what a ``helm test``
hook runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from typing import Final

from linkadapt.config import add_flags, parse_config
from training.sim.emulator import (
    EmulateConfig,
    EmulationResult,
    EmulatorError,
    LoadStep,
    load_ramp,
    run_emulation,
)
from xapp.tls_client import add_client_arguments, client_tls_from

EXAMPLES = """examples:
  linkadapt emulate --target 127.0.0.1:50051 --cells 2 --ues-per-cell 16 --slots 2000 --stream
  linkadapt emulate --target xapp:50051 --slo-p99-us 1000 --max-bler 0.2 --json   # helm test
  linkadapt emulate --target 127.0.0.1:50051 --compare olla --scenario high-mobility
  linkadapt emulate --target 127.0.0.1:50051 --load cells --ues-per-cell 8 --slots 500 \\
      --deadline-us 1000 --stream
  linkadapt emulate --target 127.0.0.1:50051 --swap-every 500 --swap-models a:1,b:1 \\
      --admin-url http://127.0.0.1:8080 --token-file /run/secrets/admin-token
  linkadapt emulate --target xapp:50051 --tls-ca ca.crt --tls-cert gnb.crt --tls-key gnb.key

Cell c of a run with --seed K simulates exactly what 'linkadapt simulate --seed K+c'
simulates: against a service running model M, '--cells 1 --ues-per-cell N' gives the
KPIs of 'linkadapt simulate --ues N --policy M', decision for decision.
The deadline defaults to the slot duration (500 us at mu=1); Python client and
server sharing two cores answer in a few hundred us, so set --deadline-us to
the budget you want to check. Late answers are applied (and counted as missed)
unless --strict-deadline replaces them with the local fallback rule.
"""


_GROUPS: Final = {  # the help's argument groups, after the options of the run itself
    "SLOs (exit status 1 when violated)": ("slo_p99_us", "max_bler", "max_missed_slots"),
    "load mode": ("load", "load_max", "load_repeats"),
    "hot-swap drill": ("swap_every", "swap_models", "admin_url", "token", "token_file"),
}
_NOT_FLAGS: Final = ("tls",)  # from the --tls-* flags that all the clients share


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``emulate``: the fields of its config, and the TLS flags."""
    grouped = [name for names in _GROUPS.values() for name in names]
    add_flags(parser, EmulateConfig, exclude=(*_NOT_FLAGS, *grouped))
    for title, names in _GROUPS.items():
        others = [f.name for f in fields(EmulateConfig) if f.name not in names]
        add_flags(parser.add_argument_group(title), EmulateConfig, exclude=others)
    add_client_arguments(parser)  # shared with `linkadapt models` and the health check


def _us(value: float | None) -> str:
    return "      -" if value is None else f"{value:7.0f}"


def format_table(result: EmulationResult) -> str:
    """Render a run as a plain-text table."""
    lines = _kpi_lines(result) + _per_cell_lines(result) + _compare_lines(result)
    return "\n".join(lines + _swap_lines(result))


def _kpi_lines(result: EmulationResult) -> list[str]:
    """The head of the table: the run, its pooled KPIs, latency, misses, MCS histogram."""
    opts, k = result.options, result.kpis
    wire = {None: "columns for batches", True: "columns", False: "per-UE reports"}
    mode = f"{'stream' if opts.stream else 'unary'}, {wire[opts.columnar]}"
    lines = [
        f"emulate {opts.scenario} against {opts.target} ({mode}): {opts.cells} cell(s) x "
        f"{opts.ues_per_cell} UEs x {k['slots']} slots, seed {opts.seed}, "
        f"{result.wall_s:.1f} s",
        f"  throughput (mean per UE)   {k['throughput_mbps']:10.2f} Mbit/s",
        f"  BLER (first transmissions) {k['bler'] * 100:10.2f} %",
        f"  residual BLER              {k['residual_bler'] * 100:10.3f} %",
        f"  spectral efficiency        {k['spectral_efficiency']:10.3f} bit/s/Hz",
        f"  mean MCS                   {k['mean_mcs']:10.2f}",
        f"  decisions                  {k['decisions']:10d}  ({k['decisions_per_slot']:.1f} UEs "
        f"per slot, {k['requests']} requests)",
        f"  fallback decisions         {k['fallback_share'] * 100:10.2f} %  (service "
        f"{k['service_fallback_decisions']}, local {k['local_fallback_decisions']})",
        f"  decision latency, us       p50 {_us(k['latency_p50_us'])}  p99 "
        f"{_us(k['latency_p99_us'])}  max {_us(k['latency_max_us'])}",
        f"  missed deadline ({result.deadline_us:.0f} us)  {k['missed_slots']:7d} of "
        f"{k['requests']} requests, {k['failed_slots']} without any answer",
    ]
    if k["errors"]:
        lines.append("  errors: " + ", ".join(f"{r} x{n}" for r, n in k["errors"].items()))
    lines.append("  MCS histogram (initial transmissions):")
    hist = k["mcs_histogram"]
    total = max(sum(hist), 1)
    return lines + [f"    {mcs:2d} {100 * count / total:6.2f} % "
                    f"{'#' * max(1, round(40 * count / max(hist)))}"
                    for mcs, count in enumerate(hist) if count]


def _per_cell_lines(result: EmulationResult) -> list[str]:
    """One row per cell, when there are several."""
    if len(result.per_cell) < 2:
        return []
    return ["  per cell:   thp Mbit/s   BLER %   p99 us   missed   failed"] + [
        f"    cell {row['cell_id']:3d} {row['throughput_mbps']:10.2f} {row['bler'] * 100:8.2f} "
        f"{_us(row['latency_p99_us'])} {row['missed_slots']:8d} {row['failed_slots']:8d}"
        for row in result.per_cell]


def _compare_lines(result: EmulationResult) -> list[str]:
    """The emulated run against the ``--compare`` policy in-process (none without it)."""
    if result.compare is None:
        return []
    k, c = result.kpis, result.compare
    b, gain, se_gain = c["kpis"], c["throughput_gain_pct"], c["spectral_efficiency_gain_pct"]
    return [
        f"  versus {c['policy']} in-process on the same channels:",
        f"    throughput   {k['throughput_mbps']:9.2f} vs {b['throughput_mbps']:9.2f} Mbit/s"
        + ("" if gain is None else f"  ({gain:+.1f} %)"),
        f"    BLER         {k['bler'] * 100:9.2f} vs {b['bler'] * 100:9.2f} %"
        f"  ({c['bler_delta_pct_points']:+.2f} points)",
        f"    spectral eff {k['spectral_efficiency']:9.3f} vs "
        f"{b['spectral_efficiency']:9.3f} bit/s/Hz"
        + ("" if se_gain is None else f"  ({se_gain:+.1f} %)"),
    ]


def _swap_lines(result: EmulationResult) -> list[str]:
    """KPIs per answering model and the activations of a hot-swap drill."""
    lines = []
    drill = result.options.swap_every
    if len(result.segments) > 1 or drill:
        lines.append("  by answering model:   slots    thp Mbit/s   BLER %   mean MCS")
        lines += [f"    {seg.model:20s} {seg.first_slot:5d}-{seg.end_slot:<5d} "
                  f"{seg.kpis['throughput_mbps']:10.2f} {seg.kpis['bler'] * 100:8.2f} "
                  f"{seg.kpis['mean_mcs']:8.2f}" for seg in result.segments]
    return lines + [f"  swap at slot {e.slot}: {e.model} {e.detail} ({e.seconds * 1e3:.0f} ms)"
                    for e in (result.swaps if drill else [])]


def slo_violations(config: EmulateConfig, result: EmulationResult) -> list[str]:
    """The SLOs the run violated, as sentences."""
    k = result.kpis
    out = [result.aborted] if result.aborted else []
    p99 = k["latency_p99_us"]
    if config.slo_p99_us is not None and p99 is None:
        out.append(f"no p99 latency: no request got an answer (--slo-p99-us "
                   f"{config.slo_p99_us:g})")
    elif config.slo_p99_us is not None and p99 > config.slo_p99_us:
        out.append(f"p99 latency {p99} us > {config.slo_p99_us:g} us")
    if config.max_bler is not None and k["bler"] > config.max_bler:
        out.append(f"BLER {k['bler']:.4f} > {config.max_bler:g}")
    if config.max_missed_slots is not None and k["missed_slots"] > config.max_missed_slots:
        out.append(f"{k['missed_slots']} missed slots > {config.max_missed_slots}")
    if result.options.swap_every:
        if k["failed_slots"]:
            out.append(f"hot-swap drill: {k['failed_slots']} failed slots")
        bad = [e for e in result.swaps if not e.ok]
        if bad:
            out.append(f"hot-swap drill: {len(bad)} activations failed ({bad[0].detail})")
    return out


def _run_load(config: EmulateConfig, axis: str) -> int:
    def show(step: LoadStep) -> None:
        if not config.json:
            print(f"  {step.cells:5d} {step.ues_per_cell:6d} {step.ues_per_slot:9.1f} "
                  f"{_us(step.latency_p50_us)} {_us(step.latency_p99_us)} "
                  f"{_us(step.latency_max_us)} {step.missed_share * 100:7.2f} "
                  f"{'ok' if step.ok else 'over'}", flush=True)

    budget = config.deadline_us
    mode = "stream" if config.stream else "unary"
    if not config.json:
        print(f"load ramp over {axis} against {config.target} ({mode}), {config.slots} "
              f"slots per level, budget p99 <= "
              f"{'the slot duration' if budget is None else f'{budget:g} us'}")
        print("  cells    UEs  UEs/slot  p50 us  p99 us  max us missed%")
    steps, best = load_ramp(config, axis, budget, config.load_max, show, config.load_repeats)
    if config.json:
        print(json.dumps({"mode": mode, "axis": axis, "steps": [vars(s) for s in steps],
                          "best": None if best is None else vars(best)}))
    elif best is None:
        print("no load level kept p99 within the budget")
    else:
        print(f"largest load within budget: {best.ues_per_slot:.1f} UEs per slot "
              f"({best.cells} cells x {best.ues_per_cell} UEs), p99 {best.latency_p99_us} us")
    return 0 if best is not None else 1


def run(args: argparse.Namespace) -> int:
    """Entry point of ``linkadapt emulate``."""
    try:
        config = parse_config(EmulateConfig, args, exclude=_NOT_FLAGS, tls=client_tls_from(args))
        if config.load is not None:
            return _run_load(config, config.load)
        result = run_emulation(config)
    except (ValueError, EmulatorError) as exc:
        print(f"linkadapt emulate: error: {exc}", file=sys.stderr)
        return 2
    violations = slo_violations(config, result)
    if config.json:
        print(json.dumps({**result.to_dict(), "slo_violations": violations}))
    else:
        print(format_table(result))
        for v in violations:
            # the first entry is why the run failed, when it did: not an SLO of its own
            print(f"run failed: {v}" if result.aborted and v is violations[0]
                  else f"SLO violated: {v}")
    return 1 if violations else 0
