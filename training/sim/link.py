"""The vectorized downlink link simulator: channel + CSI + HARQ + traffic, one slot per step.

Slot ``t`` of every UE row runs as follows (:meth:`LinkSimulator.step`):

1. The gNB's view at the start of slot ``t`` is :attr:`LinkSimulator.reports`
   (a :class:`xapp.features.ReportBatch`): the CSI report that has arrived, the
   HARQ feedback received so far, buffer, configuration. A policy turns it into
   one MCS per UE.
2. Transmission. A UE with a NACKed transport block waiting retransmits it first
   (same MCS, layers and payload; chase combining: the effective SINRs of all its
   transmissions add up, linear). Otherwise, if it has data and a free HARQ
   process (16, TS 38.214 5.1), it starts a new transport block with the chosen
   MCS on the reported rank: TBS from TS 38.214 5.1.3.2, error probability from
   the EESM effective SINR over the per-MCS waterfall curves (``bler``). The
   receiver decodes at once; the gNB learns the outcome K1 slots later.
3. The slot advances: channel evolution, traffic arrivals, HARQ feedback due now
   (a NACK with fewer than 4 transmissions waits for retransmission; after the
   4th the payload goes back to the RLC buffer), CSI occasions and deliveries.

Common random numbers: the channel, CSI and traffic-arrival draws come from one
generator and the decoding draws from another, and each draws the same amount
every slot whatever the policy does. Two policies run with the same seed and
configuration therefore see identical channels, CSI errors and arrivals. A policy
that draws random numbers of its own (the delayed genie) derives its generator from
:attr:`LinkSimulator.seed_sequence`, never from these streams.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from training.sim import bler, tbs, traffic
from training.sim.channel import Channel
from training.sim.config import (
    DMRS_RE_PER_PRB,
    HARQ_PROCESSES,
    MAX_LAYERS,
    MAX_TRANSMISSIONS,
    PDSCH_SYMBOLS,
    LinkConfig,
)
from training.sim.csi import CsiReporter
from training.sim.outcome import Kpis, SlotOutcome
from xapp import nr_tables
from xapp.features import HARQ_HISTORY, KPM_WINDOW_SLOTS, IntArray, ReportBatch
from xapp.report_fields import NO_ENTRY

_FREE: Final = 0
_IN_FLIGHT: Final = 1
_AWAIT_RETX: Final = 2
_FEEDBACK_RING: Final = 16  # > largest K1 (8)
_REPORTED_BUFFER_CAP_BYTES: Final = 1e9  # full-buffer UEs report a large, finite backlog

__all__ = ["Kpis", "LinkSimulator", "SlotOutcome"]


_QM, _RATE, _SNR10, _BETA = bler.table_lookups()
_SNR10_FLAT: Final = _SNR10.astype(np.float32).ravel()  # index: table row * 29 + MCS
_BETA_FLAT32: Final = _BETA.astype(np.float32).ravel()


def _push(history: IntArray, arrived: npt.NDArray[np.bool_], value: npt.ArrayLike) -> IntArray:
    """New ``(n, h)`` history with ``value`` in front for the rows that ``arrived``."""
    shifted = np.empty_like(history)
    shifted[:, 1:] = history[:, :-1]
    shifted[:, 0] = value
    return np.where(arrived[:, None], shifted, history)


class LinkSimulator:
    """``n`` downlink links simulated slot by slot. See the module docstring."""

    def __init__(self, cfg: LinkConfig, seed: int | np.random.SeedSequence) -> None:
        seq = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        self.seed_sequence = seq  # policies derive their own streams from it (spawn_key)
        channel_seq, decode_seq, traffic_seq = seq.spawn(3)
        self.cfg = cfg
        n = len(cfg)
        self.n = n
        self._rows = np.arange(n)
        self._channel_rng = np.random.default_rng(channel_seq)
        self._decode_rng = np.random.default_rng(decode_seq)
        self._traffic_rng = np.random.default_rng(traffic_seq)
        self.channel = Channel(cfg, self._channel_rng)
        self.csi = CsiReporter(cfg, self.channel, self._channel_rng)
        self.traffic = traffic.TrafficState.create(cfg.traffic_model, cfg.traffic_rate)
        self._slot_s = cfg.slot_s()
        self._table = cfg.mcs_table.astype(np.int64) - 1  # row into the (2, 29) lookups
        self.max_mcs = nr_tables.max_mcs(self._table + 1)
        self._k1 = cfg.k1.astype(np.int64)
        # Each UE's reported BLER target, rounded to float32 once (see _build_reports).
        self._target_bler = cfg.target_bler.astype(np.float32).astype(np.float64)
        self._build_tb_lookups()
        self._init_harq()
        self.kpis = Kpis(n)
        self.slot = 0
        self.reports = self._build_reports()

    # -- set-up ----------------------------------------------------------------------------

    def _build_tb_lookups(self) -> None:
        """TBS, code blocks and code-block size per (UE, layers, MCS): ``(n, 4, 29)``."""
        prbs = self.cfg.ue_prbs.astype(np.int64)[:, None, None]
        layers = np.arange(1, MAX_LAYERS + 1)[None, :, None]
        qm = _QM[self._table][:, None, :]
        rate = _RATE[self._table][:, None, :]
        self.tbs_bits = tbs.transport_block_size(prbs, qm, rate, layers, symbols=PDSCH_SYMBOLS,
                                                 dmrs_re_per_prb=DMRS_RE_PER_PRB)
        num_cb, cb_bits = tbs.code_block_segmentation(self.tbs_bits, rate)
        # flat views, addressed by (ue * MAX_LAYERS + layers - 1) * NUM_ACTIONS + mcs
        self._tbs_flat = self.tbs_bits.ravel()
        self._num_cb_flat = num_cb.astype(np.float32).ravel()
        self._cb_bits_flat = cb_bits.astype(np.float32).ravel()

    def _init_harq(self) -> None:
        n, p = self.n, HARQ_PROCESSES
        # Process state as (n, 16) arrays, addressed through flat indices ue * 16 + process.
        self._proc_state = np.zeros(n * p, dtype=np.int8)
        self._proc_mcs = np.zeros(n * p, dtype=np.int64)
        self._proc_layers = np.ones(n * p, dtype=np.int64)
        self._proc_payload = np.zeros(n * p)
        self._proc_sinr = np.zeros(n * p, dtype=np.float32)  # combined effective SINR, linear
        self._proc_tx = np.zeros(n * p, dtype=np.int64)  # transmissions so far
        self._proc_slot = np.zeros(n * p, dtype=np.int64)  # slot of the last transmission
        self._proc_ok = np.zeros(n * p, dtype=bool)
        self._proc_base = self._rows * p
        self._feedback_ring = np.full((_FEEDBACK_RING, n), -1, dtype=np.int64)  # flat index
        h = HARQ_HISTORY
        # small integer types: these are pushed every slot for every UE
        self._hist_ack: IntArray = np.full((n, h), -1, dtype=np.int8)
        self._hist_mcs: IntArray = np.full((n, h), -1, dtype=np.int8)
        self._hist_slot: IntArray = np.zeros((n, h), dtype=np.int32)
        self._hist_initial: IntArray = np.full((n, h), -1, dtype=np.int8)
        self._window_total = np.zeros((KPM_WINDOW_SLOTS, n), dtype=np.int64)
        self._window_errors = np.zeros((KPM_WINDOW_SLOTS, n), dtype=np.int64)
        self._tb_total = np.zeros(n, dtype=np.int64)
        self._tb_errors = np.zeros(n, dtype=np.int64)
        self._last_mcs = np.full(n, -1, dtype=np.int64)

    # -- the gNB's view ----------------------------------------------------------------------

    def _build_reports(self) -> ReportBatch:
        cfg = self.cfg
        valid = self._hist_mcs >= 0
        buffer_bytes = np.minimum(self.traffic.buffer_bits / 8.0, _REPORTED_BUFFER_CAP_BYTES)
        return ReportBatch(
            mcs_table=cfg.mcs_table.astype(np.int64),
            cqi=self.csi.cqi,
            cqi_age=self.slot - self.csi.measured_slot,
            rank=self.csi.rank,
            # these arrays are replaced, never modified in place, so no copies are needed
            harq_ack=self._hist_ack,
            harq_mcs=self._hist_mcs,
            harq_age=np.where(valid, self.slot - self._hist_slot, 0),
            harq_initial=self._hist_initial,
            tb_total=self._tb_total,
            tb_errors=self._tb_errors,
            last_mcs=self._last_mcs,
            ss_sinr_db=self.channel.ss_sinr_db,
            ss_rsrp_dbm=self.channel.ss_rsrp_dbm,
            buffer_bytes=np.floor(buffer_bytes),
            prbs=cfg.ue_prbs.astype(np.int64),
            tx_antennas=cfg.tx_antennas.astype(np.int64),
            numerology=cfg.numerology.astype(np.int64),
            csi_period=cfg.csi_period.astype(np.int64),
            # float32 values, as the wire carries them: the emulator's service then
            # observes the very number the simulator does (log of the same float64).
            target_bler=self._target_bler,
            cqi_history_cqi=self.csi.history_cqi,
            cqi_history_age=np.where(self.csi.history_cqi >= 0,
                                     self.slot - self.csi.history_slot, NO_ENTRY),
        )

    def _states(self) -> npt.NDArray[np.int8]:
        return self._proc_state.reshape(self.n, HARQ_PROCESSES)

    def pending_retransmission(self) -> npt.NDArray[np.bool_]:
        """``(n,)``: UEs that retransmit this slot (the policy's MCS is not used)."""
        return np.asarray((self._states() == _AWAIT_RETX).any(axis=1))

    def needs_decision(self) -> npt.NDArray[np.bool_]:
        """``(n,)``: UEs that start a new transport block this slot if asked."""
        free = (self._states() == _FREE).any(axis=1)
        return ~self.pending_retransmission() & free & traffic.has_data(self.traffic)

    def reward_scale_bits(self) -> npt.NDArray[np.float64]:
        """``(n,)``: TBS at the table's top MCS on the reported rank (normalizes rewards)."""
        layers = np.minimum(self.csi.rank, self.channel.max_layers)
        return self.tbs_bits[self._rows, layers - 1, self.max_mcs].astype(np.float64)

    # -- one slot ------------------------------------------------------------------------------

    def step(self, mcs: npt.ArrayLike) -> SlotOutcome:
        """Transmit in the current slot with the given MCS per UE, then advance one slot.

        Args:
            mcs: ``(n,)`` int MCS index per UE; values above the UE's table maximum are
                clipped to it, negative values raise.

        Returns:
            The slot's :class:`SlotOutcome`.
        """
        action = np.asarray(mcs)
        if action.shape != (self.n,):
            raise ValueError(f"expected {self.n} MCS values, got shape {action.shape}")
        if np.any(action < 0):
            raise ValueError("MCS indices must be >= 0")
        outcome = self._transmit(np.minimum(action.astype(np.int64), self.max_mcs))
        self._advance()
        return outcome

    def _transmit(self, action: npt.NDArray[np.int64]) -> SlotOutcome:
        t = self.slot
        state = self._states()
        awaiting = state == _AWAIT_RETX
        retx = awaiting.any(axis=1)
        slots = self._proc_slot.reshape(self.n, HARQ_PROCESSES)
        retx_proc = np.argmin(np.where(awaiting, slots, np.iinfo(np.int64).max), axis=1)
        free = state == _FREE
        free_proc = np.argmax(free, axis=1)
        has_data = traffic.has_data(self.traffic)
        kp = self.kpis
        kp.active_slots += has_data | (state != _FREE).any(axis=1)
        base = self._proc_base
        new = ~retx & free.any(axis=1) & has_data
        tx = retx | new
        flat = base + np.where(retx, retx_proc, free_proc)
        layers = np.where(retx, self._proc_layers[flat],
                          np.minimum(self.csi.rank, self.channel.max_layers))
        mcs = np.where(retx, self._proc_mcs[flat], action)
        table_mcs = self._table * nr_tables.NUM_ACTIONS + mcs
        sinr = self.channel.sinr(layers)
        eff = bler.effective_sinr_linear(sinr, _BETA_FLAT32[table_mcs])
        combined = np.where(retx, self._proc_sinr[flat] + eff, eff)
        lut = (self._rows * MAX_LAYERS + layers - 1) * nr_tables.NUM_ACTIONS + mcs
        p_error = bler.tb_error_probability(10.0 * np.log10(combined), _SNR10_FLAT[table_mcs],
                                            self._cb_bits_flat[lut], self._num_cb_flat[lut])
        decoded = self._decode_rng.random(self.n, dtype=np.float32) >= p_error
        request = np.where(new, self._tbs_flat[lut], 0).astype(np.float64)
        granted = traffic.take(self.traffic, request)
        payload = np.where(retx, self._proc_payload[flat], granted)
        delivered = np.where(tx & decoded, payload, 0.0)

        f = flat[tx]
        self._proc_state[f] = _IN_FLIGHT
        self._proc_mcs[f] = mcs[tx]
        self._proc_layers[f] = layers[tx]
        self._proc_payload[f] = payload[tx]
        self._proc_sinr[f] = combined[tx]
        self._proc_tx[f] = np.where(retx[tx], self._proc_tx[f] + 1, 1)
        self._proc_slot[f] = t
        self._proc_ok[f] = decoded[tx]
        self._feedback_ring[t % _FEEDBACK_RING] = np.where(tx, flat, -1)
        self._last_mcs = np.where(new, mcs, self._last_mcs)

        kp.delivered_bits += delivered
        kp.first_tx += new
        kp.first_errors += new & ~decoded
        kp.retransmissions += retx
        kp.mcs_histogram += np.bincount(mcs[new], minlength=nr_tables.NUM_ACTIONS)
        kp.slots += 1
        return SlotOutcome(tx, new, mcs, decoded, delivered, np.where(tx, payload, 0.0))

    def _advance(self) -> None:
        self.slot += 1
        t = self.slot
        self.channel.advance()
        traffic.arrivals(self.traffic, self._traffic_rng, self._slot_s)
        self._receive_feedback(t)
        self.csi.step(t)
        self.reports = self._build_reports()

    def _receive_feedback(self, t: int) -> None:
        flat = self._feedback_ring[(t - self._k1) % _FEEDBACK_RING, self._rows]
        arrived = flat >= 0
        f = np.where(arrived, flat, 0)
        ack = self._proc_ok[f]
        initial = arrived & (self._proc_tx[f] == 1)
        self._hist_ack = _push(self._hist_ack, arrived, ack)
        self._hist_mcs = _push(self._hist_mcs, arrived, self._proc_mcs[f])
        self._hist_slot = _push(self._hist_slot, arrived, t)
        self._hist_initial = _push(self._hist_initial, arrived, initial)
        w = t % KPM_WINDOW_SLOTS
        errors = initial & ~ack
        self._tb_total = self._tb_total - self._window_total[w] + initial
        self._tb_errors = self._tb_errors - self._window_errors[w] + errors
        self._window_total[w] = initial
        self._window_errors[w] = errors
        rows = np.flatnonzero(arrived)
        f = f[rows]
        ok = ack[rows]
        exhausted = ~ok & (self._proc_tx[f] >= MAX_TRANSMISSIONS)
        self._proc_state[f] = np.where(ok | exhausted, _FREE, _AWAIT_RETX)
        if np.any(exhausted):
            lost = np.zeros(self.n)
            lost[rows[exhausted]] = self._proc_payload[f[exhausted]]
            traffic.give_back(self.traffic, lost)
            self.kpis.dropped_tbs[rows[exhausted]] += 1

    # -- oracle (for the genie baselines only) -------------------------------------------------

    def expected_goodput(self, sinr: npt.NDArray[np.float32] | None = None,
                         rows: npt.NDArray[np.int64] | None = None,
                         guess: npt.NDArray[np.int64] | None = None) -> npt.NDArray[np.float64]:
        """``(m, NUM_ACTIONS)``: bits a new TB with each MCS would deliver in expectation now.

        Without ``sinr``: on the true channel of the current slot, all UEs; only the
        genie baseline may call it that way. With ``sinr`` ``(m, s, NUM_SUBBANDS)``
        (per-layer SINR per sub-band, linear, ``s`` equally likely samples of the
        channel of ``rows``, on the reported rank): the mean over the samples. Invalid
        MCS of a UE's table get -1.

        ``guess`` ``(m,)``: an MCS per row, scored first (a good guess saves the most).
        An MCS whose transport block carries fewer bits than the guess delivers in
        expectation cannot beat it, so it is not scored and gets 0: the argmax is
        unchanged and the work shrinks.
        """
        idx = self._rows if rows is None else rows
        layers = np.minimum(self.csi.rank[idx], self.channel.max_layers[idx])
        if sinr is None:
            sinr = self.channel.sinr(layers, rows)[:, None, :]
        lut = (idx * MAX_LAYERS + layers - 1) * nr_tables.NUM_ACTIONS
        table, max_mcs = self._table[idx], self.max_mcs[idx]
        buffer_bits = self.traffic.buffer_bits[idx]
        budget = np.where(buffer_bits > 0, buffer_bits, 0.0)
        # sub-bands first and contiguous: what the EESM works on, laid out once for 29 MCS
        bands = np.ascontiguousarray(np.moveaxis(sinr, -1, 0))
        floor = None
        if guess is not None:
            first = np.minimum(guess, max_mcs)
            floor = np.minimum(self._tbs_flat[lut + first], budget) * self._mean_success(
                bands, table * nr_tables.NUM_ACTIONS + first, lut + first)
        out = np.full((idx.size, nr_tables.NUM_ACTIONS), -1.0)
        for m in range(nr_tables.NUM_ACTIONS):
            mcs = np.minimum(m, max_mcs)
            bits = np.minimum(self._tbs_flat[lut + mcs], budget)
            if floor is None:
                sel: slice | npt.NDArray[np.int64] = slice(None)
                score = np.ones(idx.size, dtype=bool)
            else:
                score = bits >= floor
                sel = np.flatnonzero(score)
                if sel.size == 0:
                    out[:, m] = np.where(m <= max_mcs, 0.0, -1.0)
                    continue
            success = self._mean_success(bands[:, sel], (table * nr_tables.NUM_ACTIONS + mcs)[sel],
                                         (lut + mcs)[sel])
            goodput = np.zeros(idx.size)
            goodput[sel] = bits[sel] * success
            out[:, m] = np.where(m <= max_mcs, np.where(score, goodput, 0.0), -1.0)
        return out

    def mcs_outcomes(self, rows: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.float32],
                                                              npt.NDArray[np.float32],
                                                              npt.NDArray[np.bool_]]:
        """Full-information labels of ``rows``: what a new TB of each MCS would do now.

        Only the label teacher's data collection may call it (it reads the true
        channel). Returns ``(m, NUM_ACTIONS)`` arrays: the bits the TB would deliver
        in expectation over :meth:`reward_scale_bits` (the reward's scale), its error
        probability, and whether the MCS is valid in the UE's table (where it is not,
        both labels are 0 and 1).
        """
        good = self.expected_goodput(rows=rows)
        valid = good >= 0
        layers = np.minimum(self.csi.rank[rows], self.channel.max_layers[rows])
        lut = (rows * MAX_LAYERS + layers - 1) * nr_tables.NUM_ACTIONS
        budget = np.maximum(self.traffic.buffer_bits[rows], 0.0)
        mcs = np.minimum(np.arange(nr_tables.NUM_ACTIONS)[None, :], self.max_mcs[rows][:, None])
        bits = np.minimum(self._tbs_flat[lut[:, None] + mcs], budget[:, None])
        good = np.maximum(good, 0.0)
        success = np.where(bits > 0, good / np.maximum(bits, 1e-9), 0.0)
        scale = self.reward_scale_bits()[rows]
        error = np.where(valid, 1.0 - np.minimum(success, 1.0), 1.0)
        return ((good / scale[:, None]).astype(np.float32), error.astype(np.float32), valid)

    def _mean_success(self, bands: npt.NDArray[np.float32], table_mcs: npt.NDArray[np.int64],
                      lut: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """``(k,)`` decoding probability of a new TB, mean over the samples.

        ``bands`` ``(NUM_SUBBANDS, k, s)`` SINR; ``table_mcs`` and ``lut`` ``(k,)``.
        """
        eff_db = bler.effective_sinr_db(np.moveaxis(bands, 0, -1), _BETA_FLAT32[table_mcs][:, None])
        p_error = bler.tb_error_probability(eff_db, _SNR10_FLAT[table_mcs][:, None],
                                            self._cb_bits_flat[lut][:, None],
                                            self._num_cb_flat[lut][:, None])
        return np.asarray(1.0 - p_error.mean(axis=1))
