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

Result layout (also the JSON of ``linkadapt evaluate --json``)::

    {"config": {...},
     "scenarios": {scenario: {policy: {KPIs of training.sim.closed_loop.kpis,
                                       "role": "model" | "baseline",
                                       "metadata": {...},  # models: from the card
                                       "frontier": {...},  # see policy_against_frontier
                                       ...}}},
     "baselines": {scenario: {spec: {KPIs, "family", "on_hull"}}},
     "frontiers": {scenario: {"hull", "olla_hull", "families"}},  # see scenario_frontier
     "summary": {"reference": name, "policies": {policy: {...}},
                 "families": {family: {scenario: best gain over OLLA's frontier %}}}}
"""

from __future__ import annotations

import json
import math
import multiprocessing
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final, NamedTuple

import numpy as np

from training import baselines, frontier
from training.baselines import EOLLA, GENIE_DELAYED, ILLA, OLLA, SALAD
from training.sim import closed_loop, config
from training.sim.policies import OnnxPolicy, check_policy_model, parse_policy
from xapp import features
from xapp.model_card import INPUT_NAME, METADATA_KEY, OUTPUT_NAME, ModelCardError, load_model
from xapp.model_card import read_model_card as _read_card

GENIE: Final = baselines.GENIE
BASELINES: Final = (OLLA, ILLA, GENIE, GENIE_DELAYED)
"""Names of the baseline rows of a scenario's table (and names a model may not take)."""
DEFAULT_OLLA_STEPS_DB: Final = baselines.DEFAULT_OLLA_STEPS_DB
BLER_TARGET: Final = baselines.OLLA_DEFAULT_TARGET
"""CQI is defined at 10% BLER (TS 38.214 5.2.2.1); the ``olla`` row aims at the same target."""
BLER_TOLERANCE: Final = 0.02
EVALUATION_SPAWN_KEY: Final = 0x4556_414C
"""First spawn-key word of every evaluation simulation ("EVAL" in ASCII). It must be
even: training's simulations sit under odd ones (see :func:`evaluation_seed`)."""
FAMILIES_VS_OLLA: Final = (EOLLA, SALAD, ILLA)
"""Families whose points are set against OLLA's own frontier in the report."""


@dataclass(frozen=True)
class ModelSpec:
    """A learned policy to evaluate: an ONNX file and what its card says about it."""

    name: str
    """Name in tables and JSON: the card's ``model_id:version``, else the file stem."""
    path: str
    """Path of the ONNX file."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """``model_id``, ``version``, ``kind``, ``parameter_count``, ``size_kbit`` when known;
    ``inference_us``: median batch-1 ONNX Runtime time on one thread."""


def _default_specs() -> tuple[str, ...]:
    return tuple(baselines.baseline_specs())


@dataclass(frozen=True)
class EvaluationConfig:
    """What to evaluate and how long; one value per ``linkadapt evaluate`` option."""

    scenarios: tuple[str, ...] = config.BENCHMARK_SCENARIOS
    """Benchmark scenarios (names of :data:`training.sim.config.SCENARIOS`)."""
    ues: int = 256
    """UEs simulated per scenario."""
    slots: int = 2000
    """Slots simulated per run."""
    seed: int = 0
    """Seed of every run (the same for every policy: common random numbers); the
    simulation draws from :func:`evaluation_seed` of it."""
    models: tuple[ModelSpec, ...] = ()
    """Learned policies."""
    baselines: bool = True
    """Run the frontier's baselines and the genie reference rows."""
    baseline_specs: tuple[str, ...] = field(default_factory=_default_specs)
    """Policy specs of the frontier (:func:`training.baselines.baseline_specs`)."""
    genie_delayed: bool = True
    """Run ``genie-delayed`` as a reference row beside ``genie``."""
    reference: str = OLLA
    """Policy the "change vs reference" figures compare against."""
    workers: int = 1
    """Runs ((scenario, policy) pairs) in parallel processes."""

    def __post_init__(self) -> None:
        if self.ues < 1:
            raise ValueError(f"--ues must be at least 1, got {self.ues}")
        if self.slots < 1:
            raise ValueError(f"--slots must be at least 1, got {self.slots}")
        if self.workers < 1:
            raise ValueError(f"--workers must be at least 1, got {self.workers}")
        if self.seed < 0:
            raise ValueError(f"--seed must be >= 0, got {self.seed}")
        if not self.scenarios:
            raise ValueError("--scenarios: give at least one scenario")
        for name in self.scenarios:
            if name == "random":  # simulate's domain randomization: no fixed benchmark
                raise ValueError("--scenarios: 'random' is not a benchmark scenario; choose "
                                 f"from: {', '.join(config.BENCHMARK_SCENARIOS)}")
            config.scenario(name)  # raises with the list of valid names
        if len(set(self.scenarios)) != len(self.scenarios):
            raise ValueError("--scenarios: a scenario is named twice")
        if self.baselines and not self.baseline_specs:
            raise ValueError("--baselines: give at least one baseline spec")
        if not self.models and not self.baselines:
            raise ValueError("nothing to evaluate: give --model or drop --no-baselines")
        if self.reference not in self.policy_names():
            raise ValueError(f"--reference {self.reference!r} is not an evaluated policy; "
                             f"choose one of: {', '.join(self.policy_names())}")
        if self.baselines:
            baselines.check_specs(self.baseline_specs, "--baselines")
            for model in self.models:
                if model.name in self.baseline_specs:
                    raise ValueError(f"--model: the name {model.name!r} is also a baseline "
                                     "spec; rename the model (its card's model_id:version)")
            for spec in self.reference_specs():
                try:
                    parse_policy(spec)
                except ValueError as exc:
                    flag = " (skip it with --no-genie-delayed)" if spec == GENIE_DELAYED else ""
                    raise ValueError(f"reference {spec!r}: {exc}{flag}") from None

    def olla_specs(self) -> dict[float, str]:
        """The OLLA specs at the 10% target by step: the sweep of the ``olla`` row."""
        out: dict[float, str] = {}
        for spec in self.baseline_specs if self.baselines else ():
            info = baselines.describe(spec)
            if info.family == OLLA and info.target == BLER_TARGET and info.d_up_db is not None:
                out.setdefault(info.d_up_db, spec)
        return out

    def reference_specs(self) -> list[str]:
        """The genie reference rows that run (none without baselines)."""
        if not self.baselines:
            return []
        return [GENIE, GENIE_DELAYED] if self.genie_delayed else [GENIE]

    def policy_names(self) -> list[str]:
        """Names of the rows of a scenario's table, models first, in table order."""
        names = [m.name for m in self.models]
        if self.baselines:
            names += [OLLA] if self.olla_specs() else []
            names += [ILLA] if ILLA in self.baseline_specs else []
            names += self.reference_specs()
        return names


def evaluation_seed(seed: int) -> np.random.SeedSequence:
    """The seed sequence of every evaluation run with ``--seed seed`` (a fresh one per call).

    Training never simulates from it, for any training seed below 2**128. Every
    random stream of ``train-teacher`` and ``distill`` comes from a rollout worker's
    environment (:class:`training.sim.env.LinkAdaptationVectorEnv`) reset with an
    integer ``s`` (``seed * 1000 + worker``), or from ``default_rng(seed)`` /
    ``default_rng([s, 0x5EED])``. Under ``SeedSequence(s)`` episode ``j`` draws its
    configuration from spawn key ``(2j,)`` and simulates from ``(2j + 1, c)``, c = 0..2.
    An evaluation simulates from ``(EVALUATION_SPAWN_KEY, c)`` under
    ``SeedSequence(seed)``: the key has another first word than any training
    simulation (even, not odd) and another length than any configuration draw, and
    numpy assembles a sequence's entropy from its seed words, zero-padded to four
    words, followed by its spawn key, so the words differ whatever ``seed`` and ``s``
    are, unless a training integer reaches 2**128 and spells out the spawn key
    itself. An evaluation with a plain integer seed did collide: its channel stream
    ``(0,)`` was the configuration draw of training's first episode.
    """
    return np.random.SeedSequence(seed, spawn_key=(EVALUATION_SPAWN_KEY,))


# --- models -----------------------------------------------------------------------


def model_spec(path: str | Path) -> ModelSpec:
    """Check that ``path`` is a usable policy model and describe it from its card.

    Raises:
        ValueError: unreadable file, not ONNX, an invalid card, the wrong signature, or
            non-finite scores (:func:`~training.sim.policies.check_policy_model`).

    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read ONNX model {str(path)!r}: {exc.strerror}") from None
    try:
        proto = load_model(data)
    except ModelCardError as exc:
        raise ValueError(f"{str(path)!r}: {exc}") from None
    metadata: dict[str, Any] = {"path": str(path)}
    name = path.stem
    if any(p.key == METADATA_KEY for p in proto.metadata_props):
        try:
            card = _read_card(proto)
        except ModelCardError as exc:
            raise ValueError(f"{str(path)!r}: {exc}") from None
        name = f"{card.model_id}:{card.version}"
        metadata.update(model_id=card.model_id, version=card.version, kind=card.kind,
                        parameter_count=card.parameter_count,
                        size_kbit=card.extra.get("size_kbit", card.parameter_count * 32 / 1000))
    check_policy_model(data, path)
    metadata["inference_us"] = inference_p50_us(data)
    return ModelSpec(name=name, path=str(path), metadata=metadata)


def inference_p50_us(data: bytes, batch: int = 1, runs: int = 300) -> float:
    """Median ONNX Runtime ``run`` time (us) of the model at ``batch``, with the serving options."""
    from xapp.sessions import open_session

    session = open_session(data)
    obs = {INPUT_NAME: np.zeros((batch, features.NUM_FEATURES), dtype=np.float32)}
    for _ in range(20):
        session.run([OUTPUT_NAME], obs)
    times = np.empty(runs)
    for i in range(runs):
        start = time.perf_counter()
        session.run([OUTPUT_NAME], obs)
        times[i] = time.perf_counter() - start
    return round(float(np.median(times)) * 1e6, 1)


def unique_names(specs: Sequence[ModelSpec]) -> tuple[ModelSpec, ...]:
    """Rename models whose names repeat (or clash with a baseline) to ``name#2``, ``name#3``."""
    taken = set(BASELINES)
    out = []
    for spec in specs:
        name, k = spec.name, 1
        while name in taken:
            k += 1
            name = f"{spec.name}#{k}"
        taken.add(name)
        out.append(ModelSpec(name=name, path=spec.path, metadata=spec.metadata))
    return tuple(out)


# --- running ----------------------------------------------------------------------


class Task(NamedTuple):
    """One simulation of an evaluation: a policy on a scenario."""

    scenario: str
    key: str
    """A model's name, or the baseline or reference spec."""
    spec: str
    """What :func:`run_task` builds: a model's ONNX path, else the spec."""
    is_model: bool


def tasks(cfg: EvaluationConfig) -> list[Task]:
    """Every run of ``cfg``: references and models first (the slowest), then baselines."""
    out: list[Task] = []
    for scenario in cfg.scenarios:
        out += [Task(scenario, spec, spec, False) for spec in cfg.reference_specs()]
        out += [Task(scenario, m.name, m.path, True) for m in cfg.models]
    for scenario in cfg.scenarios:
        if cfg.baselines:
            out += [Task(scenario, spec, spec, False) for spec in cfg.baseline_specs]
    return out


def run_task(task: Task, ues: int, slots: int, seed: int) -> dict[str, Any]:
    """KPIs of one run (in a worker process when ``--workers`` > 1)."""
    policy = OnnxPolicy(task.spec) if task.is_model else parse_policy(task.spec)
    link_cfg = config.scenario(task.scenario).config(ues)
    return closed_loop.run(policy, link_cfg, slots, evaluation_seed(seed)).kpis


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


def scenario_rows(raw: Mapping[str, Mapping[str, Any]],
                  cfg: EvaluationConfig) -> dict[str, dict[str, Any]]:
    """The table of a scenario, ``{policy: row}``: models, tuned ``olla``, ``illa``, genies."""
    rows: dict[str, dict[str, Any]] = {}
    for model in cfg.models:
        rows[model.name] = _row(raw[model.name], "model", metadata=model.metadata)
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


# --- frontier ---------------------------------------------------------------------


def _points(runs: Mapping[str, Mapping[str, Any]], specs: Sequence[str]) -> list[frontier.Point]:
    return [frontier.Point(runs[s]["bler"], runs[s]["throughput_mbps"], s) for s in specs]


def _hull_json(hull: Sequence[frontier.Point]) -> list[dict[str, Any]]:
    return [{"spec": p.spec, "bler": p.bler, "throughput_mbps": p.throughput} for p in hull]


def _against(hull: Sequence[frontier.Point], bler: float, thp: float) -> dict[str, Any]:
    value = frontier.frontier_at(hull, bler)
    g = frontier.gain(thp, value.throughput)
    return {"frontier_mbps": value.throughput, "gain_pct": None if g is None else 100 * g,
            "extrapolated": value.extrapolated, "frontier_specs": list(value.specs),
            "frontier_weights": list(value.weights)}


def scenario_frontier(runs: Mapping[str, Mapping[str, Any]],
                      specs: Sequence[str]) -> dict[str, Any]:
    """The frontier of a scenario's baseline runs and each family against OLLA's own.

    Returns:
        ``hull`` (vertices of the frontier, by BLER), ``olla_hull`` (of the OLLA points
        alone; empty without any), and ``families``: for eOLLA, SALAD and ILLA, each
        point's ``spec``, ``bler``, ``throughput_mbps``, and against the OLLA-only
        frontier at its BLER ``frontier_mbps``, ``gain_pct``, ``extrapolated``,
        ``frontier_specs``, ``frontier_weights``.

    """
    hull = frontier.upper_hull(_points(runs, specs))
    olla = [s for s in specs if baselines.describe(s).family == OLLA]
    olla_hull = frontier.upper_hull(_points(runs, olla)) if olla else []
    families: dict[str, list[dict[str, Any]]] = {}
    for spec in specs:
        family = baselines.describe(spec).family
        if family not in FAMILIES_VS_OLLA:
            continue
        row = runs[spec]
        entry = {"spec": spec, "bler": row["bler"], "throughput_mbps": row["throughput_mbps"]}
        if olla_hull:
            entry.update(_against(olla_hull, row["bler"], row["throughput_mbps"]))
        families.setdefault(family, []).append(entry)
    return {"hull": _hull_json(hull), "olla_hull": _hull_json(olla_hull), "families": families}


def policy_against_frontier(row: Mapping[str, Any], hull: Sequence[frontier.Point],
                            rows: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A policy's row judged at its own BLER.

    Returns:
        ``frontier_mbps`` (F at the policy's BLER), ``gain_pct`` (gain at no higher
        BLER, %), ``extrapolated`` (BLER below every baseline's), ``frontier_specs``
        and ``frontier_weights`` (the baseline configuration, or the two time-shared,
        that reach F there), ``gap_share_genie_delayed`` and ``gap_share_genie`` (share
        of the gap from F to that genie's throughput closed; None without that genie
        or a gap <= 0).

    """
    out = _against(hull, row["bler"], row["throughput_mbps"])
    for key, name in (("gap_share_genie_delayed", GENIE_DELAYED), ("gap_share_genie", GENIE)):
        genie = rows.get(name)
        out[key] = frontier.gap_share(row["throughput_mbps"], out["frontier_mbps"],
                                      None if genie is None else genie["throughput_mbps"])
    return out


# --- summary ----------------------------------------------------------------------


def gain_pct(value: float, reference: float) -> float | None:
    """Change of ``value`` relative to ``reference``, percent (None for a zero reference)."""
    return 100.0 * (value / reference - 1.0) if reference > 0 else None


def _gap_closed(value: float, olla: float, genie: float) -> float | None:
    """Share of the OLLA-to-genie throughput gap a policy closes (1 = as good as the genie)."""
    gap = genie - olla
    return (value - olla) / gap if gap > 0 else None


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known and len(known) == len(values) else None


_FRONTIER_KEYS: Final = ("frontier_mbps", "gain_pct", "extrapolated", "frontier_specs",
                         "gap_share_genie_delayed", "gap_share_genie")


def summarize(scenarios: Mapping[str, Mapping[str, Mapping[str, Any]]],
              reference: str) -> dict[str, Any]:
    """Per policy (all but the reference): throughput change vs ``reference``, BLER vs OLLA's.

    Per scenario: ``throughput_gain_pct`` vs the reference, ``bler``,
    ``reference_bler``, ``olla_bler`` and ``gap_closed`` (share of the OLLA-to-genie
    throughput gap); with a frontier, ``frontier`` (see :func:`policy_against_frontier`).
    Over scenarios: ``mean_throughput_gain_pct``, ``worst_throughput_gain_pct`` with
    its ``worst_scenario``, ``mean_gap_closed``, and at no higher BLER
    ``mean_frontier_gain_pct``, ``worst_frontier_gain_pct`` with its
    ``worst_frontier_scenario``, ``mean_gap_share_genie_delayed`` and
    ``mean_gap_share_genie``. Figures that need a missing policy are ``None``.
    """
    names = list(next(iter(scenarios.values()))) if scenarios else []
    policies: dict[str, Any] = {}
    for policy in names:
        if policy == reference:
            continue
        per: dict[str, Any] = {}
        for scenario, rows in scenarios.items():
            row, ref = rows[policy], rows.get(reference)
            olla, genie = rows.get(OLLA), rows.get(GENIE)
            thp = row["throughput_mbps"]
            per[scenario] = {
                "throughput_mbps": thp,
                "throughput_gain_pct": None if ref is None else gain_pct(
                    thp, ref["throughput_mbps"]),
                "bler": row["bler"],
                "reference_bler": None if ref is None else ref["bler"],
                "bler_change_pct": None if ref is None else gain_pct(row["bler"], ref["bler"]),
                "olla_bler": None if olla is None else olla["bler"],
                "gap_closed": None if olla is None or genie is None else _gap_closed(
                    thp, olla["throughput_mbps"], genie["throughput_mbps"]),
                "frontier": row.get("frontier"),
            }
        first = next(iter(scenarios.values()))[policy]
        policies[policy] = {
            "role": first["role"],
            "metadata": first.get("metadata", {}),
            **_over_scenarios(per, lambda p: p["throughput_gain_pct"], "throughput_gain_pct",
                              "worst_scenario"),
            "mean_gap_closed": _mean([p["gap_closed"] for p in per.values()]),
            **_over_scenarios(per, lambda p: (p["frontier"] or {}).get("gain_pct"),
                              "frontier_gain_pct", "worst_frontier_scenario"),
            **{f"mean_{key}": _mean([(p["frontier"] or {}).get(key) for p in per.values()])
               for key in ("gap_share_genie_delayed", "gap_share_genie")},
            "scenarios": per,
        }
    return {"reference": reference, "policies": policies}


def _over_scenarios(per: Mapping[str, Any], value: Callable[[Any], float | None], name: str,
                    worst_key: str) -> dict[str, Any]:
    values = {s: value(p) for s, p in per.items()}
    known = {s: v for s, v in values.items() if v is not None}
    worst = min(known, key=lambda s: known[s]) if known else None
    return {f"mean_{name}": _mean(list(values.values())),
            f"worst_{name}": None if worst is None else known[worst], worst_key: worst}


def family_summary(frontiers: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each family's best point against the OLLA-only frontier at its BLER, per scenario.

    Returns:
        ``{family: {scenario: {"spec", "gain_pct", "bler"}}}``, the highest gain.

    """
    out: dict[str, dict[str, Any]] = {}
    for scenario, f in frontiers.items():
        for family, entries in f["families"].items():
            known = [e for e in entries if e.get("gain_pct") is not None]
            if known:
                best = max(known, key=lambda e: e["gain_pct"])
                out.setdefault(family, {})[scenario] = {"spec": best["spec"],
                                                        "gain_pct": best["gain_pct"],
                                                        "bler": best["bler"]}
    return out


def evaluate(cfg: EvaluationConfig,
             done: Callable[[str, float], None] | None = None) -> dict[str, Any]:
    """Run the evaluation; return the result (see the module docstring for its layout)."""
    start = time.perf_counter()
    raw = run_all(cfg, done)
    scenarios = {s: scenario_rows(raw[s], cfg) for s in cfg.scenarios}
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
            for row in scenarios[s].values():
                row["frontier"] = policy_against_frontier(row, hull, scenarios[s])
    summary = summarize(scenarios, cfg.reference)
    summary["families"] = family_summary(frontiers)
    return {
        "config": {**asdict(cfg), "models": [asdict(m) for m in cfg.models],
                   "bler_target": BLER_TARGET, "bler_tolerance": BLER_TOLERANCE,
                   "runs": len(tasks(cfg)),
                   "evaluation_spawn_key": EVALUATION_SPAWN_KEY,
                   "elapsed_s": round(time.perf_counter() - start, 3)},
        "scenarios": scenarios,
        "baselines": baseline_runs,
        "frontiers": frontiers,
        "summary": summary,
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
