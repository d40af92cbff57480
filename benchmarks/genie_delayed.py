"""The delayed genie beside the genie, OLLA and ILLA: throughput, BLER and wall time.

For each benchmark scenario, one closed-loop run per policy (same seed: the same
channels for all), and the delayed genie at several Monte Carlo sample counts to
show what the sample count trades between accuracy and time. The process is pinned
to one CPU and BLAS to one thread.

    python benchmarks/genie_delayed.py                      # 6 scenarios, 256 UEs x 2000 slots
    python benchmarks/genie_delayed.py --samples 16 32 64 --json
    python benchmarks/genie_delayed.py --scenarios mimo --slots 500
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

from training.sim import closed_loop, config
from training.sim.genie_delayed import DEFAULT_SAMPLES, GenieDelayed
from training.sim.policies import Genie, Illa, McsPolicy, Olla


def measure(policy: McsPolicy, scenario: str, ues: int, slots: int,
            seed: int) -> dict[str, float]:
    """Throughput (Mbit/s), first-transmission BLER and wall time (s) of one run."""
    cfg = config.scenario(scenario).config(ues)
    start = time.perf_counter()
    kpis = closed_loop.run(policy, cfg, slots, seed).kpis
    return {"throughput_mbps": round(kpis["throughput_mbps"], 2), "bler": round(kpis["bler"], 4),
            "wall_s": round(time.perf_counter() - start, 1)}


def main() -> None:
    """Parse options, run, print."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", nargs="+", default=list(config.BENCHMARK_SCENARIOS))
    parser.add_argument("--ues", type=int, default=256)
    parser.add_argument("--slots", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, nargs="+", default=[DEFAULT_SAMPLES],
                        help="Monte Carlo sample counts of the delayed genie")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    results = []
    for scenario in args.scenarios:
        policies: list[tuple[str, McsPolicy]] = [("genie", Genie())]
        policies += [(f"genie-delayed/{s}", GenieDelayed(samples=s)) for s in args.samples]
        policies += [("olla:0.5", Olla(0.5)), ("illa", Illa())]
        for label, policy in policies:
            row = {"scenario": scenario, "policy": label,
                   **measure(policy, scenario, args.ues, args.slots, args.seed)}
            results.append(row)
            if not args.json:
                print(f"{scenario:14s} {label:18s} {row['throughput_mbps']:9.2f} Mbit/s  "
                      f"BLER {row['bler']:6.1%}  {row['wall_s']:6.1f} s", flush=True)
    if args.json:
        print(json.dumps({"ues": args.ues, "slots": args.slots, "seed": args.seed,
                          "results": results}))


if __name__ == "__main__":
    main()
