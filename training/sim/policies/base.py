"""What every policy shares: the :class:`McsPolicy` protocol, a slot's HARQ feedback."""

from __future__ import annotations

from typing import Final, NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

from training.sim.link import LinkSimulator
from xapp.features import ReportBatch

BLER_TARGET: Final = 0.1
"""Default first-transmission BLER target (the usual 10% of LTE/NR link adaptation)."""


class McsPolicy(Protocol):
    """Chooses an MCS per UE from the reports of one slot."""

    name: str

    def reset(self, n: int) -> None:
        """Forget all per-UE state; ``n`` UEs follow."""

    def act(self, reports: ReportBatch, sim: LinkSimulator) -> npt.NDArray[np.int64]:
        """Return ``(n,)`` MCS indices for the UEs of ``reports``."""


class Feedback(NamedTuple):
    """HARQ feedback of initial transmissions that arrived in this slot, per UE.

    Attributes:
        fresh: ``(n,)`` bool, a feedback of an initial transmission arrived now
            (the report's newest HARQ entry, age 0, initial flag set).
        nack: ``(n,)`` bool, that feedback is a NACK (False where not ``fresh``).
        mcs: ``(n,)`` int64 MCS of that transport block (0 where not ``fresh``).

    """

    fresh: npt.NDArray[np.bool_]
    nack: npt.NDArray[np.bool_]
    mcs: npt.NDArray[np.int64]


def initial_feedback(reports: ReportBatch) -> Feedback:
    """The initial-transmission ACK/NACK each UE's report brings this slot.

    A UE transmits at most once per slot, so at most one feedback arrives per slot:
    the report's newest HARQ entry, when its age is 0. Retransmissions are left
    out: their outcome reflects chase combining, not the MCS choice alone.
    """
    fresh = ((reports.harq_mcs[:, 0] >= 0) & (reports.harq_age[:, 0] == 0)
             & (reports.harq_initial[:, 0] == 1))
    nack = fresh & (reports.harq_ack[:, 0] == 0)
    mcs = np.where(fresh, reports.harq_mcs[:, 0], 0).astype(np.int64)
    return Feedback(np.asarray(fresh), np.asarray(nack), mcs)


def check_target(target: float) -> float:
    """Return ``target`` as a float; ValueError unless it is a BLER in (0, 1)."""
    if not (np.isfinite(target) and 0 < target < 1):
        raise ValueError(f"BLER target must be in (0, 1), got {target:g}")
    return float(target)
