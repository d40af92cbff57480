"""Protobuf ``UeReport`` messages -> :class:`~xapp.report_batch.ReportBatch`, once per batch.

This is the per-message path (``DecisionRequest.reports``); the columnar path
(``DecisionRequest.columns``) is :mod:`xapp.columns`. It runs on every slot, so
each report's scalar fields are read with one ``attrgetter`` call into one row
of a float64 table (made with one ``np.array`` call), all HARQ entries of the
batch are read in one pass, and the :class:`ReportBatch` columns are views of
those two arrays. Presence is checked only where a value reads as zero (proto3
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
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from xapp._proto.linkadapt.v1 import linkadapt_pb2 as pb
from xapp.report_batch import ReportBatch, ReportError, probability_reason, validate
from xapp.report_fields import HARQ, HARQ_HISTORY, NO_ENTRY, SCALAR_ORDER, UE_ID_PROTO, Kind

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

_HARQ_FIELDS: Final = tuple(f.proto for f in HARQ)
_READ_HARQ: Final = attrgetter(*_HARQ_FIELDS)
_HARQ_ABSENT: Final = tuple(f.absent for f in HARQ)
_WIDTH: Final = len(HARQ)
_HARQ_MCS: Final = [f.name for f in HARQ].index("harq_mcs")  # -1 there: no entry


def batch_from_protos(
    reports: Sequence[Any],
) -> tuple[npt.NDArray[np.uint64], ReportBatch]:
    """Convert ``UeReport`` messages into UE ids and a validated :class:`ReportBatch`.

    Raises:
        ReportError: the first (by UE, then field) missing or out-of-range field.

    """
    scalars: list[tuple[Any, ...]] = []
    harq_lists: list[Any] = []
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
    n = len(scalars)
    # One array per dtype; the float64 one holds values up to 2**32 exactly.
    table = np.array(scalars, dtype=np.float64).reshape(n, len(SCALAR_ORDER) + 1)
    ue_ids = np.fromiter(map(itemgetter(-1), scalars), np.uint64, n)
    batch = _as_batch(table, _harq_matrix(harq_lists, problems))
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


def _harq_matrix(harq_lists: list[Any], problems: list[tuple[int, str, str]]) -> Any:
    """Return the HARQ history as an ``(n, HARQ_HISTORY, len(HARQ))`` int64 array (-1: none).

    The last axis holds the fields of :data:`xapp.report_fields.HARQ`. All entries
    of the batch are read in one pass; presence is looked at only where a value
    reads as zero/false.
    """
    n = len(harq_lists)
    counts = list(map(len, harq_lists))
    if counts and max(counts) > HARQ_HISTORY:
        for ue, count in enumerate(counts):
            if count > HARQ_HISTORY:
                problems.append((ue, "harq", f"carries at most {HARQ_HISTORY} entries, "
                                             f"got {count}"))
                harq_lists[ue], counts[ue] = (), 0
    entries = list(chain.from_iterable(harq_lists))
    out = np.full((n, HARQ_HISTORY, _WIDTH), NO_ENTRY, dtype=np.int64)
    if not entries:
        return out
    values = np.fromiter(chain.from_iterable(map(_READ_HARQ, entries)), np.int64,
                         _WIDTH * len(entries)).reshape(-1, _WIDTH)
    zero = values == 0
    for j, has_zero in enumerate(zero.any(axis=0).tolist()):
        name = _HARQ_FIELDS[j]
        absent = has_zero and [k for k in np.flatnonzero(zero[:, j]).tolist()
                               if not entries[k].HasField(name)]
        if not absent:
            continue
        default = _HARQ_ABSENT[j]
        if default is not None:
            values[absent, j] = int(default)
            continue
        ue, slot = _locate(absent[0], counts)
        problems.append((ue, f"harq[{slot}].{name}", "is required"))
    if len(entries) == n * HARQ_HISTORY:  # full histories: no scatter needed
        return values.reshape(n, HARQ_HISTORY, _WIDTH)
    out[np.arange(HARQ_HISTORY) < np.array(counts)[:, None]] = values
    return out


def _locate(k: int, counts: list[int]) -> tuple[int, int]:
    """Return ``(ue, slot)`` of the ``k``-th HARQ entry of the batch."""
    for ue, count in enumerate(counts):
        if k < count:
            return ue, k
        k -= count
    raise IndexError(k)


def _as_batch(table: npt.NDArray[np.float64], harq: npt.NDArray[np.int64]) -> ReportBatch:
    """View the scalar table and the HARQ array as a :class:`ReportBatch`."""
    ints = table[:, :_NUM_INT].astype(np.int64)
    cols: dict[str, npt.NDArray[Any]] = {}
    for j, field in enumerate(SCALAR_ORDER):
        cols[field.name] = ints[:, j] if j < _NUM_INT else table[:, j]
    for j, field in enumerate(HARQ):
        cols[field.name] = harq[:, :, j]
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
_BOOL: Final = pb.HarqFeedback.DESCRIPTOR.fields_by_name["ack"].type
_HARQ_ENCODE: Final = tuple(
    (f.proto, pb.HarqFeedback.DESCRIPTOR.fields_by_name[f.proto].type == _BOOL) for f in HARQ)


def protos_from_batch(batch: ReportBatch, ue_ids: Sequence[int]) -> list[Any]:
    """Encode a report batch as ``UeReport`` messages (the per-message wire form).

    Absent optional values (an MCS of -1, NaN measurements, HARQ slots with MCS
    -1) are left unset, as the contract in ``linkadapt.proto`` asks.
    """
    always = [(proto, [int(v) for v in getattr(batch, name).tolist()] if as_int
               else getattr(batch, name).tolist()) for name, proto, as_int in _ALWAYS]
    optional = [(proto, getattr(batch, name).tolist(), is_mcs)
                for name, proto, is_mcs in _WHEN_PRESENT]
    harq = [getattr(batch, f.name).tolist() for f in HARQ]
    out = []
    for i, ue in enumerate(ue_ids):
        fields: dict[str, Any] = {proto: values[i] for proto, values in always}
        report = pb.UeReport(ue_id=int(ue), harq=_harq_entries([h[i] for h in harq]), **fields)
        for proto, values, is_mcs in optional:
            value = values[i]
            if (value >= 0) if is_mcs else (value == value):  # -1 / NaN: absent
                setattr(report, proto, value)
        out.append(report)
    return out


def _harq_entries(history: list[list[Any]]) -> list[Any]:
    """The ``HarqFeedback`` messages of one UE's history columns (slots with an entry)."""
    return [
        pb.HarqFeedback(**{proto: (value == 1 if is_bool else value)
                           for (proto, is_bool), value in zip(_HARQ_ENCODE, entry, strict=True)})
        for entry in zip(*history, strict=True) if entry[_HARQ_MCS] >= 0
    ]
