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
slots, say) costs a numpy call. ``log10`` of a large buffer and ``ln`` of the BLER
target are Python's, which differ from numpy's by at most an ulp or two of
float64: both round to the same float32 unless a float32 rounding boundary lies
right between them, which :func:`_log10` and :func:`_log` detect (with a margin
of thousands of ulps) and leave to numpy.

Anything unusual is left to the column path, which has the last word: a field
absent or out of range (the column path names it in its error), non-finite
Q-values (the column path falls back per UE), no model.
:meth:`xapp.core.DecisionCore.decide_one` returns ``None`` for those, having
changed nothing. Which fields are read and how each is checked comes from
:data:`xapp.report_fields.FIELDS`.
"""

from __future__ import annotations

import math
import struct
from operator import attrgetter, itemgetter, le
from typing import Any, Final

import numpy as np

from xapp import features, nr_tables
from xapp.report_fields import CQI_HISTORY, HARQ_HISTORY, SCALAR_ORDER, UE_ID_PROTO, Kind

# Everything below is derived from the field table once, at import: per report, the
# checks are a few C-level calls over precomputed positions and bounds.
_READ: Final = attrgetter(*(f.proto for f in SCALAR_ORDER), UE_ID_PROTO)
_POSITION: Final = {f.name: j for j, f in enumerate(SCALAR_ORDER)}


def _one(kind: Kind) -> int:
    """Position of the one field of ``kind``, which the checks below handle by itself."""
    (position,) = (j for j, f in enumerate(SCALAR_ORDER) if f.kind is kind)
    return position


def _span(kind: Kind) -> slice:
    """Positions of the fields of ``kind``, which SCALAR_ORDER keeps together."""
    at = [j for j, f in enumerate(SCALAR_ORDER) if f.kind is kind]
    assert at == list(range(at[0], at[-1] + 1))
    return slice(at[0], at[-1] + 1)


_TABLE_AT: Final = _one(Kind.MCS_TABLE)
_CQI_AT: Final = _POSITION["cqi"]
_CHOICE_AT: Final = _one(Kind.CHOICE)
_MCS_AT: Final = _one(Kind.MCS)
_INTS: Final = _span(Kind.INT)
_MEASURED: Final = _span(Kind.MEASUREMENT)
_TARGET_AT: Final = _one(Kind.PROBABILITY)
_LOWEST: Final = tuple(f.low for f in SCALAR_ORDER[_INTS])
_HIGHEST: Final = tuple(f.high for f in SCALAR_ORDER[_INTS])
(_LIMITED_AT, _ABOVE_AT), = ((j, _POSITION[f.not_above]) for j, f in enumerate(SCALAR_ORDER)
                             if f.not_above)
_CHOICES: Final = frozenset(SCALAR_ORDER[_CHOICE_AT].choices)
_TABLES: Final = frozenset((nr_tables.QAM64, nr_tables.QAM256))
# Fields a zero may stand for an absence of: all but the measurements and the BLER target
# (looked at apart).
_ZERO_SPAN: Final = slice(0, _MEASURED.start)
assert _MEASURED.stop == _TARGET_AT == len(SCALAR_ORDER) - 1
_TARGET_PROTO: Final = SCALAR_ORDER[_TARGET_AT].proto
_REQUIRED: Final = tuple((j, f.proto) for j, f in enumerate(SCALAR_ORDER[_ZERO_SPAN])
                         if f.required)
_MCS_PROTO: Final = SCALAR_ORDER[_MCS_AT].proto
_MEASURED_PROTOS: Final = tuple(f.proto for f in SCALAR_ORDER[_MEASURED])
_SINR: Final = [f.name for f in SCALAR_ORDER[_MEASURED]].index("ss_sinr_db")
_RSRP: Final = [f.name for f in SCALAR_ORDER[_MEASURED]].index("ss_rsrp_dbm")
# The values observe_one computes features of, in the order it names them.
_INPUTS: Final = itemgetter(*(_POSITION[name] for name in (
    "mcs_table", "cqi", "cqi_age", "rank", "tb_total", "tb_errors", "prbs", "tx_antennas",
    "numerology", "csi_period", "buffer_bytes")))
_READ_ENTRY: Final = attrgetter("ack", "mcs", "age_slots")  # `initial` is no feature
_READ_CQI_ENTRY: Final = attrgetter("cqi", "age_slots")
_MAX_MCS: Final = (nr_tables.max_mcs(nr_tables.QAM64), nr_tables.max_mcs(nr_tables.QAM256))
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
"""Relative margin of :func:`_log10` and :func:`_log`: ~4000 float64 ulps (the two
libraries differ by <= 2)."""
_ABSENT_LOG_AGE: Final = _LOG1P[int(features.ABSENT_HARQ_AGE)]
assert float(features.ABSENT_HARQ_AGE) == int(features.ABSENT_HARQ_AGE) < _TABLE_SIZE
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


def _log(value: float) -> float:
    """``np.log`` of a float64 in (0, 1) to float32 precision, as ``observe`` computes it."""
    result = math.log(value)
    if _FLOAT32.pack(result * (1.0 - _GUARD)) == _FLOAT32.pack(result * (1.0 + _GUARD)):
        return result  # every float64 this close to it rounds to the same float32
    return float(np.log(np.array([value], dtype=np.float64))[0])


def observe_one(report: Any, default_target: float,
                target_bounds: tuple[float, float]) -> tuple[list[float], int, int] | None:
    """Return the observation row, MCS table and UE id of a report.

    The row holds Python numbers; packed as float32
    (:data:`xapp.policy.OBSERVATION_ROW`) it is the row
    :func:`xapp.features.observe` makes of the report's batch once
    :meth:`xapp.core.DecisionCore.decide` has put ``default_target`` where the
    report has no ``target_bler``. ``None`` when the report is not plainly valid
    or its target lies outside ``target_bounds`` (the column path then decides or
    names the error). The bounds are float32 values (as Python floats), inclusive:
    a sent target is a float32, compared exactly; the default is checked against
    the model's range when the model is activated, not here.
    """
    values = _READ(report)
    checked = values[_INTS]
    if (values[_TABLE_AT] not in _TABLES or values[_CHOICE_AT] not in _CHOICES
            or values[_LIMITED_AT] > values[_ABOVE_AT]
            or not all(map(le, _LOWEST, checked)) or not all(map(le, checked, _HIGHEST))):
        return None
    last = values[_MCS_AT]
    if 0 in values[_ZERO_SPAN]:
        for j, name in _REQUIRED:
            if values[j] == 0 and not report.HasField(name):
                return None
        if last == 0 and not report.HasField(_MCS_PROTO):
            last = -1
    table = values[_TABLE_AT]
    top = _MAX_MCS[table - 1]
    measured = values[_MEASURED]
    if last > top or not all(map(math.isfinite, measured)):
        return None
    present = [value != 0 or report.HasField(name)
               for value, name in zip(measured, _MEASURED_PROTOS, strict=True)]
    target = values[_TARGET_AT]
    if target == 0.0 and not report.HasField(_TARGET_PROTO):
        target = default_target
    elif not target_bounds[0] <= target <= target_bounds[1]:  # NaN fails it too
        return None
    harq = _harq_features(report.harq, top, _CQI_TO_MCS[table - 1][values[_CQI_AT]])
    if harq is None:
        return None
    if report.cqi_history and not _cqi_history_ok(report.cqi_history):
        return None
    row = _row(_INPUTS(values), last, measured, present, harq)
    row.append(_log(target))
    return row, table, values[-1]


def _harq_features(entries: Any, top: int,
                   cqi_mcs: int) -> tuple[list[int], list[int], list[float]] | None:
    """The HARQ acks, MCS deltas and log ages of a report's entries; ``None`` if one is bad."""
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
    return acks, deltas, log_ages


def _cqi_history_ok(entries: Any) -> bool:
    """True if every ``cqi_history`` entry is complete and in range (no feature reads them)."""
    if len(entries) > CQI_HISTORY:
        return False
    for entry in entries:
        cqi, age = _READ_CQI_ENTRY(entry)
        if cqi > nr_tables.MAX_CQI or not (cqi or entry.HasField("cqi")) or not (
                age or entry.HasField("age_slots")):
            return False
    return True


def _row(inputs: tuple[Any, ...], last: int, measured: tuple[float, ...], present: list[bool],
         harq: tuple[list[int], list[int], list[float]]) -> list[float]:
    """The observation row of checked report values: :func:`xapp.features.observe` of one UE.

    All but the last feature (the BLER target's, which :func:`observe_one` appends).
    """
    (table, cqi, cqi_age, rank, tb_total, tb_errors, prbs, tx, numerology, period,
     buffer) = inputs
    sinr, rsrp = measured[_SINR], measured[_RSRP]
    has_sinr, has_rsrp = present[_SINR], present[_RSRP]
    cqi_mcs = _CQI_TO_MCS[table - 1][cqi]
    acks, deltas, log_ages = harq
    # 1.0 + buffer rounds like the column path's float64 column plus 1.0.
    log_buffer = (_LOG10[buffer + 1] if buffer < _TABLE_SIZE - 1
                  else _log10(1.0 + float(buffer)))
    return [
        cqi, _CQI_EFFICIENCY[table - 1][cqi], cqi_mcs,
        _LOG1P[cqi_age] if cqi_age < _TABLE_SIZE else _log1p(cqi_age), table - 1, rank,
        sinr if has_sinr else features.ABSENT_SINR_DB, has_sinr,
        rsrp if has_rsrp else features.ABSENT_RSRP_DBM, has_rsrp,
        log_buffer, last - cqi_mcs if last >= 0 else 0, last >= 0,
        tb_errors / max(tb_total, 1),
        _LOG1P[tb_total] if tb_total < _TABLE_SIZE else _log1p(tb_total),
        *acks, *deltas, *log_ages, _LOG2[tx], numerology, _LOG2[period], _LOG1P[prbs],
    ]


def first_best(q: list[float], table: int) -> int | None:
    """The first action of highest ``q`` among those valid in ``table``, like ``np.argmax``.

    ``None`` if ``q`` has the wrong length or a non-finite value (the column path
    then decides, with its fallback per UE).
    """
    total = sum(q)  # inf or NaN if any value is: float32 values cannot overflow a float64 sum
    if len(q) != nr_tables.NUM_ACTIONS or total - total != 0.0:
        return None
    # max() keeps the first of equal values and index() finds the first value equal to it.
    top = _MAX_MCS[table - 1]
    return q.index(max(q) if top == _LAST_ACTION else max(q[: top + 1]))
