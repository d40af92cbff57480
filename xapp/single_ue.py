"""Requests carrying one UE, decided with Python scalars instead of numpy columns.

Each numpy call has a fixed cost (docs/benchmarks.md), several times higher when the CPU idled
since the last request (which is how a gNB's one-UE slots arrive): the column
path (convert, :func:`xapp.features.validate`, :func:`xapp.features.observe`,
argmax) spends ~100 such calls on one UE. Here the report's values stay Python
scalars from the message to the model's input buffer and back. The logarithms
come from tables that numpy filled at import with the very ufunc loops
(float64) that ``observe`` runs, so the observation is bit-identical
(``tests/xapp/test_single_ue.py`` compares the two on random reports, and the
decisions too); only a value beyond a table (a CQI or HARQ age above 4095
slots, say) costs a numpy call. ``log10`` of a large buffer is Python's, which
differs from numpy's by at most an ulp or two of float64: both round to the
same float32 unless a float32 rounding boundary lies right between them, which
:func:`_log10` detects (with a margin of thousands of ulps) and leaves to numpy.

Anything unusual is left to the column path, which has the last word: a field
absent or out of range (the column path names it in its error), non-finite
Q-values (the column path falls back per UE), no model. :func:`decide_one`
returns ``None`` for those, having changed nothing.
"""

from __future__ import annotations

import math
import struct
from operator import attrgetter, le
from typing import Any, Final

import numpy as np

from xapp import features, nr_tables
from xapp.core import DecisionCore
from xapp.features import CSI_PERIODS_SLOTS, HARQ_HISTORY
from xapp.proto_reports import _READ, _REQUIRED

_LOWEST: Final = tuple(lo for _, _, lo, _ in features._REQUIRED_INT_FIELDS)
_HIGHEST: Final = tuple(hi for _, _, _, hi in features._REQUIRED_INT_FIELDS)
_READ_ENTRY: Final = attrgetter("ack", "mcs", "age_slots")  # `initial` is no feature
_REQUIRED_NAMES: Final = tuple(name for name, _ in _REQUIRED)
# _READ order: mcs_table, then the _REQUIRED_INT_FIELDS in their order (_LOWEST,
# _HIGHEST), then csi_period, last_mcs, buffer, sinr, rsrp, ue_id.
assert tuple(column for _, column in _REQUIRED[1:-1]) == tuple(
    column for _, column, _, _ in features._REQUIRED_INT_FIELDS)
_CSI_PERIODS: Final = frozenset(CSI_PERIODS_SLOTS)
_MAX_MCS: Final = tuple(int(m) for m in nr_tables.MAX_MCS)
_CQI_TO_MCS: Final = nr_tables.CQI_TO_MCS.tolist()
_CQI_EFFICIENCY: Final = nr_tables.CQI_EFFICIENCY.tolist()
_NO_ENTRY: Final = (0,) * HARQ_HISTORY
_LAST_ACTION: Final = nr_tables.NUM_ACTIONS - 1

_TABLE_SIZE: Final = 4096
with np.errstate(divide="ignore"):  # log(0): never looked up
    _SMALL: Final = np.arange(_TABLE_SIZE, dtype=np.float64)
    _LOG1P: Final[list[float]] = np.log1p(_SMALL).tolist()
    _LOG2: Final[list[float]] = np.log2(_SMALL).tolist()
    _LOG10: Final[list[float]] = np.log10(_SMALL).tolist()
_FLOAT32: Final = struct.Struct("f")
_GUARD: Final = 2.0**-40
"""Relative margin of :func:`_log10`: ~4000 float64 ulps (the two libraries differ by <= 2)."""
_ABSENT_LOG_AGE: Final = _LOG1P[int(features._ABSENT_HARQ_AGE)]
assert float(features._ABSENT_HARQ_AGE) == int(features._ABSENT_HARQ_AGE) < _TABLE_SIZE
_ABSENT_LOG_AGES: Final = (_ABSENT_LOG_AGE,) * HARQ_HISTORY


def _log1p(value: int) -> float:
    """``np.log1p`` of a non-negative integer, as ``observe`` computes it (float64)."""
    if value < _TABLE_SIZE:
        return _LOG1P[value]
    return float(np.log1p(np.array([value], dtype=np.float64))[0])


def _log10(value: float) -> float:
    """``np.log10`` of a float64 >= 1 to float32 precision, as ``observe`` computes it."""
    if value < _TABLE_SIZE and value.is_integer():
        return _LOG10[int(value)]
    result = math.log10(value)
    if _FLOAT32.pack(result * (1.0 - _GUARD)) == _FLOAT32.pack(result * (1.0 + _GUARD)):
        return result  # every float64 this close to it rounds to the same float32
    return float(np.log10(np.array([value], dtype=np.float64))[0])


def observe_one(report: Any) -> tuple[list[float], int, int] | None:
    """Return the observation row, MCS table and UE id of a report.

    The row holds Python numbers; packed as float32
    (:data:`xapp.policy.OBSERVATION_ROW`) it is the row
    :func:`xapp.features.observe` makes. ``None`` when the report is not
    plainly valid (the column path then decides or names the error).
    """
    values = _READ(report)
    (table, cqi, cqi_age, rank, tb_total, tb_errors, prbs, tx, numerology, period,
     last, buffer, sinr, rsrp, ue_id) = values
    checked = values[1:9]
    if (table not in (1, 2) or period not in _CSI_PERIODS or tb_errors > tb_total
            or not all(map(le, _LOWEST, checked)) or not all(map(le, checked, _HIGHEST))):
        return None
    if 0 in values[:12]:
        for name, value in zip(_REQUIRED_NAMES, values, strict=False):
            if value == 0 and not report.HasField(name):
                return None
        if buffer == 0 and not report.HasField("buffer_bytes"):
            return None
        if last == 0 and not report.HasField("last_mcs"):
            last = -1
    top = _MAX_MCS[table - 1]
    if last > top or not (math.isfinite(sinr) and math.isfinite(rsrp)):
        return None
    has_sinr = sinr != 0 or report.HasField("ss_sinr_db")
    has_rsrp = rsrp != 0 or report.HasField("ss_rsrp_dbm")
    entries = report.harq
    cqi_mcs = _CQI_TO_MCS[table - 1][cqi]
    acks, deltas, log_ages = list(_NO_ENTRY), list(_NO_ENTRY), list(_ABSENT_LOG_AGES)
    if entries:
        if len(entries) > HARQ_HISTORY:
            return None
        for k, entry in enumerate(entries):
            ack, mcs, age = _READ_ENTRY(entry)
            if not (ack and mcs and age) and not (  # a zero is a value or an absence
                    (ack or entry.HasField("ack")) and (mcs or entry.HasField("mcs"))
                    and (age or entry.HasField("age_slots"))):
                return None
            if mcs > top:
                return None
            acks[k] = 1 if ack else -1
            deltas[k] = mcs - cqi_mcs
            log_ages[k] = _LOG1P[age] if age < _TABLE_SIZE else _log1p(age)
    # 1.0 + buffer rounds like the column path's float64 column plus 1.0.
    log_buffer = (_LOG10[buffer + 1] if buffer < _TABLE_SIZE - 1
                  else _log10(1.0 + float(buffer)))
    row = [
        cqi, _CQI_EFFICIENCY[table - 1][cqi], cqi_mcs,
        _LOG1P[cqi_age] if cqi_age < _TABLE_SIZE else _log1p(cqi_age), table - 1, rank,
        sinr if has_sinr else features._ABSENT_SINR_DB, has_sinr,
        rsrp if has_rsrp else features._ABSENT_RSRP_DBM, has_rsrp,
        log_buffer, last - cqi_mcs if last >= 0 else 0, last >= 0,
        tb_errors / max(tb_total, 1),
        _LOG1P[tb_total] if tb_total < _TABLE_SIZE else _log1p(tb_total),
        *acks, *deltas, *log_ages, _LOG2[tx], numerology, _LOG2[period], _LOG1P[prbs],
    ]
    return row, table, ue_id


def decide_one(core: DecisionCore, report: Any) -> tuple[int, int, int, str, str] | None:
    """Decide one UE's MCS with the core's model: ``(ue_id, mcs, table, model_id, version)``.

    ``None`` (nothing counted, nothing changed) when the column path must decide:
    no model, a report that is not plainly valid, or non-finite Q-values.
    """
    policy = core.policy
    if policy is None:
        return None
    observed = observe_one(report)
    if observed is None:
        return None
    row, table, ue_id = observed
    try:
        q = policy.q_row(row)
    except Exception:  # the column path falls back and logs
        return None
    total = sum(q)  # inf or NaN if any value is: float32 values cannot overflow a float64 sum
    if len(q) != nr_tables.NUM_ACTIONS or total - total != 0.0:
        return None
    # First maximum over the table's valid MCS indices, like np.argmax: max() keeps
    # the first of equal values and index() finds the first value equal to it.
    top = _MAX_MCS[table - 1]
    mcs = q.index(max(q) if top == _LAST_ACTION else max(q[: top + 1]))
    core.metrics.decisions.model += 1
    card = policy.card
    return ue_id, mcs, table, card.model_id, card.version
