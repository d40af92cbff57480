"""Pick, among students of one recipe, the one closest to its teacher in closed loop.

Students that differ only in their training seed differ in closed loop by up to a
point of throughput in the hardest scenario (bursty), more than any recipe setting
moves it (docs/training.md, "The bursty gap: what was tried"). This script runs the
teacher and every candidate on the benchmark scenarios at each BLER target, on
*selection* seeds: ``SeedSequence(seed, spawn_key=(SELECTION_SPAWN_KEY,))``, a key
that neither training nor ``linkadapt evaluate`` simulates from, so a pick made
here is still judged on unseen channels by the evaluation.

A candidate's cell is its throughput change against the teacher (%) in one
scenario at one target and seed. Candidates with a BLER above 1.2 x the target in
any cell are out; of the rest, the pick has the best mean, over seeds and targets,
of its worst scenario (then the fewest cells more than 0.5% below the teacher)::

    python scripts/select_student.py --teacher training/models/teacher-labels-long.onnx \
        --candidate runs/distill-long-bursty2m-s0/student-3x32.onnx \
        --candidate runs/distill-long-bursty2m-s1/student-3x32.onnx --seeds 0,1 --workers 2
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Final

import numpy as np

from training.evaluation_config import BLER_LIMIT_FACTOR, EVALUATION_SPAWN_KEY
from training.evaluation_runs import Task, task_config
from training.sim import closed_loop, config
from training.sim.policies import OnnxPolicy

SELECTION_SPAWN_KEY: Final = 0x53454C54
"""First spawn-key word of every selection run ("SELT"). Even, as the evaluation's is
(training's simulations sit under odd ones), and not the evaluation's."""
assert SELECTION_SPAWN_KEY % 2 == 0 and SELECTION_SPAWN_KEY != EVALUATION_SPAWN_KEY
CLOSE: Final = 0.5
"""A cell more than this many percent below the teacher counts against a candidate."""


def selection_seed(seed: int) -> np.random.SeedSequence:
    """The seed sequence of a selection run with ``seed`` (never an evaluation's)."""
    return np.random.SeedSequence(seed, spawn_key=(SELECTION_SPAWN_KEY,))


def run_one(path: str, scenario: str, target: float, ues: int, slots: int,
            seed: int) -> dict[str, Any]:
    """KPIs of one model on one scenario at one target (in a worker process)."""
    cfg = task_config(Task(scenario, path, path, True, target), ues)  # as evaluate's runs
    return closed_loop.run(OnnxPolicy(path), cfg, slots, selection_seed(seed)).kpis


def cells(runs: dict[tuple[str, str, float, int], dict[str, Any]], teacher: str,
          candidate: str) -> dict[tuple[int, float, str], tuple[float, float]]:
    """``{(seed, target, scenario): (throughput change % vs the teacher, BLER)}``."""
    out = {}
    for (path, scenario, target, seed), kpis in runs.items():
        if path == candidate:
            ref = runs[(teacher, scenario, target, seed)]["throughput_mbps"]
            if ref <= 0.0:
                raise ValueError(f"the teacher delivered nothing in {scenario} at {target:g} "
                                 f"(seed {seed}): run more --ues or --slots")
            out[(seed, target, scenario)] = (100.0 * (kpis["throughput_mbps"] / ref - 1.0),
                                             kpis["bler"])
    return out


def judge(table: dict[tuple[int, float, str], tuple[float, float]]) -> dict[str, Any]:
    """One candidate's figures: worst scenario per (seed, target), their mean, and more."""
    worst: dict[tuple[int, float], tuple[float, str]] = {}
    for (seed, target, scenario), (change, _) in table.items():
        if (seed, target) not in worst or change < worst[(seed, target)][0]:
            worst[(seed, target)] = (change, scenario)
    over = [f"{s} at {t:g} (seed {seed}): BLER {b:.4f}"
            for (seed, t, s), (_, b) in sorted(table.items()) if b > BLER_LIMIT_FACTOR * t]
    return {"mean_worst": sum(c for c, _ in worst.values()) / len(worst),
            "cells_below": sum(c < -CLOSE for c, _ in table.values()),
            "cells": len(table),
            "worst": {f"{t:g}, seed {seed}": {"change": round(c, 3), "scenario": s}
                      for (seed, t), (c, s) in sorted(worst.items())},
            "bler_over_limit": over}


def pick(judged: dict[str, dict[str, Any]]) -> str | None:
    """The candidate to keep (``None``: every one runs above a BLER limit)."""
    fit = [c for c, j in judged.items() if not j["bler_over_limit"]]
    if not fit:
        return None
    return max(fit, key=lambda c: (judged[c]["mean_worst"], -judged[c]["cells_below"]))


def _listed(text: str, kind: type, valid: Callable[[Any], bool], rule: str) -> list[Any]:
    """``text`` as a comma-separated list of ``kind``, each ``valid`` (else ``rule``)."""
    try:
        values = [kind(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of {kind.__name__}s: {text!r}") from None
    if not all(valid(v) for v in values):
        raise argparse.ArgumentTypeError(f"{rule}, got {text!r}")
    return values


def _targets(text: str) -> list[float]:
    return _listed(text, float, lambda v: 0.0 < v < 1.0 and math.isfinite(v),
                   "every target must lie in (0, 1)")


def _seeds(text: str) -> list[int]:
    return _listed(text, int, lambda v: v >= 0, "seeds must be >= 0")


def main(argv: list[str] | None = None) -> int:
    """Run the selection, print each candidate's figures and the pick.

    Returns 0 with a pick, 1 when every candidate is over a BLER limit, 2 on bad input.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teacher", type=Path, required=True)
    parser.add_argument("--candidate", type=Path, action="append", required=True,
                        help="a student's ONNX file (repeat for each candidate)")
    parser.add_argument("--target-bler", type=_targets, default=[0.1, 0.02, 0.05, 0.2])
    parser.add_argument("--scenarios", default=",".join(config.SCENARIOS))
    parser.add_argument("--seeds", type=_seeds, default=[0])
    parser.add_argument("--ues", type=int, default=256)
    parser.add_argument("--slots", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    scenarios = args.scenarios.split(",")
    unknown = [s for s in scenarios if s not in config.SCENARIOS]
    if unknown:
        parser.error(f"--scenarios: unknown {', '.join(unknown)}; choose from "
                     f"{', '.join(config.SCENARIOS)}")
    if args.ues < 1 or args.slots < 1 or args.workers < 1:
        parser.error("--ues, --slots and --workers must be >= 1")
    models = [str(args.teacher), *(str(c) for c in args.candidate)]
    if len(set(models)) != len(models):
        parser.error("the teacher and the candidates must be different files")
    for path in models:  # refuse an unreadable or unusable model before any run
        try:
            OnnxPolicy(path)
        except ValueError as exc:
            parser.error(str(exc))
    jobs = [(m, s, t, args.ues, args.slots, seed) for seed in args.seeds
            for t in args.target_bler for s in scenarios for m in models]
    if args.workers == 1:
        results = [run_one(*job) for job in jobs]
    else:
        context = multiprocessing.get_context("spawn")  # ONNX Runtime does not survive a fork
        with ProcessPoolExecutor(max_workers=min(args.workers, len(jobs)),
                                 mp_context=context) as pool:
            results = list(pool.map(run_one, *zip(*jobs, strict=True)))
    runs = {(m, s, t, seed): k for (m, s, t, _, _, seed), k in zip(jobs, results, strict=True)}
    try:
        judged = {c: judge(cells(runs, models[0], c)) for c in models[1:]}
    except ValueError as exc:
        print(f"select_student: {exc}", file=sys.stderr)
        return 2
    chosen = pick(judged)
    if args.json:
        print(json.dumps({"teacher": models[0], "candidates": judged, "pick": chosen,
                          "seeds": args.seeds, "spawn_key": SELECTION_SPAWN_KEY}, indent=2))
    else:
        for c, j in judged.items():
            worst = ", ".join(f"{k}: {v['change']:+.2f} ({v['scenario']})"
                              for k, v in j["worst"].items())
            print(f"{c}: mean worst {j['mean_worst']:+.3f}%, {j['cells_below']} of "
                  f"{j['cells']} cells more than {CLOSE}% below the teacher; {worst}")
            for line in j["bler_over_limit"]:
                print(f"  over the BLER limit: {line}")
        print(f"pick: {chosen}" if chosen else "pick: none (every candidate is over a BLER limit)")
    return 0 if chosen else 1


if __name__ == "__main__":
    sys.exit(main())
