"""What the gNB learns of the channel: periodic, delayed, quantized CSI reports.

Each UE measures at its CSI reference resource every ``csi_period`` slots (a
random offset per UE), chooses the rank indicator that maximizes
``L * log2(1 + SINR_L)`` over the wideband SINR of rank ``L``, and reports the
highest CQI whose 10%-BLER threshold its estimated effective SINR reaches
(TS 38.214 5.2.2.1: "the highest CQI index [...] such that a single PDSCH
transport block [...] could be received with a transport block error probability
not exceeding 0.1"). The estimate carries a Gaussian error (``cqi_error_db``). The
report reaches the gNB ``csi_delay`` slots later; until then the gNB keeps the
previous one. The gNB also keeps the reports it held before
(:data:`~xapp.report_fields.CQI_HISTORY` of them), which a UE report carries.

The effective SINR uses EESM with one beta per modulation order (the mean over
that modulation's CQI-table entries) rather than one per CQI entry: four
exponentials per sub-band instead of fifteen, well within the spread of real UE
implementations.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt

from training.sim import bler
from training.sim.channel import Channel, ChannelState
from training.sim.config import MAX_LAYERS, LinkConfig
from xapp import nr_tables
from xapp.report_fields import CQI_HISTORY, NO_ENTRY

_RING: Final = 16  # > largest CSI delay (8 slots)
# Snapshots kept per UE, by CSI occasion: the one the gNB sees and the newer ones in flight,
# at most ceil(largest delay 8 / shortest period 4) = 2 of them.
_SNAPSHOT_RING: Final = 4
_MODULATIONS: Final = (2, 4, 6, 8)


def _cqi_lookup(table: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64],
                                     npt.NDArray[np.float64]]:
    """Per CQI 1..15: threshold (dB), modulation slot index, and per-modulation beta (4,)."""
    rows = nr_tables.cqi_table(table)[1:]
    thresholds = bler.cqi_snr10_db(table)[1:]
    betas = bler.cqi_beta(table)[1:]
    mod_index = np.searchsorted(np.array(_MODULATIONS), rows[:, 0]).astype(np.int64)
    beta_by_mod = np.array([betas[rows[:, 0] == q].mean() if np.any(rows[:, 0] == q) else 1.0
                            for q in _MODULATIONS])
    return thresholds, mod_index, beta_by_mod


_LOOKUPS: Final = {t: _cqi_lookup(t) for t in (nr_tables.QAM64, nr_tables.QAM256)}


class CsiReporter:
    """Periodic CQI / RI measurement and its delayed delivery to the gNB.

    Attributes (``(n,)`` int64, as the gNB sees them in the current slot):
        cqi: wideband CQI 0..15.
        rank: rank indicator 1..4.
        measured_slot: slot of the CSI reference resource of that report.
        history_cqi, history_slot: ``(n, CQI_HISTORY)`` int64, the reports the gNB
            held before the current one, most recent first: their CQI (-1 where none
            yet) and measured slot. Replaced when they change, never modified in place.
    """

    def __init__(self, cfg: LinkConfig, channel: Channel, rng: np.random.Generator) -> None:
        self.cfg = cfg
        self.channel = channel
        self.rng = rng
        n = len(cfg)
        self._period = cfg.csi_period.astype(np.int64)
        self._delay = cfg.csi_delay.astype(np.int64)
        self._offset = rng.integers(0, self._period)
        self._latest_cqi = np.zeros(n, dtype=np.int64)
        self._latest_rank = np.ones(n, dtype=np.int64)
        self._latest_slot = np.zeros(n, dtype=np.int64)
        self._rows = np.arange(n)
        # The channel before slot 0 is not simulated: one measurement of slot 0 stands for
        # every report sent before, stamped with the occasion it belongs to, so that CQI
        # ages are right from the first slot (rings hold "latest as of slot s", s = -15..0).
        self._measure(self._rows, 0)
        past = np.arange(-_RING + 1, 1)  # slots -15 .. 0
        occasion = past[:, None] - (past[:, None] - self._offset[None, :]) % self._period
        ring_index = past % _RING
        self._ring_cqi = np.empty((_RING, n), dtype=np.int64)
        self._ring_rank = np.empty((_RING, n), dtype=np.int64)
        self._ring_slot = np.empty((_RING, n), dtype=np.int64)
        self._ring_cqi[ring_index] = self._latest_cqi
        self._ring_rank[ring_index] = self._latest_rank
        self._ring_slot[ring_index] = occasion
        self._latest_slot = occasion[-1].copy()
        seen = (-self._delay) % _RING
        self._latest_cqi = self._latest_cqi.copy()
        self.cqi = self._ring_cqi[seen, self._rows]
        self.rank = self._ring_rank[seen, self._rows]
        self.measured_slot = self._ring_slot[seen, self._rows]
        self.snapshots: CsiSnapshots | None = None
        self.history_cqi = np.full((n, CQI_HISTORY), NO_ENTRY, dtype=np.int64)
        self.history_slot = np.zeros((n, CQI_HISTORY), dtype=np.int64)

    def enable_snapshots(self) -> CsiSnapshots:
        """Start keeping the channel state of every measurement (:class:`CsiSnapshots`).

        Must happen before the first :meth:`step`: the state of earlier measurements
        is gone. Copies only, no random draws: the simulation is unchanged.
        """
        if self.snapshots is None:
            self.snapshots = CsiSnapshots(self)
        return self.snapshots

    def occasion(self, slot: npt.NDArray[np.int64],
                 rows: npt.NDArray[np.int64] | None = None) -> npt.NDArray[np.int64]:
        """Index of the CSI occasion at ``slot`` (an occasion slot) of each row."""
        sel = slice(None) if rows is None else rows
        return np.asarray((slot - self._offset[sel]) // self._period[sel])

    def _measure(self, rows: npt.NDArray[np.int64], slot: int) -> None:
        if rows.size == 0:
            return
        ch = self.channel
        layers = np.arange(1, MAX_LAYERS + 1)
        rate = np.where(layers <= ch.max_layers[rows, None],
                        layers * np.log2(1.0 + ch.wideband_sinr(rows)), -1.0)
        best_rank = np.argmax(rate, axis=1) + 1
        sinr = ch.sinr(best_rank, rows)
        error_db = self.rng.standard_normal(rows.size) * self.cfg.cqi_error_db[rows]
        cqi = np.zeros(rows.size, dtype=np.int64)
        tables = self.cfg.mcs_table[rows]
        for table, (thresholds, mod_index, beta_by_mod) in _LOOKUPS.items():
            sel = np.flatnonzero(tables == table)
            if sel.size == 0:
                continue
            eff = np.stack([bler.effective_sinr_db(sinr[sel], np.full(sel.size, b,
                                                                        dtype=np.float32))
                            for b in beta_by_mod], axis=1)  # (m, 4) dB
            eff += error_db[sel, None]
            ok = eff[:, mod_index] >= thresholds[None, :]  # (m, 15)
            cqi[sel] = np.where(ok.any(axis=1), 15 - np.argmax(ok[:, ::-1], axis=1), 0)
        self._latest_cqi[rows] = cqi
        self._latest_rank[rows] = best_rank
        self._latest_slot[rows] = slot

    def step(self, slot: int) -> None:
        """Measure where a CSI occasion falls in ``slot`` and update what the gNB sees."""
        due = np.flatnonzero((slot - self._offset) % self._period == 0)
        self._measure(due, slot)
        if self.snapshots is not None and due.size:
            self.snapshots.record(due, slot)
        k = slot % _RING
        self._ring_cqi[k] = self._latest_cqi
        self._ring_rank[k] = self._latest_rank
        self._ring_slot[k] = self._latest_slot
        seen = (slot - self._delay) % _RING
        measured_slot = self._ring_slot[seen, self._rows]
        arrived = np.flatnonzero(measured_slot != self.measured_slot)
        if arrived.size:  # the report held until now joins the history
            self.history_cqi = _pushed(self.history_cqi, arrived, self.cqi)
            self.history_slot = _pushed(self.history_slot, arrived, self.measured_slot)
        self.cqi = self._ring_cqi[seen, self._rows]
        self.rank = self._ring_rank[seen, self._rows]
        self.measured_slot = measured_slot


def _pushed(history: npt.NDArray[np.int64], rows: npt.NDArray[np.int64],
            newest: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """A copy of ``history`` whose ``rows`` moved one place back, ``newest[rows]`` first."""
    out = history.copy()
    out[rows, 1:] = history[rows, :-1]
    out[rows, 0] = newest[rows]
    return out


class CsiSnapshots:
    """The channel state at each UE's CSI measurements, until the gNB has seen them.

    What the simulator knew when the UE measured: fading taps, powers, interference
    and load (:class:`training.sim.channel.ChannelState`), kept in a ring of
    :data:`_SNAPSHOT_RING` occasions per UE, preallocated; each measurement copies
    only the rows measured in that slot.
    """

    def __init__(self, reporter: CsiReporter) -> None:
        self._reporter = reporter
        n = reporter.cfg.ue_prbs.shape[0]
        rows = np.arange(n)
        # every report before slot 1 stands for the measurement of slot 0 (CsiReporter)
        now = reporter.channel.state(rows)
        self._ring: list[npt.NDArray[Any]] = [np.repeat(f[None], _SNAPSHOT_RING, axis=0)
                                              for f in now]
        self._slot = np.zeros((_SNAPSHOT_RING, n), dtype=np.int64)

    def record(self, rows: npt.NDArray[np.int64], slot: int) -> None:
        """Keep the current channel state of ``rows``, measured in ``slot``."""
        k = self._reporter.occasion(np.full(rows.size, slot), rows) % _SNAPSHOT_RING
        for ring, value in zip(self._ring, self._reporter.channel.state(rows), strict=True):
            ring[k, rows] = value
        self._slot[k, rows] = slot

    def seen(self, rows: npt.NDArray[np.int64]) -> tuple[ChannelState, npt.NDArray[np.int64]]:
        """State and slot of the measurement behind the CSI report the gNB holds now."""
        k = self._reporter.occasion(self._reporter.measured_slot[rows], rows) % _SNAPSHOT_RING
        state = ChannelState._make(ring[k, rows] for ring in self._ring)
        return state, self._slot[k, rows]
