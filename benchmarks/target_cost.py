"""Cost of the BLER target on the decision path: the default and range step, and decide().

Times :meth:`xapp.core.DecisionCore.with_targets` (fill the default where a report
has no target, check the rest against the model's trained range) and the whole
:meth:`~xapp.core.DecisionCore.decide` on probe batches whose reports all send a
target, or none do. The model is a random 44-32-32-32-29 MLP (the 3x32 student's
shape). Best of five repeats, per call.

    python benchmarks/target_cost.py
    python benchmarks/target_cost.py --sizes 1,64,1000 --json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import timeit
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

# tests/synthetic.py makes the random test models: reachable from the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.synthetic import random_mlp
from xapp.core import DecisionCore
from xapp.metrics import Metrics
from xapp.model_check import Limits, check_model, probe_batch


def _per_call_us(work: Any, number: int) -> float:
    return min(timeit.repeat(work, number=number, repeat=5)) / number * 1e6


def measure(sizes: list[int], calls: int) -> list[dict[str, Any]]:
    """One row per batch size and case: the target step and decide(), in us per call."""
    core = DecisionCore(Metrics())
    policy = check_model(random_mlp("bench-3x32", hidden=(32, 32, 32), kind="benchmark"),
                         Limits(latency_budget_us=None))
    core.set_policy(policy)
    rows = []
    for n in sizes:
        sent = probe_batch(n, np.random.default_rng(0))
        cases = {"sent": sent, "absent": sent.with_columns(target_bler=np.full(n, np.nan))}
        for case, batch in cases.items():
            rows.append({
                "ues": n, "targets": case,
                "target_step_us": _per_call_us(lambda b=batch: core.with_targets(b, policy),
                                               calls),
                "decide_us": _per_call_us(lambda b=batch: core.decide(b), max(calls // 10, 1)),
            })
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,1000", help="batch sizes, comma-separated")
    parser.add_argument("--calls", type=int, default=5000, help="calls per timed repeat")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        parser.error(f"--sizes must be integers separated by commas, got {args.sizes!r}")
    if min(sizes) < 1 or args.calls < 1:
        parser.error("--sizes and --calls must be at least 1")
    rows = measure(sizes, args.calls)
    if args.json:
        print(json.dumps({"rows": rows}))
        return 0
    print(f"{'UEs':>6} {'targets':>8} {'target step us':>15} {'decide us':>10}")
    for row in rows:
        print(f"{row['ues']:6d} {row['targets']:>8} {row['target_step_us']:15.2f} "
              f"{row['decide_us']:10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
