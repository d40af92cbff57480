"""AWGN 10%-BLER thresholds per ``(Qm, R)``: step 1 of :mod:`training.sim.bler`.

The calibration points, their interpolation and the 256QAM Shannon-gap extrapolation
are described in :mod:`training.sim.bler`.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import numpy.typing as npt

from xapp import nr_tables

FloatArray = npt.NDArray[np.floating]
Float64Array = npt.NDArray[np.float64]

# --- 1. AWGN 10%-BLER thresholds -------------------------------------------------

# Published AWGN SNR at 10% BLER for MCS table 1, code block ~2000 bits (3gpp-tables.md).
_CALIBRATION_MCS: Final = np.array([3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 28])
_CALIBRATION_DB: Final = np.array(
    [-2.9, -1.1, 0.7, 2.4, 4.2, 6.0, 7.8, 8.7, 10.0, 12.2, 14.3, 16.5, 18.4, 19.0]
)
CALIBRATION_BLOCK_BITS: Final = 2000
"""Code-block length (bits) the published thresholds refer to."""


def _spectral_efficiency(qm: npt.ArrayLike, rate_x1024: npt.ArrayLike) -> FloatArray:
    """Return ``Qm * R / 1024``, bit/s/Hz per layer, float64."""
    return np.asarray(qm, dtype=np.float64) * np.asarray(rate_x1024, dtype=np.float64) / 1024.0


def _shannon_db(se: npt.ArrayLike) -> FloatArray:
    """Return the Shannon-bound SNR ``10 log10(2**se - 1)`` in dB."""
    return 10.0 * np.log10(np.exp2(np.asarray(se, dtype=np.float64)) - 1.0)


def _table1_snr10() -> FloatArray:
    """AWGN 10%-BLER thresholds (dB) for all 29 entries of MCS table 1."""
    mcs = np.arange(len(nr_tables.mcs_table(nr_tables.QAM64)), dtype=np.float64)
    snr = np.interp(mcs, _CALIBRATION_MCS, _CALIBRATION_DB)
    first, second = _CALIBRATION_DB[0], _CALIBRATION_DB[1]
    slope = (second - first) / float(_CALIBRATION_MCS[1] - _CALIBRATION_MCS[0])  # 0.9 dB
    below = mcs < _CALIBRATION_MCS[0]
    snr[below] = first + slope * (mcs[below] - _CALIBRATION_MCS[0])
    return snr


_TABLE1_SNR10: Final = _table1_snr10()
_TABLE1_MAX_SE: Final = float(_spectral_efficiency(*nr_tables.mcs_table(nr_tables.QAM64)[-1, :2]))

GAP_DB: Final = float(_TABLE1_SNR10[-1] - _shannon_db(_TABLE1_MAX_SE))
"""Shannon gap (dB) of the 256QAM thresholds: table-1 MCS 28 lands on 19.0 dB."""


def _key(qm: npt.ArrayLike, rate_x1024: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Integer key of a ``(Qm, R x 1024)`` pair; R may be a half-integer."""
    doubled_rate = np.rint(2.0 * np.asarray(rate_x1024, dtype=np.float64)).astype(np.int64)
    return np.asarray(qm, dtype=np.int64) * 4096 + doubled_rate


def _build_threshold_lut() -> tuple[npt.NDArray[np.int64], Float64Array]:
    """Sorted ``(keys, snr10_db)`` over every ``(Qm, R)`` of the MCS and CQI tables."""
    table1 = nr_tables.mcs_table(nr_tables.QAM64)
    keys1 = _key(table1[:, 0], table1[:, 1]).tolist()
    known = dict(zip(keys1, _TABLE1_SNR10.tolist(), strict=True))
    cqi1 = nr_tables.cqi_table(nr_tables.QAM64)[1]
    cqi1_db = _TABLE1_SNR10[0] + 10.0 * math.log10(cqi1[2] / table1[0, 2])
    known[int(_key(cqi1[0], cqi1[1]))] = float(cqi1_db)

    rows = [nr_tables.mcs_table(nr_tables.QAM256)]
    rows += [nr_tables.cqi_table(t)[1:] for t in (nr_tables.QAM64, nr_tables.QAM256)]
    for qm, rate, _ in np.concatenate(rows):
        key = int(_key(qm, rate))
        if qm == 8:
            known[key] = float(_shannon_db(_spectral_efficiency(qm, rate)) + GAP_DB)
        elif key not in known:  # pragma: no cover - guards an edit of nr_tables
            raise AssertionError(f"(Qm={qm}, R={rate}) has no MCS-table-1 threshold")
    keys = np.array(sorted(known), dtype=np.int64)
    values = np.array([known[k] for k in keys.tolist()], dtype=np.float64)
    keys.setflags(write=False)
    values.setflags(write=False)
    return keys, values


_LUT_KEYS, _LUT_SNR10 = _build_threshold_lut()


def snr10_db(qm: npt.ArrayLike, rate_x1024: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """AWGN SNR (dB) at 10% code-block BLER for a ~2000-bit code block.

    Args:
        qm: modulation order, any shape.
        rate_x1024: code rate times 1024, broadcast against ``qm``.

    Returns:
        float64 thresholds in dB, the broadcast shape.

    Raises:
        ValueError: a ``(Qm, R)`` pair does not occur in the MCS or CQI tables.

    """
    key = _key(qm, rate_x1024)
    idx = np.clip(np.searchsorted(_LUT_KEYS, key), 0, len(_LUT_KEYS) - 1)
    found = _LUT_KEYS[idx] == key
    if not np.all(found):
        bad = np.broadcast_arrays(np.asarray(qm), np.asarray(rate_x1024))
        first = np.flatnonzero(~found.ravel())[0]
        raise ValueError(
            f"no threshold for (Qm={bad[0].ravel()[first]}, R={bad[1].ravel()[first]}): "
            "not an MCS or CQI table entry"
        )
    return np.asarray(_LUT_SNR10[idx], dtype=np.float64)
