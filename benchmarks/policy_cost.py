"""Per-slot cost of the non-learned baselines' decisions, next to the simulator's own.

Runs each policy in closed loop (``training.sim.closed_loop.run``) and times its
``act`` calls apart from the rest of the slot. The process is pinned to one CPU
and BLAS to one thread.

    python benchmarks/policy_cost.py                      # 256 UEs x 2000 slots, mimo
    python benchmarks/policy_cost.py --policies olla,salad:0.02 --ues 1024 --json
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np
import numpy.typing as npt

from training.sim import closed_loop, config
from training.sim.link import LinkSimulator
from training.sim.policies import McsPolicy, parse_policy
from xapp.features import ReportBatch

DEFAULT_POLICIES = "illa,olla:0.5:0.1,eolla:0.1,salad:0.1"


class _Timed:
    """Wraps a policy and adds up the time its ``act`` calls take."""

    def __init__(self, policy: McsPolicy) -> None:
        self.policy, self.name, self.seconds = policy, policy.name, 0.0

    def reset(self, n: int) -> None:
        self.policy.reset(n)

    def act(self, reports: ReportBatch, sim: LinkSimulator) -> npt.NDArray[np.int64]:
        start = time.perf_counter()
        mcs = self.policy.act(reports, sim)
        self.seconds += time.perf_counter() - start
        return mcs


def measure(spec: str, ues: int, slots: int, scenario: str, seed: int) -> dict[str, float]:
    """Wall time of one run and the policy's share of it, per slot."""
    cfg = config.config_source(scenario)(np.random.default_rng([seed, 1]), ues)
    timed = _Timed(parse_policy(spec))
    start = time.perf_counter()
    kpis = closed_loop.run(timed, cfg, slots, seed).kpis
    wall = time.perf_counter() - start
    return {"run_s": wall, "act_us_per_slot": timed.seconds / slots * 1e6,
            "act_share": timed.seconds / wall, "bler": kpis["bler"],
            "throughput_mbps": kpis["throughput_mbps"]}


def main() -> None:
    """Parse options, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policies", default=DEFAULT_POLICIES, help="comma-separated specs")
    parser.add_argument("--ues", type=int, default=256)
    parser.add_argument("--slots", type=int, default=2000)
    parser.add_argument("--scenario", default="mimo")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    rows = {spec: measure(spec, args.ues, args.slots, args.scenario, args.seed)
            for spec in args.policies.split(",")}
    if args.json:
        print(json.dumps({"ues": args.ues, "slots": args.slots, "scenario": args.scenario,
                          "policies": rows}, indent=2))
        return
    print(f"{args.scenario}, {args.ues} UEs x {args.slots} slots, one core")
    for spec, row in rows.items():
        print(f"  {spec:16s} run {row['run_s']:6.2f} s   act {row['act_us_per_slot']:7.1f} "
              f"us/slot ({row['act_share']:5.1%} of the run)")


if __name__ == "__main__":
    main()
