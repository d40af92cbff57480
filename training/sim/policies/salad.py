r"""SALAD: self-adaptive link adaptation from ACK/NACK alone.

After R. Wiesmayr, L. Maggi, S. Cammerer, J. Hoydis, F. Ait Aoudia, A. Keller,
"SALAD: Self-Adaptive Link Adaptation", arXiv:2510.05784, 2025. The paper's three
parts, and how each is written here (per UE, vectorized over UEs):

1. **SINR inference by online cross-entropy minimisation.** The SINR estimate
   :math:`\hat\gamma` (dB) takes one gradient step on the cross-entropy between
   each initial transmission's outcome :math:`n \in \{0, 1\}` (1 = NACK) and the
   BLER the known curves predict for that TB's MCS :math:`m` at :math:`\hat\gamma`,
   :math:`p = P_m(\hat\gamma)`. With the logistic waterfall :math:`p = \sigma(-x)`,
   :math:`x = (\hat\gamma - \gamma_{50,m}) / s_m`, the gradient in :math:`x` is
   :math:`n - p`, and the step

   .. math:: \hat\gamma \leftarrow \hat\gamma + \eta\,(p - n)

   moves the estimate up on an ACK the model thought likely to fail and down on
   a NACK it thought likely to pass; in the long run the predicted and observed
   NACK rates agree. The known curves :math:`P_m` are built from the simulator's
   own model (:class:`BlerCurves`: the 10%-BLER point of each transport block from
   :mod:`training.sim.bler`, with code blocks from each UE's PRBs, rank and MCS
   table), where the paper fits sigmoids to link-level tables. Constants:
   :math:`\eta` = 1 dB, loop gain :math:`k` = 0.03, test size :math:`\alpha` = 0.05.
2. **MCS selection with a hypothesis test.** The MCS is the highest with
   :math:`P_m(\hat\gamma) \le \tau` (instantaneous target :math:`\tau`). Under
   :math:`H_0`: ":math:`\hat\gamma` is right", the run of ACKs since the last NACK
   has likelihood :math:`\prod_i (1 - \min(p_i, 0.99))` (:math:`p_i` evaluated when
   each ACK arrives); when it falls below :math:`\alpha`,
   :math:`H_0` is rejected (the SINR is likely underestimated) and the next higher
   MCS is sent once as a probe, which speeds up tracking of an improving link.
3. **Feedback loop on the BLER target.** The instantaneous target follows the
   long-run BLER error, integral action in the log domain, on each feedback:

   .. math:: \ln\tau \leftarrow \ln\tau + k\,\frac{T - n}{T},
             \qquad \tau \in [T/20,\ 0.7]

   so that, while :math:`\tau` stays inside its range, the long-run NACK rate
   of initial transmissions equals the target :math:`T` (the sum of the steps
   stays bounded).

Deviations from the paper (its abstract and the authors' summary were at hand,
not its equations: the forms of the test and of the loop above are ours):

* The learning rate :math:`\eta` is fixed (1 dB per unit of the gradient);
  the paper adapts it online by distilling from a hindsight "teacher" estimator.
* The simulator's curves are AWGN waterfalls, far steeper (0.05-0.9 dB from 90%
  to 10% BLER) than curves fitted over the air. On them the gradient is a step
  function and the estimate jumps between two points around an MCS threshold,
  so the known curves keep the simulator's 10%-BLER point of each transport
  block but widen its span by a 4 dB "fading span" (:class:`BlerCurves`): the
  short-term SINR spread that a slowly tracked estimate cannot follow.
* Probing: the test's statistic uses the clipped :math:`p_i \le 0.99` so that one
  ACK of a hopeless probe cannot reject :math:`H_0` on its own; a probe is the
  next MCS, sent once, after which the run starts again.
* The feedback loop does not integrate ACKs at the table's top MCS (anti-windup:
  they say nothing about a higher target), and :math:`\tau \in [T/20, 0.7]`.
* The estimate starts at the first report's CQI SINR (the paper's initial
  value is a free parameter); afterwards CQI is not used.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from training.sim import bler, tbs
from training.sim.config import DMRS_RE_PER_PRB, MAX_LAYERS, PDSCH_SYMBOLS
from training.sim.link import LinkSimulator
from training.sim.policies.base import BLER_TARGET, check_target, initial_feedback
from training.sim.policies.olla import cqi_sinr_db
from xapp import nr_tables
from xapp.features import IntArray, ReportBatch

LEARNING_RATE_DB: Final = 1.0
LOOP_GAIN: Final = 0.03
PROBE_ALPHA: Final = 0.05  # size of the underestimation test
FADING_SPAN_DB: Final = 4.0
_LDPC_BLOCK_BITS: Final = (24.0, 8448.0)  # code-block sizes bler clips to (TS 38.212 5.2.2)
_LN9: Final = float(np.log(9.0))
_P_MAX: Final = 0.99  # one ACK of a hopeless probe must not reject H0 on its own


# (2, 29) Qm, rate x 1024 and 10%-BLER SNR per table and MCS, as the simulator has them
_QM, _RATE, _SNR10, _ = bler.table_lookups()


class BlerCurves:
    r"""The per-UE, per-MCS BLER curves SALAD treats as known.

    Each curve is a logistic in dB through the simulator's own 10%-BLER point of
    that transport block, :math:`\gamma_{10}` (:mod:`training.sim.bler`: AWGN
    threshold, finite-length shift of the code block, ``C`` code blocks), with a
    90%-to-10% span widened from the simulator's waterfall span to
    :math:`S = \sqrt{\mathrm{span}^2 + F^2}` (``fading_span_db`` = F):

    .. math:: P_m(\gamma) = \sigma\big(-(\gamma - \gamma_{10})\,2\ln 9 / S - \ln 9\big)

    :math:`\gamma_{10}` is made non-decreasing in MCS, so a higher MCS never looks
    easier (the raw model may swap adjacent MCS by a hair where the LDPC base
    graph changes). Code blocks depend on PRBs, layers and MCS table; the
    ``(n, 4, 29)`` lookups are computed once, and again only when a UE's PRBs or
    table change.
    """

    def __init__(self, fading_span_db: float) -> None:
        self.fading_span_db = fading_span_db
        self._key: tuple[IntArray, IntArray] = (np.zeros(0, dtype=np.int64),
                                                np.zeros(0, dtype=np.int64))
        self.snr10 = np.zeros((0, MAX_LAYERS, nr_tables.NUM_ACTIONS))
        self.slope = np.zeros_like(self.snr10)  # 2 ln 9 / S, per dB
        self._layer = np.zeros(0, dtype=np.int64)
        self._snr10_now = np.zeros((0, nr_tables.NUM_ACTIONS))
        self._slope_now = np.zeros_like(self._snr10_now)

    def refresh(self, reports: ReportBatch) -> None:
        """Recompute the lookups if the UEs' PRBs or MCS tables changed."""
        prbs, table = np.asarray(reports.prbs), np.asarray(reports.mcs_table)
        if np.array_equal(prbs, self._key[0]) and np.array_equal(table, self._key[1]):
            return
        row = table - 1
        layers = np.arange(1, MAX_LAYERS + 1)[None, :, None]
        size = tbs.transport_block_size(prbs[:, None, None], _QM[row][:, None, :],
                                        _RATE[row][:, None, :], layers, symbols=PDSCH_SYMBOLS,
                                        dmrs_re_per_prb=DMRS_RE_PER_PRB)
        num_cb, cb_bits = tbs.code_block_segmentation(size, _RATE[row][:, None, :])
        k = np.clip(cb_bits.astype(np.float64), *_LDPC_BLOCK_BITS)
        span = bler.waterfall_span_db(k)
        cb_snr10 = _SNR10[row][:, None, :] + bler.SHIFT_C_DB * (
            1.0 / np.sqrt(k) - 1.0 / np.sqrt(bler.CALIBRATION_BLOCK_BITS))
        # The TB fails with 10% when each of its C blocks fails with 1 - 0.9^(1/C).
        p_cb = -np.expm1(np.log(0.9) / np.maximum(num_cb, 1))
        scale = span / (2.0 * _LN9)
        tb_snr10 = cb_snr10 + scale * (np.log((1.0 - p_cb) / p_cb) - _LN9)
        self.snr10 = np.maximum.accumulate(tb_snr10, axis=2)
        self.slope = 2.0 * _LN9 / np.sqrt(span**2 + self.fading_span_db**2)
        self._key = (prbs.copy(), table.copy())
        self._layer = np.full(len(prbs), -1)
        self._snr10_now = np.zeros((len(prbs), nr_tables.NUM_ACTIONS))
        self._slope_now = np.zeros_like(self._snr10_now)

    def _on_rank(self, reports: ReportBatch) -> tuple[npt.NDArray[np.float64], ...]:
        """``(n, 29)`` 10% points and slopes on each UE's reported rank, cached by rank."""
        layer = np.minimum(reports.rank, MAX_LAYERS) - 1
        changed = np.flatnonzero(layer != self._layer)
        if changed.size:  # ranks change rarely: gather only the rows that changed
            self._snr10_now[changed] = self.snr10[changed, layer[changed]]
            self._slope_now[changed] = self.slope[changed, layer[changed]]
            self._layer = np.asarray(layer).copy()
        return self._snr10_now, self._slope_now

    def _at(self, sinr_db: npt.NDArray[np.float64], snr10: npt.NDArray[np.float64],
            slope: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        x = np.clip((sinr_db - snr10) * slope + _LN9, -50.0, 50.0)
        return np.asarray(1.0 / (1.0 + np.exp(x)), dtype=np.float64)

    def all_mcs(self, sinr_db: npt.NDArray[np.float64], reports: ReportBatch
                ) -> npt.NDArray[np.float64]:
        """``(n, 29)`` predicted BLER of every MCS at ``sinr_db`` on each UE's reported rank."""
        snr10, slope = self._on_rank(reports)
        return self._at(sinr_db[:, None], snr10, slope)

    def sinr_at(self, bler_level: npt.NDArray[np.float64], reports: ReportBatch
                ) -> npt.NDArray[np.float64]:
        """``(n, 29)`` SINR (dB) at which each MCS reaches BLER ``bler_level[i]``."""
        snr10, slope = self._on_rank(reports)
        logit = np.log((1.0 - bler_level) / bler_level) - _LN9
        return np.asarray(snr10 + logit[:, None] / slope)

    def one_mcs(self, sinr_db: npt.NDArray[np.float64], mcs: npt.NDArray[np.int64],
                reports: ReportBatch) -> npt.NDArray[np.float64]:
        """``(n,)`` predicted BLER of MCS ``mcs[i]`` at ``sinr_db[i]``."""
        snr10, slope = self._on_rank(reports)
        rows = np.arange(len(reports))
        return self._at(sinr_db, snr10[rows, mcs], slope[rows, mcs])


class Salad:
    """SALAD at first-transmission BLER target ``target`` (see the module docstring)."""

    def __init__(self, target: float = BLER_TARGET, learning_rate_db: float = LEARNING_RATE_DB,
                 loop_gain: float = LOOP_GAIN, alpha: float = PROBE_ALPHA,
                 fading_span_db: float = FADING_SPAN_DB) -> None:
        self.target = check_target(target)
        self.eta, self.gain, self.log_alpha = learning_rate_db, loop_gain, float(np.log(alpha))
        self.tau_range = (self.target / 20.0, 0.7)
        self.name = f"salad:{target:g}"
        self.curves = BlerCurves(fading_span_db)
        self.reset(0)

    def reset(self, n: int) -> None:
        """Forget every UE: no SINR estimate yet, instantaneous target on the target."""
        self.sinr_db = np.full(n, np.nan)
        self.tau = np.full(n, self.target)
        self.run_loglik = np.zeros(n)  # ln P(ACK run since the last NACK or probe | H0)

    def _learn(self, reports: ReportBatch) -> None:
        """Cross-entropy step, test statistic and target loop for this slot's feedback."""
        fb = initial_feedback(reports)
        p = self.curves.one_mcs(self.sinr_db, fb.mcs, reports)
        nack = fb.nack.astype(np.float64)
        self.sinr_db = np.where(fb.fresh, self.sinr_db + self.eta * (p - nack), self.sinr_db)
        # H0 "the estimate is right": the run of ACKs since the last NACK has likelihood
        # prod(1 - p_i) under it; one NACK ends the run.
        run_step = np.log1p(-np.minimum(p, _P_MAX))
        self.run_loglik = np.where(fb.nack, 0.0,
                                   self.run_loglik + np.where(fb.fresh, run_step, 0.0))
        t = self.target
        # Anti-windup: an ACK at the table's top MCS says nothing about a higher target.
        top = nr_tables.max_mcs(reports.mcs_table)
        counts = fb.fresh & (fb.nack | (fb.mcs < top))
        log_tau = np.log(self.tau) + np.where(counts, self.gain * (t - nack) / t, 0.0)
        self.tau = np.clip(np.exp(log_tau), *self.tau_range)

    def _choose(self, reports: ReportBatch) -> npt.NDArray[np.int64]:
        """Highest MCS whose predicted BLER is within tau; the next one where H0 is rejected."""
        top = nr_tables.max_mcs(reports.mcs_table)
        # P_m(sinr) <= tau  <=>  sinr >= the SINR where MCS m reaches tau (no exp needed)
        needed = self.curves.sinr_at(self.tau, reports)
        fits = ((needed <= self.sinr_db[:, None])
                & (np.arange(nr_tables.NUM_ACTIONS) <= top[:, None]))
        # the highest MCS that fits (MCS 0 if none does)
        mcs = np.where(fits.any(axis=1), fits.shape[1] - 1 - np.argmax(fits[:, ::-1], axis=1), 0)
        probe = self.run_loglik < self.log_alpha
        self.run_loglik = np.where(probe, 0.0, self.run_loglik)
        return np.where(probe, np.minimum(mcs + 1, top), mcs).astype(np.int64)

    def act(self, reports: ReportBatch, sim: LinkSimulator) -> npt.NDArray[np.int64]:
        """Learn from this slot's ACK/NACKs, then choose each UE's MCS."""
        if self.sinr_db.shape != (len(reports),):
            self.reset(len(reports))
        self.curves.refresh(reports)
        start = np.isnan(self.sinr_db)
        if start.any():  # first report: start from the CQI (lowest threshold for CQI 0)
            sinr0 = np.maximum(cqi_sinr_db(reports), _SNR10[:, 0].min() - 3.0)
            self.sinr_db = np.where(start, sinr0, self.sinr_db)
        self._learn(reports)
        return self._choose(reports)
