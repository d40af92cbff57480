"""The columnar batch of UE reports and its checks.

:class:`ReportBatch` has one column per row of :data:`xapp.report_fields.FIELDS`;
:func:`validate` (and :func:`xapp.report_records.batch_from_records`, which builds
a batch from JSON records) check each field by its kind.
Errors name the first bad field, by UE, in proto naming.
"""

from __future__ import annotations

from dataclasses import fields, make_dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

from xapp import nr_tables
from xapp.report_fields import (
    BY_NAME,
    FIELDS,
    NO_ENTRY,
    Kind,
    ReportField,
    of_kind,
)

IntArray = npt.NDArray[np.integer[Any]]
"""Integer columns: any integer dtype (the simulator keeps the HARQ history in int8)."""


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


def _take(self: Any, index: npt.ArrayLike) -> Any:
    """Return the rows selected by ``index`` (a boolean mask or integer indices)."""
    return type(self)(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


def _len(self: Any) -> int:
    return int(self.cqi.shape[0])


_NAMES: Final = tuple(f.name for f in FIELDS)


def _with_columns(self: Any, **columns: Any) -> Any:
    """Return a batch with the given columns replaced (the others are shared)."""
    return type(self)(**{**{name: getattr(self, name) for name in _NAMES}, **columns})


if TYPE_CHECKING:
    class ReportBatch:
        """Columnar batch of UE reports (see the runtime class below)."""

        def __init__(self, **columns: Any) -> None: ...
        def __getattr__(self, name: str) -> npt.NDArray[Any]: ...
        def __len__(self) -> int: ...
        def take(self, index: npt.ArrayLike) -> ReportBatch:
            """Return the rows selected by ``index`` (a boolean mask or integer indices)."""
        def with_columns(self, **columns: npt.NDArray[Any]) -> ReportBatch:
            """Return a batch with the given columns replaced (the others are shared)."""
else:
    ReportBatch = make_dataclass(
        "ReportBatch", [(f.name, "npt.NDArray[Any]") for f in FIELDS],
        namespace={"__len__": _len, "take": _take, "with_columns": _with_columns,
                   "__module__": __name__,
                   "__doc__": """Columnar batch of UE reports: one array per report field.

    Columns are the names of :data:`xapp.report_fields.FIELDS`: ``(n,)`` arrays,
    ``(n, HARQ_HISTORY)`` for the HARQ entries and ``(n, CQI_HISTORY)`` for the CQI
    history. Absent optional values are encoded in-band: NaN for measurements and for
    an absent BLER target, -1 for an absent MCS and for unused HARQ and CQI history
    slots.
    """},
        frozen=True, slots=True)


_MCS_TABLE_REASON: Final = "must be MCS_TABLE_QAM64 (1) or MCS_TABLE_QAM256 (2)"
_MCS_REASON: Final = "must be a valid MCS index of the report's mcs_table"
_BYTES_REASON: Final = "must be a finite, non-negative number of bytes"
_HARQ_REASON: Final = "needs ack, an mcs valid in the report's mcs_table and age_slots >= 0"
_CQI_HISTORY_REASON: Final = f"needs a cqi in 0..{nr_tables.MAX_CQI} and age_slots >= 0"
_TABLE: Final = of_kind(Kind.MCS_TABLE)[0].name
_INTS: Final = of_kind(Kind.INT)
_LIMITED: Final = tuple((f, BY_NAME[f.not_above]) for f in FIELDS if f.not_above)
_CHOICES: Final = of_kind(Kind.CHOICE)
_MCS: Final = of_kind(Kind.MCS)
_MEASUREMENTS: Final = of_kind(Kind.MEASUREMENT)
_BYTES: Final = of_kind(Kind.BYTES)
_PROBABILITIES: Final = of_kind(Kind.PROBABILITY)

# The range checks of the fast path, on all integer columns at once; CHOICE and
# MCS fields get their exact check after.
_FAST: Final = of_kind(Kind.MCS_TABLE, Kind.INT, Kind.CHOICE, Kind.MCS)
_FAST_COLUMNS: Final = tuple(f.name for f in _FAST)
_FAST_LO: Final = np.array([f.bounds[0] for f in _FAST], dtype=np.int64)
_FAST_HI: Final = np.array([f.bounds[1] for f in _FAST], dtype=np.int64)
_CHOICE_OK: Final = tuple(
    (f.name, np.isin(np.arange(max(f.choices) + 1), f.choices)) for f in _CHOICES)
_TOPS: Final = nr_tables.max_mcs(np.array([nr_tables.QAM64, nr_tables.QAM256]))
# int8: compared with the wire's int8 HARQ MCS column, no operand is widened to int64.
_MAX_MCS_I8: Final = _TOPS.astype(np.int8)
_MIN_TOP_MCS: Final = int(_TOPS.min())
_MCS_ROWS: Final = tuple(_FAST_COLUMNS.index(f.name) for f in _MCS)
_MCS_NAMES: Final = tuple(f.name for f in _MCS)
_LIMITED_NAMES: Final = tuple((f.name, above.name) for f, above in _LIMITED)
_MEASUREMENT_NAMES: Final = tuple(f.name for f in _MEASUREMENTS)
_BYTES_NAMES: Final = tuple(f.name for f in _BYTES)
_PROBABILITY_BOUNDS: Final = tuple((f.name, f.low, f.high) for f in _PROBABILITIES)
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
        if harq_mcs.min() < -1:
            return False
        near_top = harq_mcs.max() > _MIN_TOP_MCS
        for row in _MCS_ROWS:
            near_top = near_top or highest[row] > _MIN_TOP_MCS
        if near_top and not _mcs_fit_tables(batch, harq_mcs):
            return False
        return _others_look_valid(batch, harq_mcs)
    except (TypeError, ValueError, IndexError, KeyError):
        return False


def _mcs_fit_tables(batch: ReportBatch, harq_mcs: IntArray) -> bool:
    """True if every MCS index is valid in its report's table."""
    max_mcs = _MAX_MCS_I8[getattr(batch, _TABLE) - 1]
    if (harq_mcs > max_mcs[:, None]).any():
        return False
    for name in _MCS_NAMES:
        if (getattr(batch, name) > max_mcs).any():
            return False
    return True


def _others_look_valid(batch: ReportBatch, harq_mcs: IntArray) -> bool:
    """The checks of :func:`_looks_valid` past the ranges, on a batch whose ranges are good.

    Plain loops over precomputed names: each runs once per field of its kind.
    """
    for name, above in _LIMITED_NAMES:
        if (getattr(batch, name) > getattr(batch, above)).any():
            return False
    for name, ok in _CHOICE_OK:
        if not ok[getattr(batch, name)].all():
            return False
    ack = batch.harq_ack
    # An ack outside {0, 1} is above 1 as unsigned (int8 -1 reads 255).
    bad_ack = ack.view(_UNSIGNED[ack.dtype.itemsize]) > 1
    if ((harq_mcs >= 0) & ((batch.harq_age < 0) | bad_ack)).any():
        return False
    for name in _MEASUREMENT_NAMES:
        if np.isinf(getattr(batch, name)).any():
            return False
    for name in _BYTES_NAMES:
        values = getattr(batch, name)
        if not (values.min() >= 0 and values.max() < np.inf):  # NaN fails both
            return False
    for name, low, high in _PROBABILITY_BOUNDS:
        values = getattr(batch, name)
        # NaN (absent) compares False both ways; an infinity is outside either bound.
        if ((values <= low) | (values >= high)).any():
            return False
    cqi = batch.cqi_history_cqi
    if cqi.min() < NO_ENTRY or cqi.max() > nr_tables.MAX_CQI:
        return False
    return not ((cqi >= 0) & (batch.cqi_history_age < 0)).any()


def _raise_first_problem(batch: ReportBatch) -> None:
    problems: list[tuple[int, str, str]] = []

    def check(mask: npt.NDArray[np.bool_], field: str, reason: str) -> None:
        bad = np.flatnonzero(mask)
        if bad.size:
            problems.append((int(bad[0]), field, reason))

    table = getattr(batch, _TABLE)
    check(~np.isin(table, (nr_tables.QAM64, nr_tables.QAM256)), _TABLE, _MCS_TABLE_REASON)
    for f in _INTS:
        values = getattr(batch, f.name)
        check((values < f.low) | (values > f.high), f.proto, f"must be in {f.low}..{f.high}")
    for f, above in _LIMITED:
        check(getattr(batch, f.name) > getattr(batch, above.name), f.proto,
              f"must not exceed {above.proto}")
    for f in _CHOICES:
        check(~np.isin(getattr(batch, f.name), f.choices), f.proto, f"must be one of {f.choices}")
    max_mcs = nr_tables.max_mcs(np.clip(table, 1, 2))
    for f in _MCS:
        values = getattr(batch, f.name)
        check((values < -1) | (values > max_mcs), f.proto, _MCS_REASON)
    for f in _MEASUREMENTS:
        check(np.isinf(getattr(batch, f.name)), f.proto, "must be finite")
    for f in _BYTES:
        values = getattr(batch, f.name)
        check(~np.isfinite(values) | (values < 0), f.proto, _BYTES_REASON)
    for f in _PROBABILITIES:
        values = getattr(batch, f.name)
        bad = np.flatnonzero((values <= f.low) | (values >= f.high))
        if bad.size:
            problems.append((int(bad[0]), f.proto,
                             probability_reason(f, values[bad[0]], sent_as_float32=True)))
    valid = batch.harq_mcs >= 0
    bad_entry = (valid & ((batch.harq_mcs > max_mcs[:, None]) | (batch.harq_age < 0)
                          | ~np.isin(batch.harq_ack, (0, 1))))
    bad_entry |= (batch.harq_mcs < -1)
    rows, cols = np.nonzero(bad_entry)
    if rows.size:
        problems.append((int(rows[0]), f"harq[{int(cols[0])}]", _HARQ_REASON))
    cqi = batch.cqi_history_cqi
    rows, cols = np.nonzero((cqi < NO_ENTRY) | (cqi > nr_tables.MAX_CQI)
                            | ((cqi >= 0) & (batch.cqi_history_age < 0)))
    if rows.size:
        problems.append((int(rows[0]), f"cqi_history[{int(cols[0])}]", _CQI_HISTORY_REASON))
    if problems:
        ue, field, reason = min(problems)
        raise ReportError(field, ue, reason)


def probability_reason(field: ReportField, value: Any, sent_as_float32: bool = False) -> str:
    """Why ``value`` is no valid value of a :attr:`~xapp.report_fields.Kind.PROBABILITY` field.

    A value that came as a float32 (proto, columns) is shown as its shortest float32
    spelling (``-0.1``, not ``-0.10000000149011612``); a JSON value as it was sent.
    """
    shown = str(np.float32(value)) if sent_as_float32 else repr(value)
    return f"must be a BLER in ({field.low:g}, {field.high:g}), got {shown}"
