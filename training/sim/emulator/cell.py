"""One simulated cell: its link simulator, its connection to the xApp, its counters."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from training.sim import config
from training.sim.config import LinkConfig
from training.sim.emulator.errors import SlotFailure
from training.sim.emulator.options import EmulatorOptions
from training.sim.emulator.transport import Transport, next_retry_delay_s
from training.sim.emulator.wire import build_request, parse_response
from training.sim.link import LinkSimulator
from xapp.features import ReportBatch
from xapp.policy import DEFAULT_BACKOFF, fallback_mcs

LOCAL_FALLBACK: Final = "local-fallback"
"""Model key recorded for slots decided by the emulator's own fallback rule."""


def cell_config(scenario: str, seed: int, ues: int, speed_kmh: float | None = None,
                target_bler: float | None = None) -> LinkConfig:
    """The configuration ``linkadapt simulate --scenario S --seed K --ues N`` runs.

    ``speed_kmh`` and ``target_bler`` override every UE's, as ``--speed-kmh`` and
    ``--target-bler`` do.
    """
    cfg = config.config_source(scenario)(np.random.default_rng([seed, 1]), ues)
    if speed_kmh is not None:
        cfg = cfg.with_speed_kmh(speed_kmh)
    return cfg if target_bler is None else cfg.with_target_bler(target_bler)


@dataclass
class CellStats:
    """Per-cell counters of one emulation."""

    requests: int = 0
    missed: int = 0  # no valid answer within the deadline (late or failed)
    failed: int = 0  # no valid answer at all: local fallback applied
    late_applied: int = 0  # late answers applied anyway (not strict_deadline)
    decisions: int = 0
    service_fallback: int = 0
    local_fallback: int = 0
    latencies_ns: list[int] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)


class Cell:
    """One simulated cell: its simulator, its connection, its counters."""

    def __init__(self, index: int, opts: EmulatorOptions) -> None:
        self.index = index
        self.cell_id = index
        self.seed = opts.seed + index
        self.cfg = cell_config(opts.scenario, self.seed, opts.ues_per_cell, opts.speed_kmh,
                               opts.target_bler)
        self.sim = LinkSimulator(self.cfg, self.seed)
        self.ue_ids = np.arange(self.sim.n, dtype=np.int64)
        self.transport = Transport(opts.target, opts.stream, opts.timeout_ms / 1e3, opts.token,
                                   opts.tls)
        self.columnar = opts.columnar
        self.all_ues = opts.all_ues
        self.reward_sum = 0.0
        self.stats = CellStats()
        self.retry_delay_s = 0.0
        self.failing_since: float | None = None  # monotonic time of the first failure in a row
        self.last_failure: SlotFailure | None = None
        self.slot_model = ""  # model key of the current slot's answer ("" = no request)
        self._pending: tuple[Any, npt.NDArray[np.int64], ReportBatch] | None = None
        self._mcs = np.zeros(self.sim.n, dtype=np.int64)

    def prepare(self) -> None:
        """Build this slot's request (none when no UE starts a new transport block)."""
        sim = self.sim
        self._mcs = np.zeros(sim.n, dtype=np.int64)
        self.slot_model = ""
        asked = self.ue_ids if self.all_ues else np.flatnonzero(sim.needs_decision())
        if asked.size == 0:
            self._pending = None
            return
        batch = sim.reports if asked.size == sim.n else sim.reports.take(asked)
        columnar = asked.size > 1 if self.columnar is None else self.columnar
        request = build_request(self.cell_id, sim.slot, batch, asked, columnar)
        self._pending = (request, asked, batch)

    async def exchange(self, deadline_ns: int, strict: bool) -> None:
        """Send the prepared request and record the answer (or apply the local fallback)."""
        if self._pending is None:
            return
        request, asked, batch = self._pending
        stats = self.stats
        stats.requests += 1
        stats.decisions += asked.size
        if self.retry_delay_s:
            await asyncio.sleep(self.retry_delay_s)
        start = time.perf_counter_ns()
        try:
            answer = parse_response(await self.transport.decide(request), request, asked)
        except SlotFailure as exc:
            self.last_failure = exc
            stats.errors[exc.reason] = stats.errors.get(exc.reason, 0) + 1
            stats.failed += 1
            self._local_fallback(asked, batch)
            self.retry_delay_s = next_retry_delay_s(self.retry_delay_s)
            if self.failing_since is None:
                self.failing_since = time.monotonic()
            return
        elapsed = time.perf_counter_ns() - start
        self.retry_delay_s = 0.0
        self.failing_since = None
        stats.latencies_ns.append(elapsed)
        if elapsed > deadline_ns:
            stats.missed += 1
            if strict:
                self._local_fallback(asked, batch, count_missed=False)
                return
            stats.late_applied += 1
        self._mcs[asked] = answer.mcs
        stats.service_fallback += int(asked.size - np.count_nonzero(answer.from_model))
        self.slot_model = answer.model

    def _local_fallback(self, asked: npt.NDArray[np.int64], batch: ReportBatch,
                        count_missed: bool = True) -> None:
        if count_missed:
            self.stats.missed += 1
        self.stats.local_fallback += asked.size
        self._mcs[asked] = fallback_mcs(batch.cqi, batch.mcs_table, DEFAULT_BACKOFF)
        self.slot_model = LOCAL_FALLBACK

    def step(self) -> None:
        """Apply the slot's MCS and advance the simulator (rewards as ``closed_loop.run`` does)."""
        scale = self.sim.reward_scale_bits()
        outcome = self.sim.step(self._mcs)
        self.reward_sum += float((outcome.delivered_bits / scale).sum())
