"""Protobuf ``UeReport`` messages -> :class:`~xapp.report_batch.ReportBatch`, once per batch.

This is the per-message path (``DecisionRequest.reports``); the columnar path
(``DecisionRequest.columns``) is :mod:`xapp.columns`. It runs on every slot, so
each report's scalar fields are read with one ``attrgetter`` call into one row
of a float64 table (made with one ``np.array`` call), all HARQ entries (and all
CQI history entries) of the batch are read in one pass, and the
:class:`ReportBatch` columns are views of those arrays. Presence is checked only
where a value reads as zero (proto3
reads an absent field as zero, so a non-zero value is present). Range checks are
:func:`xapp.report_batch.validate` on the columns. What is read, and what an
absent field stands for, comes from :data:`xapp.report_fields.FIELDS`. Errors
name the field and the UE like :func:`~xapp.report_records.batch_from_records`
does: the first by UE, then field.

Per-message access is Python attribute access per HARQ entry and per report,
which adds up over a 1000-UE slot (docs/benchmarks.md). Large batches should use columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from operator import attrgetter, itemgetter
from typing import Any, Final, NamedTuple

import numpy as np
import numpy.typing as npt
from google.protobuf.descriptor import FieldDescriptor

from xapp._proto.linkadapt.v1 import linkadapt_pb2 as pb
from xapp.report_batch import ReportBatch, ReportError, probability_reason, validate
from xapp.report_fields import (
    CQI_ENTRY,
    CQI_HISTORY,
    HARQ,
    HARQ_HISTORY,
    NO_ENTRY,
    SCALAR_ORDER,
    UE_ID_PROTO,
    Kind,
    ReportField,
)

# A report's scalar fields, read in one call: the integer fields, then the float ones
# (the batch's float64 columns), then ue_id.
_READ: Final = attrgetter(*(f.proto for f in SCALAR_ORDER), UE_ID_PROTO)
_NUM_INT: Final = sum(not f.is_float for f in SCALAR_ORDER)
# The optional float fields: a NaN there was sent (an absent one reads 0.0), and is refused.
_MEASURED: Final = tuple(j for j, f in enumerate(SCALAR_ORDER)
                         if f.kind in (Kind.MEASUREMENT, Kind.PROBABILITY))
_MEASURED_SPAN: Final = slice(_MEASURED[0], _MEASURED[-1] + 1)
assert _MEASURED == tuple(range(_MEASURED[0], _MEASURED[-1] + 1))  # one span
# (position, proto name, value when absent or None if required) of each scalar field.
_PRESENCE: Final = tuple((j, f.proto, f.absent) for j, f in enumerate(SCALAR_ORDER))


class _Group(NamedTuple):
    """A repeated entry field of ``UeReport`` and how its entries are read and written.

    Attributes:
        name: the ``UeReport`` field (``harq``, ``cqi_history``).
        fields: the fields of an entry (:data:`~xapp.report_fields.HARQ` ...).
        length: most entries a report carries.
        read: reads an entry's fields, in ``fields`` order.
        absent: the value each field's absence stands for (``None``: required).
        key: position in ``fields`` of the column whose -1 marks a slot without entry.
        message: the entry's message class.
        is_bool: per field, whether the message holds it as a bool.

    """

    name: str
    fields: tuple[ReportField, ...]
    length: int
    read: Any
    absent: tuple[float | None, ...]
    key: int
    message: Any
    is_bool: tuple[bool, ...]


def _group(name: str, fields: tuple[ReportField, ...], length: int, key: str,
           message: Any) -> _Group:
    bool_type = FieldDescriptor.TYPE_BOOL
    return _Group(name, fields, length, attrgetter(*(f.proto for f in fields)),
                  tuple(f.absent for f in fields), [f.name for f in fields].index(key), message,
                  tuple(message.DESCRIPTOR.fields_by_name[f.proto].type == bool_type
                        for f in fields))


_HARQ_GROUP: Final = _group("harq", HARQ, HARQ_HISTORY, "harq_mcs", pb.HarqFeedback)
_CQI_GROUP: Final = _group("cqi_history", CQI_ENTRY, CQI_HISTORY, "cqi_history_cqi",
                           pb.CqiReport)


def batch_from_protos(
    reports: Sequence[Any],
) -> tuple[npt.NDArray[np.uint64], ReportBatch]:
    """Convert ``UeReport`` messages into UE ids and a validated :class:`ReportBatch`.

    Raises:
        ReportError: the first (by UE, then field) missing or out-of-range field.

    """
    scalars: list[tuple[Any, ...]] = []
    harq_lists: list[Any] = []
    cqi_lists: list[Any] = []
    problems: list[tuple[int, str, str]] = []
    for ue, report in enumerate(reports):
        values = _READ(report)
        measured = sum(values[_MEASURED_SPAN])
        if measured != measured:  # NaN: sent, not absent (or inf - inf: looked at again)
            _check_measured(values, ue, problems)
        if 0 in values[:-1]:
            values = _fill_absent(report, values, ue, problems)
        scalars.append(values)
        harq_lists.append(report.harq)
        cqi_lists.append(report.cqi_history)
    n = len(scalars)
    # One array per dtype; the float64 one holds values up to 2**32 exactly.
    table = np.array(scalars, dtype=np.float64).reshape(n, len(SCALAR_ORDER) + 1)
    ue_ids = np.fromiter(map(itemgetter(-1), scalars), np.uint64, n)
    batch = _as_batch(table, _entry_matrix(_HARQ_GROUP, harq_lists, problems),
                      _entry_matrix(_CQI_GROUP, cqi_lists, problems))
    if problems:
        raise ReportError(*_first(problems, batch))
    validate(batch)
    return ue_ids, batch


def _check_measured(values: tuple[Any, ...], ue: int,
                    problems: list[tuple[int, str, str]]) -> None:
    """Record the first optional float field that was sent as NaN."""
    for j in _MEASURED:
        if values[j] != values[j]:
            field = SCALAR_ORDER[j]
            reason = (probability_reason(field, values[j]) if field.kind is Kind.PROBABILITY
                      else "must be a finite number, got nan")
            problems.append((ue, field.proto, reason))
            return


def _fill_absent(
    report: Any, values: tuple[Any, ...], ue: int, problems: list[tuple[int, str, str]]
) -> tuple[Any, ...]:
    """Return ``values`` with absent optional fields encoded; record absent required ones."""
    out = list(values)
    for j, name, absent in _PRESENCE:
        if values[j] == 0 and not report.HasField(name):
            if absent is None:
                problems.append((ue, name, "is required"))
            else:
                out[j] = absent
    return tuple(out)


def _entry_matrix(group: _Group, lists: list[Any],
                  problems: list[tuple[int, str, str]]) -> Any:
    """Return a repeated field as an ``(n, group.length, len(group.fields))`` int64 array.

    -1 where a slot has no entry. The last axis holds the fields of ``group.fields``.
    All entries of the batch are read in one pass; presence is looked at only where a
    value reads as zero/false.
    """
    n, length, width = len(lists), group.length, len(group.fields)
    counts = list(map(len, lists))
    if counts and max(counts) > length:
        for ue, count in enumerate(counts):
            if count > length:
                problems.append((ue, group.name, f"carries at most {length} entries, "
                                                 f"got {count}"))
                lists[ue], counts[ue] = (), 0
    entries = list(chain.from_iterable(lists))
    out = np.full((n, length, width), NO_ENTRY, dtype=np.int64)
    if not entries:
        return out
    values = np.fromiter(chain.from_iterable(map(group.read, entries)), np.int64,
                         width * len(entries)).reshape(-1, width)
    zero = values == 0
    for j, has_zero in enumerate(zero.any(axis=0).tolist()):
        name = group.fields[j].proto
        absent = has_zero and [k for k in np.flatnonzero(zero[:, j]).tolist()
                               if not entries[k].HasField(name)]
        if not absent:
            continue
        default = group.absent[j]
        if default is not None:
            values[absent, j] = int(default)
            continue
        ue, slot = _locate(absent[0], counts)
        problems.append((ue, f"{group.name}[{slot}].{name}", "is required"))
    if len(entries) == n * length:  # full histories: no scatter needed
        return values.reshape(n, length, width)
    out[np.arange(length) < np.array(counts)[:, None]] = values
    return out


def _locate(k: int, counts: list[int]) -> tuple[int, int]:
    """Return ``(ue, slot)`` of the ``k``-th entry of the batch."""
    for ue, count in enumerate(counts):
        if k < count:
            return ue, k
        k -= count
    raise IndexError(k)


def _as_batch(table: npt.NDArray[np.float64], harq: npt.NDArray[np.int64],
              cqi_history: npt.NDArray[np.int64]) -> ReportBatch:
    """View the scalar table and the entry arrays as a :class:`ReportBatch`."""
    ints = table[:, :_NUM_INT].astype(np.int64)
    cols: dict[str, npt.NDArray[Any]] = {}
    for j, field in enumerate(SCALAR_ORDER):
        cols[field.name] = ints[:, j] if j < _NUM_INT else table[:, j]
    for entries, group in ((harq, _HARQ_GROUP), (cqi_history, _CQI_GROUP)):
        for j, field in enumerate(group.fields):
            cols[field.name] = entries[:, :, j]
    return ReportBatch(**cols)


def _first(problems: list[tuple[int, str, str]], batch: ReportBatch) -> tuple[str, int, str]:
    """Return ``(field, ue, reason)`` of the first problem, range errors included."""
    ue, field, reason = min(problems)
    try:
        validate(batch)
    except ReportError as exc:
        if exc.ue_index < ue:
            return exc.field, exc.ue_index, exc.reason
    return field, ue, reason


# --- encoding (the E2 emulator's per-message wire form) ---------------------------

_ALWAYS: Final = tuple((f.name, f.proto, f.kind is Kind.BYTES) for f in SCALAR_ORDER
                       if f.required)
_WHEN_PRESENT: Final = tuple((f.name, f.proto, f.kind is Kind.MCS) for f in SCALAR_ORDER
                             if not f.required)


def protos_from_batch(batch: ReportBatch, ue_ids: Sequence[int]) -> list[Any]:
    """Encode a report batch as ``UeReport`` messages (the per-message wire form).

    Absent optional values (an MCS of -1, NaN measurements, HARQ slots with MCS
    -1, CQI history slots with CQI -1) are left unset, as the contract in
    ``linkadapt.proto`` asks.
    """
    always = [(proto, [int(v) for v in getattr(batch, name).tolist()] if as_int
               else getattr(batch, name).tolist()) for name, proto, as_int in _ALWAYS]
    optional = [(proto, getattr(batch, name).tolist(), is_mcs)
                for name, proto, is_mcs in _WHEN_PRESENT]
    harq = [getattr(batch, f.name).tolist() for f in HARQ]
    cqi = [getattr(batch, f.name).tolist() for f in CQI_ENTRY]
    out = []
    for i, ue in enumerate(ue_ids):
        fields: dict[str, Any] = {proto: values[i] for proto, values in always}
        report = pb.UeReport(ue_id=int(ue), harq=_entries(_HARQ_GROUP, [h[i] for h in harq]),
                             cqi_history=_entries(_CQI_GROUP, [c[i] for c in cqi]), **fields)
        for proto, values, is_mcs in optional:
            value = values[i]
            if (value >= 0) if is_mcs else (value == value):  # -1 / NaN: absent
                setattr(report, proto, value)
        out.append(report)
    return out


def _entries(group: _Group, history: list[list[Any]]) -> list[Any]:
    """The entry messages of one UE's history columns (the slots with an entry)."""
    names = [f.proto for f in group.fields]
    return [
        group.message(**{name: (value == 1 if is_bool else value)
                         for name, is_bool, value in zip(names, group.is_bool, entry, strict=True)})
        for entry in zip(*history, strict=True) if entry[group.key] >= 0
    ]
