"""EESM effective SINR over sub-bands: step 2 of :mod:`training.sim.bler`.

The mapping and the ``beta`` calibration are described in :mod:`training.sim.bler`.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from xapp import nr_tables

FloatArray = npt.NDArray[np.floating]

# --- 2. EESM --------------------------------------------------------------------

# Published beta ranges per modulation order (3gpp-tables.md), (low, high).
_BETA_RANGE: Final = {2: (1.6, 1.8), 4: (4.0, 6.5), 6: (10.0, 34.0), 8: (56.0, 133.0)}


def _rate_span_per_modulation() -> dict[int, tuple[float, float]]:
    """Lowest and highest ``R x 1024`` of each modulation over both MCS tables."""
    rows = np.concatenate([nr_tables.mcs_table(t) for t in (nr_tables.QAM64, nr_tables.QAM256)])
    return {
        qm: (float(rows[rows[:, 0] == qm, 1].min()), float(rows[rows[:, 0] == qm, 1].max()))
        for qm in _BETA_RANGE
    }


_RATE_SPAN: Final = _rate_span_per_modulation()


def _beta_lut() -> FloatArray:
    """Per-``Qm`` rows ``(R_lo, R_hi, beta_lo, beta_hi)``, NaN for unsupported Qm."""
    lut = np.full((9, 4), np.nan)
    for qm, (b_lo, b_hi) in _BETA_RANGE.items():
        lut[qm] = (*_RATE_SPAN[qm], b_lo, b_hi)
    lut.setflags(write=False)
    return lut


_BETA_LUT: Final = _beta_lut()


def eesm_beta(qm: npt.ArrayLike, rate_x1024: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """EESM calibration factor ``beta`` (linear SINR units) for a ``(Qm, R)``.

    Args:
        qm: modulation order (2, 4, 6 or 8), any shape.
        rate_x1024: code rate times 1024, broadcast against ``qm``.

    Returns:
        float64 ``beta``, the broadcast shape: linear in R between the modulation's
        lowest and highest MCS-table code rate, clipped to the published range outside.

    Raises:
        ValueError: ``qm`` is not 2, 4, 6 or 8.

    """
    qm_arr = np.asarray(qm)
    if not np.all(np.isin(qm_arr, list(_BETA_RANGE))):
        raise ValueError(f"Qm must be one of {sorted(_BETA_RANGE)}")
    r_lo, r_hi, b_lo, b_hi = np.moveaxis(_BETA_LUT[qm_arr.astype(np.int64)], -1, 0)
    frac = np.clip((np.asarray(rate_x1024, dtype=np.float64) - r_lo) / (r_hi - r_lo), 0.0, 1.0)
    return np.asarray(b_lo + frac * (b_hi - b_lo), dtype=np.float64)


def effective_sinr_linear(sinr_linear: npt.ArrayLike, beta: npt.ArrayLike) -> FloatArray:
    """EESM effective SINR in linear units.

    Args:
        sinr_linear: ``(n, s)`` per-sub-band SINR, linear (> 0), float32 or float64
            (any leading shape works: the last axis is the sub-band axis).
        beta: ``(n,)`` EESM factors (or a scalar), linear.

    Returns:
        ``(n,)`` effective SINR, linear, dtype of ``sinr_linear`` (float32 stays
        float32). Between the row's minimum and maximum SINR (up to rounding), and
        exactly the common value when all sub-bands are equal.

    """
    sinr = np.asarray(sinr_linear)
    if not np.issubdtype(sinr.dtype, np.floating):
        sinr = sinr.astype(np.float64)
    beta_arr = np.asarray(beta, dtype=sinr.dtype)
    # Sub-bands first, contiguous: numpy's short-last-axis reductions and row
    # broadcasts are slow (docs/benchmarks.md); along axis 0 every step is a long
    # contiguous vector operation.
    bands = np.ascontiguousarray(np.moveaxis(sinr, -1, 0))
    low = np.minimum.reduce(bands, axis=0)
    scaled = low - bands
    scaled *= 1.0 / beta_arr  # <= 0: exp never overflows
    # The row minimum contributes exp(0) = 1, so the sum is in [1, s]: finite log.
    total = np.add.reduce(np.exp(scaled, out=scaled), axis=0)
    log_mean = np.log(total / bands.shape[0])  # in [-(max - min) / beta, 0]
    result: FloatArray = low - beta_arr * log_mean
    return result


def effective_sinr_db(sinr_linear: npt.ArrayLike, beta: npt.ArrayLike) -> FloatArray:
    """EESM effective SINR in dB (see :func:`effective_sinr_linear` for shapes).

    Args:
        sinr_linear: ``(n, s)`` per-sub-band SINR, linear (> 0), float32 or float64.
        beta: ``(n,)`` EESM factors (or a scalar), linear.

    Returns:
        ``(n,)`` effective SINR in dB, dtype of ``sinr_linear``.

    """
    result: FloatArray = 10.0 * np.log10(effective_sinr_linear(sinr_linear, beta))
    return result
