"""Benchmark evaluation: learned policies against the frontier of the non-learned baselines.

Every run of a scenario uses the same configuration and the same seed, so all
policies see the same UE drops, channels, traffic and CQI errors (common random
numbers): differences in the KPIs come from the policies, not from the draw.

Per scenario, every baseline configuration of the spec list (OLLA over steps and
targets, eOLLA and SALAD over targets, ILLA, fixed MCS: :mod:`training.baselines`)
gives a (BLER, throughput) point; their upper concave hull is the frontier
(:mod:`training.frontier`). Each policy is judged at its own BLER: its gain over
the frontier there, and the share of the frontier-to-genie and
frontier-to-genie-delayed gaps it closes. The genies are reference rows, not part
of the frontier.

``olla`` in the tables is OLLA at the 10% target, tuned per scenario as before:
every step of the sweep runs, and the one with the highest throughput among those
whose first-transmission BLER is within ``target +- tolerance`` (10% +- 2%) is
reported. When no step meets the target, the one closest to it is taken and
flagged ``bler_on_target: false``.

Seeds: a run with ``--seed K`` simulates from :func:`evaluation_seed`, a seed
sequence under a spawn key that training never derives; see that function.

Each model runs once per BLER target of ``--target-bler`` (its UEs report that
target); the baselines, genies and frontier are the same at every target. The
``scenarios`` and ``summary`` of the result hold the models at the primary target
(10% when listed, else the first); ``targets`` holds, for every target, the models
judged against the frontier (:func:`~training.evaluation_summary.target_summary`).

Result layout (also the JSON of ``linkadapt evaluate --json``)::

    {"config": {..., "target_blers": [...], "primary_target_bler": T},
     "scenarios": {scenario: {policy: {KPIs of training.sim.closed_loop.kpis,
                                       "role": "model" | "baseline",
                                       "metadata": {...},  # models: from the card
                                       "frontier": {...},  # see policy_against_frontier
                                       ...}}},
     "baselines": {scenario: {spec: {KPIs, "family", "on_hull"}}},
     "frontiers": {scenario: {"hull", "olla_hull", "families"}},  # see scenario_frontier
     "summary": {"reference": name, "policies": {policy: {...}},
                 "families": {family: {scenario: best gain over OLLA's frontier %}}},
     "targets": {"0.1": {"target_bler", "bler_limit", "models": {model: {...}}}, ...}}
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

from training import baselines, frontier
from training.baselines import EOLLA, GENIE_DELAYED, ILLA, OLLA, SALAD
from training.evaluation_config import (
    BASELINES,
    BLER_TARGET,
    BLER_TOLERANCE,
    DEFAULT_OLLA_STEPS_DB,
    EVALUATION_SPAWN_KEY,
    FAMILIES_VS_OLLA,
    GENIE,
    EvaluationConfig,
    ModelSpec,
    evaluation_seed,
    target_label,
)
from training.evaluation_models import inference_p50_us, model_spec, unique_names
from training.evaluation_runs import (
    Task,
    run_all,
    run_scenarios,
    run_task,
    scenario_rows,
    select_olla,
    task_config,
    tasks,
)
from training.evaluation_summary import (
    family_summary,
    gain_pct,
    policy_against_frontier,
    scenario_frontier,
    summarize,
    target_summary,
)

__all__ = [
    "BASELINES", "BLER_TARGET", "BLER_TOLERANCE", "DEFAULT_OLLA_STEPS_DB", "EOLLA",
    "EVALUATION_SPAWN_KEY", "FAMILIES_VS_OLLA", "GENIE", "GENIE_DELAYED", "ILLA", "OLLA",
    "SALAD", "EvaluationConfig", "ModelSpec", "Task", "evaluate", "evaluation_seed",
    "family_summary", "gain_pct", "inference_p50_us", "model_spec", "policy_against_frontier",
    "run_all", "run_scenarios", "run_task", "scenario_frontier", "scenario_rows",
    "select_olla", "summarize", "target_summary", "task_config", "tasks", "to_json",
    "unique_names",
]


def evaluate(cfg: EvaluationConfig,
             done: Callable[[str, float], None] | None = None) -> dict[str, Any]:
    """Run the evaluation; return the result (see the module docstring for its layout)."""
    start = time.perf_counter()
    raw = run_all(cfg, done)
    # One table per target: the models' rows differ, the baselines' and genies' do not.
    by_target = {t: {s: scenario_rows(raw[s], cfg, t) for s in cfg.scenarios}
                 for t in cfg.target_blers}
    baseline_runs: dict[str, Any] = {}
    frontiers: dict[str, Any] = {}
    if cfg.baselines:
        for s in cfg.scenarios:
            f = scenario_frontier(raw[s], cfg.baseline_specs)
            hull = [frontier.Point(p["bler"], p["throughput_mbps"], p["spec"]) for p in f["hull"]]
            on_hull = {p.spec for p in hull}
            baseline_runs[s] = {spec: {**raw[s][spec],
                                       "family": baselines.describe(spec).family,
                                       "on_hull": spec in on_hull}
                                for spec in cfg.baseline_specs}
            frontiers[s] = f
            for tables in by_target.values():
                for row in tables[s].values():
                    row["frontier"] = policy_against_frontier(row, hull, tables[s])
    scenarios = by_target[cfg.primary_target]
    summary = summarize(scenarios, cfg.reference)
    summary["families"] = family_summary(frontiers)
    names = [m.name for m in cfg.models]
    return {
        "config": {**asdict(cfg), "models": [asdict(m) for m in cfg.models],
                   "primary_target_bler": cfg.primary_target,
                   "bler_target": BLER_TARGET, "bler_tolerance": BLER_TOLERANCE,
                   "runs": len(tasks(cfg)),
                   "evaluation_spawn_key": EVALUATION_SPAWN_KEY,
                   "elapsed_s": round(time.perf_counter() - start, 3)},
        "scenarios": scenarios,
        "baselines": baseline_runs,
        "frontiers": frontiers,
        "summary": summary,
        "targets": {target_label(t): target_summary(tables, names, t)
                    for t, tables in by_target.items()},
    }


def to_json(result: Mapping[str, Any]) -> str:
    """Serialize a result (NaN/inf, which JSON lacks, become null)."""
    return json.dumps(_finite(result), indent=None, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
