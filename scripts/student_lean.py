"""Which way students miss: MCS choices below and above the teacher's on its own states.

Runs the teacher in one benchmark scenario on the Ray actors (the distillation
dataset code, epsilon 0.05, its own seed so the states are not the evaluation's),
then reports for each model the share of states where its (table-masked) argmax
equals the teacher's, is lower, or is higher. A student that picks lower more
often than higher runs a lower BLER than its teacher in that scenario.

Usage::

    python scripts/student_lean.py --teacher training/models/teacher-quick.onnx
        --model xapp/models/default.onnx --scenario scsu [--samples 200000] [--json]
        [--by-mcs]

``--by-mcs`` also splits the shares by the teacher's MCS (those it picks on at
least 1% of the states): where a lean sits, at the top of the table (where a
miss can only be lower) or in the middle.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from training.distill.dataset import CollectConfig, collect, load_dataset
from training.distill.teachers import load_teacher
from xapp.features import FEATURE_NAMES
from xapp.model_check import Limits, check_model
from xapp.policy import masked_argmax


def lean(student_mcs: npt.NDArray[np.int64], teacher_mcs: npt.NDArray[np.int64]
         ) -> dict[str, float]:
    """Shares of states where the student's MCS equals, is below or is above the teacher's."""
    return {"agreement": float((student_mcs == teacher_mcs).mean()),
            "lower": float((student_mcs < teacher_mcs).mean()),
            "higher": float((student_mcs > teacher_mcs).mean())}


def lean_by_mcs(student_mcs: npt.NDArray[np.int64], teacher_mcs: npt.NDArray[np.int64],
                min_share: float = 0.01) -> dict[int, dict[str, float]]:
    """:func:`lean` per teacher MCS, for the MCS the teacher picks on ``min_share`` of states."""
    counts = np.bincount(teacher_mcs)
    return {mcs: {"share": float(counts[mcs] / len(teacher_mcs)),
                  **lean(student_mcs[teacher_mcs == mcs], teacher_mcs[teacher_mcs == mcs])}
            for mcs in np.flatnonzero(counts >= min_share * len(teacher_mcs)).tolist()}


def main(argv: list[str] | None = None) -> int:
    """Collect the teacher's states, compare every ``--model``, print the shares."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", type=Path, required=True)
    parser.add_argument("--model", type=Path, action="append", required=True)
    parser.add_argument("--scenario", default="scsu")
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--by-mcs", action="store_true",
                        help="also split the shares by the teacher's MCS")
    args = parser.parse_args(argv)
    teacher = load_teacher(args.teacher)
    with tempfile.TemporaryDirectory() as tmp:
        collect(teacher, Path(tmp) / "states", CollectConfig(
            samples=args.samples, actors=1, ues=256, seed=args.seed), scenario=args.scenario)
        data = load_dataset(Path(tmp) / "states")
    table = np.where(data.obs[:, FEATURE_NAMES.index("table_qam256")] > 0.5, 2, 1)
    teacher_mcs = masked_argmax(data.q, table)
    models: dict[str, dict[str, Any]] = {}
    for path in args.model:
        policy = check_model(path.read_bytes(), Limits(latency_budget_us=None))
        q = np.concatenate([policy.q_values(data.obs[i:i + 65_536])
                            for i in range(0, len(data), 65_536)])
        student_mcs = masked_argmax(q, table)
        shares: dict[str, Any] = {**lean(student_mcs, teacher_mcs)}
        if args.by_mcs:
            shares["by_teacher_mcs"] = lean_by_mcs(student_mcs, teacher_mcs)
        models[str(path)] = shares
    if args.json:
        print(json.dumps({"scenario": args.scenario, "states": len(data), "models": models}))
    else:
        print(f"{args.scenario}: {len(data)} teacher states")
        for path, shares in models.items():
            print(f"  {path}: agreement {shares['agreement']:.4f}, lower "
                  f"{shares['lower']:.4f}, higher {shares['higher']:.4f}")
            for mcs, part in shares.get("by_teacher_mcs", {}).items():
                print(f"    teacher MCS {mcs:2d} ({part['share']:.1%} of states): agreement "
                      f"{part['agreement']:.3f}, lower {part['lower']:.3f}, "
                      f"higher {part['higher']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
