"""KPIs pooled over cells, diffed between snapshots, and the service's own figures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, cast

import numpy as np

from training.sim import closed_loop
from training.sim.config import LinkConfig
from training.sim.emulator.cell import CellStats
from training.sim.link import Kpis, LinkSimulator


@dataclass
class PooledView:
    """What :func:`training.sim.closed_loop.kpis` reads of a simulator, pooled or diffed."""

    kpis: Kpis
    cfg: LinkConfig
    n: int


def copy_kpis(k: Kpis) -> Kpis:
    """A snapshot of ``k``: its arrays copied, so that later slots do not change it."""
    out = Kpis(k.n)
    for f in fields(k):
        if f.name != "n":
            value = getattr(k, f.name)
            setattr(out, f.name, value.copy() if isinstance(value, np.ndarray) else value)
    return out


def diff_kpis(end: Kpis, start: Kpis) -> Kpis:
    """The counters accumulated between the snapshots ``start`` and ``end``."""
    out = Kpis(end.n)
    for f in fields(end):
        if f.name != "n":
            setattr(out, f.name, getattr(end, f.name) - getattr(start, f.name))
    return out


def pool(sims: Sequence[Any]) -> Any:
    """Pool simulators (or :class:`PooledView` views) into one view for ``closed_loop.kpis``."""
    if len(sims) == 1:
        return sims[0]
    k = Kpis(sum(s.n for s in sims))
    for f in fields(k):
        if f.name in ("n", "slots", "mcs_histogram"):
            continue
        setattr(k, f.name, np.concatenate([getattr(s.kpis, f.name) for s in sims]))
    k.mcs_histogram = np.sum([s.kpis.mcs_histogram for s in sims], axis=0)
    k.slots = sims[0].kpis.slots
    cfg = LinkConfig(**{f.name: np.concatenate([getattr(s.cfg, f.name) for s in sims])
                        for f in fields(LinkConfig)})
    return PooledView(k, cfg, k.n)


def summarize(sims: Sequence[Any], reward_sum: float) -> dict[str, Any]:
    """KPIs of one or more simulators, computed by :func:`training.sim.closed_loop.kpis`."""
    return closed_loop.kpis(cast(LinkSimulator, pool(sims)), reward_sum)


def latency_summary(latencies_ns: Sequence[int]) -> dict[str, float | None]:
    """p50 / p99 / max of request latencies, microseconds (None without samples)."""
    if not latencies_ns:
        return {"latency_p50_us": None, "latency_p99_us": None, "latency_max_us": None}
    us = np.asarray(latencies_ns, dtype=np.float64) / 1e3
    p50, p99 = np.percentile(us, [50, 99])
    return {"latency_p50_us": round(float(p50), 1), "latency_p99_us": round(float(p99), 1),
            "latency_max_us": round(float(us.max()), 1)}


def service_stats(stats: Sequence[CellStats]) -> dict[str, Any]:
    """The service's figures over ``stats``: requests, fallbacks, misses, errors, latency."""
    decisions = sum(s.decisions for s in stats)
    fallback = sum(s.service_fallback + s.local_fallback for s in stats)
    requests = sum(s.requests for s in stats)
    errors: dict[str, int] = {}
    for s in stats:
        for reason, count in s.errors.items():
            errors[reason] = errors.get(reason, 0) + count
    return {
        "requests": requests,
        "decisions": decisions,
        "decisions_per_slot": 0.0,  # filled by the caller, who knows the slots
        "fallback_share": fallback / decisions if decisions else 0.0,
        "service_fallback_decisions": sum(s.service_fallback for s in stats),
        "local_fallback_decisions": sum(s.local_fallback for s in stats),
        "missed_slots": sum(s.missed for s in stats),
        "failed_slots": sum(s.failed for s in stats),
        "late_answers_applied": sum(s.late_applied for s in stats),
        "errors": errors,
        **latency_summary([ns for s in stats for ns in s.latencies_ns]),
    }
