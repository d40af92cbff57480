"""TS 38.214 5.1.3.2 transport block size and TS 38.212 segmentation.

The spot values below are derived by hand from the spec formulas (derivation in the
comment next to each); defaults are 12 PDSCH symbols and 12 DMRS RE per PRB, so
N'_RE = 12 * 12 - 12 = 132 unless stated otherwise.
"""

from __future__ import annotations

import numpy as np
import pytest

from training.sim.tbs import (
    TBS_TABLE,
    code_block_segmentation,
    ldpc_base_graph,
    transport_block_size,
)
from xapp import nr_tables

PRBS = np.arange(1, 274)
LAYERS = np.arange(1, 5)


def _grid(table: int, symbols: int = 12) -> np.ndarray:
    """TBS over (prb, layers, mcs) for one MCS table."""
    rows = nr_tables.mcs_table(table)
    return transport_block_size(
        PRBS[:, None, None], rows[:, 0], rows[:, 1], LAYERS[None, :, None], symbols
    )


def test_tbs_table_shape() -> None:
    assert TBS_TABLE.shape == (93,)
    assert TBS_TABLE[0] == 24
    assert TBS_TABLE[-1] == 3824
    assert np.all(np.diff(TBS_TABLE) > 0)
    assert np.all(TBS_TABLE % 8 == 0)
    assert not TBS_TABLE.flags.writeable


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        # 1 PRB, table-1 MCS 0 (Qm 2, R 120), 1 layer: N_RE = 132,
        # N_info = 132 * 120/1024 * 2 = 30.94; n = max(3, 4 - 6) = 3,
        # N'_info = max(24, 8 * floor(3.87)) = 24 -> table -> 24.
        ((1, 2, 120, 1), 24),
        # 273 PRB, table-2 MCS 27 (Qm 8, R 948), 4 layers, 13 symbols:
        # N'_RE = 156 - 12 = 144, N_RE = 39312, N_info = 39312 * 948/1024 * 8 * 4
        # = 1164618 > 3824; N_info - 24 = 1164594, floor(log2) = 20, n = 15;
        # round(1164594 / 32768 = 35.54) = 36, N'_info = 1179648; R > 1/4 and
        # N'_info > 8424: C = ceil(1179672 / 8424) = 141,
        # TBS = 1128 * ceil(1179672 / 1128 = 1045.8) - 24 = 1128 * 1046 - 24 = 1179864.
        ((273, 8, 948, 4, 13), 1179864),
        # R <= 1/4, large branch: 273 PRB, table-1 MCS 0 (Qm 2, R 120), 2 layers:
        # N_RE = 36036, N_info = 36036 * 120/1024 * 4 = 16891.875; N_info - 24 = 16867.875,
        # floor(log2) = 14, n = 9; round(16867.875 / 512 = 32.95) = 33, N'_info = 16896;
        # C = ceil(16920 / 3816 = 4.43) = 5, TBS = 40 * ceil(16920 / 40 = 423) - 24 = 16896.
        ((273, 2, 120, 2), 16896),
        # 3824 < N_info, N'_info <= 8424: 20 PRB, table-1 MCS 10 (Qm 4, R 340), 2 layers:
        # N_RE = 2640, N_info = 2640 * 340/1024 * 8 = 7012.5; N_info - 24 = 6988.5,
        # floor(log2) = 12, n = 7; round(6988.5 / 128 = 54.6) = 55, N'_info = 7040;
        # TBS = 8 * ceil(7064 / 8 = 883) - 24 = 7040.
        ((20, 4, 340, 2), 7040),
        # Round half up: 112 PRB, table-1 MCS 11 (Qm 4, R 378), 4 layers, 13 symbols:
        # N_RE = 144 * 112 = 16128, N_info = 16128 * 378/1024 * 16 = 95256;
        # N_info - 24 = 95232, floor(log2) = 16, n = 11; 95232 / 2048 = 46.5 exactly,
        # rounds UP to 47 (banker's rounding would give 46): N'_info = 96256;
        # C = ceil(96280 / 8424 = 11.43) = 12, TBS = 96 * ceil(96280 / 96 = 1002.9) - 24
        # = 96 * 1003 - 24 = 96264 (46 would give 94248).
        ((112, 4, 378, 4, 13), 96264),
        # Table lookup: 10 PRB, table-1 MCS 9 (Qm 2, R 679), 1 layer: N_RE = 1320,
        # N_info = 1320 * 679/1024 * 2 = 1750.55, floor(log2) = 10, n = 4;
        # N'_info = 16 * floor(109.4) = 1744 -> next table entry 1800.
        ((10, 2, 679, 1), 1800),
        # Table lookup: 5 PRB, table-1 MCS 23 (Qm 6, R 719), 1 layer: N_RE = 660,
        # N_info = 660 * 719/1024 * 6 = 2780.5, floor(log2) = 11, n = 5;
        # N'_info = 32 * floor(86.9) = 2752 -> next table entry 2792.
        ((5, 6, 719, 1), 2792),
        # Table lookup: 1 PRB, table-1 MCS 28 (Qm 6, R 948), 1 layer:
        # N_info = 132 * 948/1024 * 6 = 733.2, floor(log2) = 9, n = 3;
        # N'_info = 8 * floor(91.65) = 728 -> next table entry 736.
        ((1, 6, 948, 1), 736),
        # N_RE cap: 14 symbols, no DMRS: N'_RE = 168 -> min(156, 168) = 156 per PRB.
        # 1 PRB, Qm 2, R 120, 1 layer: N_info = 156 * 120/1024 * 2 = 36.56, n = 3,
        # N'_info = 8 * floor(4.57) = 32 -> 32.
        ((1, 2, 120, 1, 14, 0), 32),
    ],
)
def test_spot_values(args: tuple[int, ...], expected: int) -> None:
    out = transport_block_size(*args)
    assert out.dtype == np.int64
    assert int(out) == expected


def test_zero_prb_gives_zero() -> None:
    assert int(transport_block_size(0, 2, 120, 1)) == 0


def test_broadcasting_and_half_integer_rate() -> None:
    rows = nr_tables.mcs_table(nr_tables.QAM256)
    out = transport_block_size(np.array([[1], [50]]), rows[:, 0], rows[:, 1], 2)
    assert out.shape == (2, len(rows))
    # The 682.5 rate (table-2 MCS 20) must match a direct scalar evaluation.
    assert out[1, 20] == transport_block_size(50, 8, 682.5, 2)


def test_tbs_multiple_of_8_and_positive() -> None:
    for table in (nr_tables.QAM64, nr_tables.QAM256):
        grid = _grid(table)
        assert np.all(grid >= 24)
        assert np.all(grid % 8 == 0)


@pytest.mark.parametrize("table", [nr_tables.QAM64, nr_tables.QAM256])
def test_monotone_in_prb_and_layers(table: int) -> None:
    grid = _grid(table)
    assert np.all(np.diff(grid, axis=0) >= 0)
    assert np.all(np.diff(grid, axis=1) >= 0)


def test_monotone_in_mcs_table2() -> None:
    grid = _grid(nr_tables.QAM256)
    assert np.all(np.diff(grid, axis=2) >= 0)


def test_monotone_in_mcs_table1_except_16_to_17() -> None:
    grid = _grid(nr_tables.QAM64)
    steps = np.diff(grid, axis=2)
    others = np.delete(steps, 16, axis=2)
    assert np.all(others >= 0)
    # MCS 17 (6, 438): efficiency 2.5664 < 2.5703 of MCS 16 (4, 658), so N_info is
    # always slightly lower and the TBS never larger; it is smaller for many allocations.
    assert np.all(steps[..., 16] <= 0)
    assert np.any(steps[..., 16] < 0)


def test_vectorized_size_is_fast() -> None:
    # (4096 UEs, 4 layers, 29 MCS) ~ 475k elements, the simulator's one-off lookup.
    rows = nr_tables.mcs_table(nr_tables.QAM64)
    prbs = np.random.default_rng(0).integers(1, 274, size=(4096, 1, 1))
    out = transport_block_size(prbs, rows[:, 0], rows[:, 1], LAYERS[None, :, None])
    assert out.shape == (4096, 4, 29)


@pytest.mark.parametrize(
    ("tbs", "rate", "bg"),
    [
        (292, 1000, 2),  # A <= 292
        (300, 700, 1),  # 292 < A <= 3824, R = 0.68 > 0.67
        (300, 686, 2),  # R = 0.6699 <= 0.67
        (3824, 900, 1),
        (3825, 600, 1),  # A > 3824 and R > 1/4
        (100000, 256, 2),  # R <= 1/4 regardless of A
    ],
)
def test_base_graph(tbs: int, rate: float, bg: int) -> None:
    assert int(ldpc_base_graph(tbs, rate)) == bg


@pytest.mark.parametrize(
    ("tbs", "rate", "num_cb", "cb_bits"),
    [
        # Small block, 16-bit TB CRC, one code block: K' = 24 + 16.
        (24, 120, 1, 40),
        # A = 1800 (BG2, R 0.663): B = 1816 <= 3840 -> C = 1, K' = 1816.
        (1800, 679, 1, 1816),
        # A = 3824, R = 1/4 (BG2): B = 3840 = Kcb -> still one block.
        (3824, 256, 1, 3840),
        # A = 4000, R = 1/4 (BG2): L = 24, B = 4024 > 3840 -> C = ceil(4024/3816) = 2,
        # B' = 4024 + 48 = 4072, K' = 2036.
        (4000, 256, 2, 2036),
        # Same A with R > 1/4 selects BG1 (Kcb 8448): one block of 4024.
        (4000, 308, 1, 4024),
        # A = 7040 (BG1): B = 7064 <= 8448 -> C = 1.
        (7040, 340, 1, 7064),
        # A = 8424 (BG1): B = 8448 = Kcb -> C = 1.
        (8424, 512, 1, 8448),
        # A = 8432 (BG1): B = 8456 > 8448 -> C = 2, B' = 8504, K' = 4252.
        (8432, 512, 2, 4252),
        # A = 16896, R = 120/1024 (BG2): B = 16920 -> C = ceil(16920/3816) = 5,
        # B' = 16920 + 120 = 17040, K' = 3408.
        (16896, 120, 5, 3408),
        # A = 1179864, BG1: B = 1179888 -> C = ceil(1179888/8424) = 141,
        # B' = 1179888 + 3384 = 1183272, K' = 8392.
        (1179864, 948, 141, 8392),
    ],
)
def test_segmentation_spot_values(tbs: int, rate: float, num_cb: int, cb_bits: int) -> None:
    c, k = code_block_segmentation(tbs, rate)
    assert (int(c), int(k)) == (num_cb, cb_bits)


def test_segmentation_exact_for_spec_sizes() -> None:
    # For every TBS the spec procedure produces, B' divides evenly into C blocks and
    # each block fits its base graph's Kcb.
    for table in (nr_tables.QAM64, nr_tables.QAM256):
        rows = nr_tables.mcs_table(table)
        grid = _grid(table)
        c, k = code_block_segmentation(grid, rows[:, 1])
        crc = np.where(grid > 3824, 24, 16)
        b = grid + crc
        b_prime = np.where(c > 1, b + 24 * c, b)
        assert np.all(b_prime == c * k)
        k_cb = np.where(ldpc_base_graph(grid, rows[:, 1]) == 2, 3840, 8448)
        assert np.all(k <= k_cb)
        assert np.all(c >= 1)


def test_segmentation_empty_block() -> None:
    c, k = code_block_segmentation(np.array([0, 24]), 120)
    assert c.tolist() == [0, 1]
    assert k.tolist() == [0, 40]
