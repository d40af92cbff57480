"""The load ramp: double the cells (or UEs per cell) until p99 leaves the budget."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from training.sim.emulator.emulation import run_emulation
from training.sim.emulator.options import EmulatorOptions


@dataclass
class LoadStep:
    """One load level of a ramp."""

    cells: int
    ues_per_cell: int
    ues_per_slot: float  # UEs decided per slot, all cells (mean)
    latency_p50_us: float | None
    latency_p99_us: float | None
    latency_max_us: float | None
    missed_share: float
    failed_slots: int
    ok: bool


def load_ramp(opts: EmulatorOptions, axis: str = "cells", budget_us: float | None = None,
              max_level: int = 64, log: Callable[[LoadStep], None] | None = None,
              repeats: int = 1) -> tuple[list[LoadStep], LoadStep | None]:
    """Double the cells (or the UEs per cell) until p99 exceeds ``budget_us``.

    Each level is ``repeats`` fresh emulations of ``opts.slots`` slots; the level
    is the run with the median p99 (a run without any answer counts as infinite),
    so that one burst of a busy machine does not end the ramp. Returns every level
    run and the largest one whose p99 stayed within the budget (None if none did).
    """
    if axis not in ("cells", "ues"):
        raise ValueError(f"the load axis is 'cells' or 'ues', got {axis!r}")
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    steps: list[LoadStep] = []
    best: LoadStep | None = None
    level = opts.cells if axis == "cells" else opts.ues_per_cell
    while level <= max_level:
        run_opts = replace(opts, cells=level) if axis == "cells" else replace(
            opts, ues_per_cell=level)
        runs = sorted((run_emulation(run_opts) for _ in range(repeats)),
                      key=lambda r: math.inf if r.kpis["latency_p99_us"] is None
                      else r.kpis["latency_p99_us"])
        result = runs[(repeats - 1) // 2]
        k = result.kpis
        budget = budget_us or result.deadline_us
        p99 = k["latency_p99_us"]
        ok = p99 is not None and p99 <= budget and k["failed_slots"] == 0
        step = LoadStep(run_opts.cells, run_opts.ues_per_cell, round(k["decisions_per_slot"], 1),
                        k["latency_p50_us"], p99, k["latency_max_us"],
                        k["missed_slots"] / max(k["requests"], 1), k["failed_slots"], ok)
        steps.append(step)
        if log is not None:
            log(step)
        if not ok:
            break
        best = step
        level *= 2
    return steps, best

