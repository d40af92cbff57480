"""KPM report -> observation vector: THE train/serve contract.

The simulator builds a :class:`ReportBatch` straight from its state, the service
builds one from gRPC or JSON reports; both call :func:`observe`. Nothing the gNB
could not know reaches the policy: every column below is a field of
``proto/linkadapt/v1/linkadapt.proto`` (see that file for the KPM names).

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
==  ==========================  ====================================================
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from xapp import nr_tables

IntArray = npt.NDArray[np.integer[Any]]
"""Integer columns: any integer dtype (the simulator keeps the HARQ history in int8)."""

FEATURE_SCHEMA_VERSION: Final = 1
HARQ_HISTORY: Final = 8
"""HARQ feedbacks a report carries, most recent first."""
KPM_WINDOW_SLOTS: Final = 100
"""Window of the ``tb_initial_total`` / ``tb_initial_errors`` counters, in slots."""

CSI_PERIODS_SLOTS: Final = (4, 5, 8, 10, 16, 20, 40, 80, 160, 320)
"""TS 38.331 CSI-ReportPeriodicityAndOffset."""
MAX_PRBS: Final = 275  # TS 38.101-1 Table 5.3.2-1: at most 273 PRBs; headroom of the field
MAX_TX_ANTENNAS: Final = 64
MAX_NUMEROLOGY: Final = 4  # TS 38.211 Table 4.2-1: mu = 0..4 for data channels

_ABSENT_SINR_DB: Final = 10.0
_ABSENT_RSRP_DBM: Final = -100.0
_ABSENT_HARQ_AGE: Final = 1000.0

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
)
NUM_FEATURES: Final = len(FEATURE_NAMES)


class ReportError(ValueError):
    """A report field is missing or out of range.

    Attributes:
        field: the offending field, in proto naming (``harq[2].mcs`` for entries).
        ue_index: position of the report in its batch.
        reason: what is wrong, for people.

    """

    def __init__(self, field: str, ue_index: int, reason: str) -> None:
        self.field = field
        self.ue_index = ue_index
        self.reason = reason
        super().__init__(f"reports[{ue_index}].{field}: {reason}")


@dataclass(frozen=True, slots=True)
class ReportBatch:
    """Columnar batch of UE reports: one row per UE, one array per proto field.

    Absent optional values are encoded in-band: NaN for SS-SINR / SS-RSRP, -1 for
    ``last_mcs`` and for unused HARQ history slots.
    """

    mcs_table: IntArray  # (n,) 1 or 2
    cqi: IntArray  # (n,) 0..15
    cqi_age: IntArray  # (n,) slots
    rank: IntArray  # (n,) 1..8
    harq_ack: IntArray  # (n, HARQ_HISTORY) 1 ACK, 0 NACK, -1 none
    harq_mcs: IntArray  # (n, HARQ_HISTORY) MCS index, -1 none
    harq_age: IntArray  # (n, HARQ_HISTORY) slots since arrival
    harq_initial: IntArray  # (n, HARQ_HISTORY) 1 initial TX, 0 retx
    tb_total: IntArray  # (n,) initial TBs in the KPM window
    tb_errors: IntArray  # (n,) of which NACKed
    last_mcs: IntArray  # (n,) -1 when absent
    ss_sinr_db: npt.NDArray[np.float64]  # (n,) dB, NaN when absent
    ss_rsrp_dbm: npt.NDArray[np.float64]  # (n,) dBm, NaN when absent
    buffer_bytes: npt.NDArray[np.float64]  # (n,) bytes
    prbs: IntArray  # (n,) allocated PRBs
    tx_antennas: IntArray  # (n,)
    numerology: IntArray  # (n,)
    csi_period: IntArray  # (n,) slots

    def __len__(self) -> int:
        return int(self.cqi.shape[0])

    def take(self, index: npt.ArrayLike) -> ReportBatch:
        """Return the rows selected by ``index`` (a boolean mask or integer indices)."""
        return ReportBatch(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


_ABSENT_SS: Final = np.array([[_ABSENT_SINR_DB], [_ABSENT_RSRP_DBM]])
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
_ABSENT_AGE_INT: Final = np.int32(_ABSENT_HARQ_AGE)
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
    cost, docs/benchmarks.md). From :data:`_ROWS_FIRST_FROM` UEs on
    it writes the features as the rows of a ``(NUM_FEATURES, n)`` array, where
    every write is contiguous, and transposes once at the end (faster for large
    batches, docs/benchmarks.md); smaller batches are written in place. Every value is computed by
    the same ufunc loop (float64 for the logarithms, whatever the input's dtype;
    exact integer arithmetic elsewhere) as the plain one-column-at-a-time
    definition in the table above, so the output is bit-identical to it
    (``tests/xapp/test_features_fast.py`` checks that).
    """
    n = len(batch)
    if n < _ROWS_FIRST_FROM:
        obs = np.empty((n, NUM_FEATURES), dtype=np.float32)
        rows = obs.T  # a view: each feature is written in place, strided
    else:
        rows = np.empty((NUM_FEATURES, n), dtype=np.float32)
    table = batch.mcs_table
    cqi = batch.cqi
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
    return obs if n < _ROWS_FIRST_FROM else np.ascontiguousarray(rows.T)


# ---------------------------------------------------------------------------
# Validation and construction from records (JSON / proto adapters)
# ---------------------------------------------------------------------------

_REQUIRED_INT_FIELDS: Final = (
    # proto name, column, lowest, highest
    ("wideband_cqi", "cqi", 0, nr_tables.MAX_CQI),
    ("cqi_age_slots", "cqi_age", 0, 1_000_000),
    ("rank_indicator", "rank", 1, 8),
    ("tb_initial_total", "tb_total", 0, 1_000_000),
    ("tb_initial_errors", "tb_errors", 0, 1_000_000),
    ("allocated_prbs", "prbs", 1, MAX_PRBS),
    ("num_tx_antennas", "tx_antennas", 1, MAX_TX_ANTENNAS),
    ("numerology", "numerology", 0, MAX_NUMEROLOGY),
)


# The range checks of the fast path, on all these columns at once:
# (column, lowest, highest); csi_period and last_mcs get their exact check after.
_FAST_RANGES: Final = (
    ("mcs_table", nr_tables.QAM64, nr_tables.QAM256),
    *((column, lo, hi) for _, column, lo, hi in _REQUIRED_INT_FIELDS),
    ("csi_period", min(CSI_PERIODS_SLOTS), max(CSI_PERIODS_SLOTS)),
    ("last_mcs", -1, int(nr_tables.MAX_MCS.max())),
)
_FAST_COLUMNS: Final = tuple(column for column, _, _ in _FAST_RANGES)
_FAST_LO: Final = np.array([lo for _, lo, _ in _FAST_RANGES], dtype=np.int64)
_FAST_HI: Final = np.array([hi for _, _, hi in _FAST_RANGES], dtype=np.int64)
_CSI_PERIOD_OK: Final = np.isin(np.arange(max(CSI_PERIODS_SLOTS) + 1), CSI_PERIODS_SLOTS)
# int8: compared with the wire's int8 HARQ MCS column, no operand is widened to int64.
_MAX_MCS_I8: Final = nr_tables.MAX_MCS.astype(np.int8)
_MIN_TOP_MCS: Final = int(nr_tables.MAX_MCS.min())
_LAST_MCS_ROW: Final = _FAST_COLUMNS.index("last_mcs")
_UNSIGNED: Final = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def validate(batch: ReportBatch) -> None:
    """Raise :class:`ReportError` for the first out-of-range value (by UE, then field).

    Batches built by :func:`batch_from_records` are already valid; this is for
    batches assembled elsewhere (the gRPC adapter, the simulator, tests). It runs
    on every decision request: a valid batch passes a check of a few vectorized
    operations over all columns at once; only a batch that fails it is searched
    for the first bad value, field by field.
    """
    if _looks_valid(batch):
        return
    _raise_first_problem(batch)


def _looks_valid(batch: ReportBatch) -> bool:
    """Return True only if :func:`_raise_first_problem` would find nothing.

    False may be a false alarm (a dtype numpy cannot compare, say); the caller then
    runs the field-by-field search, which has the last word. Each numpy call here
    costs a pass over the batch, so the common case is answered by reductions: an MCS
    index is checked against its report's table only when one exceeds the top MCS
    of the smaller table, which few reports come near.
    """
    n = len(batch)
    if n == 0:
        return True
    try:
        values = np.concatenate([getattr(batch, c) for c in _FAST_COLUMNS]).reshape(-1, n)
        # Per column (contiguous rows): faster than comparing every value with its bound.
        highest = values.max(axis=1)
        if (values.min(axis=1) < _FAST_LO).any() or (highest > _FAST_HI).any():
            return False
        # Every range is now known to be good: table lookups cannot go out of bounds.
        harq_mcs = batch.harq_mcs
        ack = batch.harq_ack
        if harq_mcs.min() < -1:
            return False
        if highest[_LAST_MCS_ROW] > _MIN_TOP_MCS or harq_mcs.max() > _MIN_TOP_MCS:
            max_mcs = _MAX_MCS_I8[batch.mcs_table - 1]
            if (batch.last_mcs > max_mcs).any() or (harq_mcs > max_mcs[:, None]).any():
                return False
        # An ack outside {0, 1} is above 1 as unsigned (int8 -1 reads 255).
        bad_ack = ack.view(_UNSIGNED[ack.dtype.itemsize]) > 1
        buffer = batch.buffer_bytes
        return not (
            (batch.tb_errors > batch.tb_total).any()
            or not _CSI_PERIOD_OK[batch.csi_period].all()
            or ((harq_mcs >= 0) & ((batch.harq_age < 0) | bad_ack)).any()
            or np.isinf(batch.ss_sinr_db).any()
            or np.isinf(batch.ss_rsrp_dbm).any()
            or not (buffer.min() >= 0 and buffer.max() < np.inf)  # NaN fails both
        )
    except (TypeError, ValueError, IndexError, KeyError):
        return False


def _raise_first_problem(batch: ReportBatch) -> None:
    problems: list[tuple[int, str, str]] = []

    def check(mask: npt.NDArray[np.bool_], field: str, reason: str) -> None:
        bad = np.flatnonzero(mask)
        if bad.size:
            problems.append((int(bad[0]), field, reason))

    check(~np.isin(batch.mcs_table, (nr_tables.QAM64, nr_tables.QAM256)), "mcs_table",
          "must be MCS_TABLE_QAM64 (1) or MCS_TABLE_QAM256 (2)")
    for proto_name, column, lo, hi in _REQUIRED_INT_FIELDS:
        values = getattr(batch, column)
        check((values < lo) | (values > hi), proto_name, f"must be in {lo}..{hi}")
    check(batch.tb_errors > batch.tb_total, "tb_initial_errors",
          "must not exceed tb_initial_total")
    check(~np.isin(batch.csi_period, CSI_PERIODS_SLOTS), "csi_period_slots",
          f"must be one of {CSI_PERIODS_SLOTS}")
    max_mcs = nr_tables.MAX_MCS[np.clip(batch.mcs_table, 1, 2) - 1]
    check((batch.last_mcs < -1) | (batch.last_mcs > max_mcs), "last_mcs",
          "must be a valid MCS index of the report's mcs_table")
    for name in ("ss_sinr_db", "ss_rsrp_dbm"):
        check(np.isinf(getattr(batch, name)), name, "must be finite")
    check(~np.isfinite(batch.buffer_bytes) | (batch.buffer_bytes < 0), "buffer_bytes",
          "must be a finite, non-negative number of bytes")
    valid = batch.harq_mcs >= 0
    bad_entry = (valid & ((batch.harq_mcs > max_mcs[:, None]) | (batch.harq_age < 0)
                          | ~np.isin(batch.harq_ack, (0, 1))))
    bad_entry |= (batch.harq_mcs < -1)
    rows, cols = np.nonzero(bad_entry)
    if rows.size:
        problems.append((int(rows[0]), f"harq[{int(cols[0])}]",
                         "needs ack, an mcs valid in the report's mcs_table and age_slots >= 0"))
    if problems:
        ue, field, reason = min(problems)
        raise ReportError(field, ue, reason)


def _required(report: Mapping[str, Any], name: str, ue: int, where: str = "") -> Any:
    value = report.get(name)
    if value is None:
        raise ReportError(f"{where}{name}", ue, "is required")
    return value


def _integer(value: Any, name: str, ue: int, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ReportError(name, ue, f"must be an integer, got {type(value).__name__}")
    if isinstance(value, float) and (not math.isfinite(value) or not value.is_integer()):
        raise ReportError(name, ue, f"must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ReportError(name, ue, f"must be in {lo}..{hi}, got {value!r}")
    return int(value)


def _optional_float(report: Mapping[str, Any], name: str, ue: int) -> float:
    value = report.get(name)
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ReportError(name, ue, f"must be a finite number, got {value!r}")
    return float(value)


_MCS_TABLE_NAMES: Final = {
    "MCS_TABLE_QAM64": nr_tables.QAM64,
    "MCS_TABLE_QAM256": nr_tables.QAM256,
    nr_tables.QAM64: nr_tables.QAM64,
    nr_tables.QAM256: nr_tables.QAM256,
}


def batch_from_records(reports: Sequence[Mapping[str, Any]]) -> ReportBatch:
    """Build a validated :class:`ReportBatch` from reports given as mappings.

    Keys are the proto field names (``wideband_cqi``, ``harq`` as a list of
    ``{"ack", "mcs", "age_slots", "initial"}`` ...); ``mcs_table`` may be the enum
    name or number. Raises :class:`ReportError` naming the first bad field.
    """
    n = len(reports)
    cols: dict[str, Any] = {
        name: np.zeros(n, dtype=np.int64)
        for name in ("mcs_table", "cqi", "cqi_age", "rank", "tb_total", "tb_errors",
                     "last_mcs", "prbs", "tx_antennas", "numerology", "csi_period")
    }
    for name in ("harq_ack", "harq_mcs", "harq_age", "harq_initial"):
        cols[name] = np.full((n, HARQ_HISTORY), -1, dtype=np.int64)
    for name in ("ss_sinr_db", "ss_rsrp_dbm", "buffer_bytes"):
        cols[name] = np.zeros(n, dtype=np.float64)

    for ue, report in enumerate(reports):
        if not isinstance(report, Mapping):
            raise ReportError("(report)", ue, "must be an object")
        name = _required(report, "mcs_table", ue)
        # Only a name or a plain integer: true == 1 and [1] is unhashable.
        table = (_MCS_TABLE_NAMES.get(name)
                 if isinstance(name, str | int) and not isinstance(name, bool) else None)
        if table is None:
            raise ReportError("mcs_table", ue,
                              "must be MCS_TABLE_QAM64 (1) or MCS_TABLE_QAM256 (2)")
        cols["mcs_table"][ue] = table
        top_mcs = nr_tables.max_mcs(table)
        for proto_name, column, lo, hi in _REQUIRED_INT_FIELDS:
            cols[column][ue] = _integer(_required(report, proto_name, ue), proto_name, ue, lo, hi)
        if cols["tb_errors"][ue] > cols["tb_total"][ue]:
            raise ReportError("tb_initial_errors", ue, "must not exceed tb_initial_total")
        period = _integer(_required(report, "csi_period_slots", ue), "csi_period_slots", ue,
                          1, 10_000)
        if period not in CSI_PERIODS_SLOTS:
            raise ReportError("csi_period_slots", ue, f"must be one of {CSI_PERIODS_SLOTS}")
        cols["csi_period"][ue] = period
        last = report.get("last_mcs")
        cols["last_mcs"][ue] = -1 if last is None else _integer(last, "last_mcs", ue, 0, top_mcs)
        cols["ss_sinr_db"][ue] = _optional_float(report, "ss_sinr_db", ue)
        cols["ss_rsrp_dbm"][ue] = _optional_float(report, "ss_rsrp_dbm", ue)
        buffer = _required(report, "buffer_bytes", ue)
        cols["buffer_bytes"][ue] = _integer(buffer, "buffer_bytes", ue, 0, 2**63 - 1)
        _fill_harq(report.get("harq") or [], ue, top_mcs, cols)
    return ReportBatch(**cols)


def ue_ids_from_records(reports: Sequence[Mapping[str, Any]]) -> list[int]:
    """Return the ``ue_id`` of each report (0 when absent), as :func:`batch_from_records` reads.

    Raises :class:`ReportError` naming the first that is not an integer in the
    range of the proto's ``uint64``. The reports must be mappings (as
    :func:`batch_from_records` checks).
    """
    ids = []
    for ue, report in enumerate(reports):
        value = report.get("ue_id")
        ids.append(0 if value is None else _integer(value, "ue_id", ue, 0, 2**64 - 1))
    return ids


def _fill_harq(entries: Any, ue: int, top_mcs: int, cols: dict[str, Any]) -> None:
    if not isinstance(entries, Sequence) or isinstance(entries, str | bytes):
        raise ReportError("harq", ue, "must be a list of HARQ feedback entries")
    if len(entries) > HARQ_HISTORY:
        raise ReportError("harq", ue, f"carries at most {HARQ_HISTORY} entries, got {len(entries)}")
    for k, entry in enumerate(entries):
        where = f"harq[{k}]"
        if not isinstance(entry, Mapping):
            raise ReportError(where, ue, "must be an object")
        ack = _required(entry, "ack", ue, f"{where}.")
        if not isinstance(ack, bool):
            raise ReportError(f"{where}.ack", ue, "must be true or false")
        cols["harq_ack"][ue, k] = int(ack)
        mcs = _required(entry, "mcs", ue, f"{where}.")
        cols["harq_mcs"][ue, k] = _integer(mcs, f"{where}.mcs", ue, 0, top_mcs)
        cols["harq_age"][ue, k] = _integer(_required(entry, "age_slots", ue, f"{where}."),
                                           f"{where}.age_slots", ue, 0, 1_000_000)
        initial = entry.get("initial", True)
        if not isinstance(initial, bool):
            raise ReportError(f"{where}.initial", ue, "must be true or false")
        cols["harq_initial"][ue, k] = int(initial)
