"""Per-slot outcome and running KPI totals of :class:`training.sim.link.LinkSimulator`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from xapp import nr_tables

__all__ = ["Kpis", "SlotOutcome"]


class SlotOutcome(NamedTuple):
    """What happened in one slot, ``(n,)`` arrays."""

    transmitted: npt.NDArray[np.bool_]  # a TB (new or retransmitted) went out
    new: npt.NDArray[np.bool_]  # it was a new TB, sent with the policy's MCS
    mcs: npt.NDArray[np.int64]  # MCS used (meaningful where transmitted)
    decoded: npt.NDArray[np.bool_]  # the receiver decoded it
    delivered_bits: npt.NDArray[np.float64]
    payload_bits: npt.NDArray[np.float64]  # bits the TB carries, delivered or not


@dataclass
class Kpis:
    """Running totals per UE (``(n,)`` arrays) and the pooled initial-MCS histogram."""

    n: int
    delivered_bits: npt.NDArray[np.float64] = field(init=False)
    active_slots: npt.NDArray[np.int64] = field(init=False)
    first_tx: npt.NDArray[np.int64] = field(init=False)
    first_errors: npt.NDArray[np.int64] = field(init=False)
    retransmissions: npt.NDArray[np.int64] = field(init=False)
    dropped_tbs: npt.NDArray[np.int64] = field(init=False)
    mcs_histogram: npt.NDArray[np.int64] = field(init=False)
    slots: int = 0

    def __post_init__(self) -> None:
        self.delivered_bits = np.zeros(self.n)
        for name in ("active_slots", "first_tx", "first_errors", "retransmissions", "dropped_tbs"):
            setattr(self, name, np.zeros(self.n, dtype=np.int64))
        self.mcs_histogram = np.zeros(nr_tables.NUM_ACTIONS, dtype=np.int64)
