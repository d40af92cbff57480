"""``ReportColumns`` <-> :class:`~xapp.report_batch.ReportBatch`: the columnar wire form.

A 1000-UE slot read message by message costs a Python attribute access per field
and UE; as columns it is one ``np.frombuffer`` view per field. The integer
columns stay views in their wire dtypes (``uint8``, ``int32`` ...: casting the
18 columns to int64 cost more than validating and observing them, see
docs/benchmarks.md); :func:`xapp.features.observe` computes the same features from any
integer dtype. The float columns become float64 like on the per-message path
(:func:`xapp.proto_reports.batch_from_protos`), so both paths give bit-identical
observations. The wire dtypes are documented in
``proto/linkadapt/v1/linkadapt.proto`` (``ReportColumns``) and come from
:data:`xapp.report_fields.FIELDS`, as :data:`COLUMNS` lists them.

The E2 emulator encodes with :func:`encode_columns`; the service decodes with
:func:`decode_columns`, which refuses wrong lengths naming the column and then
runs :func:`xapp.report_batch.validate`.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

import numpy as np
import numpy.typing as npt

from xapp._proto.linkadapt.v1 import linkadapt_pb2 as pb
from xapp.errors import InvalidRequest
from xapp.report_batch import ReportBatch, validate
from xapp.report_fields import FIELDS, NO_ENTRY, UE_ID_WIRE, Kind


class Column(NamedTuple):
    """One ``ReportColumns`` field.

    Attributes:
        field: proto field name.
        batch_name: :class:`ReportBatch` attribute it maps to.
        wire: little-endian dtype on the wire.
        width: values per UE (1, or :data:`~xapp.report_fields.HARQ_HISTORY`).

    """

    field: str
    batch_name: str
    wire: np.dtype[Any]
    width: int = 1


COLUMNS: Final[tuple[Column, ...]] = tuple(
    Column(f.column_name, f.name, f.wire, f.width) for f in FIELDS)
"""Every report column of ``ReportColumns`` (``ue_id``, uint64, comes separately)."""
UE_ID_DTYPE: Final = UE_ID_WIRE
# What decode_columns reads per column, as plain tuples (it runs on every request).
_DECODE: Final = tuple(
    (f.column_name, f.name, f.wire, f.width, f.is_float) for f in FIELDS)
# Columns a request may leave empty: the CQI history, as a report may come without it.
_MAY_BE_EMPTY: Final = frozenset(f.column_name for f in FIELDS if f.kind is Kind.CQI_HISTORY)


def encode_columns(
    batch: ReportBatch, ue_ids: npt.ArrayLike | None = None
) -> Any:
    """Encode a batch (and its UE ids, default ``0..n-1``) as a ``ReportColumns`` message.

    Values are cast to the wire dtypes: the batch must be valid
    (:func:`xapp.report_batch.validate`), or out-of-range values wrap.
    """
    n = len(batch)
    ids = np.arange(n) if ue_ids is None else np.asarray(ue_ids)
    if ids.shape != (n,):
        raise ValueError(f"ue_ids has shape {ids.shape}, the batch has {n} UEs")
    message = pb.ReportColumns(num_ues=n, ue_id=ids.astype(UE_ID_DTYPE).tobytes())
    for column in COLUMNS:
        values = np.asarray(getattr(batch, column.batch_name))
        setattr(message, column.field, values.astype(column.wire).tobytes())
    return message


def decode_columns(message: Any) -> tuple[npt.NDArray[np.uint64], ReportBatch]:
    """Decode a ``ReportColumns`` message into UE ids and a validated :class:`ReportBatch`.

    The CQI history columns may be empty: no UE carries a history.

    Raises:
        InvalidRequest: a column does not hold ``num_ues`` values (the field is
            ``columns.<name>``).
        ReportError: a value out of range (:func:`xapp.report_batch.validate`).

    """
    n = message.num_ues
    ue_ids = np.frombuffer(_checked(message.ue_id, "ue_id", UE_ID_DTYPE, n), UE_ID_DTYPE)
    cols: dict[str, npt.NDArray[Any]] = {}
    for field, batch_name, wire, width, as_float in _DECODE:
        data = getattr(message, field)
        if len(data) != n * width * wire.itemsize:
            if not data and field in _MAY_BE_EMPTY:  # no UE has one
                cols[batch_name] = np.full((n, width), NO_ENTRY, dtype=wire)
                continue
            _checked(data, field, wire, n * width)  # raises, naming the column
        values = np.frombuffer(data, wire)
        if width != 1:
            values = values.reshape(n, width)
        cols[batch_name] = values.astype(np.float64) if as_float else values
    batch = ReportBatch(**cols)
    validate(batch)
    return ue_ids.astype(np.uint64, copy=False), batch


def _checked(data: bytes, field: str, dtype: np.dtype[Any], count: int) -> bytes:
    if len(data) != count * dtype.itemsize:
        raise InvalidRequest(
            f"columns.{field}: needs {count} values of {dtype.str} ({count * dtype.itemsize} "
            f"bytes) for num_ues UEs, got {len(data)} bytes",
            field=f"columns.{field}",
        )
    return data
