"""A :class:`~xapp.report_batch.ReportBatch` built from JSON records (the REST adapter).

Each record is checked field by field, by kind and then in table order, as
:func:`xapp.report_batch.validate` checks a batch; errors name the first bad field,
by UE, in proto naming.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

import numpy as np

from xapp import nr_tables
from xapp.report_batch import (
    _BYTES,
    _CHOICES,
    _INTS,
    _LIMITED,
    _MCS,
    _MCS_TABLE_REASON,
    _MEASUREMENTS,
    _PROBABILITIES,
    _TABLE,
    ReportBatch,
    ReportError,
    probability_reason,
)
from xapp.report_fields import (
    BY_NAME,
    CQI_ENTRY,
    CQI_HISTORY,
    FIELDS,
    HARQ_HISTORY,
    NO_ENTRY,
    ReportField,
    float32,
)

__all__ = ["batch_from_records", "ue_ids_from_records"]


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


def _optional_probability(report: Mapping[str, Any], field: ReportField, ue: int) -> float:
    """An optional probability of a record, rounded to float32 as the proto's: NaN when absent.

    A value that rounds to 0 or 1 (below float32's smallest, say) is refused like 0 or 1.
    """
    value = report.get(field.proto)
    if value is None:
        return math.nan
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not field.low < value < field.high):  # NaN fails the comparison too
        raise ReportError(field.proto, ue, probability_reason(field, value))
    rounded = float32(value)
    if not field.low < rounded < field.high:
        raise ReportError(field.proto, ue, probability_reason(field, value))
    return rounded


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
    ``{"ack", "mcs", "age_slots", "initial"}``, ``cqi_history`` as a list of
    ``{"cqi", "age_slots"}`` ...); ``mcs_table`` may be the enum
    name or number. Raises :class:`ReportError` naming the first bad field.
    """
    n = len(reports)
    cols: dict[str, Any] = {}
    for f in FIELDS:
        if f.width > 1:
            cols[f.name] = np.full((n, f.width), NO_ENTRY, dtype=np.int64)
        else:
            cols[f.name] = np.zeros(n, dtype=np.float64 if f.is_float else np.int64)
    for ue, report in enumerate(reports):
        if not isinstance(report, Mapping):
            raise ReportError("(report)", ue, "must be an object")
        _read_record(report, ue, cols)
    return ReportBatch(**cols)


def _read_record(report: Mapping[str, Any], ue: int, cols: dict[str, Any]) -> None:
    """Check one record and write it to row ``ue`` of ``cols``: by kind, then table order."""
    name = _required(report, _TABLE, ue)
    # Only a name or a plain integer: true == 1 and [1] is unhashable.
    table = (_MCS_TABLE_NAMES.get(name)
             if isinstance(name, str | int) and not isinstance(name, bool) else None)
    if table is None:
        raise ReportError(_TABLE, ue, _MCS_TABLE_REASON)
    cols[_TABLE][ue] = table
    top_mcs = nr_tables.max_mcs(table)
    for f in _INTS:
        cols[f.name][ue] = _integer(_required(report, f.proto, ue), f.proto, ue, f.low, f.high)
    for f, above in _LIMITED:
        if cols[f.name][ue] > cols[above.name][ue]:
            raise ReportError(f.proto, ue, f"must not exceed {above.proto}")
    for f in _CHOICES:
        value = _integer(_required(report, f.proto, ue), f.proto, ue, f.low, f.high)
        if value not in f.choices:
            raise ReportError(f.proto, ue, f"must be one of {f.choices}")
        cols[f.name][ue] = value
    for f in _MCS:
        sent = report.get(f.proto)
        cols[f.name][ue] = NO_ENTRY if sent is None else _integer(sent, f.proto, ue, 0, top_mcs)
    for f in _MEASUREMENTS:
        cols[f.name][ue] = _optional_float(report, f.proto, ue)
    for f in _BYTES:
        cols[f.name][ue] = _integer(_required(report, f.proto, ue), f.proto, ue, f.low, f.high)
    for f in _PROBABILITIES:
        cols[f.name][ue] = _optional_probability(report, f, ue)
    _fill_harq(report.get("harq") or [], ue, top_mcs, cols)
    _fill_cqi_history(report.get("cqi_history") or [], ue, cols)


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


def _entries(entries: Any, name: str, what: str, most: int,
             ue: int) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """``(k, entry)`` of the entries ``name`` of a record: a list of at most ``most`` objects."""
    if not isinstance(entries, Sequence) or isinstance(entries, str | bytes):
        raise ReportError(name, ue, f"must be a list of {what}")
    if len(entries) > most:
        raise ReportError(name, ue, f"carries at most {most} entries, got {len(entries)}")
    for k, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise ReportError(f"{name}[{k}]", ue, "must be an object")
        yield k, entry


def _fill_harq(entries: Any, ue: int, top_mcs: int, cols: dict[str, Any]) -> None:
    for k, entry in _entries(entries, "harq", "HARQ feedback entries", HARQ_HISTORY, ue):
        where = f"harq[{k}]"
        ack = _required(entry, "ack", ue, f"{where}.")
        if not isinstance(ack, bool):
            raise ReportError(f"{where}.ack", ue, "must be true or false")
        cols["harq_ack"][ue, k] = int(ack)
        mcs = _required(entry, "mcs", ue, f"{where}.")
        cols["harq_mcs"][ue, k] = _integer(mcs, f"{where}.mcs", ue, 0, top_mcs)
        age = BY_NAME["harq_age"]
        cols["harq_age"][ue, k] = _integer(_required(entry, "age_slots", ue, f"{where}."),
                                           f"{where}.age_slots", ue, age.low, age.high)
        initial = entry.get("initial", True)
        if not isinstance(initial, bool):
            raise ReportError(f"{where}.initial", ue, "must be true or false")
        cols["harq_initial"][ue, k] = int(initial)


def _fill_cqi_history(entries: Any, ue: int, cols: dict[str, Any]) -> None:
    for k, entry in _entries(entries, "cqi_history", "CQI reports", CQI_HISTORY, ue):
        where = f"cqi_history[{k}]."
        for f in CQI_ENTRY:
            cols[f.name][ue, k] = _integer(_required(entry, f.proto, ue, where),
                                           f"{where}{f.proto}", ue, f.low, f.high)

