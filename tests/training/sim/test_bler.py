"""SINR -> BLER abstraction: calibration, table lookups, EESM and monotonicity."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.sim import bler
from training.sim.tbs import code_block_segmentation, transport_block_size
from xapp import nr_tables

TABLES = (nr_tables.QAM64, nr_tables.QAM256)

# Published AWGN 10%-BLER SNR for MCS table 1 at ~2000-bit code blocks (3gpp-tables.md).
CALIBRATION = {
    3: -2.9, 5: -1.1, 7: 0.7, 9: 2.4, 11: 4.2, 13: 6.0, 15: 7.8,
    17: 8.7, 19: 10.0, 21: 12.2, 23: 14.3, 25: 16.5, 27: 18.4, 28: 19.0,
}


# --- thresholds ------------------------------------------------------------------


@pytest.mark.parametrize(("mcs", "snr"), sorted(CALIBRATION.items()))
def test_calibration_points(mcs: int, snr: float) -> None:
    threshold = bler.mcs_snr10_db(nr_tables.QAM64)[mcs]
    assert threshold == pytest.approx(snr, abs=1e-12)
    p64 = bler.code_block_bler(np.float64(snr), threshold, 2000)
    p32 = bler.code_block_bler(np.float32(snr), np.float32(threshold), np.float32(2000))
    assert abs(float(p64) - 0.1) < 1e-6
    assert abs(float(p32) - 0.1) < 1e-6
    assert p32.dtype == np.float32


def test_table1_interpolation_and_extrapolation() -> None:
    t1 = bler.mcs_snr10_db(nr_tables.QAM64)
    assert t1[4] == pytest.approx((-2.9 - 1.1) / 2)  # midway between MCS 3 and 5
    assert t1[16] == pytest.approx((7.8 + 8.7) / 2)
    # MCS 0-2: 0.9 dB per index below MCS 3.
    assert t1[:3] == pytest.approx([-5.6, -4.7, -3.8])


@pytest.mark.parametrize("table", TABLES)
def test_thresholds_strictly_increasing(table: int) -> None:
    assert np.all(np.diff(bler.mcs_snr10_db(table)) > 0)
    cqi = bler.cqi_snr10_db(table)
    assert cqi[0] == -np.inf
    assert np.all(np.diff(cqi[1:]) > 0)


def test_lookup_shapes_and_read_only() -> None:
    for table in TABLES:
        n_mcs = len(nr_tables.mcs_table(table))
        for arr, size in (
            (bler.mcs_snr10_db(table), n_mcs),
            (bler.mcs_beta(table), n_mcs),
            (bler.cqi_snr10_db(table), 16),
            (bler.cqi_beta(table), 16),
        ):
            assert arr.shape == (size,)
            assert arr.dtype == np.float64
            assert not arr.flags.writeable
    with pytest.raises(ValueError, match="table"):
        bler.mcs_snr10_db(3)


def test_shared_entries_take_table1_threshold() -> None:
    t1 = nr_tables.mcs_table(nr_tables.QAM64)
    by_key = {(q, r): s for (q, r, _), s in zip(t1, bler.mcs_snr10_db(1), strict=True)}
    for rows, thresholds in (
        (nr_tables.mcs_table(nr_tables.QAM256), bler.mcs_snr10_db(2)),
        (nr_tables.cqi_table(nr_tables.QAM64)[2:], bler.cqi_snr10_db(1)[2:]),
        (nr_tables.cqi_table(nr_tables.QAM256)[2:], bler.cqi_snr10_db(2)[2:]),
    ):
        for (qm, rate, _), threshold in zip(rows, thresholds, strict=True):
            if qm < 8:
                assert threshold == by_key[qm, rate]


def test_256qam_shannon_gap() -> None:
    t2 = bler.mcs_snr10_db(nr_tables.QAM256)
    # Table-2 MCS 21 (8, 711) has table-1 MCS 28's efficiency: it lands on 19.0 dB.
    assert t2[21] == pytest.approx(19.0, abs=1e-9)
    assert 23.0 < t2[27] < 27.0
    se = 8 * 948 / 1024
    assert t2[27] == pytest.approx(10 * math.log10(2**se - 1) + bler.GAP_DB)
    assert bler.GAP_DB == pytest.approx(19.0 - 10 * math.log10(2 ** (6 * 948 / 1024) - 1))


def test_cqi1_below_mcs0() -> None:
    expected = bler.mcs_snr10_db(1)[0] + 10 * math.log10(0.1523 / 0.2344)
    assert bler.cqi_snr10_db(1)[1] == pytest.approx(expected)
    assert bler.cqi_snr10_db(2)[1] == pytest.approx(expected)
    assert float(bler.snr10_db(2, 78)) == pytest.approx(expected)


def test_unknown_pair_raises() -> None:
    with pytest.raises(ValueError, match="no threshold"):
        bler.snr10_db([2, 4], [120, 121])


# --- EESM beta --------------------------------------------------------------------


def test_beta_end_points() -> None:
    b1 = bler.mcs_beta(nr_tables.QAM64)
    # QPSK spans R 120 (MCS 0) .. 679 (MCS 9); 16QAM 340 .. 658; 64QAM 438 .. 948.
    assert b1[[0, 9, 10, 16, 17, 28]] == pytest.approx([1.6, 1.8, 4.0, 6.5, 10.0, 34.0])
    b2 = bler.mcs_beta(nr_tables.QAM256)
    assert b2[[20, 27]] == pytest.approx([56.0, 133.0])  # 256QAM R 682.5 .. 948
    # CQI 1 (R 78) is below every MCS code rate: clipped to the QPSK low end.
    assert bler.cqi_beta(1)[1] == pytest.approx(1.6)
    assert bler.cqi_beta(1)[0] == bler.cqi_beta(1)[1]


def test_beta_linear_in_rate_and_increasing() -> None:
    # 16QAM, R = 499: (499 - 340) / (658 - 340) = 0.5 of the way from 4 to 6.5.
    assert float(bler.eesm_beta(4, 499)) == pytest.approx(5.25)
    for table in TABLES:
        rows = nr_tables.mcs_table(table)
        beta = bler.mcs_beta(table)
        for qm in np.unique(rows[:, 0]):
            sel = rows[:, 0] == qm
            assert np.all(np.diff(beta[sel]) > 0)
    with pytest.raises(ValueError, match="Qm"):
        bler.eesm_beta(3, 500)


# --- effective SINR ----------------------------------------------------------------


def test_eesm_equal_subbands() -> None:
    values = np.array([1e-6, 0.37, 1.0, 42.0, 1e6], dtype=np.float32)
    sinr = np.repeat(values[:, None], 8, axis=1)
    beta = np.array([1.6, 5.0, 20.0, 56.0, 133.0], dtype=np.float32)
    eff = bler.effective_sinr_linear(sinr, beta)
    assert eff.dtype == np.float32
    np.testing.assert_array_equal(eff, values)
    eff_db = bler.effective_sinr_db(sinr, beta)
    np.testing.assert_allclose(eff_db, 10 * np.log10(values.astype(np.float64)), atol=1e-4)


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 64),
    s=st.integers(1, 16),
    beta=st.floats(1.0, 200.0),
)
def test_eesm_between_min_and_max(seed: int, n: int, s: int, beta: float) -> None:
    rng = np.random.default_rng(seed)
    sinr = (10.0 ** rng.uniform(-6, 6, size=(n, s))).astype(np.float32)
    eff = bler.effective_sinr_linear(sinr, np.full(n, beta, dtype=np.float32))
    assert eff.shape == (n,)
    assert np.all(np.isfinite(eff))
    assert np.all(eff >= sinr.min(axis=1) * (1 - 1e-5))
    assert np.all(eff <= sinr.max(axis=1) * (1 + 1e-5))


def test_eesm_extremes_are_finite() -> None:
    sinr = np.array(
        [[1e-6] * 8, [1e6] * 8, [1e-6] * 7 + [1e6], [1e6] * 7 + [1e-6], [1e-6, 1e6] * 4],
        dtype=np.float32,
    )
    for beta in (1.6, 133.0):
        eff_db = bler.effective_sinr_db(sinr, np.full(len(sinr), beta, dtype=np.float32))
        assert np.all(np.isfinite(eff_db))
        assert np.all(eff_db >= -60.0 - 1e-3)
        assert np.all(eff_db <= 60.0 + 1e-3)
    # One faded sub-band dominates at small beta: close to the minimum.
    low = bler.effective_sinr_db(sinr[3:4], np.float32(1.6))
    assert float(low[0]) < 10 * np.log10(1.6 * np.log(8)) + 0.1


def test_eesm_matches_direct_formula() -> None:
    rng = np.random.default_rng(3)
    sinr = 10.0 ** rng.uniform(-1, 2, size=(50, 8))
    beta = rng.uniform(1.6, 30, size=50)
    direct = -beta * np.log(np.mean(np.exp(-sinr / beta[:, None]), axis=1))
    np.testing.assert_allclose(bler.effective_sinr_linear(sinr, beta), direct, rtol=1e-10)


# --- code-block and transport-block BLER --------------------------------------------


def test_finite_length_shift() -> None:
    # K = 100 needs 1.0 dB more than K = 2000 for the same 10% BLER.
    assert float(bler.code_block_bler(7.0, 6.0, 100)) == pytest.approx(0.1, abs=1e-9)
    assert bler.SHIFT_C_DB == pytest.approx(1 / (0.1 - 1 / math.sqrt(2000)))
    # Longer blocks need less SNR.
    p = bler.code_block_bler(6.0, 6.0, np.array([100.0, 2000.0, 8448.0]))
    assert p[0] > p[1] > p[2]


@pytest.mark.parametrize("k", [24.0, 100.0, 2000.0, 8448.0])
def test_waterfall_span(k: float) -> None:
    span = float(bler.waterfall_span_db(k))
    if k == 24.0:
        assert span == pytest.approx(0.9)
    if k == 8448.0:
        assert span == pytest.approx(0.05)
    # The 90% point lies exactly `span` below the 10% point.
    threshold = 5.0 + bler.SHIFT_C_DB * (1 / math.sqrt(k) - 1 / math.sqrt(2000))
    assert float(bler.code_block_bler(threshold, 5.0, k)) == pytest.approx(0.1, abs=1e-9)
    assert float(bler.code_block_bler(threshold - span, 5.0, k)) == pytest.approx(0.9, abs=1e-9)
    assert bler.waterfall_span_db([1.0, 1e5]) == pytest.approx([0.9, 0.05])


def test_transport_block_bler() -> None:
    p = np.array([0.0, 1e-12, 1e-6, 0.01, 0.1, 0.5, 0.99, 1.0])
    np.testing.assert_allclose(bler.transport_block_bler(p, 1), p, rtol=1e-12, atol=0)
    for c in (2, 5, 141):
        tb = bler.transport_block_bler(p, c)
        assert np.all(tb >= p)
        # The naive formula itself cancels to ~1e-14 absolute for tiny p.
        np.testing.assert_allclose(tb, 1 - (1 - p) ** c, rtol=1e-9, atol=1e-13)
    # Accuracy in the small-probability tail where 1 - (1 - p)^C cancels.
    assert float(bler.transport_block_bler(1e-12, 100)) == pytest.approx(1e-10, rel=1e-6)
    assert bler.transport_block_bler([0.3, 1.0], 0).tolist() == [0.0, 0.0]


def test_tb_error_probability_matches_composition() -> None:
    rng = np.random.default_rng(7)
    n = 4096
    th = rng.uniform(-5, 25, n).astype(np.float32)
    snr = (th + rng.normal(0.5, 0.5, n)).astype(np.float32)  # mostly in the waterfall
    k = rng.integers(40, 8449, n).astype(np.float32)
    c = rng.integers(1, 150, n).astype(np.float32)
    fused = bler.tb_error_probability(snr, th, k, c)
    assert fused.dtype == np.float32
    assert fused.shape == (n,)
    cb = bler.code_block_bler(snr, th, k)
    composed = bler.transport_block_bler(cb, c)
    inside = (cb > 1e-8) & (composed < 1 - 1e-6)
    assert inside.sum() > 100
    np.testing.assert_allclose(fused[inside], composed[inside], rtol=2e-4)
    assert np.all((fused >= bler.PROBABILITY_FLOOR * 0.999) & (fused <= 1.0))
    assert np.all(bler.code_block_bler(snr, th, k) <= fused * (1 + 1e-5))


def test_no_transport_block_never_fails() -> None:
    p = bler.tb_error_probability(np.float32([-20, 0, 20]), np.float32(0), 2000, 0)
    np.testing.assert_array_equal(p, 0.0)


def test_extreme_snr_is_finite_and_clipped() -> None:
    snr = np.array([-200, -50, 0, 50, 200, 1e4], dtype=np.float32)
    p = bler.tb_error_probability(snr, np.float32(0.0), np.float32(40), np.float32(3))
    assert np.all(np.isfinite(p))
    assert p[-1] == pytest.approx(bler.PROBABILITY_FLOOR, rel=1e-5)
    assert p[0] == pytest.approx(1.0, abs=1e-6)


# --- monotonicity over real allocations ------------------------------------------------


def _tb_error_all_mcs(
    table: int, n_prb: int, layers: int, snr_db: float, dtype: type[np.floating]
) -> np.ndarray:
    """TB error probability of every MCS of ``table`` at one effective SNR."""
    rows = nr_tables.mcs_table(table)
    tbs = transport_block_size(n_prb, rows[:, 0], rows[:, 1], layers)
    num_cb, cb_bits = code_block_segmentation(tbs, rows[:, 1])
    snr = np.full(len(rows), snr_db, dtype=dtype)
    return bler.tb_error_probability(
        snr, bler.mcs_snr10_db(table).astype(dtype), cb_bits.astype(dtype), num_cb.astype(dtype)
    )


@settings(max_examples=300, deadline=None)
@given(
    table=st.sampled_from(TABLES),
    n_prb=st.integers(1, 273),
    layers=st.integers(1, 4),
    snr_db=st.floats(-30.0, 60.0),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_tb_error_non_decreasing_in_mcs(
    table: int, n_prb: int, layers: int, snr_db: float, dtype: type[np.floating]
) -> None:
    p = _tb_error_all_mcs(table, n_prb, layers, snr_db, dtype)
    assert np.all(np.diff(p) >= 0), p


@settings(max_examples=300, deadline=None)
@given(
    table=st.sampled_from(TABLES),
    n_prb=st.integers(1, 273),
    layers=st.integers(1, 4),
    snr_a=st.floats(-30.0, 60.0),
    snr_b=st.floats(-30.0, 60.0),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_tb_error_non_increasing_in_snr(
    table: int, n_prb: int, layers: int, snr_a: float, snr_b: float, dtype: type[np.floating]
) -> None:
    low, high = sorted((snr_a, snr_b))
    p_low = _tb_error_all_mcs(table, n_prb, layers, low, dtype)
    p_high = _tb_error_all_mcs(table, n_prb, layers, high, dtype)
    assert np.all(p_high <= p_low)


def test_tb_error_monotone_in_mcs_dense_grid() -> None:
    # Deterministic companion of the property test at the smallest allocations,
    # where code blocks are shortest and the waterfalls differ most in width.
    snr = np.arange(-15.0, 40.0, 0.01)
    for table in TABLES:
        rows = nr_tables.mcs_table(table)
        for n_prb in (1, 2, 3, 15, 20):
            for layers in (1, 4):
                tbs = transport_block_size(n_prb, rows[:, 0], rows[:, 1], layers)
                num_cb, cb_bits = code_block_segmentation(tbs, rows[:, 1])
                p = bler.tb_error_probability(
                    snr[:, None], bler.mcs_snr10_db(table), cb_bits, num_cb
                )
                assert np.all(np.diff(p, axis=1) >= 0), (table, n_prb, layers)
