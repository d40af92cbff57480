r"""SINR -> block error rate abstraction for the NR downlink link simulator.

The model maps per-sub-band SINR to a transport-block error probability in four steps.

1. **AWGN 10%-BLER threshold** per ``(Qm, R)``, :func:`snr10_db`. Calibration
   points for MCS table 1 (code block ~2000 bits, TS 38.214 Table 5.1.3.1-1) are the
   published ones collected in the shared reference notes ``3gpp-tables.md``::

       MCS   3     5     7    9    11   13   15   17   19    21    23    25    27    28
       dB  -2.9  -1.1  0.7  2.4  4.2  6.0  7.8  8.7  10.0  12.2  14.3  16.5  18.4  19.0

   Table-1 MCS in between are linearly interpolated in MCS index; MCS 0-2 are
   extrapolated from MCS 3 and 5 (0.9 dB per index). Every ``(Qm, R)`` of MCS table 2
   and both CQI tables (TS 38.214 Tables 5.1.3.1-2, 5.2.2.1-2, 5.2.2.1-3) that also
   occurs in MCS table 1 takes that threshold. The others:

   * 256QAM (``Qm = 8``), Shannon-gap extrapolation with ``SE = Qm R / 1024``:
     :math:`\mathrm{snr10} = 10\log_{10}(2^{SE} - 1) + g`, with the gap ``g`` set so that
     table-1 MCS 28 (SE 5.5547) lands on its 19.0 dB point: ``g = GAP_DB`` ~= 2.372 dB.
   * ``(Qm, R) = (2, 78)`` (CQI 1, below MCS 0): low-SNR regime where the required SNR
     is proportional to the efficiency,
     :math:`\mathrm{snr10}(\mathrm{MCS}\,0) + 10\log_{10}(0.1523 / 0.2344)`.

2. **Effective SINR** over sub-bands by EESM (exponential effective SINR mapping:
   Ericsson, 3GPP R1-031303, 2003; Brueninghaus et al., "Link performance models for
   system level simulations of broadband radio access systems", PIMRC 2005),
   :func:`effective_sinr_db`:

   .. math::

       \gamma_\mathrm{eff} = -\beta \ln\Big(\tfrac{1}{S}\sum_i e^{-\gamma_i/\beta}\Big)
       = \gamma_{\min} - \beta \ln\Big(\tfrac{1}{S}\sum_i
         e^{-(\gamma_i-\gamma_{\min})/\beta}\Big)

   (the second form is the one computed: every exponent is <= 0, so no overflow).
   :math:`\beta` (:func:`eesm_beta`) is linear in ``R`` within a modulation between
   the published ranges QPSK 1.6-1.8, 16QAM 4-6.5, 64QAM 10-34, 256QAM 56-133, the low
   end at the modulation's lowest code rate in the MCS tables and the high end at its
   highest (clipped outside, e.g. CQI 1's R = 78).

3. **Code-block BLER**, :func:`code_block_bler`: a logistic waterfall

   .. math:: p(\gamma) = \frac{1}{1 + \exp\big((\gamma - \gamma_{50}(K)) / s(K)\big)},
             \qquad \gamma_{50}(K) = \mathrm{snr10}(K) - s(K)\ln 9

   so that :math:`p = 0.1` exactly at :math:`\mathrm{snr10}(K)`, for a code block of
   ``K`` bits (incl. CRC):

   * finite-length shift: :math:`\mathrm{snr10}(K) = \mathrm{snr10} + c\,(K^{-1/2} -
     2000^{-1/2})` with ``c = SHIFT_C_DB`` ~= 12.88 dB chosen so that ``K = 100`` needs
     1.0 dB more than ``K = 2000`` (the calibration block length). ``K`` is clipped
     to [24, 8448] (the LDPC range).
   * waterfall width: the 90% -> 10% span of the logistic is :math:`2 s \ln 9`; it is
     interpolated log-log between 0.9 dB at ``K = 24`` and 0.05 dB at ``K = 8448``
     (3gpp-tables.md: "roughly 0.05 dB (long) to 0.9 dB (24-bit blocks)").
   * probability floor: the transport-block (and code-block) error probability is
     clipped to ``[PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR]`` with the floor 1e-9.
     Without it the model is not monotone in MCS. A higher MCS has a longer code
     block, hence a steeper waterfall, so its far tail eventually drops below the
     tail of the lower MCS; and across R = 1/4 (table-1 MCS 3 -> 4) the base graph
     changes from BG2 to BG1, so C can *drop* (e.g. 2 -> 1) as the MCS rises. The
     largest error probability at which adjacent MCS swap order, over 1-273 PRB,
     1-4 layers, both MCS tables and 12 symbols / 12 DMRS RE, is 4.1e-12 (table 1,
     1 PRB, 1 layer, MCS 0 -> 1; other symbol / DMRS counts tried stay below 1e-20);
     on the low-SNR side the first swap is at 1 - exp(-233). Both lie inside the
     clipped tails, so the clipped probability is
     non-decreasing in MCS at every SNR (checked by the tests). A floor of 1e-9 is
     far below anything a simulation of ~1e8 transport blocks could observe.

4. **Transport-block error probability** with ``C`` independently decoded code blocks
   (3gpp-tables.md, "TBLER = 1-(1-BLER_cb)^C"), :func:`transport_block_bler`:
   :math:`P_\mathrm{TB} = 1 - (1 - p)^C`, evaluated as ``-expm1(C log1p(-p))``;
   :func:`tb_error_probability` works with :math:`-\ln(1 - P_\mathrm{TB}) =
   C \ln(1 + e^{-x})` (``x`` the logistic exponent), accurate in both tails, and
   applies the floor to the transport block.

:func:`effective_sinr_db` and :func:`tb_error_probability` are on the simulator's
per-slot hot path (thousands of UEs per call): they take float32 arrays and use a
handful of whole-array numpy operations.
"""

from __future__ import annotations

import math
from typing import Final, cast

import numpy as np
import numpy.typing as npt

from training.sim.bler_awgn import CALIBRATION_BLOCK_BITS, GAP_DB, snr10_db
from training.sim.eesm import eesm_beta, effective_sinr_db, effective_sinr_linear
from xapp import nr_tables

__all__ = [
    "GAP_DB",
    "PROBABILITY_FLOOR",
    "SHIFT_C_DB",
    "code_block_bler",
    "cqi_beta",
    "cqi_snr10_db",
    "eesm_beta",
    "effective_sinr_db",
    "effective_sinr_linear",
    "mcs_beta",
    "mcs_snr10_db",
    "snr10_db",
    "table_lookups",
    "tb_error_probability",
    "transport_block_bler",
    "waterfall_span_db",
]

FloatArray = npt.NDArray[np.floating]
Float64Array = npt.NDArray[np.float64]

# --- 3. Code-block BLER ---------------------------------------------------------

_K_MIN: Final = 24.0
_K_MAX: Final = 8448.0
_SPAN_AT_K_MIN_DB: Final = 0.9
_SPAN_AT_K_MAX_DB: Final = 0.05
_LN9: Final = math.log(9.0)

SHIFT_C_DB: Final = 1.0 / (1.0 / math.sqrt(100.0) - 1.0 / math.sqrt(CALIBRATION_BLOCK_BITS))
"""Finite-length shift coefficient ``c`` (dB * sqrt(bit)): K = 100 is +1.0 dB vs K = 2000."""
_SHIFT_OFFSET_DB: Final = SHIFT_C_DB / math.sqrt(CALIBRATION_BLOCK_BITS)

# span(K) = 0.9 * (K / 24) ** _SPAN_EXPONENT on [24, 8448], so the logistic's inverse
# scale is 1 / s = 2 ln 9 / span = _INV_SCALE_AT_1 * K ** -_SPAN_EXPONENT.
_SPAN_EXPONENT: Final = math.log(_SPAN_AT_K_MAX_DB / _SPAN_AT_K_MIN_DB) / math.log(_K_MAX / _K_MIN)
_INV_SCALE_AT_1: Final = 2.0 * _LN9 / _SPAN_AT_K_MIN_DB * _K_MIN**_SPAN_EXPONENT

PROBABILITY_FLOOR: Final = 1e-9
"""Error probabilities are clipped to ``[PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR]``."""
# The same clip on y = -log(1 - P): P = 1 - exp(-y).
_Y_MIN: Final = -math.log1p(-PROBABILITY_FLOOR)
_Y_MAX: Final = -math.log(PROBABILITY_FLOOR)
# |x| >= 40 is deep in a clipped tail: x <= -40 gives y >= 40 > _Y_MAX for C >= 1, and
# x >= 40 gives y <= C e^-40 = C * 4.2e-18 < _Y_MIN for any C below 10^8.
_LOGIT_CLIP: Final = 40.0


def waterfall_span_db(cb_bits: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """SNR span (dB) between 90% and 10% code-block BLER for ``K``-bit code blocks.

    Args:
        cb_bits: code-block size ``K'`` in bits, any shape.

    Returns:
        float64 span in dB: 0.9 at K <= 24 down to 0.05 at K >= 8448, log-log in between.

    """
    k = np.clip(np.asarray(cb_bits, dtype=np.float64), _K_MIN, _K_MAX)
    return np.asarray(2.0 * _LN9 / (_INV_SCALE_AT_1 * k ** (-_SPAN_EXPONENT)), dtype=np.float64)


def _work_dtype(x: npt.NDArray[np.generic]) -> np.dtype[np.floating]:
    """Floating dtype to compute in: ``x``'s own if floating, else float64."""
    if np.issubdtype(x.dtype, np.floating):
        return cast("np.dtype[np.floating]", x.dtype)
    return np.dtype(np.float64)


def _logit(snr_db: npt.ArrayLike, snr10_db: npt.ArrayLike, cb_bits: npt.ArrayLike) -> FloatArray:
    """Logistic exponent ``x = (snr - snr50(K)) / s(K)``, so ``p_cb = 1 / (1 + e^x)``."""
    snr = np.asarray(snr_db)
    dtype = _work_dtype(snr)
    k = np.clip(np.asarray(cb_bits, dtype=dtype), _K_MIN, _K_MAX)
    inv_scale = _INV_SCALE_AT_1 * k ** dtype.type(-_SPAN_EXPONENT)
    shifted = np.asarray(snr10_db, dtype=dtype) + (SHIFT_C_DB / np.sqrt(k) - _SHIFT_OFFSET_DB)
    # A fresh array (0-d for scalar inputs) that callers may overwrite in place.
    x: FloatArray = np.asarray((snr.astype(dtype, copy=False) - shifted) * inv_scale + _LN9)
    return x


def _error_from_log_success(y: FloatArray, num_cb: npt.ArrayLike) -> FloatArray:
    """Clipped ``1 - exp(-y)`` for ``y = -log(1 - P)``, in place; ``num_cb == 0`` gives 0."""
    lower = np.minimum(np.asarray(num_cb, dtype=y.dtype), 1) * _Y_MIN
    np.clip(y, lower, _Y_MAX, out=y)
    np.negative(y, out=y)
    result: FloatArray = np.negative(np.expm1(y, out=y), out=y)
    return result


def code_block_bler(
    snr_db: npt.ArrayLike, snr10_db: npt.ArrayLike, cb_bits: npt.ArrayLike
) -> FloatArray:
    """Code-block error probability of one LDPC code block on an AWGN-equivalent SNR.

    Args:
        snr_db: (effective) SNR in dB, any shape; float32 in, float32 out.
        snr10_db: the MCS's AWGN 10%-BLER threshold at 2000 bits (:func:`snr10_db`), dB.
        cb_bits: code-block size ``K'`` in bits (incl. CRC).

    Returns:
        BLER in ``[PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR]``, the broadcast shape,
        dtype of ``snr_db`` (float64 if not floating).

    """
    return tb_error_probability(snr_db, snr10_db, cb_bits, 1)


def transport_block_bler(cb_bler: npt.ArrayLike, num_cb: npt.ArrayLike) -> FloatArray:
    """Transport-block error probability ``1 - (1 - p)^C`` for ``C`` independent code blocks.

    Args:
        cb_bler: code-block error probability ``p`` in [0, 1], any shape.
        num_cb: number of code blocks ``C`` (>= 0), broadcast against ``cb_bler``.

    Returns:
        TB error probability, the broadcast shape, dtype of ``cb_bler`` (float64 if
        not floating). ``C == 0`` (no transport block) gives 0. Not clipped: apart
        from the clipped tails it equals :func:`tb_error_probability`.

    """
    p = np.asarray(cb_bler)
    dtype = _work_dtype(p)
    count = np.asarray(num_cb, dtype=dtype)
    with np.errstate(divide="ignore", invalid="ignore"):  # p == 1: log1p(-1) = -inf
        log_success = count * np.log1p(-p.astype(dtype, copy=False))
    result: FloatArray = np.where(count > 0, -np.expm1(log_success), dtype.type(0))
    return result


def tb_error_probability(
    snr_eff_db: npt.ArrayLike,
    snr10_db: npt.ArrayLike,
    cb_bits: npt.ArrayLike,
    num_cb: npt.ArrayLike,
) -> FloatArray:
    """Transport-block error probability at an effective SNR (hot path).

    ``transport_block_bler(code_block_bler(snr_eff_db, snr10_db, cb_bits), num_cb)``
    computed in one pass, through ``-log(1 - P) = C log(1 + e^-x)``, and clipped to
    ``[PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR]`` (module docstring).

    Args:
        snr_eff_db: ``(n,)`` effective SINR in dB (float32 on the hot path).
        snr10_db: ``(n,)`` AWGN 10%-BLER threshold of each UE's MCS, dB.
        cb_bits: ``(n,)`` code-block size ``K'`` in bits.
        num_cb: ``(n,)`` number of code blocks ``C``; 0 (no transport block) gives 0.

    Returns:
        ``(n,)`` probabilities (any broadcast shape works), dtype of ``snr_eff_db``
        (float64 if not floating).

    """
    x = _logit(snr_eff_db, snr10_db, cb_bits)
    # -log(1 - p_cb) = log(1 + e^-x). Clipping x first keeps exp finite and changes
    # nothing: beyond +-_LOGIT_CLIP the result lands in the clipped tails anyway.
    # (np.logaddexp(0, -x) is the textbook form but slower: docs/benchmarks.md.)
    np.clip(x, -_LOGIT_CLIP, _LOGIT_CLIP, out=x)
    y = np.log1p(np.exp(np.negative(x, out=x), out=x), out=x)
    y = np.asarray(y * np.asarray(num_cb, dtype=y.dtype))
    return _error_from_log_success(y, num_cb)


# --- Lookups ----------------------------------------------------------------------


def _readonly(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Return a read-only float64 copy of ``values``."""
    out = np.array(values, dtype=np.float64)
    out.setflags(write=False)
    return out


def _table_lookups() -> dict[tuple[str, int], npt.NDArray[np.float64]]:
    """Per-table threshold and beta arrays, built once at import."""
    lut: dict[tuple[str, int], npt.NDArray[np.float64]] = {}
    for t in (nr_tables.QAM64, nr_tables.QAM256):
        mcs = nr_tables.mcs_table(t)
        lut["mcs_snr10", t] = _readonly(snr10_db(mcs[:, 0], mcs[:, 1]))
        lut["mcs_beta", t] = _readonly(eesm_beta(mcs[:, 0], mcs[:, 1]))
        cqi = nr_tables.cqi_table(t)[1:]
        lut["cqi_snr10", t] = _readonly(np.r_[-np.inf, snr10_db(cqi[:, 0], cqi[:, 1])])
        beta = eesm_beta(cqi[:, 0], cqi[:, 1])
        lut["cqi_beta", t] = _readonly(np.r_[beta[0], beta])  # CQI 0 takes CQI 1's beta
    return lut


_LOOKUPS: Final = _table_lookups()


def _check_table(table: int) -> None:
    """Raise ValueError unless ``table`` is 1 or 2."""
    if table not in (nr_tables.QAM64, nr_tables.QAM256):
        raise ValueError(f"table must be {nr_tables.QAM64} or {nr_tables.QAM256}, got {table!r}")


def mcs_snr10_db(table: int) -> npt.NDArray[np.float64]:
    """Return the read-only ``(n_mcs,)`` float64 10%-BLER thresholds (dB) of MCS ``table``."""
    _check_table(table)
    return _LOOKUPS["mcs_snr10", table]


def cqi_snr10_db(table: int) -> npt.NDArray[np.float64]:
    """Return the read-only ``(16,)`` float64 thresholds (dB) of CQI ``table``; CQI 0 is -inf."""
    _check_table(table)
    return _LOOKUPS["cqi_snr10", table]


def mcs_beta(table: int) -> npt.NDArray[np.float64]:
    """Return the read-only ``(n_mcs,)`` float64 EESM ``beta`` of MCS ``table``."""
    _check_table(table)
    return _LOOKUPS["mcs_beta", table]


def table_lookups() -> tuple[npt.NDArray[np.float64], ...]:
    """``(2, NUM_ACTIONS)`` Qm, R x 1024, 10%-BLER SNR and EESM beta per table and MCS.

    Table 2 has no MCS 28; its row repeats MCS 27 there (the policy mask never picks it).
    """
    qm = np.empty((2, nr_tables.NUM_ACTIONS))
    rate = np.empty_like(qm)
    snr10 = np.empty_like(qm)
    beta = np.empty_like(qm)
    for t in (nr_tables.QAM64, nr_tables.QAM256):
        rows = nr_tables.mcs_table(t)
        idx = np.minimum(np.arange(nr_tables.NUM_ACTIONS), len(rows) - 1)
        qm[t - 1], rate[t - 1] = rows[idx, 0], rows[idx, 1]
        snr10[t - 1] = mcs_snr10_db(t)[idx]
        beta[t - 1] = mcs_beta(t)[idx]
    return qm, rate, snr10, beta


def cqi_beta(table: int) -> npt.NDArray[np.float64]:
    """Return the read-only ``(16,)`` float64 EESM ``beta`` of CQI ``table`` (CQI 0 = CQI 1's)."""
    _check_table(table)
    return _LOOKUPS["cqi_beta", table]
