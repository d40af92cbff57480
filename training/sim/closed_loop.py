"""Closed-loop runs of one policy over one simulation, and the KPIs they produce."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from training.sim.config import LinkConfig
from training.sim.link import LinkSimulator
from training.sim.policies import McsPolicy

TRACE_WINDOW_SLOTS: Final = 50  # throughput-over-time resolution


@dataclass
class RunResult:
    """KPIs of one run (see :func:`kpis`) and a throughput trace for plots."""

    kpis: dict[str, Any]
    trace_slots: npt.NDArray[np.int64] = field(repr=False)
    trace_throughput_mbps: npt.NDArray[np.float64] = field(repr=False)


def kpis(sim: LinkSimulator, reward_sum: float) -> dict[str, Any]:
    """Summarize a finished run.

    Keys: ``throughput_mbps`` (mean over UEs of delivered bits per second of
    activity, i.e. while the UE had data; TS 28.552 DRB.UEThpDl),
    ``bler`` (first-transmission BLER, pooled), ``spectral_efficiency`` (bit/s/Hz
    over each UE's allocation while active, mean over UEs), ``reward`` (mean
    per-slot reward, delivered bits over the TBS of the top MCS), ``residual_bler``
    (TBs dropped after 4 transmissions per initial TB), ``retransmission_share``,
    ``mean_mcs``, ``mcs_histogram`` (initial transmissions per MCS 0..28), ``ues``,
    ``slots``.
    """
    k, cfg = sim.kpis, sim.cfg
    active_s = k.active_slots * cfg.slot_s()
    used = k.active_slots > 0
    thp = np.where(used, k.delivered_bits / np.maximum(active_s, 1e-12), 0.0)
    bandwidth = cfg.ue_prbs * 12.0 * cfg.scs_hz()
    first = int(k.first_tx.sum())
    hist = k.mcs_histogram
    tx_total = first + int(k.retransmissions.sum())
    return {
        "throughput_mbps": float(thp[used].mean() / 1e6) if used.any() else 0.0,
        "bler": float(k.first_errors.sum() / first) if first else 0.0,
        "spectral_efficiency": float((thp / bandwidth)[used].mean()) if used.any() else 0.0,
        "reward": float(reward_sum / max(k.slots * sim.n, 1)),
        "residual_bler": float(k.dropped_tbs.sum() / first) if first else 0.0,
        "retransmission_share": float(k.retransmissions.sum() / tx_total) if tx_total else 0.0,
        "mean_mcs": float((hist * np.arange(hist.size)).sum() / hist.sum()) if hist.sum() else 0.0,
        "mcs_histogram": [int(v) for v in hist],
        "ues": sim.n,
        "slots": k.slots,
    }


def run(policy: McsPolicy, cfg: LinkConfig, slots: int, seed: int | np.random.SeedSequence,
        progress: Callable[[int], None] | None = None) -> RunResult:
    """Run ``policy`` in closed loop on ``cfg`` for ``slots`` slots; same seed, same channel.

    Args:
        policy: the link-adaptation policy.
        cfg: one row per UE.
        slots: number of slots to simulate (>= 1).
        seed: seed of the simulation's random streams (a fresh sequence per run: the
            simulator spawns its streams from it).
        progress: called with the number of slots done since the previous call.
    """
    if slots < 1:
        raise ValueError(f"the number of slots must be >= 1, got {slots}")
    sim = LinkSimulator(cfg, seed)
    policy.reset(sim.n)
    windows = -(-slots // TRACE_WINDOW_SLOTS)
    trace = np.zeros(windows)
    reward_sum = 0.0
    slot_s = cfg.slot_s()
    for t in range(slots):
        scale = sim.reward_scale_bits()
        outcome = sim.step(policy.act(sim.reports, sim))
        reward_sum += float((outcome.delivered_bits / scale).sum())
        trace[t // TRACE_WINDOW_SLOTS] += float((outcome.delivered_bits / slot_s).mean())
        if progress is not None and (t + 1) % 100 == 0:
            progress(100)
    if progress is not None and slots % 100:
        progress(slots % 100)
    counts = np.full(windows, TRACE_WINDOW_SLOTS, dtype=np.float64)
    counts[-1] = slots - (windows - 1) * TRACE_WINDOW_SLOTS
    return RunResult(
        kpis=kpis(sim, reward_sum),
        trace_slots=np.arange(windows, dtype=np.int64) * TRACE_WINDOW_SLOTS,
        trace_throughput_mbps=trace / counts / 1e6,
    )
