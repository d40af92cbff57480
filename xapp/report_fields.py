"""The fields of a UE report: one table that every report path is derived from.

A report reaches the policy by four roads: ``UeReport`` messages
(:mod:`xapp.proto_reports`, and the one-UE form of :mod:`xapp.single_ue`),
``ReportColumns`` (:mod:`xapp.columns`), JSON records
(:func:`xapp.report_records.batch_from_records`) and the simulator's own
:class:`~xapp.report_batch.ReportBatch`. Each of them reads :data:`FIELDS`: the
column names of the batch, the proto names, the wire dtypes of the columns, the
valid ranges and what an absent optional field stands for. A new field is one
row here (and its proto field, and the features :func:`xapp.features.observe`
makes of it); the paths pick it up by its :class:`Kind`.

The proto (``proto/linkadapt/v1/linkadapt.proto``) documents each field's KPM
name and unit; ``tests/xapp/test_report_fields.py`` checks that the table and the
proto agree.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

import numpy as np

from xapp import nr_tables

HARQ_HISTORY: Final = 8
"""HARQ feedbacks a report carries, most recent first."""
CQI_HISTORY: Final = 4
"""Earlier CSI reports a report may carry, most recent first."""
CSI_PERIODS_SLOTS: Final = (4, 5, 8, 10, 16, 20, 40, 80, 160, 320)
"""TS 38.331 CSI-ReportPeriodicityAndOffset."""
MAX_PRBS: Final = 275  # TS 38.101-1 Table 5.3.2-1: at most 273 PRBs; headroom of the field
MAX_TX_ANTENNAS: Final = 64
MAX_NUMEROLOGY: Final = 4  # TS 38.211 Table 4.2-1: mu = 0..4 for data channels
MAX_COUNT: Final = 1_000_000
"""Upper bound of the slot ages and TB counters: far above any KPM window."""
NO_ENTRY: Final = -1
"""What every HARQ and CQI history column holds in a slot without an entry."""


_FLOAT32: Final = struct.Struct("<f")


def float32(value: float) -> float:
    """``value`` rounded to float32, as a Python float: a BLER target as the wire carries it.

    Every path holds the target as a float32 value (the proto's ``float``, the
    ``float32`` column; JSON numbers and the default are rounded the same way), so
    a report gets the same observation whichever way it came.
    """
    return float(_FLOAT32.unpack(_FLOAT32.pack(value))[0])


class Kind(Enum):
    """How a field is checked, stored and read; every path handles each kind once.

    Attributes:
        MCS_TABLE: the report's MCS table, 1 or 2 (the enum ``McsTable``).
        INT: a required integer in ``low..high``.
        CHOICE: a required integer among ``choices``.
        MCS: an optional MCS index, valid in the report's table; -1 when absent.
        MEASUREMENT: an optional finite float; NaN when absent.
        PROBABILITY: an optional float strictly between ``low`` and ``high`` (a BLER
            in (0, 1)); NaN when absent.
        BYTES: a required non-negative integer, kept as float64.
        HARQ: a field of the report's ``HarqFeedback`` entries, one column each.
        CQI_HISTORY: a field of the report's ``CqiReport`` entries (``cqi_history``),
            one column each.

    """

    MCS_TABLE = "mcs_table"
    INT = "int"
    CHOICE = "choice"
    MCS = "mcs"
    MEASUREMENT = "measurement"
    PROBABILITY = "probability"
    BYTES = "bytes"
    HARQ = "harq"
    CQI_HISTORY = "cqi_history"


@dataclass(frozen=True, slots=True)
class ReportField:
    """One field of a UE report.

    Attributes:
        name: the :class:`~xapp.report_batch.ReportBatch` column.
        proto: the ``UeReport`` field (the ``HarqFeedback`` or ``CqiReport`` field of
            an entry).
        wire: the little-endian dtype of its ``ReportColumns`` column.
        kind: how it is checked and stored (:class:`Kind`).
        low: lowest valid value (INT, CHOICE and entries: as a JSON record is read).
        high: highest valid value (for an MCS: of either table).
        absent: the value an absent field stands for; ``None``: the field is required.
        column: the ``ReportColumns`` field, where it differs from ``proto``.
        choices: the valid values of a CHOICE field.
        not_above: the column this field must not exceed (errors within a window:
            at most its TBs).

    """

    name: str
    proto: str
    wire: np.dtype[Any]
    kind: Kind
    low: int = 0
    high: int = 0
    absent: float | None = None
    column: str = ""
    choices: tuple[int, ...] = ()
    not_above: str = ""

    @property
    def required(self) -> bool:
        """True if a report without this field is refused."""
        return self.absent is None

    @property
    def width(self) -> int:
        """Values per UE: :data:`HARQ_HISTORY` or :data:`CQI_HISTORY` for entries, else 1."""
        if self.kind is Kind.HARQ:
            return HARQ_HISTORY
        return CQI_HISTORY if self.kind is Kind.CQI_HISTORY else 1

    @property
    def column_name(self) -> str:
        """The ``ReportColumns`` field."""
        return self.column or self.proto

    @property
    def is_float(self) -> bool:
        """True if the batch column is float64 (on every path but the simulator's)."""
        return self.kind in (Kind.MEASUREMENT, Kind.PROBABILITY, Kind.BYTES)

    @property
    def bounds(self) -> tuple[int, int]:
        """``(lowest, highest)`` a valid batch holds (an absent MCS is -1)."""
        if self.kind is Kind.CHOICE:
            return min(self.choices), max(self.choices)
        if self.kind is Kind.MCS:
            return NO_ENTRY, self.high
        return self.low, self.high


_TOP_MCS: Final = max(nr_tables.max_mcs(nr_tables.QAM64), nr_tables.max_mcs(nr_tables.QAM256))
_u1, _u2, _u4, _u8 = np.dtype("u1"), np.dtype("<u2"), np.dtype("<u4"), np.dtype("<u8")
_i1, _i4, _f4 = np.dtype("i1"), np.dtype("<i4"), np.dtype("<f4")

FIELDS: Final[tuple[ReportField, ...]] = (
    ReportField("mcs_table", "mcs_table", _u1, Kind.MCS_TABLE, nr_tables.QAM64, nr_tables.QAM256),
    ReportField("cqi", "wideband_cqi", _u1, Kind.INT, 0, nr_tables.MAX_CQI),
    ReportField("cqi_age", "cqi_age_slots", _u4, Kind.INT, 0, MAX_COUNT),
    ReportField("rank", "rank_indicator", _u1, Kind.INT, 1, 8),
    ReportField("harq_ack", "ack", _i1, Kind.HARQ, 0, 1, column="harq_ack"),
    ReportField("harq_mcs", "mcs", _i1, Kind.HARQ, 0, _TOP_MCS, column="harq_mcs"),
    ReportField("harq_age", "age_slots", _i4, Kind.HARQ, 0, MAX_COUNT, column="harq_age_slots"),
    # An entry without `initial` reports an initial transmission.
    ReportField("harq_initial", "initial", _i1, Kind.HARQ, 0, 1, absent=1,
                column="harq_initial"),
    ReportField("tb_total", "tb_initial_total", _u4, Kind.INT, 0, MAX_COUNT),
    ReportField("tb_errors", "tb_initial_errors", _u4, Kind.INT, 0, MAX_COUNT,
                not_above="tb_total"),
    ReportField("last_mcs", "last_mcs", _i1, Kind.MCS, 0, _TOP_MCS, absent=NO_ENTRY),
    ReportField("ss_sinr_db", "ss_sinr_db", _f4, Kind.MEASUREMENT, absent=math.nan),
    ReportField("ss_rsrp_dbm", "ss_rsrp_dbm", _f4, Kind.MEASUREMENT, absent=math.nan),
    ReportField("buffer_bytes", "buffer_bytes", _u8, Kind.BYTES, 0, 2**63 - 1),
    ReportField("prbs", "allocated_prbs", _u2, Kind.INT, 1, MAX_PRBS),
    ReportField("tx_antennas", "num_tx_antennas", _u1, Kind.INT, 1, MAX_TX_ANTENNAS),
    ReportField("numerology", "numerology", _u1, Kind.INT, 0, MAX_NUMEROLOGY),
    ReportField("csi_period", "csi_period_slots", _u2, Kind.CHOICE, 1, 10_000,
                choices=CSI_PERIODS_SLOTS),
    # The operator's first-transmission BLER target of the UE's service; an absent one
    # is the service's default_target_bler (xapp.core fills it in before observe).
    ReportField("target_bler", "target_bler", _f4, Kind.PROBABILITY, 0, 1, absent=math.nan),
    ReportField("cqi_history_cqi", "cqi", _i1, Kind.CQI_HISTORY, 0, nr_tables.MAX_CQI,
                column="cqi_history_cqi"),
    ReportField("cqi_history_age", "age_slots", _i4, Kind.CQI_HISTORY, 0, MAX_COUNT,
                column="cqi_history_age_slots"),
)
"""Every report field, in the order of the batch's columns and of ``ReportColumns``."""

UE_ID_PROTO: Final = "ue_id"
UE_ID_WIRE: Final = _u8
"""``ue_id`` identifies the report's UE and is no report field: the decision carries it back."""


def of_kind(*kinds: Kind) -> tuple[ReportField, ...]:
    """The fields of the given kinds, in table order."""
    return tuple(f for f in FIELDS if f.kind in kinds)


SCALAR_ORDER: Final = tuple(f for kind in (Kind.MCS_TABLE, Kind.INT, Kind.CHOICE, Kind.MCS,
                                           Kind.BYTES, Kind.MEASUREMENT, Kind.PROBABILITY)
                           for f in of_kind(kind))
"""The fields a report carries once (all but the entries), grouped by kind: the
integer columns first, then the float ones (the optional ones last: measurements, then
the BLER target). The message paths read them in this order."""
HARQ: Final = of_kind(Kind.HARQ)
"""The fields of a ``HarqFeedback`` entry."""
CQI_ENTRY: Final = of_kind(Kind.CQI_HISTORY)
"""The fields of a ``CqiReport`` entry (``cqi_history``)."""
BY_NAME: Final = {f.name: f for f in FIELDS}
