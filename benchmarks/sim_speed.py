"""Simulator speed: UE-slots per second on one core with the full model.

Full model = tapped-delay-line fading on 8 sub-bands, MIMO layer gains,
interference, periodic CQI/RI with delay, HARQ with K1 feedback and
retransmissions, traffic and the gNB's report per UE per slot; the MCS comes
from OLLA (a policy that reads the reports). The process is pinned to one CPU
and BLAS to one thread.

    python benchmarks/sim_speed.py            # 4096 UEs, mimo scenario
    python benchmarks/sim_speed.py --json
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

from training.sim import config
from training.sim.link import LinkSimulator
from training.sim.policies import Olla
from xapp.features import observe


def measure(ues: int, slots: int, scenario: str, with_observation: bool, seed: int) -> float:
    """Return UE-slots per second for ``slots`` slots of ``ues`` UEs (after a warm-up)."""
    cfg = config.config_source(scenario)(np.random.default_rng(seed), ues)
    sim = LinkSimulator(cfg, seed)
    policy = Olla()
    policy.reset(ues)
    for _ in range(20):  # warm-up: first fading block, caches
        sim.step(policy.act(sim.reports, sim))
    start = time.perf_counter()
    for _ in range(slots):
        if with_observation:
            observe(sim.reports)
        sim.step(policy.act(sim.reports, sim))
    return ues * slots / (time.perf_counter() - start)


def main() -> None:
    """Parse options, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ues", type=int, default=4096)
    parser.add_argument("--slots", type=int, default=500)
    parser.add_argument("--scenario", default="mimo")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    core = measure(args.ues, args.slots, args.scenario, False, args.seed)
    with_obs = measure(args.ues, args.slots, args.scenario, True, args.seed)
    random_cfg = measure(args.ues, args.slots, "random", False, args.seed)
    result = {
        "ues": args.ues,
        "slots": args.slots,
        "scenario": args.scenario,
        "ue_slots_per_s": round(core),
        "ue_slots_per_s_with_observation": round(with_obs),
        "ue_slots_per_s_random_configs": round(random_cfg),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"simulator, {args.ues} UEs, scenario {args.scenario}, one core:")
        print(f"  {core:12,.0f} UE-slots/s  (OLLA in the loop)")
        print(f"  {with_obs:12,.0f} UE-slots/s  (plus the 44-feature observation per UE)")
        print(f"  {random_cfg:12,.0f} UE-slots/s  (domain-randomized configurations)")


if __name__ == "__main__":
    main()
