"""Transport block size and LDPC code-block segmentation for the NR downlink.

Both functions are vectorized over numpy broadcasting: the simulator calls
:func:`transport_block_size` once per run on a ``(n_ue, layers, mcs)`` grid, so
nothing here loops over elements in Python.

Transport block size (TS 38.214 5.1.3.2), with ``R = rate_x1024 / 1024``::

    N'_RE  = 12 * N_symb - N_DMRS - N_oh                     (per PRB)
    N_RE   = min(156, N'_RE) * n_PRB
    N_info = N_RE * R * Qm * v

    N_info <= 3824:
        n       = max(3, floor(log2 N_info) - 6)
        N'_info = max(24, 2^n * floor(N_info / 2^n))
        TBS     = smallest entry of Table 5.1.3.2-1 that is >= N'_info
    N_info > 3824:
        n       = floor(log2(N_info - 24)) - 5
        N'_info = max(3840, 2^n * round((N_info - 24) / 2^n))   (round: ties up)
        R <= 1/4:          C = ceil((N'_info + 24) / 3816)
                           TBS = 8C * ceil((N'_info + 24) / 8C) - 24
        else N'_info > 8424: C = ceil((N'_info + 24) / 8424), TBS as above
        else:              TBS = 8 * ceil((N'_info + 24) / 8) - 24

Code-block segmentation (TS 38.212 7.2.2 base-graph selection, 5.2.2 segmentation)::

    BG2 if A <= 292, or (A <= 3824 and R <= 0.67), or R <= 0.25; else BG1
    L  = 24 if A > 3824 else 16          (transport-block CRC)
    B  = A + L
    K_cb = 8448 (BG1) or 3840 (BG2)
    B <= K_cb: C = 1, B' = B
    else:      C = ceil(B / (K_cb - 24)), B' = B + 24 C     (24-bit CB CRC each)
    K' = B' / C
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ["TBS_TABLE", "code_block_segmentation", "ldpc_base_graph", "transport_block_size"]

# TS 38.214 Table 5.1.3.2-1: TBS for N_info <= 3824 (93 entries).
TBS_TABLE: Final = np.array(
    [
        24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104, 112, 120, 128, 136, 144,
        152, 160, 168, 176, 184, 192, 208, 224, 240, 256, 272, 288, 304, 320, 336, 352,
        368, 384, 408, 432, 456, 480, 504, 528, 552, 576, 608, 640, 672, 704, 736, 768,
        808, 848, 888, 928, 984, 1032, 1064, 1128, 1160, 1192, 1224, 1256, 1288, 1320, 1352,
        1416, 1480, 1544, 1608, 1672, 1736, 1800, 1864, 1928, 2024, 2088, 2152, 2216, 2280,
        2408, 2472, 2536, 2600, 2664, 2728, 2792, 2856, 2976, 3104, 3240, 3368, 3496, 3624,
        3752, 3824,
    ],
    dtype=np.int64,
)
TBS_TABLE.setflags(write=False)

_MAX_RE_PER_PRB: Final = 156  # TS 38.214 5.1.3.2: N_RE is capped at 156 per PRB.
_SMALL_TBS_LIMIT: Final = 3824  # N_info / A threshold between the two procedures.


def _floor_log2(x: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Exact ``floor(log2(x))`` for positive float64 ``x`` (via the binary exponent)."""
    _, exponent = np.frexp(x)  # x = m * 2**e with 0.5 <= m < 1
    return exponent.astype(np.int64) - 1


def _ceil_div(
    a: npt.NDArray[np.int64], b: int | npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Integer ``ceil(a / b)`` for non-negative ``a`` and positive ``b``."""
    return np.asarray(-(-a // b), dtype=np.int64)


def transport_block_size(
    n_prb: npt.ArrayLike,
    qm: npt.ArrayLike,
    rate_x1024: npt.ArrayLike,
    layers: npt.ArrayLike,
    symbols: npt.ArrayLike = 12,
    dmrs_re_per_prb: npt.ArrayLike = 12,
    overhead_re_per_prb: npt.ArrayLike = 0,
) -> npt.NDArray[np.int64]:
    """Transport block size in bits, TS 38.214 5.1.3.2 (PDSCH, single codeword).

    All arguments broadcast against each other (any shapes numpy can broadcast).

    Args:
        n_prb: allocated PRBs ``n_PRB`` (integer >= 0).
        qm: modulation order ``Qm`` (2, 4, 6 or 8).
        rate_x1024: target code rate times 1024 (may be a half-integer, e.g. 682.5).
        layers: number of MIMO layers ``v`` (1..4 for one codeword).
        symbols: PDSCH symbols in the slot ``N_symb^sh``.
        dmrs_re_per_prb: DMRS resource elements per PRB ``N_DMRS^PRB`` (incl. CDM overhead).
        overhead_re_per_prb: higher-layer overhead ``N_oh^PRB`` (0, 6, 12 or 18).

    Returns:
        int64 TBS in bits, the broadcast shape. 0 where the allocation carries no
        information bits (``N_info <= 0``, e.g. ``n_prb == 0``); the spec does not
        define that case.

    """
    rate = np.asarray(rate_x1024, dtype=np.float64)
    n_info = _information_bits(n_prb, qm, rate, layers, symbols, dmrs_re_per_prb,
                               overhead_re_per_prb)
    small = n_info <= _SMALL_TBS_LIMIT
    tbs = np.where(small, _small_tbs(n_info), _large_tbs(n_info, rate))
    return np.where(n_info > 0, tbs, 0).astype(np.int64, copy=False)


def _information_bits(
    n_prb: npt.ArrayLike,
    qm: npt.ArrayLike,
    rate: npt.NDArray[np.float64],
    layers: npt.ArrayLike,
    symbols: npt.ArrayLike,
    dmrs_re_per_prb: npt.ArrayLike,
    overhead_re_per_prb: npt.ArrayLike,
) -> npt.NDArray[np.float64]:
    """``N_info = N_RE * R * Qm * v`` of TS 38.214 5.1.3.2 (``rate`` is ``R * 1024``)."""
    re_per_prb = (
        12 * np.asarray(symbols, dtype=np.int64)
        - np.asarray(dmrs_re_per_prb, dtype=np.int64)
        - np.asarray(overhead_re_per_prb, dtype=np.int64)
    )
    n_re = np.minimum(_MAX_RE_PER_PRB, re_per_prb) * np.asarray(n_prb, dtype=np.int64)
    # Every factor is an integer or a half-integer and the product stays far below
    # 2**53, and /1024 is a power of two: n_info is exact in float64.
    n_info = (
        n_re * np.asarray(qm, dtype=np.int64) * np.asarray(layers, dtype=np.int64) * rate
    ) / 1024.0
    return np.asarray(n_info, dtype=np.float64)


def _small_tbs(n_info: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """TBS for ``N_info <= 3824``: quantize, then look up Table 5.1.3.2-1."""
    n_small = np.maximum(3, _floor_log2(np.maximum(n_info, 1.0)) - 6)
    step_small = np.ldexp(1.0, n_small)
    n_info_q_small = np.maximum(24.0, step_small * np.floor(n_info / step_small))
    idx = np.searchsorted(TBS_TABLE, np.minimum(n_info_q_small, _SMALL_TBS_LIMIT), side="left")
    return np.asarray(TBS_TABLE[idx], dtype=np.int64)


def _large_tbs(
    n_info: npt.NDArray[np.float64], rate: npt.NDArray[np.float64]
) -> npt.NDArray[np.int64]:
    """TBS for ``N_info > 3824``: quantize with round-half-up, then the CB-aligned formula."""
    excess = np.maximum(n_info - 24.0, 1.0)
    step_large = np.ldexp(1.0, _floor_log2(excess) - 5)
    rounded = np.floor(excess / step_large + 0.5)  # spec "round": ties toward +inf
    n_info_q = np.maximum(3840.0, step_large * rounded).astype(np.int64)
    total = n_info_q + 24
    num_cb = np.where(
        rate <= 256.0,  # R <= 1/4
        _ceil_div(total, 3816),
        np.where(n_info_q > 8424, _ceil_div(total, 8424), 1),
    )
    return np.asarray(8 * num_cb * _ceil_div(total, 8 * num_cb) - 24, dtype=np.int64)


def ldpc_base_graph(tbs: npt.ArrayLike, rate_x1024: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """LDPC base graph of a transport block, TS 38.212 7.2.2.

    Args:
        tbs: transport block size ``A`` in bits, any shape.
        rate_x1024: target code rate times 1024, broadcast against ``tbs``.

    Returns:
        int64 array of 1 (BG1) or 2 (BG2), the broadcast shape.
    """
    a = np.asarray(tbs, dtype=np.int64)
    r = np.asarray(rate_x1024, dtype=np.float64) / 1024.0
    bg2 = (a <= 292) | ((a <= _SMALL_TBS_LIMIT) & (r <= 0.67)) | (r <= 0.25)
    return np.where(bg2, 2, 1).astype(np.int64, copy=False)


def code_block_segmentation(
    tbs: npt.ArrayLike, rate_x1024: npt.ArrayLike
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """LDPC code-block segmentation of a transport block (TS 38.212 7.2.2 and 5.2.2).

    Args:
        tbs: transport block size ``A`` in bits (integer >= 0), any shape.
        rate_x1024: target code rate times 1024 (broadcast against ``tbs``); selects
            the LDPC base graph.

    Returns:
        ``(C, K')``: int64 arrays of the broadcast shape, the number of code blocks
        and the bits per code block including its CRC (the TB CRC when ``C == 1``,
        the 24-bit CB CRC when ``C > 1``). ``K' = B'/C`` is exact for TBS values from
        :func:`transport_block_size`; for other sizes it is rounded up. ``tbs == 0``
        gives ``(0, 0)``.

    """
    a = np.asarray(tbs, dtype=np.int64)
    crc = np.where(a > _SMALL_TBS_LIMIT, 24, 16)
    b = a + crc
    k_cb = np.where(ldpc_base_graph(a, rate_x1024) == 2, 3840, 8448)
    segmented = b > k_cb
    num_cb = np.where(segmented, _ceil_div(b, k_cb - 24), 1)
    b_prime = np.where(segmented, b + 24 * num_cb, b)
    k_prime = _ceil_div(b_prime, num_cb)
    empty = a <= 0
    return (
        np.where(empty, 0, num_cb).astype(np.int64, copy=False),
        np.where(empty, 0, k_prime).astype(np.int64, copy=False),
    )
