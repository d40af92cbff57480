"""Channel model: Doppler, fading statistics, MIMO gains, SINR distribution, association."""

from __future__ import annotations

import numpy as np
import pytest

from training.sim import config
from training.sim.channel import (
    Channel,
    bessel_j0,
    eigenmode_gains,
    median_delay_spread_s,
)


def _channel(name: str, n: int = 512, seed: int = 1, **changes: float) -> Channel:
    cfg = config.scenario(name).config(n)
    if "speed_kmh" in changes:
        cfg = cfg.with_speed_kmh(changes["speed_kmh"])
    return Channel(cfg, np.random.default_rng(seed))


def test_bessel_j0_matches_reference_values() -> None:
    # Abramowitz & Stegun Table 9.1
    x = np.array([0.0, 1.0, 2.404825557695773, 5.0])
    expected = np.array([1.0, 0.7651976865579666, 0.0, -0.1775967713143383])
    np.testing.assert_allclose(bessel_j0(x), expected, atol=1e-9)


def test_fading_has_unit_mean_power() -> None:
    ch = _channel("mimo", n=2048)
    powers = []
    for _ in range(200):
        ch.advance()
        powers.append(ch.fading.mean())
    assert np.mean(powers) == pytest.approx(1.0, abs=0.05)


def _lag_correlation(speed_kmh: float, lag: int) -> float:
    ch = _channel("mimo", n=1024, speed_kmh=speed_kmh)
    trace = []
    for _ in range(lag + 200):
        ch.advance()
        trace.append(ch.fading[:, 0].copy())
    a, b = np.array(trace[:-lag]).ravel(), np.array(trace[lag:]).ravel()
    return float(np.corrcoef(a, b)[0, 1])


def test_coherence_follows_ue_speed() -> None:
    slow, fast = _lag_correlation(3.0, 10), _lag_correlation(120.0, 10)
    assert slow > 0.9
    assert fast < 0.5


def test_eigenmode_gains() -> None:
    tx = np.array([1, 4, 4, 64], dtype=np.int16)
    rx = np.array([1, 1, 4, 4], dtype=np.int16)
    g = eigenmode_gains(tx, rx)
    assert g[0, 0] == pytest.approx(1.0) and (g[0, 1:] == 0).all()
    assert g[1, 0] == pytest.approx(4.0)  # MISO: one eigenmode carrying |h|^2 = Nt
    assert (np.diff(g[2]) < 0).all()  # per-layer gain falls with the rank
    assert g[3, 0] > 10 * g[2, 0]  # massive MIMO beamforming gain
    # the rank-1 eigenmode never exceeds the channel's total power Nt * Nr
    assert (g[:, 0] <= tx.astype(float) * rx + 1e-9).all()


def test_massive_mimo_hardens_the_channel() -> None:
    mimo, mmimo = _channel("mimo"), _channel("mmimo")
    spread = []
    for ch in (mimo, mmimo):
        layers = np.ones(ch.n, dtype=np.int64)
        s = ch.sinr(layers)
        spread.append(np.std(s / s.mean(axis=1, keepdims=True)))
    assert spread[1] < 0.5 * spread[0]


def test_sinr_distribution_of_a_macro_cell_is_plausible() -> None:
    ch = _channel("mimo", n=4096)
    sinr = ch.ss_sinr_db
    assert 3.0 < np.median(sinr) < 20.0
    assert np.percentile(sinr, 5) > -8.0
    assert np.percentile(sinr, 95) < 45.0


def test_single_cell_has_no_interference_and_ues_are_served_by_the_strongest_site() -> None:
    isolated = _channel("scsu")
    assert (isolated.interference_mw == 0).all()
    macro = _channel("mimo")
    # strongest-site association: the serving site is never beaten by a neighbour
    assert (macro.signal_mw >= macro._top_interferers_mw[:, 0]).all()


def test_ue_placement_respects_the_scenario_annulus() -> None:
    ch = _channel("cell-edge", n=1024)
    r = np.hypot(ch.position[:, 0], ch.position[:, 1])
    radius = ch._radius
    assert (r >= 0.8 * radius - 1e-6).all() and (r <= radius + 1e-6).all()


def test_median_delay_spread_follows_tr38901() -> None:
    env = np.array([0, 0, 1, 2], dtype=np.int8)  # UMa NLOS, UMa LOS, UMi NLOS, RMa LOS
    los = np.array([False, True, False, True])
    ds = median_delay_spread_s(env, los, np.full(4, 3.5))
    # UMa uses fc = 6 GHz below 6 GHz: lgDS = -6.28 - 0.204 log10(6) = -6.4387
    assert ds[0] == pytest.approx(10 ** (-6.28 - 0.204 * np.log10(6.0)))
    assert ds[1] < ds[0]
    assert ds[2] == pytest.approx(10 ** (-0.24 * np.log10(4.5) - 6.83))
    assert ds[3] == pytest.approx(10**-7.49)
