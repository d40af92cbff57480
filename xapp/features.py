"""KPM report -> observation vector: THE train/serve contract.

The simulator builds a :class:`~xapp.report_batch.ReportBatch` straight from its
state, the service builds one from gRPC or JSON reports; both call :func:`observe`
(the one-UE path of :mod:`xapp.single_ue` computes the same row from Python
scalars). The report fields themselves are :data:`xapp.report_fields.FIELDS`.
Nothing the gNB could not know reaches the policy: every column below is a field
of ``proto/linkadapt/v1/linkadapt.proto`` (see that file for the KPM names).

Any change to the columns, to :data:`FEATURE_NAMES` or to how :func:`observe`
computes them bumps :data:`FEATURE_SCHEMA_VERSION`; models carry the version
they were trained against in their model card and the registry refuses others.

Observation (float32, one row per UE; natural units, the models normalize):

==  ==========================  ====================================================
#   name                        definition
==  ==========================  ====================================================
0   cqi                         wideband CQI, 0..15
1   cqi_efficiency              spectral efficiency of that CQI (bit/s/Hz/layer)
2   cqi_mcs                     MCS the CQI maps to (:func:`xapp.nr_tables.cqi_to_mcs`)
3   log_cqi_age                 ln(1 + CQI age in slots)
4   table_qam256                1 if MCS table 2 (256QAM) else 0
5   rank                        rank indicator, 1..8
6   ss_sinr_db                  SS-SINR, dB (10 dB when absent)
7   has_ss_sinr                 1 if SS-SINR present
8   ss_rsrp_dbm                 SS-RSRP, dBm (-100 dBm when absent)
9   has_ss_rsrp                 1 if SS-RSRP present
10  log_buffer                  log10(1 + buffer bytes)
11  last_mcs_delta              last initial MCS - cqi_mcs (0 when absent)
12  has_last_mcs                1 if the UE has been scheduled before
13  window_bler                 initial-TB errors / initial TBs in the KPM window
14  log_window_tbs              ln(1 + initial TBs in the KPM window)
15  harq_ack_0..7               +1 ACK, -1 NACK, 0 no entry; most recent first
23  harq_mcs_delta_0..7         MCS of that TB - cqi_mcs (0 no entry)
31  log_harq_age_0..7           ln(1 + age in slots) (ln(1 + 1000) no entry)
39  log2_tx_antennas            log2 of gNB TX antenna ports
40  numerology                  mu
41  log2_csi_period             log2 of CSI report period in slots
42  log_prbs                    ln(1 + allocated PRBs)
43  log_target_bler             ln(first-transmission BLER target), since version 2
==  ==========================  ====================================================

Version 2 added ``log_target_bler``: the operator's target travels with the report
and the policy serves it. :func:`observe` needs it filled in (no NaN): the decision
core puts the service's default target where a report has none
(:meth:`xapp.core.DecisionCore.decide`), the simulator reports each UE's own.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from xapp import nr_tables
from xapp.report_batch import IntArray, ReportBatch, ReportError, validate
from xapp.report_fields import (
    CSI_PERIODS_SLOTS,
    HARQ_HISTORY,
    MAX_NUMEROLOGY,
    MAX_PRBS,
    MAX_TX_ANTENNAS,
)
from xapp.report_records import batch_from_records, ue_ids_from_records

__all__ = [
    "CSI_PERIODS_SLOTS", "FEATURE_NAMES", "FEATURE_SCHEMA_VERSION", "HARQ_HISTORY",
    "KPM_WINDOW_SLOTS", "MAX_NUMEROLOGY", "MAX_PRBS", "MAX_TX_ANTENNAS", "NUM_FEATURES",
    "IntArray", "ReportBatch", "ReportError", "batch_from_records", "observe",
    "ue_ids_from_records", "validate",
]

FEATURE_SCHEMA_VERSION: Final = 2
KPM_WINDOW_SLOTS: Final = 100
"""Window of the ``tb_initial_total`` / ``tb_initial_errors`` counters, in slots."""

ABSENT_SINR_DB: Final = 10.0
ABSENT_RSRP_DBM: Final = -100.0
ABSENT_HARQ_AGE: Final = 1000.0
"""The feature values of an absent SS-SINR, SS-RSRP and HARQ entry (age in slots)."""

FEATURE_NAMES: Final[tuple[str, ...]] = (
    "cqi",
    "cqi_efficiency",
    "cqi_mcs",
    "log_cqi_age",
    "table_qam256",
    "rank",
    "ss_sinr_db",
    "has_ss_sinr",
    "ss_rsrp_dbm",
    "has_ss_rsrp",
    "log_buffer",
    "last_mcs_delta",
    "has_last_mcs",
    "window_bler",
    "log_window_tbs",
    *(f"harq_ack_{i}" for i in range(HARQ_HISTORY)),
    *(f"harq_mcs_delta_{i}" for i in range(HARQ_HISTORY)),
    *(f"log_harq_age_{i}" for i in range(HARQ_HISTORY)),
    "log2_tx_antennas",
    "numerology",
    "log2_csi_period",
    "log_prbs",
    "log_target_bler",
)
NUM_FEATURES: Final = len(FEATURE_NAMES)


_ABSENT_SS: Final = np.array([[ABSENT_SINR_DB], [ABSENT_RSRP_DBM]])
_F64: Final = np.float64
# Flat lookup tables indexed by (mcs_table - 1) * _CQI_ROWS + cqi.
_CQI_ROWS: Final = nr_tables.CQI_TO_MCS.shape[1]
_CQI_MCS_FLAT: Final = nr_tables.CQI_TO_MCS.ravel().astype(np.int16)
_CQI_EFFICIENCY_FLAT: Final = nr_tables.CQI_EFFICIENCY.ravel().astype(np.float32)
# ln(1 + age) of small HARQ ages, by the ufunc loop observe would run (float64).
_LOG_AGE: Final = np.log1p(np.arange(4096, dtype=np.float64)).astype(np.float32)
# log2 and ln(1 + x) of every uint16 value, likewise: the wire's small columns index them.
with np.errstate(divide="ignore"):  # log2(0) = -inf, as observe would compute it
    _LOG2_U16: Final = np.log2(np.arange(1 << 16, dtype=np.float64)).astype(np.float32)
_LOG1P_U16: Final = np.log1p(np.arange(1 << 16, dtype=np.float64)).astype(np.float32)
# A numpy scalar: np.where then widens an int8 or int16 history instead of wrapping 1000.
_ABSENT_AGE_INT: Final = np.int32(ABSENT_HARQ_AGE)
# From this many UEs on, observe writes feature rows contiguously and transposes once,
# and looks HARQ ages up; below, the per-call overhead of those extra steps dominates.
_ROWS_FIRST_FROM: Final = 256
for _table in (_CQI_MCS_FLAT, _CQI_EFFICIENCY_FLAT, _LOG_AGE, _LOG2_U16, _LOG1P_U16):
    _table.setflags(write=False)


def _log_column(table: npt.NDArray[np.float32], log: np.ufunc, column: IntArray,
                out: npt.NDArray[np.float32], n: int) -> None:
    """Write ``log(column)`` (computed in float64) to ``out``; by table for large wire columns.

    The wire's uint8 and uint16 columns cannot index past a table of every uint16
    value; a lookup costs half the logarithm on 1000 UEs (and gives its very values).
    """
    if n >= _ROWS_FIRST_FROM and column.dtype.kind == "u" and column.dtype.itemsize <= 2:
        table.take(column, out=out)
    else:
        log(column, out=out, dtype=_F64)


def observe(batch: ReportBatch) -> npt.NDArray[np.float32]:
    """Build the ``(n, NUM_FEATURES)`` float32 observation matrix of a report batch.

    The batch must be valid (:func:`validate`); its integer columns may have any
    integer dtype (the wire's ``uint8``, ``int32`` ... or ``int64``). This runs on
    every decision, so it spends as few numpy calls as it can (each has a fixed
    cost, docs/benchmarks.md). From :data:`_ROWS_FIRST_FROM` UEs on it writes the
    features as the rows of a ``(NUM_FEATURES, n)`` array, where every write is
    contiguous, and transposes once at the end; smaller batches are written in
    place. Every value is computed by the same ufunc loop (float64 for the
    logarithms, whatever the input's dtype; exact integer arithmetic elsewhere) as
    the plain one-column-at-a-time definition in the table above, so the output is
    bit-identical to it (``tests/xapp/test_features_fast.py`` checks that).
    """
    n = len(batch)
    if n < _ROWS_FIRST_FROM:
        obs = np.empty((n, NUM_FEATURES), dtype=np.float32)
        rows = obs.T  # a view: each feature is written in place, strided
    else:
        rows = np.empty((NUM_FEATURES, n), dtype=np.float32)
    table, cqi = batch.mcs_table, batch.cqi
    lookup = (table - 1) * _CQI_ROWS + cqi
    cqi_mcs = _CQI_MCS_FLAT.take(lookup)
    rows[0] = cqi
    _CQI_EFFICIENCY_FLAT.take(lookup, out=rows[1])
    rows[2] = cqi_mcs
    np.log1p(batch.cqi_age, out=rows[3], dtype=_F64)
    np.subtract(table, 1, out=rows[4], casting="unsafe")
    rows[5] = batch.rank
    # SS-SINR and SS-RSRP: the value where present, the absent default where NaN.
    rows[6] = batch.ss_sinr_db
    rows[8] = batch.ss_rsrp_dbm
    ss = rows[6:10:2]
    present = ss == ss
    rows[7:10:2] = present
    np.copyto(ss, _ABSENT_SS, where=~present, casting="unsafe")
    np.log10(1.0 + batch.buffer_bytes, out=rows[10])
    last = batch.last_mcs
    has_last = last >= 0
    np.multiply(last - cqi_mcs, has_last, out=rows[11], casting="unsafe")
    rows[12] = has_last
    np.divide(batch.tb_errors, np.maximum(batch.tb_total, 1), out=rows[13], dtype=_F64)
    np.log1p(batch.tb_total, out=rows[14], dtype=_F64)
    h = HARQ_HISTORY
    valid = batch.harq_mcs >= 0
    # Unused history slots hold anything: multiplying by `valid` zeroes them.
    rows[15 : 15 + h] = ((2 * batch.harq_ack - 1) * valid).T
    rows[15 + h : 15 + 2 * h] = ((batch.harq_mcs - cqi_mcs[:, None]) * valid).T
    ages = np.where(valid, batch.harq_age, _ABSENT_AGE_INT)
    if (n >= _ROWS_FIRST_FROM and ages.dtype.kind in "iu" and 0 <= ages.min()
            and ages.max() < _LOG_AGE.size):
        rows[15 + 2 * h : 15 + 3 * h] = _LOG_AGE.take(ages.T)
    else:
        rows[15 + 2 * h : 15 + 3 * h] = np.log1p(ages.T, dtype=_F64)
    _log_column(_LOG2_U16, np.log2, batch.tx_antennas, rows[39], n)
    rows[40] = batch.numerology
    _log_column(_LOG2_U16, np.log2, batch.csi_period, rows[41], n)
    _log_column(_LOG1P_U16, np.log1p, batch.prbs, rows[42], n)
    np.log(batch.target_bler, out=rows[43], dtype=_F64)
    return obs if n < _ROWS_FIRST_FROM else np.ascontiguousarray(rows.T)
