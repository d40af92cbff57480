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
import os
import sys
from pathlib import Path
from typing import Any

from training.sim import config
from training.sim.emulator import (
    MAX_CELLS,
    MAX_UES,
    EmulationResult,
    EmulatorError,
    EmulatorOptions,
    LoadStep,
    check_ramp,
    load_ramp,
    run_emulation,
)
from xapp.tls_client import add_client_arguments, client_tls_from

_EXAMPLES = """examples:
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``emulate``."""
    parser.epilog = _EXAMPLES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--target", default="127.0.0.1:50051",
                        help="gRPC address of the xApp, HOST:PORT (default: 127.0.0.1:50051)")
    parser.add_argument("--cells", type=int, default=1,
                        help=f"simulated cells, at most {MAX_CELLS} (default: 1)")
    parser.add_argument("--ues-per-cell", type=int, default=4,
                        help=f"UEs per cell; at most {MAX_UES} UEs over all cells (default: 4)")
    parser.add_argument("--scenario", default="mimo",
                        help=f"benchmark scenario ({', '.join(config.SCENARIOS)}) or 'random' "
                             "(default: mimo)")
    parser.add_argument("--slots", type=int, default=1000, help="slots emulated (default: 1000)")
    parser.add_argument("--seed", type=int, default=0,
                        help="random seed; cell c uses seed+c (default: 0)")
    parser.add_argument("--speed-kmh", type=float, default=None,
                        help="override every UE's speed, km/h")
    parser.add_argument("--target-bler", type=float, default=None, metavar="T",
                        help="first-transmission BLER target every UE reports to the xApp, "
                             "in (0, 1); a --compare spec written without a target (olla, "
                             "olla:D, eolla, salad) runs at it too (default: the scenario's, "
                             "0.1; 'random' draws each UE's in 0.01..0.3)")
    parser.add_argument("--stream", action="store_true",
                        help="one bidirectional stream per cell (default: unary Decide calls)")
    parser.add_argument("--columnar", action=argparse.BooleanOptionalAction, default=None,
                        help="always send ReportColumns and ask for columnar answers; "
                             "--no-columnar always sends one UeReport per UE (default: "
                             "columns for batches, a UeReport for a single UE)")
    parser.add_argument("--all-ues", action="store_true",
                        help="ask for every UE each slot, not only those starting a new TB")
    parser.add_argument("--deadline-us", type=float, default=None,
                        help="latency budget of a slot, us (default: the slot duration)")
    parser.add_argument("--strict-deadline", action="store_true",
                        help="replace late answers with the local fallback rule")
    parser.add_argument("--timeout-ms", type=float, default=1000.0,
                        help="give up on a request after this long: the slot fails and the "
                             "local fallback applies (default: 1000)")
    parser.add_argument("--connect-timeout-s", type=float, default=10.0,
                        help="wait this long for the service at the start (default: 10)")
    parser.add_argument("--give-up-s", type=float, default=30.0,
                        help="stop the run when a cell got no answer for this long (exit 1; "
                             "default: 30)")
    parser.add_argument("--compare", metavar="POLICY", default=None,
                        help="also run POLICY (e.g. olla, olla:0.5:0.02, eolla:0.1, salad:0.1; "
                             "the forms of simulate --policy) in-process on the same "
                             "channels and report the xApp's gain over it")
    _add_drill_arguments(parser)
    add_client_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")


def _add_drill_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the SLO, load-ramp and hot-swap options of ``emulate``."""
    slo = parser.add_argument_group("SLOs (exit status 1 when violated)")
    slo.add_argument("--slo-p99-us", type=float, default=None,
                     help="largest acceptable p99 decision latency, us")
    slo.add_argument("--max-bler", type=float, default=None,
                     help="largest acceptable first-transmission BLER, 0..1")
    slo.add_argument("--max-missed-slots", type=int, default=None,
                     help="largest acceptable number of missed slots")
    load = parser.add_argument_group("load mode")
    load.add_argument("--load", choices=("cells", "ues"), default=None,
                      help="double the cells (or UEs per cell) from --cells / --ues-per-cell "
                           "until p99 exceeds the deadline; report the largest load that held")
    load.add_argument("--load-max", type=int, default=64,
                      help="highest level of the ramp (default: 64)")
    load.add_argument("--load-repeats", type=int, default=1,
                      help="runs per level; the level is the run with the median p99 "
                           "(default: 1)")
    swap = parser.add_argument_group("hot-swap drill")
    swap.add_argument("--swap-every", type=int, default=None, metavar="K",
                      help="activate the next of --swap-models every K slots through REST "
                           "(K >= 1; needs --swap-models)")
    swap.add_argument("--swap-models", default="",
                      help="comma-separated ID:VER of models already uploaded "
                           "(needs --swap-every)")
    swap.add_argument("--admin-url", default=None,
                      help="REST base URL of the xApp, e.g. http://127.0.0.1:8080")
    swap.add_argument("--token", default=None,
                      help="bearer token (admin API; also sent with decisions); "
                           "or --token-file, or LINKADAPT_ADMIN_TOKEN")
    swap.add_argument("--token-file", type=Path, default=None, help="file holding the token")


def _fail(message: str) -> int:
    print(f"linkadapt emulate: error: {message}", file=sys.stderr)
    return 2


def _token(args: argparse.Namespace) -> str | None:
    if args.token:
        return str(args.token)
    if args.token_file is not None:
        try:
            return args.token_file.read_text().strip() or None
        except OSError as exc:
            raise ValueError(f"cannot read --token-file {str(args.token_file)!r}: "
                             f"{exc.strerror}") from None
    return os.environ.get("LINKADAPT_ADMIN_TOKEN") or None


def options_from_args(args: argparse.Namespace) -> EmulatorOptions:
    """Build and check the emulator options; ValueError naming the bad one."""
    if args.max_bler is not None and not 0 <= args.max_bler <= 1:
        raise ValueError(f"--max-bler must be in 0..1, got {args.max_bler}")
    if args.slo_p99_us is not None and not args.slo_p99_us > 0:
        raise ValueError(f"--slo-p99-us must be positive, got {args.slo_p99_us}")
    if args.max_missed_slots is not None and args.max_missed_slots < 0:
        raise ValueError(f"--max-missed-slots must be >= 0, got {args.max_missed_slots}")
    if args.swap_every is not None and args.swap_every < 1:
        raise ValueError(f"--swap-every must be at least 1, got {args.swap_every}")
    opts = EmulatorOptions(
        target=args.target, cells=args.cells, ues_per_cell=args.ues_per_cell,
        scenario=args.scenario, slots=args.slots, seed=args.seed, speed_kmh=args.speed_kmh,
        target_bler=args.target_bler, stream=args.stream, columnar=args.columnar,
        all_ues=args.all_ues,
        deadline_us=args.deadline_us, strict_deadline=args.strict_deadline,
        timeout_ms=args.timeout_ms, connect_timeout_s=args.connect_timeout_s,
        give_up_s=args.give_up_s,
        token=_token(args), swap_every=args.swap_every or 0,
        swap_models=tuple(m.strip() for m in args.swap_models.split(",") if m.strip()),
        admin_url=args.admin_url, compare=args.compare, tls=client_tls_from(args),
    )
    opts.check()
    return opts


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
    for mcs, count in enumerate(hist):
        if count:
            bar = "#" * max(1, round(40 * count / max(hist)))
            lines.append(f"    {mcs:2d} {100 * count / total:6.2f} % {bar}")
    return lines


def _per_cell_lines(result: EmulationResult) -> list[str]:
    """One row per cell, when there are several."""
    lines = []
    if len(result.per_cell) > 1:
        lines.append("  per cell:   thp Mbit/s   BLER %   p99 us   missed   failed")
        for row in result.per_cell:
            lines.append(f"    cell {row['cell_id']:3d} {row['throughput_mbps']:10.2f} "
                         f"{row['bler'] * 100:8.2f} {_us(row['latency_p99_us'])} "
                         f"{row['missed_slots']:8d} {row['failed_slots']:8d}")
    return lines


def _compare_lines(result: EmulationResult) -> list[str]:
    """The emulated run against the ``--compare`` policy in-process (none without it)."""
    lines: list[str] = []
    k = result.kpis
    if result.compare is not None:
        c = result.compare
        b = c["kpis"]
        gain = c["throughput_gain_pct"]
        se_gain = c["spectral_efficiency_gain_pct"]
        lines += [
            f"  versus {c['policy']} in-process on the same channels:",
            f"    throughput   {k['throughput_mbps']:9.2f} vs {b['throughput_mbps']:9.2f} Mbit/s"
            + ("" if gain is None else f"  ({gain:+.1f} %)"),
            f"    BLER         {k['bler'] * 100:9.2f} vs {b['bler'] * 100:9.2f} %"
            f"  ({c['bler_delta_pct_points']:+.2f} points)",
            f"    spectral eff {k['spectral_efficiency']:9.3f} vs "
            f"{b['spectral_efficiency']:9.3f} bit/s/Hz"
            + ("" if se_gain is None else f"  ({se_gain:+.1f} %)"),
        ]
    return lines


def _swap_lines(result: EmulationResult) -> list[str]:
    """KPIs per answering model and the activations of a hot-swap drill."""
    lines = []
    opts = result.options
    if len(result.segments) > 1 or opts.swap_every:
        lines.append("  by answering model:   slots    thp Mbit/s   BLER %   mean MCS")
        for seg in result.segments:
            s = seg.kpis
            lines.append(f"    {seg.model:20s} {seg.first_slot:5d}-{seg.end_slot:<5d} "
                         f"{s['throughput_mbps']:10.2f} {s['bler'] * 100:8.2f} "
                         f"{s['mean_mcs']:8.2f}")
    if opts.swap_every:
        for e in result.swaps:
            lines.append(f"  swap at slot {e.slot}: {e.model} {e.detail} "
                         f"({e.seconds * 1e3:.0f} ms)")
    return lines


def slo_violations(args: argparse.Namespace, result: EmulationResult) -> list[str]:
    """The SLOs the run violated, as sentences."""
    k = result.kpis
    out = [result.aborted] if result.aborted else []
    p99 = k["latency_p99_us"]
    if args.slo_p99_us is not None and p99 is None:
        out.append(f"no p99 latency: no request got an answer (--slo-p99-us {args.slo_p99_us:g})")
    elif args.slo_p99_us is not None and p99 > args.slo_p99_us:
        out.append(f"p99 latency {p99} us > {args.slo_p99_us:g} us")
    if args.max_bler is not None and k["bler"] > args.max_bler:
        out.append(f"BLER {k['bler']:.4f} > {args.max_bler:g}")
    if args.max_missed_slots is not None and k["missed_slots"] > args.max_missed_slots:
        out.append(f"{k['missed_slots']} missed slots > {args.max_missed_slots}")
    if result.options.swap_every:
        if k["failed_slots"]:
            out.append(f"hot-swap drill: {k['failed_slots']} failed slots")
        bad = [e for e in result.swaps if not e.ok]
        if bad:
            out.append(f"hot-swap drill: {len(bad)} activations failed ({bad[0].detail})")
    return out


def _run_load(args: argparse.Namespace, opts: EmulatorOptions) -> int:
    def show(step: LoadStep) -> None:
        if not args.json:
            print(f"  {step.cells:5d} {step.ues_per_cell:6d} {step.ues_per_slot:9.1f} "
                  f"{_us(step.latency_p50_us)} {_us(step.latency_p99_us)} "
                  f"{_us(step.latency_max_us)} {step.missed_share * 100:7.2f} "
                  f"{'ok' if step.ok else 'over'}", flush=True)

    budget = opts.deadline_us
    if not args.json:
        mode = "stream" if opts.stream else "unary"
        print(f"load ramp over {args.load} against {opts.target} ({mode}), {opts.slots} "
              f"slots per level, budget p99 <= "
              f"{'the slot duration' if budget is None else f'{budget:g} us'}")
        print("  cells    UEs  UEs/slot  p50 us  p99 us  max us missed%")
    steps, best = load_ramp(opts, args.load, budget, args.load_max, show, args.load_repeats)
    if args.json:
        print(json.dumps({"mode": "stream" if opts.stream else "unary", "axis": args.load,
                          "steps": [vars(s) for s in steps],
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
        opts = options_from_args(args)
        if args.load is not None:
            check_ramp(opts, args.load, args.load_max, args.load_repeats)
            return _run_load(args, opts)
        result = run_emulation(opts)
    except (ValueError, EmulatorError) as exc:
        return _fail(str(exc))
    violations = slo_violations(args, result)
    if args.json:
        out: dict[str, Any] = result.to_dict()
        out["slo_violations"] = violations
        print(json.dumps(out))
    else:
        print(format_table(result))
        for v in violations:
            # the first entry is why the run failed, when it did: not an SLO of its own
            print(f"run failed: {v}" if result.aborted and v is violations[0]
                  else f"SLO violated: {v}")
    return 1 if violations else 0
