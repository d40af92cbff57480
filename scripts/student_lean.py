"""Which way students miss: MCS choices below and above the teacher's on its own states.

Runs the teacher in one benchmark scenario on the Ray actors (the distillation
dataset code, epsilon 0.05, its own seed so the states are not the evaluation's),
then reports for each model the share of states where its (table-masked) argmax
equals the teacher's, is lower, or is higher. A student that picks lower more
often than higher runs a lower BLER than its teacher in that scenario.

Usage::

    python scripts/student_lean.py --teacher training/models/teacher-quick.onnx
        --model xapp/models/default.onnx --scenario scsu [--samples 200000] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

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


def main(argv: list[str] | None = None) -> int:
    """Collect the teacher's states, compare every ``--model``, print the shares."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", type=Path, required=True)
    parser.add_argument("--model", type=Path, action="append", required=True)
    parser.add_argument("--scenario", default="scsu")
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    teacher = load_teacher(args.teacher)
    with tempfile.TemporaryDirectory() as tmp:
        collect(teacher, Path(tmp) / "states", CollectConfig(
            samples=args.samples, actors=1, ues=256, seed=args.seed), scenario=args.scenario)
        data = load_dataset(Path(tmp) / "states")
    table = np.where(data.obs[:, FEATURE_NAMES.index("table_qam256")] > 0.5, 2, 1)
    teacher_mcs = masked_argmax(data.q, table)
    result: dict[str, object] = {"scenario": args.scenario, "states": len(data), "models": {}}
    for path in args.model:
        policy = check_model(path.read_bytes(), Limits(latency_budget_us=None))
        q = np.concatenate([policy.q_values(data.obs[i:i + 65_536])
                            for i in range(0, len(data), 65_536)])
        result["models"][str(path)] = lean(masked_argmax(q, table), teacher_mcs)  # type: ignore[index]
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.scenario}: {len(data)} teacher states")
        for path, shares in result["models"].items():  # type: ignore[attr-defined]
            print(f"  {path}: agreement {shares['agreement']:.4f}, lower "
                  f"{shares['lower']:.4f}, higher {shares['higher']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
