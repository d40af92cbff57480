"""Protobuf ``UeReport`` messages -> :class:`~xapp.features.ReportBatch`, once per batch.

Speed matters here (it runs on every slot): each field becomes a numpy column
with one C-level pass (``np.fromiter`` over ``map(attrgetter)``), presence is
checked only where the value is zero (proto3 reads an absent field as zero, so a
non-zero value is present), and range checks are :func:`xapp.features.validate`
on the columns. Errors name the field and the UE like
:func:`~xapp.features.batch_from_records` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from operator import attrgetter
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from xapp import features
from xapp.features import HARQ_HISTORY, ReportBatch, ReportError

# proto field -> ReportBatch column, for the required scalar fields.
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
_HARQ_FIELDS: Final = ("ack", "mcs", "age_slots")


def _column(items: Sequence[Any], name: str, dtype: type) -> npt.NDArray[Any]:
    return np.fromiter(map(attrgetter(name), items), dtype, len(items))


def _absent(items: Sequence[Any], values: npt.NDArray[Any], name: str) -> npt.NDArray[np.bool_]:
    """Return a mask of the items where ``name`` is absent (only zeros are looked at)."""
    absent = np.zeros(len(items), dtype=bool)
    for i in np.flatnonzero(values == 0):
        absent[i] = not items[int(i)].HasField(name)
    return absent


def batch_from_protos(
    reports: Sequence[Any],
) -> tuple[npt.NDArray[np.uint64], ReportBatch]:
    """Convert ``UeReport`` messages into UE ids and a validated :class:`ReportBatch`.

    Raises:
        ReportError: the first (by UE, then field) missing or out-of-range field.

    """
    reports = list(reports)  # indexing a list is cheaper than the repeated container
    problems: list[tuple[int, str, str]] = []
    cols: dict[str, npt.NDArray[Any]] = {}
    for proto_name, column in _REQUIRED:
        values = _column(reports, proto_name, np.int64)
        cols[column] = values
        missing = np.flatnonzero(_absent(reports, values, proto_name))
        if missing.size:
            problems.append((int(missing[0]), proto_name, "is required"))
    buffer = _column(reports, "buffer_bytes", np.float64)
    missing = np.flatnonzero(_absent(reports, buffer, "buffer_bytes"))
    if missing.size:
        problems.append((int(missing[0]), "buffer_bytes", "is required"))
    cols["buffer_bytes"] = buffer
    last = _column(reports, "last_mcs", np.int64)
    cols["last_mcs"] = np.where(_absent(reports, last, "last_mcs"), -1, last)
    for name in ("ss_sinr_db", "ss_rsrp_dbm"):
        values = _column(reports, name, np.float64)
        nan = np.flatnonzero(np.isnan(values))  # NaN != 0, so it was sent
        if nan.size:
            problems.append((int(nan[0]), name, "must be a finite number, got nan"))
        cols[name] = np.where(_absent(reports, values, name), np.nan, values)
    _harq_columns(reports, cols, problems)
    if problems:
        raise ReportError(*_first(problems, cols))
    batch = ReportBatch(**cols)
    features.validate(batch)
    return _column(reports, "ue_id", np.uint64), batch


def _first(
    problems: list[tuple[int, str, str]], cols: dict[str, npt.NDArray[Any]]
) -> tuple[str, int, str]:
    """Return ``(field, ue, reason)`` of the first problem, range errors included."""
    ue, field, reason = min(problems)
    if len(cols) == len(ReportBatch.__slots__):  # type: ignore[attr-defined]
        try:
            features.validate(ReportBatch(**cols))
        except ReportError as exc:
            if exc.ue_index < ue:
                return exc.field, exc.ue_index, exc.reason
    return field, ue, reason


def _harq_columns(
    reports: Sequence[Any],
    cols: dict[str, npt.NDArray[Any]],
    problems: list[tuple[int, str, str]],
) -> None:
    n = len(reports)
    lists = list(map(attrgetter("harq"), reports))
    counts = np.fromiter(map(len, lists), np.int64, n)
    shape = (n, HARQ_HISTORY)
    for name in ("harq_ack", "harq_mcs", "harq_age", "harq_initial"):
        cols[name] = np.full(shape, -1, dtype=np.int64)
    too_long = np.flatnonzero(counts > HARQ_HISTORY)
    if too_long.size:
        ue = int(too_long[0])
        problems.append((ue, "harq", f"carries at most {HARQ_HISTORY} entries, "
                                     f"got {int(counts[ue])}"))
        return
    entries = list(chain.from_iterable(lists))
    if not entries:
        return
    rows = np.repeat(np.arange(n), counts)
    slots = np.arange(len(entries)) - np.repeat(np.cumsum(counts) - counts, counts)
    for name in _HARQ_FIELDS:
        values = _column(entries, name, np.int64)
        missing = np.flatnonzero(_absent(entries, values, name))
        if missing.size:
            k = int(missing[0])
            problems.append((int(rows[k]), f"harq[{int(slots[k])}].{name}", "is required"))
        column = {"ack": "harq_ack", "mcs": "harq_mcs", "age_slots": "harq_age"}[name]
        cols[column][rows, slots] = values
    initial = _column(entries, "initial", np.int64)
    initial[_absent(entries, initial, "initial")] = 1  # absent means an initial TX
    cols["harq_initial"][rows, slots] = initial
