"""Largest load one xApp instance sustains at p99 <= budget, driven by the gNB emulator.

Starts ``linkadapt serve`` (serving a random MLP with the 3x32 student's shape,
built here with onnx.helper: the figures are about the service, not the policy)
in a subprocess, then runs the emulator's load ramp
(:func:`training.sim.emulator.load_ramp`, as ``linkadapt emulate --load``) from
this process, for unary calls and for one stream per cell, along two axes:

* ``ues``: one cell, the UEs per cell doubling (one growing columnar batch per slot);
* ``cells``: ``--ues-per-cell`` UEs per cell, the cells doubling (concurrent
  requests, one per cell and slot).

Each level is ``--repeats`` fresh closed-loop emulations of ``--slots`` slots
(scenario ``mimo``); a level holds when, in the run with the median p99, the
p99 request latency is within ``--budget-us`` and no slot failed. The figure is
the UEs decided per slot (UEs starting a new transport block, all cells) at the
largest level that held.

By default (``--pin``) the service runs on CPU 1 and the emulator on CPU 0. The
machine is shared: run it a few times and compare.

Usage: ``python benchmarks/emulator_load.py [--slots 500] [--budget-us 1000] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from training.sim.emulator import EmulatorOptions, LoadStep, load_ramp

# benchmarks/service_servers.py (the random student model, a free port) from the root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.service_servers import free_port, student_model


def wait_port(port: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


def start_service(tmp: Path, pin: bool) -> tuple[subprocess.Popen[bytes], int]:
    student_model(tmp / "student.onnx")
    grpc_port, http_port = free_port(), free_port()

    def on_server_cpu() -> None:
        if pin:
            os.sched_setaffinity(0, {1})

    service = subprocess.Popen(
        [sys.executable, "-m", "linkadapt.cli", "serve", "--insecure", "--host",
         "127.0.0.1", "--grpc-port", str(grpc_port), "--http-port", str(http_port), "--model-store",
         str(tmp / "store"), "--default-model", str(tmp / "student.onnx"),
         "--max-batch-size", "4096", "--log-level", "warning"],
        preexec_fn=on_server_cpu)
    wait_port(grpc_port)
    return service, grpc_port


def run(slots: int, budget_us: float, ues_per_cell: int, pin: bool, repeats: int,
        log: bool = True) -> dict[str, Any]:
    if pin:
        os.sched_setaffinity(0, {0})
    tmp = Path(tempfile.mkdtemp(prefix="linkadapt-emulator-load-"))
    service, port = start_service(tmp, pin)
    results: dict[str, Any] = {
        "slots_per_level": slots, "runs_per_level": repeats, "budget_us": budget_us,
        "pinned": "service on CPU 1, emulator on CPU 0" if pin else "no"}
    try:
        for stream in (False, True):
            mode = "stream" if stream else "unary"
            for axis, cells, ues, top in (("ues", 1, 1, 4096), ("cells", 1, ues_per_cell, 256)):
                opts = EmulatorOptions(target=f"127.0.0.1:{port}", cells=cells, ues_per_cell=ues,
                                       slots=slots, stream=stream, deadline_us=budget_us)

                def show(step: LoadStep, name: str = f"{mode}/{axis}") -> None:
                    if log:
                        print(f"  {name:13s} {step.cells:4d} cells x {step.ues_per_cell:5d} UEs"
                              f"  {step.ues_per_slot:8.1f} UEs/slot  p50 {step.latency_p50_us}"
                              f"  p99 {step.latency_p99_us} us  {'ok' if step.ok else 'over'}",
                              file=sys.stderr, flush=True)

                steps, best = load_ramp(opts, axis, budget_us, top, show, repeats)
                results[f"{mode}_{axis}"] = {
                    "best_ues_per_slot": None if best is None else best.ues_per_slot,
                    "best": None if best is None else vars(best),
                    "steps": [vars(s) for s in steps]}
    finally:
        service.terminate()
        service.wait(30)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=500, help="slots per load level")
    parser.add_argument("--budget-us", type=float, default=1000.0, help="p99 budget, us")
    parser.add_argument("--ues-per-cell", type=int, default=8,
                        help="UEs per cell on the cells axis (default: 8)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs per level, the median p99 decides (default: 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--pin", action=argparse.BooleanOptionalAction, default=True,
                        help="service on CPU 1, emulator on CPU 0 (default: on)")
    args = parser.parse_args()
    if args.pin and len(os.sched_getaffinity(0)) < 2:
        parser.error("--pin needs two CPUs")
    results = run(args.slots, args.budget_us, args.ues_per_cell, args.pin, args.repeats)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"UEs per slot at p99 <= {args.budget_us:g} us ({args.slots} slots x "
          f"{args.repeats} runs per level, "
          f"pinned: {results['pinned']})")
    for key, value in results.items():
        if isinstance(value, dict):
            best = value["best"]
            text = "none" if best is None else (
                f"{best['ues_per_slot']:8.1f}  ({best['cells']} cells x {best['ues_per_cell']} "
                f"UEs, p50 {best['latency_p50_us']} us, p99 {best['latency_p99_us']} us)")
            print(f"  {key:14s} {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
