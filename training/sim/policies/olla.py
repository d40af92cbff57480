r"""CQI-driven link adaptation: ILLA, OLLA at any BLER target, and eOLLA (adaptive step).

All three map a SINR to the highest MCS whose 10%-BLER SNR fits it
(:func:`threshold_mcs`). ILLA uses the CQI's SINR as it is; OLLA and eOLLA
subtract a per-UE offset driven by the HARQ feedback of initial transmissions,
so that the NACK rate of first transmissions settles on the target whatever the
CQI's bias. Every array is ``(n,)`` over UEs and every update is one numpy
expression over all of them.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from training.sim import bler
from training.sim.link import LinkSimulator
from training.sim.policies.base import BLER_TARGET, check_target, initial_feedback
from xapp import nr_tables
from xapp.features import IntArray, ReportBatch

OFFSET_LIMIT_DB: Final = 20.0  # OLLA offsets are clipped to +-20 dB (3gpp-tables.md)

# 10%-BLER SNR per (table, MCS) and per (table, CQI); CQI 0 is -inf ("out of range").
_MCS_SNR10: Final = [bler.mcs_snr10_db(t) for t in (nr_tables.QAM64, nr_tables.QAM256)]
_CQI_SNR10: Final = np.stack([bler.cqi_snr10_db(t) for t in (nr_tables.QAM64, nr_tables.QAM256)])


def _flat_thresholds() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], float]:
    """Both tables' 10%-BLER SNRs in one sorted array: table 2 shifted up by a large offset."""
    offset = 1000.0
    flat = np.concatenate([_MCS_SNR10[0], _MCS_SNR10[1] + offset])
    start = np.array([0, _MCS_SNR10[0].size])
    return flat, start, offset


_FLAT_SNR10, _TABLE_START, _TABLE_OFFSET = _flat_thresholds()


def threshold_mcs(sinr_db: npt.NDArray[np.float64], table: IntArray) -> npt.NDArray[np.int64]:
    """Highest MCS whose 10%-BLER SNR is at most ``sinr_db`` (MCS 0 if none), per UE."""
    row = table - 1
    key = np.clip(sinr_db, -100.0, 100.0) + _TABLE_OFFSET * row
    idx = np.searchsorted(_FLAT_SNR10, key, side="right") - 1 - _TABLE_START[row]
    return np.maximum(idx, 0)


def cqi_sinr_db(reports: ReportBatch) -> npt.NDArray[np.float64]:
    """SINR the gNB infers from a CQI: that CQI's 10%-BLER threshold (-inf for CQI 0)."""
    return np.asarray(_CQI_SNR10[reports.mcs_table - 1, reports.cqi])


class Illa:
    """Inner-loop link adaptation: the highest MCS whose 10%-BLER SNR fits the CQI's SINR."""

    name = "illa"

    def reset(self, n: int) -> None:
        """No state."""

    def act(self, reports: ReportBatch, sim: LinkSimulator) -> npt.NDArray[np.int64]:
        """Map each UE's CQI to an MCS."""
        return threshold_mcs(cqi_sinr_db(reports), reports.mcs_table)


class Olla:
    r"""Outer-loop link adaptation (the industry baseline) at BLER target :math:`T`.

    .. math::
        \text{offset} \mathrel{+}= \Delta_{up} \text{ on NACK}, \quad
        \text{offset} \mathrel{-}= \Delta_{down} \text{ on ACK}, \quad
        \Delta_{down} = \Delta_{up}\, T / (1 - T)

    applied to HARQ feedback of initial transmissions as it arrives (a report's
    newest entry with age 0); the MCS is the highest whose 10%-BLER SNR is at most
    the CQI's SINR minus the offset. In steady state the NACK rate of initial
    transmissions equals T whatever the channel, as long as the offset stays
    within its +-20 dB clip and the MCS is not pinned at MCS 0 or the table's top.
    """

    def __init__(self, d_up_db: float = 0.5, target: float = BLER_TARGET) -> None:
        if not (np.isfinite(d_up_db) and d_up_db > 0):
            raise ValueError(f"OLLA step d_up must be a positive number of dB, got {d_up_db:g}")
        self.target = check_target(target)
        self.d_up = float(d_up_db)
        self.d_down = self.d_up * self.target / (1.0 - self.target)
        # today's name for the 10% default; other targets carry theirs
        self.name = (f"olla:{d_up_db:g}" if self.target == BLER_TARGET
                     else f"olla:{d_up_db:g}:{self.target:g}")
        self.offset_db = np.zeros(0)

    def reset(self, n: int) -> None:
        """Zero every UE's offset."""
        self.offset_db = np.zeros(n)

    def update(self, reports: ReportBatch) -> None:
        """Apply the HARQ feedback that arrived in this slot."""
        fb = initial_feedback(reports)
        step = np.where(fb.nack, self.d_up, -self.d_down)
        self.offset_db = np.clip(self.offset_db + np.where(fb.fresh, step, 0.0),
                                 -OFFSET_LIMIT_DB, OFFSET_LIMIT_DB)

    def act(self, reports: ReportBatch, sim: LinkSimulator) -> npt.NDArray[np.int64]:
        """Update the offsets with this slot's feedback, then choose MCS."""
        if self.offset_db.shape != (len(reports),):
            self.reset(len(reports))
        self.update(reports)
        return threshold_mcs(cqi_sinr_db(reports) - self.offset_db, reports.mcs_table)


class EOlla(Olla):
    r"""Enhanced OLLA with an adaptive step, after Blanquez-Casado et al. 2016.

    F. Blanquez-Casado, G. Gomez, M. C. Aguayo-Torres, J. T. Entrambasaguas,
    "eOLLA: an enhanced outer loop link adaptation for cellular networks",
    EURASIP J. Wireless Commun. Netw. 2016:20. Their analysis of OLLA shows a
    trade-off fixed by the step: a large step converges fast after a change of
    the link but jitters around the target in steady state, a small one the
    reverse; eOLLA therefore adapts the step to how far the link is from its
    target. Here the distance is measured by an exponentially weighted BLER of
    initial transmissions, :math:`\hat b`, over about :math:`W` feedbacks:

    .. math::
        \Delta_{up}(t) = \Delta_{min} + (\Delta_{max} - \Delta_{min})
            \min\!\Big(1, \frac{|\hat b(t) - T|}{T}\Big), \qquad
        \Delta_{down}(t) = \Delta_{up}(t)\, \frac{T}{1 - T},

    .. math::
        \text{offset} \mathrel{+}= \Delta_{up}(t) \text{ on NACK}, \quad
        \text{offset} \mathrel{-}= \Delta_{down}(t) \text{ on ACK}, \quad
        \hat b \leftarrow (1 - 1/W)\, \hat b + \mathbb{1}[\text{NACK}] / W,

    with :math:`W = \max(50, 5/T)` so that the window holds several expected
    NACKs even at low targets. The step of a feedback is fixed before its outcome
    is known, so each step keeps OLLA's zero drift at BLER :math:`T`.

    Anti-windup (ours, common practice): an ACK at the table's top MCS or a NACK
    at MCS 0 leaves the offset alone; otherwise a UE pinned at the top for a
    while drives its offset to -20 dB and pays for it in NACKs when its channel
    drops. The estimate :math:`\hat b` starts at 0, so the first steps are the
    largest (fast convergence from the CQI's bias).

    Deviations: the paper's own step-size law was not at hand when this was
    written (only its abstract: "adaptively modify its step size as well as ...
    update its offset ... even if no data packets have been received"), so the
    law above is ours: it keeps the idea (the step grows with the distance from
    the target) in a form whose steady state is stated. The offset update while
    no data flows is not implemented; it would matter in ``bursty``.

    ``d_min_db`` / ``d_max_db`` default to 0.1 / 4.0 dB: the low end of the OLLA
    steps in common use, and a step large enough to cross the 5-10 dB of CQI
    optimism the simulator's UEs start with in a few NACKs (each NACK arrives K1
    slots late, and every TB sent meanwhile fails too).
    """

    def __init__(self, target: float = BLER_TARGET, d_min_db: float = 0.1,
                 d_max_db: float = 4.0) -> None:
        super().__init__(d_max_db, target)
        if not 0 < d_min_db <= d_max_db:
            raise ValueError(f"eOLLA needs 0 < d_min <= d_max, got {d_min_db:g}, {d_max_db:g}")
        self.d_min, self.d_max = float(d_min_db), float(d_max_db)
        self.window = max(50.0, 5.0 / self.target)
        self.name = f"eolla:{target:g}"
        self.bler_est = np.zeros(0)

    def reset(self, n: int) -> None:
        """Zero the offsets and the BLER estimate (the first steps are the largest)."""
        super().reset(n)
        self.bler_est = np.zeros(n)

    def update(self, reports: ReportBatch) -> None:
        """Apply this slot's feedback with the current step, then update the BLER estimate."""
        fb = initial_feedback(reports)
        t = self.target
        distance = np.minimum(1.0, np.abs(self.bler_est - t) / t)
        d_up = self.d_min + (self.d_max - self.d_min) * distance
        step = np.where(fb.nack, d_up, -d_up * t / (1.0 - t))
        # Anti-windup: an ACK at the table's top MCS or a NACK at MCS 0 cannot be answered
        # by a higher or lower MCS, so it must not move the offset further.
        top = nr_tables.max_mcs(reports.mcs_table)
        stuck = np.where(fb.nack, fb.mcs == 0, fb.mcs >= top)
        self.offset_db = np.clip(self.offset_db + np.where(fb.fresh & ~stuck, step, 0.0),
                                 -OFFSET_LIMIT_DB, OFFSET_LIMIT_DB)
        self.bler_est = np.where(fb.fresh, self.bler_est + (fb.nack - self.bler_est) / self.window,
                                 self.bler_est)
