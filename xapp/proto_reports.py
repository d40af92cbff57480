"""Protobuf ``UeReport`` messages -> :class:`~xapp.features.ReportBatch`, once per batch.

This is the per-message path (``DecisionRequest.reports``); the columnar path
(``DecisionRequest.columns``) is :mod:`xapp.columns`. It runs on every slot, so
each report's scalar fields are read with one ``attrgetter`` call into one row
of a float64 table (made with one ``np.array`` call), all HARQ entries of the
batch are read in one pass, and the :class:`ReportBatch` columns are views of
those two arrays. Presence is checked only where a value reads as zero (proto3
reads an absent field as zero, so a non-zero value is present). Range checks are
:func:`xapp.features.validate` on the columns. Errors name the field and the UE
like :func:`~xapp.features.batch_from_records` does: the first by UE, then field.

Per-message access is Python attribute access per HARQ entry and per report,
which adds up over a 1000-UE slot (docs/benchmarks.md). Large batches should use columns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import chain
from operator import attrgetter, itemgetter
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from xapp import features
from xapp.features import HARQ_HISTORY, ReportBatch, ReportError

# proto field -> ReportBatch column, for the required integer fields.
_REQUIRED: Final = (
    ("mcs_table", "mcs_table"),
    ("wideband_cqi", "cqi"),
    ("cqi_age_slots", "cqi_age"),
    ("rank_indicator", "rank"),
    ("tb_initial_total", "tb_total"),
    ("tb_initial_errors", "tb_errors"),
    ("allocated_prbs", "prbs"),
    ("num_tx_antennas", "tx_antennas"),
    ("numerology", "numerology"),
    ("csi_period_slots", "csi_period"),
)
_NUM_REQUIRED: Final = len(_REQUIRED)
_LAST_MCS: Final = _NUM_REQUIRED
# A report's scalar fields in the order of the table's columns; the float
# columns have the proto names.
_FLOAT_COLUMNS: Final = ("buffer_bytes", "ss_sinr_db", "ss_rsrp_dbm")
_READ_ORDER: Final = (*(name for name, _ in _REQUIRED), "last_mcs", *_FLOAT_COLUMNS, "ue_id")
_READ: Final = attrgetter(*_READ_ORDER)
_INT_COLUMNS: Final = (*(column for _, column in _REQUIRED), "last_mcs")

_HARQ_FIELDS: Final = ("ack", "mcs", "age_slots", "initial")  # `initial` defaults to true
_READ_HARQ: Final = attrgetter(*_HARQ_FIELDS)
_HARQ_COLUMNS: Final = ("harq_ack", "harq_mcs", "harq_age", "harq_initial")


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
        if values[-3] != values[-3] or values[-2] != values[-2]:  # NaN: sent, not absent
            name = "ss_sinr_db" if values[-3] != values[-3] else "ss_rsrp_dbm"
            problems.append((ue, name, "must be a finite number, got nan"))
        if 0 in values[:-1]:
            values = _fill_absent(report, values, ue, problems)
        scalars.append(values)
        harq_lists.append(report.harq)
    n = len(scalars)
    # One array per dtype; the float64 one holds values up to 2**32 exactly.
    table = np.array(scalars, dtype=np.float64).reshape(n, len(_READ_ORDER))
    ue_ids = np.fromiter(map(itemgetter(-1), scalars), np.uint64, n)
    batch = _as_batch(table, _harq_matrix(harq_lists, problems))
    if problems:
        raise ReportError(*_first(problems, batch))
    features.validate(batch)
    return ue_ids, batch


def _fill_absent(
    report: Any, values: tuple[Any, ...], ue: int, problems: list[tuple[int, str, str]]
) -> tuple[Any, ...]:
    """Return ``values`` with absent optional fields encoded; record absent required ones."""
    out = list(values)
    for j in range(_NUM_REQUIRED):
        if values[j] == 0 and not report.HasField(_REQUIRED[j][0]):
            problems.append((ue, _REQUIRED[j][0], "is required"))
    if values[_LAST_MCS] == 0 and not report.HasField("last_mcs"):
        out[_LAST_MCS] = -1
    for j, name in enumerate(_FLOAT_COLUMNS, start=_NUM_REQUIRED + 1):
        if values[j] == 0 and not report.HasField(name):
            if name == "buffer_bytes":
                problems.append((ue, name, "is required"))
            else:
                out[j] = math.nan
    return tuple(out)


def _harq_matrix(harq_lists: list[Any], problems: list[tuple[int, str, str]]) -> Any:
    """Return the HARQ history as an ``(n, HARQ_HISTORY, 4)`` int64 array (-1: no entry).

    The last axis is ack, mcs, age_slots, initial. All entries of the batch are read
    in one pass; presence is looked at only where a value reads as zero/false.
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
    out = np.full((n, HARQ_HISTORY, 4), -1, dtype=np.int64)
    if not entries:
        return out
    values = np.fromiter(chain.from_iterable(map(_READ_HARQ, entries)), np.int64,
                         4 * len(entries)).reshape(-1, 4)
    zero = values == 0
    for j, has_zero in enumerate(zero.any(axis=0).tolist()):
        name = _HARQ_FIELDS[j]
        absent = has_zero and [k for k in np.flatnonzero(zero[:, j]).tolist()
                               if not entries[k].HasField(name)]
        if not absent:
            continue
        if name == "initial":
            values[absent, j] = 1  # absent means an initial transmission
            continue
        ue, slot = _locate(absent[0], counts)
        problems.append((ue, f"harq[{slot}].{name}", "is required"))
    if len(entries) == n * HARQ_HISTORY:  # full histories: no scatter needed
        return values.reshape(n, HARQ_HISTORY, 4)
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
    ints = table[:, : _NUM_REQUIRED + 1].astype(np.int64)
    cols: dict[str, npt.NDArray[Any]] = {name: ints[:, j] for j, name in enumerate(_INT_COLUMNS)}
    for j, name in enumerate(_FLOAT_COLUMNS, start=_NUM_REQUIRED + 1):
        cols[name] = table[:, j]
    for j, name in enumerate(_HARQ_COLUMNS):
        cols[name] = harq[:, :, j]
    return ReportBatch(**cols)


def _first(problems: list[tuple[int, str, str]], batch: ReportBatch) -> tuple[str, int, str]:
    """Return ``(field, ue, reason)`` of the first problem, range errors included."""
    ue, field, reason = min(problems)
    try:
        features.validate(batch)
    except ReportError as exc:
        if exc.ue_index < ue:
            return exc.field, exc.ue_index, exc.reason
    return field, ue, reason
