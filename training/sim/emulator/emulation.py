"""The closed loop: every cell's slot sent together, answers applied, results pooled."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from training.sim.config import LinkConfig
from training.sim.emulator.cell import Cell
from training.sim.emulator.errors import EmulatorError, SlotFailure
from training.sim.emulator.kpis import (
    PooledView,
    copy_kpis,
    diff_kpis,
    service_stats,
    summarize,
)
from training.sim.emulator.options import EmulatorOptions
from training.sim.emulator.swap import SwapEvent, Swapper, check_swap_models
from training.sim.link import Kpis, LinkSimulator
from training.sim.policies import parse_policy

FATAL_STATUSES: Final = frozenset({"UNAUTHENTICATED", "PERMISSION_DENIED", "UNIMPLEMENTED"})
"""gRPC statuses no retry can change: the run stops at the first one."""
_NO_ANSWER_STATUSES: Final = frozenset({"DEADLINE_EXCEEDED", "UNAVAILABLE", "CANCELLED"})
"""Statuses of requests the service did not answer (the others are its refusals)."""


@dataclass
class Segment:
    """Slots answered by one model (hot-swap drills): its KPIs over those slots."""

    model: str
    first_slot: int
    snapshot: list[Kpis]
    reward_start: float
    end_slot: int = -1
    kpis: dict[str, Any] = field(default_factory=dict)


@dataclass
class EmulationResult:
    """Everything a run measured; :meth:`to_dict` is the ``--json`` output."""

    options: EmulatorOptions
    deadline_us: float
    kpis: dict[str, Any]
    per_cell: list[dict[str, Any]]
    segments: list[Segment]
    swaps: list[SwapEvent]
    compare: dict[str, Any] | None
    wall_s: float
    aborted: str = ""  # why the run stopped early ("" if it ran all its slots)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: pooled KPIs and service figures at the top level."""
        opts = self.options
        out: dict[str, Any] = {
            "target": opts.target, "scenario": opts.scenario, "seed": opts.seed,
            "mode": "stream" if opts.stream else "unary",
            "wire": {None: "auto", True: "columns", False: "reports"}[opts.columnar],
            "cells": opts.cells, "ues_per_cell": opts.ues_per_cell, "tls": opts.tls is not None,
            "deadline_us": self.deadline_us, "strict_deadline": opts.strict_deadline,
            **self.kpis, "wall_s": round(self.wall_s, 3), "aborted": self.aborted,
            "per_cell": self.per_cell,
        }
        if self.segments:
            out["segments"] = [{"model": s.model, "first_slot": s.first_slot,
                                "end_slot": s.end_slot, **s.kpis} for s in self.segments]
        if opts.swap_every:
            out["swaps"] = [vars(e) for e in self.swaps]
        if self.compare is not None:
            out["compare"] = self.compare
        return out


def default_deadline_us(cfgs: Sequence[LinkConfig]) -> float:
    """The shortest slot duration among the cells' UEs, microseconds."""
    return float(min(cfg.slot_s().min() for cfg in cfgs) * 1e6)


async def emulate(opts: EmulatorOptions,
                  on_slot: Callable[[int], None] | None = None) -> EmulationResult:
    """Run the closed loop against the service at ``opts.target``.

    Args:
        opts: what to emulate.
        on_slot: called with the number of slots done after each slot.

    Raises:
        ValueError: a bad option.
        EmulatorError: the service cannot be reached at the start, or answers with a
            status no retry changes (:data:`FATAL_STATUSES`, e.g. a refused token);
            for a hot-swap drill, also its admin API, or it refuses the token or lacks
            a model.

    """
    opts.check()
    if opts.swap_every:
        await check_swap_models(opts)
    cells = [Cell(c, opts) for c in range(opts.cells)]
    deadline_us = opts.deadline_us or default_deadline_us([c.cfg for c in cells])
    deadline_ns = int(deadline_us * 1e3)
    await _connect(cells, opts)
    swapper = Swapper(opts) if opts.swap_every else None
    segments: list[Segment] = []
    aborted = ""
    start = time.perf_counter()
    try:
        for slot in range(opts.slots):
            await _run_slot(slot, cells, opts, swapper, segments, deadline_ns)
            if on_slot is not None:
                on_slot(slot + 1)
            aborted = _gave_up(slot, cells, opts)
            if aborted:
                break
    finally:
        if swapper is not None:
            await swapper.close()
        await asyncio.gather(*(c.transport.close() for c in cells))
    wall = time.perf_counter() - start
    result = _result(opts, deadline_us, cells, segments, swapper, wall)
    unanswered = no_answer_message(cells)
    result.aborted = "; ".join(m for m in (unanswered, aborted) if m)
    return result


async def _connect(cells: Sequence[Cell], opts: EmulatorOptions) -> None:
    """Wait until every cell's channel is ready; on failure close them all and raise."""
    try:
        await asyncio.gather(*(c.transport.wait_ready(opts.connect_timeout_s) for c in cells))
    except EmulatorError:
        await asyncio.gather(*(c.transport.close() for c in cells))
        raise


async def _run_slot(slot: int, cells: Sequence[Cell], opts: EmulatorOptions,
                    swapper: Swapper | None, segments: list[Segment], deadline_ns: int) -> None:
    """One slot of every cell: requests built, sent together, answers applied, sims stepped.

    Raises:
        EmulatorError: a cell got a status no retry changes (:data:`FATAL_STATUSES`).

    """
    if swapper is not None:
        swapper.maybe_swap(slot)
    for cell in cells:
        cell.prepare()
    await asyncio.gather(*(c.exchange(deadline_ns, opts.strict_deadline) for c in cells))
    fatal = next((c.last_failure for c in cells if c.last_failure is not None
                  and c.last_failure.code in FATAL_STATUSES), None)
    if fatal is not None:
        raise EmulatorError(fatal_message(fatal, opts))
    _track_segment(segments, cells, slot)
    for cell in cells:
        cell.step()


def _gave_up(slot: int, cells: Sequence[Cell], opts: EmulatorOptions) -> str:
    """Why the run stops after ``slot``: a cell without an answer for ``give_up_s`` ("" if none)."""
    now = time.monotonic()
    down = [c for c in cells
            if c.failing_since is not None and now - c.failing_since > opts.give_up_s]
    if not down:
        return ""
    return (f"gave up after slot {slot + 1}: no answer for cell {down[0].cell_id} "
            f"for {opts.give_up_s:g} s (last error: {down[0].last_failure})")


def fatal_message(failure: SlotFailure, opts: EmulatorOptions) -> str:
    """The one-line error of a status no retry changes, with what to do about it."""
    if failure.code == "UNIMPLEMENTED":
        hint = f"is --target {opts.target} a linkadapt xApp?"
    elif opts.token:
        hint = "check the token given by --token, --token-file or LINKADAPT_ADMIN_TOKEN"
    else:
        hint = "pass the service's token with --token, --token-file or LINKADAPT_ADMIN_TOKEN"
    return f"the service refused the decision requests: {failure}; {hint}"


def no_answer_message(cells: Sequence[Cell]) -> str:
    """Why a run in which no request got an answer failed ("" if some request got one)."""
    if any(c.stats.latencies_ns for c in cells):
        return ""
    failure = next((c.last_failure for c in cells if c.last_failure is not None), None)
    if failure is None:
        return ""  # no request at all
    if not failure.code or failure.code in _NO_ANSWER_STATUSES:
        return f"no request got an answer from the service (last error: {failure})"
    message = f"the service refused every request: {failure}"
    if failure.code == "RESOURCE_EXHAUSTED":
        message += (" - lower --ues-per-cell (or drop --all-ues) or raise the service's "
                    "limit (linkadapt serve --max-batch-size)")
    return message


def _track_segment(segments: list[Segment], cells: Sequence[Cell], slot: int) -> None:
    """Open a new segment when the model answering (first cell that asked) changes."""
    model = next((c.slot_model for c in cells if c.slot_model), "")
    if not model or (segments and segments[-1].model == model):
        return
    if segments:
        segments[-1].end_slot = slot
    segments.append(Segment(model, slot, [copy_kpis(c.sim.kpis) for c in cells],
                            sum(c.reward_sum for c in cells)))


def _result(opts: EmulatorOptions, deadline_us: float, cells: Sequence[Cell],
            segments: list[Segment], swapper: Swapper | None, wall: float) -> EmulationResult:
    sims = [c.sim for c in cells]
    total_reward = sum(c.reward_sum for c in cells)
    pooled = {**summarize(sims, total_reward), **service_stats([c.stats for c in cells])}
    slots_run = max(cells[0].sim.slot, 1)
    pooled["decisions_per_slot"] = pooled["decisions"] / slots_run
    per_cell = []
    for c in cells:
        row = {"cell_id": c.cell_id, "seed": c.seed, **summarize([c.sim], c.reward_sum),
               **service_stats([c.stats])}
        row["decisions_per_slot"] = row["decisions"] / slots_run
        per_cell.append(row)
    for i, seg in enumerate(segments):
        end_snapshot = ([c.sim.kpis for c in cells] if i + 1 == len(segments)
                        else segments[i + 1].snapshot)
        end_reward = total_reward if i + 1 == len(segments) else segments[i + 1].reward_start
        if seg.end_slot < 0:
            seg.end_slot = slots_run
        views = [PooledView(diff_kpis(end, begin), c.cfg, c.sim.n)
                 for end, begin, c in zip(end_snapshot, seg.snapshot, cells, strict=True)]
        seg.kpis = summarize(views, end_reward - seg.reward_start)
    compare = (run_baseline(replace(opts, slots=slots_run), [c.cfg for c in cells], pooled)
               if opts.compare else None)
    return EmulationResult(opts, deadline_us, pooled, per_cell, segments,
                           swapper.events if swapper else [], compare, wall)


def run_baseline(opts: EmulatorOptions, cfgs: Sequence[LinkConfig],
                 emulated: dict[str, Any]) -> dict[str, Any]:
    """Run ``opts.compare`` in-process on the same cells and seeds (common random numbers).

    Returns the baseline's pooled KPIs and the gains of the emulated run over it.
    """
    assert opts.compare is not None
    sims, reward = [], 0.0
    name = ""
    for c, cfg in enumerate(cfgs):
        policy = parse_policy(opts.compare, opts.spec_target)
        name = policy.name
        sim = LinkSimulator(cfg, opts.seed + c)
        policy.reset(sim.n)
        for _ in range(opts.slots):
            scale = sim.reward_scale_bits()
            outcome = sim.step(policy.act(sim.reports, sim))
            reward += float((outcome.delivered_bits / scale).sum())
        sims.append(sim)
    base = summarize(sims, reward)

    def gain(key: str) -> float | None:
        return (emulated[key] / base[key] - 1.0) * 100.0 if base[key] else None

    return {"policy": name, "kpis": base,
            "throughput_gain_pct": gain("throughput_mbps"),
            "spectral_efficiency_gain_pct": gain("spectral_efficiency"),
            "bler_delta_pct_points": (emulated["bler"] - base["bler"]) * 100.0}


def run_emulation(opts: EmulatorOptions,
                  on_slot: Callable[[int], None] | None = None) -> EmulationResult:
    """:func:`emulate` on a fresh event loop."""
    return asyncio.run(emulate(opts, on_slot))
