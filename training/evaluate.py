"""Benchmark evaluation: learned policies against tuned OLLA, ILLA and the genie.

Every policy of a scenario runs on the same configuration with the same seed, so
all of them see the same UE drops, channels, traffic and CQI errors (common random
numbers): differences in the KPIs come from the policies, not from the draw. The
numbers are the ones ``linkadapt simulate --scenario S --policy P --ues U --slots T
--seed K`` prints for the same arguments.

OLLA is tuned per scenario: every step of a sweep over ``d_up`` runs, and the one
with the highest throughput among those whose first-transmission BLER is within
``target +- tolerance`` (10% +- 2%) is reported as ``olla``. When no step meets
the target, the one closest to it is taken and flagged ``bler_on_target: false``.

Result layout (also the JSON of ``linkadapt evaluate --json``)::

    {"config": {...},
     "scenarios": {scenario: {policy: {KPIs of training.sim.runner.kpis,
                                       "role": "model" | "baseline",
                                       "metadata": {...}  # models: from the card
                                       ...}}},
     "summary": {"reference": name, "policies": {policy: {...}}}}
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
from typing import Any, Final

import numpy as np

from training.sim import config, runner
from training.sim.policies import Genie, Illa, Olla, OnnxPolicy, Policy, check_policy_model
from xapp import features
from xapp.model_card import INPUT_NAME, METADATA_KEY, OUTPUT_NAME, ModelCardError, load_model
from xapp.model_card import read_model_card as _read_card

OLLA: Final = "olla"
ILLA: Final = "illa"
GENIE: Final = "genie"
BASELINES: Final = (OLLA, ILLA, GENIE)
DEFAULT_OLLA_STEPS_DB: Final = (0.25, 0.5, 1.0, 2.0)
BLER_TARGET: Final = 0.10
"""CQI is defined at 10% BLER (TS 38.214 5.2.2.1); OLLA aims at the same target."""
BLER_TOLERANCE: Final = 0.02
_ROW_KPIS: Final = ("throughput_mbps", "bler", "reward", "spectral_efficiency",
                    "residual_bler", "mean_mcs")


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
    """Seed of every run (the same for every policy: common random numbers)."""
    models: tuple[ModelSpec, ...] = ()
    """Learned policies."""
    baselines: bool = True
    """Run OLLA (tuned), ILLA and the genie."""
    olla_steps_db: tuple[float, ...] = DEFAULT_OLLA_STEPS_DB
    """OLLA ``d_up`` values swept per scenario, dB."""
    reference: str = OLLA
    """Policy the "change vs reference" figures compare against."""
    workers: int = 1
    """Scenarios run in parallel processes."""

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
        if self.baselines and not self.olla_steps_db:
            raise ValueError("--olla-steps: give at least one step")
        for step in self.olla_steps_db:
            if not (math.isfinite(step) and step > 0):
                raise ValueError(f"--olla-steps: steps must be positive dB values, got {step}")
        if not self.models and not self.baselines:
            raise ValueError("nothing to evaluate: give --model or drop --no-baselines")
        if self.reference not in self.policy_names():
            raise ValueError(f"--reference {self.reference!r} is not an evaluated policy; "
                             f"choose one of: {', '.join(self.policy_names())}")

    def policy_names(self) -> list[str]:
        """Names of the evaluated policies, models first, in table order."""
        return [m.name for m in self.models] + (list(BASELINES) if self.baselines else [])


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
    """Median ONNX Runtime ``run`` time (us) of the model at ``batch``, one intra-op thread."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
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


def evaluate_scenario(name: str, cfg: EvaluationConfig) -> dict[str, dict[str, Any]]:
    """Run every policy of ``cfg`` on scenario ``name``; return ``{policy: row}``."""
    link_cfg = config.scenario(name).config(cfg.ues)

    def kpis_of(policy: Policy) -> dict[str, Any]:
        return runner.run(policy, link_cfg, cfg.slots, cfg.seed).kpis

    rows: dict[str, dict[str, Any]] = {}
    for spec in cfg.models:
        rows[spec.name] = _row(kpis_of(OnnxPolicy(spec.path)), "model", metadata=spec.metadata)
    if cfg.baselines:
        sweep = {d: kpis_of(Olla(d)) for d in cfg.olla_steps_db}
        d_up, on_target = select_olla(sweep)
        rows[OLLA] = _row(sweep[d_up], "baseline", d_up_db=d_up, bler_on_target=on_target,
                          sweep={f"{d:g}": sweep[d] for d in cfg.olla_steps_db})
        rows[ILLA] = _row(kpis_of(Illa()), "baseline")
        rows[GENIE] = _row(kpis_of(Genie()), "baseline")
    return rows


def run_scenarios(cfg: EvaluationConfig,
                  done: Callable[[str, float], None] | None = None) -> dict[str, Any]:
    """Evaluate every scenario (``cfg.workers`` at a time); ``{scenario: {policy: row}}``.

    Args:
        cfg: the evaluation.
        done: called with the scenario name and the wall time (s) it took, as each
            finishes (in parallel: the time since the start of the pool).

    """
    results: dict[str, Any] = {}
    if cfg.workers == 1 or len(cfg.scenarios) == 1:
        for name in cfg.scenarios:
            start = time.perf_counter()
            results[name] = evaluate_scenario(name, cfg)
            if done is not None:
                done(name, time.perf_counter() - start)
        return results
    # spawn, not fork: ONNX Runtime's thread pools do not survive a fork safely.
    context = multiprocessing.get_context("spawn")
    workers = min(cfg.workers, len(cfg.scenarios))
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(evaluate_scenario, name, cfg): name for name in cfg.scenarios}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            if done is not None:
                done(futures[future], time.perf_counter() - start)
    return {name: results[name] for name in cfg.scenarios}


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


def summarize(scenarios: Mapping[str, Mapping[str, Mapping[str, Any]]],
              reference: str) -> dict[str, Any]:
    """Per policy (all but the reference): throughput change vs ``reference``, BLER vs OLLA's.

    Per scenario: ``throughput_gain_pct`` vs the reference, ``bler``,
    ``reference_bler``, ``olla_bler`` and ``gap_closed`` (share of the OLLA-to-genie
    throughput gap). Over scenarios: ``mean_throughput_gain_pct``,
    ``worst_throughput_gain_pct`` with its ``worst_scenario``, ``mean_gap_closed``.
    Figures that need a missing policy (no baselines) are ``None``.
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
            }
        gains = [p["throughput_gain_pct"] for p in per.values()]
        known = {s: g for s, g in zip(per, gains, strict=True) if g is not None}
        worst = min(known, key=lambda s: known[s]) if known else None
        first = next(iter(scenarios.values()))[policy]
        policies[policy] = {
            "role": first["role"],
            "metadata": first.get("metadata", {}),
            "mean_throughput_gain_pct": _mean(gains),
            "worst_throughput_gain_pct": None if worst is None else known[worst],
            "worst_scenario": worst,
            "mean_gap_closed": _mean([p["gap_closed"] for p in per.values()]),
            "scenarios": per,
        }
    return {"reference": reference, "policies": policies}


def evaluate(cfg: EvaluationConfig,
             done: Callable[[str, float], None] | None = None) -> dict[str, Any]:
    """Run the evaluation; return the result (see the module docstring for its layout)."""
    start = time.perf_counter()
    scenarios = run_scenarios(cfg, done)
    return {
        "config": {**asdict(cfg), "models": [asdict(m) for m in cfg.models],
                   "bler_target": BLER_TARGET, "bler_tolerance": BLER_TOLERANCE,
                   "elapsed_s": round(time.perf_counter() - start, 3)},
        "scenarios": scenarios,
        "summary": summarize(scenarios, cfg.reference),
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
