"""5G NR modulation-and-coding and CQI tables, and the CQI -> MCS mapping.

Shared by the service (fallback rule, action masks) and the simulator (TBS, BLER,
CQI quantization); the simulator imports them from here so that training and
serving can never disagree on what an MCS index means.

Each table is a ``(n, 3)`` float64 array of ``(Qm, R x 1024, spectral efficiency)``
rows indexed by MCS or CQI index.
"""

from __future__ import annotations

from typing import Any, Final, overload

import numpy as np
import numpy.typing as npt

QAM64: Final = 1
"""MCS table 1 / CQI table 1 (max 64QAM), the proto's ``MCS_TABLE_QAM64``."""
QAM256: Final = 2
"""MCS table 2 / CQI table 2 (max 256QAM), the proto's ``MCS_TABLE_QAM256``."""

NUM_ACTIONS: Final = 29
"""Policy outputs: one per MCS index 0..28. Table 2 has 28 entries; index 28 is
masked for it (:func:`valid_action_mask`)."""

# TS 38.214 Table 5.1.3.1-1: MCS index table 1 for PDSCH (64QAM). MCS 29-31 reserved.
_MCS_TABLE_1: Final = np.array(
    [
        (2, 120, 0.2344), (2, 157, 0.3066), (2, 193, 0.3770), (2, 251, 0.4902),
        (2, 308, 0.6016), (2, 379, 0.7402), (2, 449, 0.8770), (2, 526, 1.0273),
        (2, 602, 1.1758), (2, 679, 1.3262), (4, 340, 1.3281), (4, 378, 1.4766),
        (4, 434, 1.6953), (4, 490, 1.9141), (4, 553, 2.1602), (4, 616, 2.4063),
        (4, 658, 2.5703), (6, 438, 2.5664), (6, 466, 2.7305), (6, 517, 3.0293),
        (6, 567, 3.3223), (6, 616, 3.6094), (6, 666, 3.9023), (6, 719, 4.2129),
        (6, 772, 4.5234), (6, 822, 4.8164), (6, 873, 5.1152), (6, 910, 5.3320),
        (6, 948, 5.5547),
    ],
    dtype=np.float64,
)

# TS 38.214 Table 5.1.3.1-2: MCS index table 2 for PDSCH (256QAM). MCS 28-31 reserved.
_MCS_TABLE_2: Final = np.array(
    [
        (2, 120, 0.2344), (2, 193, 0.3770), (2, 308, 0.6016), (2, 449, 0.8770),
        (2, 602, 1.1758), (4, 378, 1.4766), (4, 434, 1.6953), (4, 490, 1.9141),
        (4, 553, 2.1602), (4, 616, 2.4063), (4, 658, 2.5703), (6, 466, 2.7305),
        (6, 517, 3.0293), (6, 567, 3.3223), (6, 616, 3.6094), (6, 666, 3.9023),
        (6, 719, 4.2129), (6, 772, 4.5234), (6, 822, 4.8164), (6, 873, 5.1152),
        (8, 682.5, 5.3320), (8, 711, 5.5547), (8, 754, 5.8906), (8, 797, 6.2266),
        (8, 841, 6.5703), (8, 885, 6.9141), (8, 916.5, 7.1602), (8, 948, 7.4063),
    ],
    dtype=np.float64,
)

# TS 38.214 Table 5.2.2.1-2: 4-bit CQI table 1. Row 0 ("out of range") is all zeros.
_CQI_TABLE_1: Final = np.array(
    [
        (0, 0, 0.0),
        (2, 78, 0.1523), (2, 120, 0.2344), (2, 193, 0.3770), (2, 308, 0.6016),
        (2, 449, 0.8770), (2, 602, 1.1758), (4, 378, 1.4766), (4, 490, 1.9141),
        (4, 616, 2.4063), (6, 466, 2.7305), (6, 567, 3.3223), (6, 666, 3.9023),
        (6, 772, 4.5234), (6, 873, 5.1152), (6, 948, 5.5547),
    ],
    dtype=np.float64,
)

# TS 38.214 Table 5.2.2.1-3: 4-bit CQI table 2 (256QAM).
_CQI_TABLE_2: Final = np.array(
    [
        (0, 0, 0.0),
        (2, 78, 0.1523), (2, 193, 0.3770), (2, 449, 0.8770), (4, 378, 1.4766),
        (4, 490, 1.9141), (4, 616, 2.4063), (6, 466, 2.7305), (6, 567, 3.3223),
        (6, 666, 3.9023), (6, 772, 4.5234), (6, 873, 5.1152), (8, 711, 5.5547),
        (8, 797, 6.2266), (8, 885, 6.9141), (8, 948, 7.4063),
    ],
    dtype=np.float64,
)

for _t in (_MCS_TABLE_1, _MCS_TABLE_2, _CQI_TABLE_1, _CQI_TABLE_2):
    _t.setflags(write=False)

MAX_CQI: Final = 15


def mcs_table(table: int) -> npt.NDArray[np.float64]:
    """Return MCS table ``table`` (1 or 2) as rows of ``(Qm, R x 1024, efficiency)``."""
    if table == QAM64:
        return _MCS_TABLE_1
    if table == QAM256:
        return _MCS_TABLE_2
    raise ValueError(f"mcs_table must be {QAM64} (64QAM) or {QAM256} (256QAM), got {table!r}")


def cqi_table(table: int) -> npt.NDArray[np.float64]:
    """Return CQI table ``table`` (1 or 2) as rows of ``(Qm, R x 1024, efficiency)``."""
    if table == QAM64:
        return _CQI_TABLE_1
    if table == QAM256:
        return _CQI_TABLE_2
    raise ValueError(f"cqi table must be {QAM64} (64QAM) or {QAM256} (256QAM), got {table!r}")


@overload
def max_mcs(table: int) -> int: ...
@overload
def max_mcs(table: npt.NDArray[np.integer[Any]]) -> npt.NDArray[np.int64]: ...
def max_mcs(table: int | npt.NDArray[np.integer[Any]]) -> int | npt.NDArray[np.int64]:
    """Return the best allowed MCS index of ``table``: 28 for table 1, 27 for table 2.

    ``table`` is one table (1 or 2; anything else raises ``ValueError``) or an
    array of them (which must hold only 1 and 2), giving an int64 array of the
    same shape. Every "highest valid MCS" of the project comes from here.
    """
    if isinstance(table, int | np.integer):
        return len(mcs_table(int(table))) - 1
    return _MAX_MCS[np.asarray(table) - 1]


def _cqi_to_mcs_lut(table: int) -> npt.NDArray[np.int64]:
    """Highest MCS whose efficiency does not exceed the CQI's (MCS 0 for CQI 0 and 1)."""
    mcs_eff = mcs_table(table)[:, 2]
    cqi_eff = cqi_table(table)[:, 2]
    # searchsorted on a non-decreasing copy: table 1 has MCS 17 (2.5664) just below
    # MCS 16 (2.5703), so use the running maximum, which keeps the lower index.
    monotone = np.maximum.accumulate(mcs_eff)
    idx = np.searchsorted(monotone, cqi_eff + 1e-9, side="right") - 1
    return np.clip(idx, 0, None).astype(np.int64)


CQI_TO_MCS: Final = np.stack([_cqi_to_mcs_lut(QAM64), _cqi_to_mcs_lut(QAM256)])
"""``CQI_TO_MCS[table - 1, cqi]``: the MCS matching a CQI (inner-loop link adaptation)."""
CQI_TO_MCS.setflags(write=False)

CQI_EFFICIENCY: Final = np.stack([_CQI_TABLE_1[:, 2], _CQI_TABLE_2[:, 2]])
"""``CQI_EFFICIENCY[table - 1, cqi]``: spectral efficiency of a CQI, bit/s/Hz per layer."""
CQI_EFFICIENCY.setflags(write=False)

_MAX_MCS: Final = np.array([len(_MCS_TABLE_1) - 1, len(_MCS_TABLE_2) - 1], dtype=np.int64)
_MAX_MCS.setflags(write=False)
MAX_MCS: Final = max_mcs(np.array([QAM64, QAM256]))
MAX_MCS.setflags(write=False)
"""``MAX_MCS[table - 1]``: :func:`max_mcs` of each table, for code that indexes it."""


def cqi_to_mcs(cqi: npt.ArrayLike, table: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Map CQI to MCS: the highest MCS whose spectral efficiency is at most the CQI's.

    Args:
        cqi: wideband CQI, integers 0..15, any shape.
        table: 1 or 2 per element (broadcast against ``cqi``).

    Returns:
        int64 MCS indices, the broadcast shape of the inputs.
    """
    return CQI_TO_MCS[np.asarray(table) - 1, np.asarray(cqi)]


def valid_action_mask(table: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Return a ``(..., NUM_ACTIONS)`` mask of the MCS indices valid in each row's table."""
    limits = max_mcs(np.asarray(table))
    return np.arange(NUM_ACTIONS) <= limits[..., None]
