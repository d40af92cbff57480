"""Running an evaluation: one simulation per (scenario, policy, target), on a process pool.

The models run once per BLER target of ``--target-bler``; the baselines and genies,
which do not read the target, once per scenario. Each scenario's runs become its
table at a target (:func:`scenario_rows`): the models at that target, ``olla``
tuned to the 10% target over its step sweep (:func:`select_olla`), ``illa`` and
the genie reference rows.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, NamedTuple

from training.baselines import ILLA, OLLA
from training.evaluation_config import (
    BLER_TARGET,
    BLER_TOLERANCE,
    EvaluationConfig,
    evaluation_seed,
)
from training.sim import closed_loop, config
from training.sim.policies import OnnxPolicy, parse_policy


class Task(NamedTuple):
    """One simulation of an evaluation: a policy on a scenario."""

    scenario: str
    key: str
    """A model's name, or the baseline or reference spec."""
    spec: str
    """What :func:`run_task` builds: a model's ONNX path, else the spec."""
    is_model: bool
    target_bler: float | None = None
    """The BLER target every UE's report carries (models); None: the scenario's own."""


def tasks(cfg: EvaluationConfig) -> list[Task]:
    """Every run of ``cfg``: references and models first (the slowest), then baselines.

    A model runs once per target, keyed :meth:`EvaluationConfig.model_key`; the
    baselines and genies run once per scenario whatever the targets.
    """
    out: list[Task] = []
    for scenario in cfg.scenarios:
        out += [Task(scenario, spec, spec, False) for spec in cfg.reference_specs()]
        out += [Task(scenario, cfg.model_key(m.name, t), m.path, True, t)
                for m in cfg.models for t in cfg.target_blers]
    for scenario in cfg.scenarios:
        if cfg.baselines:
            out += [Task(scenario, spec, spec, False) for spec in cfg.baseline_specs]
    return out


def task_config(task: Task, ues: int) -> config.LinkConfig:
    """The UEs of a run: the scenario's, reporting the task's BLER target when it has one."""
    link_cfg = config.scenario(task.scenario).config(ues)
    return link_cfg if task.target_bler is None else link_cfg.with_target_bler(task.target_bler)


def run_task(task: Task, ues: int, slots: int, seed: int) -> dict[str, Any]:
    """KPIs of one run (in a worker process when ``--workers`` > 1)."""
    policy = OnnxPolicy(task.spec) if task.is_model else parse_policy(task.spec)
    return closed_loop.run(policy, task_config(task, ues), slots, evaluation_seed(seed)).kpis


def run_all(cfg: EvaluationConfig, done: Callable[[str, float], None] | None = None,
            ) -> dict[str, dict[str, dict[str, Any]]]:
    """Run every task of ``cfg`` (``cfg.workers`` at a time); ``{scenario: {key: KPIs}}``.

    Args:
        cfg: the evaluation.
        done: called with a scenario's name and the wall time (s) since the start as
            its last run finishes.

    """
    todo = tasks(cfg)
    left = {s: sum(t.scenario == s for t in todo) for s in cfg.scenarios}
    raw: dict[str, dict[str, dict[str, Any]]] = {s: {} for s in cfg.scenarios}
    start = time.perf_counter()

    def finished(task: Task, kpis: dict[str, Any]) -> None:
        raw[task.scenario][task.key] = kpis
        left[task.scenario] -= 1
        if done is not None and left[task.scenario] == 0:
            done(task.scenario, time.perf_counter() - start)

    if cfg.workers == 1 or len(todo) == 1:
        for task in todo:
            finished(task, run_task(task, cfg.ues, cfg.slots, cfg.seed))
    else:
        # spawn, not fork: ONNX Runtime's thread pools do not survive a fork safely.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(cfg.workers, len(todo)),
                                 mp_context=context) as pool:
            futures = {pool.submit(run_task, task, cfg.ues, cfg.slots, cfg.seed): task
                       for task in todo}
            for future in as_completed(futures):
                finished(futures[future], future.result())
    # Order every scenario's runs as the tasks list them, whatever finished first.
    order = [t.key for t in todo]
    return {s: {k: raw[s][k] for k in order if k in raw[s]} for s in cfg.scenarios}


def _row(kpis: Mapping[str, Any], role: str, **extra: Any) -> dict[str, Any]:
    return {**kpis, "role": role, **extra}


def select_olla(sweep: Mapping[float, Mapping[str, Any]], target: float = BLER_TARGET,
                tolerance: float = BLER_TOLERANCE) -> tuple[float, bool]:
    """Pick the OLLA step: best throughput with BLER within ``target +- tolerance``.

    Returns:
        ``(d_up_db, on_target)``; when no step is on target, the one whose BLER is
        closest to it, and ``False``.

    """
    on_target = [d for d, k in sweep.items() if abs(k["bler"] - target) <= tolerance + 1e-12]
    if on_target:
        return max(on_target, key=lambda d: (sweep[d]["throughput_mbps"], -d)), True
    return min(sweep, key=lambda d: (abs(sweep[d]["bler"] - target), d)), False


def scenario_rows(raw: Mapping[str, Mapping[str, Any]], cfg: EvaluationConfig,
                  target: float | None = None) -> dict[str, dict[str, Any]]:
    """The table of a scenario, ``{policy: row}``: models, tuned ``olla``, ``illa``, genies.

    The models' rows are their runs at ``target`` (default: the primary target), under
    their own names; the other rows are the same at every target.
    """
    target = cfg.primary_target if target is None else target
    rows: dict[str, dict[str, Any]] = {}
    for model in cfg.models:
        rows[model.name] = _row(raw[cfg.model_key(model.name, target)], "model",
                                metadata=model.metadata)
    if not cfg.baselines:
        return rows
    olla = cfg.olla_specs()
    if olla:
        sweep = {d: raw[olla_spec] for d, olla_spec in olla.items()}
        d_up, on_target = select_olla(sweep)
        rows[OLLA] = _row(sweep[d_up], "baseline", d_up_db=d_up, bler_on_target=on_target,
                          spec=olla[d_up], sweep={f"{d:g}": sweep[d] for d in olla})
    if ILLA in cfg.baseline_specs:
        rows[ILLA] = _row(raw[ILLA], "baseline")
    for spec in cfg.reference_specs():
        rows[spec] = _row(raw[spec], "baseline")
    return rows


def run_scenarios(cfg: EvaluationConfig,
                  done: Callable[[str, float], None] | None = None) -> dict[str, Any]:
    """Run everything; ``{scenario: {policy: row}}`` (the tables, without the frontier)."""
    raw = run_all(cfg, done)
    return {s: scenario_rows(raw[s], cfg) for s in cfg.scenarios}
