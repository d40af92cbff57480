"""Small-scale fading and MIMO layer model of :mod:`training.sim.channel`.

The tapped-delay-line fading, the eigenmode layer gains with channel hardening and
the impairment cap on the SINR are described in :mod:`training.sim.channel`. The
functions here are pure: :class:`~training.sim.channel.Channel` owns the state and
the random streams.
"""

from __future__ import annotations

from typing import Final, NamedTuple

import numpy as np
import numpy.typing as npt

from training.sim.config import MAX_LAYERS

NUM_TAPS: Final = 4
NUM_SUBBANDS: Final = 8
EIGEN_RATIO: Final = 0.35
IMPAIRMENT_SINR_DB: Final = 30.0  # TX EVM ~3% (TS 38.104 6.5.2: 3.5% for 256QAM) caps SINR
IMPAIRMENT: Final = np.float32(10.0 ** (-IMPAIRMENT_SINR_DB / 10.0))
"""Linear distortion-to-signal ratio of :data:`IMPAIRMENT_SINR_DB`."""

# TR 38.901 Table 7.5-6: median Ricean K-factor of LOS links, dB (UMa, UMi, RMa).
K_FACTOR_DB: Final = np.array([9.0, 9.0, 7.0])


def bessel_j0(x: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Bessel function J0 by its integral form (1/pi) int_0^pi cos(x sin t) dt.

    Used once per simulation for the Doppler autocorrelation; 128-point
    trapezoid rule, accurate to ~1e-10 for |x| <= 50.
    """
    theta = np.linspace(0.0, np.pi, 129)
    values = np.cos(np.asarray(x, dtype=np.float64)[..., None] * np.sin(theta))
    return np.asarray(np.trapezoid(values, theta, axis=-1) / np.pi)


def median_delay_spread_s(environment: npt.NDArray[np.int8], los: npt.NDArray[np.bool_],
                          carrier_ghz: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Median rms delay spread per link, seconds (TR 38.901 Table 7.5-6, lgDS means).

    UMa uses fc = 6 GHz below 6 GHz and UMi fc = 2 GHz below 2 GHz (notes of Table 7.5-6).
    """
    fc_uma = np.maximum(carrier_ghz, 6.0)
    fc_umi = np.maximum(carrier_ghz, 2.0)
    lg = np.select(
        [environment == 0, environment == 1],
        [np.where(los, -6.955 - 0.0963 * np.log10(fc_uma), -6.28 - 0.204 * np.log10(fc_uma)),
         np.where(los, -0.24 * np.log10(1 + fc_umi) - 7.14,
                  -0.24 * np.log10(1 + fc_umi) - 6.83)],
        np.where(los, -7.49, -7.43),
    )
    return np.asarray(10.0**lg)


def eigenmode_gains(tx: npt.NDArray[np.int16],
                    rx: npt.NDArray[np.int16]) -> npt.NDArray[np.float64]:
    """Per-layer gain for rank 1..MAX_LAYERS, shape ``(n, MAX_LAYERS)``, 0 where infeasible.

    The gain multiplies the per-RE received power of one transmit antenna and
    already includes the 1/L power split between layers.
    """
    m = np.minimum(np.minimum(tx, rx), MAX_LAYERS).astype(np.int64)
    total = tx.astype(np.float64) * rx
    rank_count = np.minimum(tx, rx).astype(np.float64)[:, None]
    i = np.arange(MAX_LAYERS, dtype=np.float64)[None, :]
    # geometric profile over the min(Nt, Nr) eigenmodes, normalized to the trace
    norm = (1.0 - EIGEN_RATIO**rank_count) / (1.0 - EIGEN_RATIO)
    eig = total[:, None] * EIGEN_RATIO**i / norm
    log_cum = np.cumsum(np.log(eig), axis=1)
    layers = i + 1.0
    gains = np.exp(log_cum / layers) / layers
    return np.where(layers <= m[:, None], gains, 0.0)


def db_to_lin(db: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Return ``10 ** (db / 10)``, dB to linear power."""
    return np.asarray(10.0 ** (np.asarray(db) / 10.0))


class ChannelState(NamedTuple):
    """Copy of the state that sets the SINR of some rows in one slot (``m`` rows).

    The links are the serving site and the two strongest neighbours, in that order.
    """

    taps: npt.NDArray[np.complex64]  # (m, NUM_TAPS) fading tap amplitudes
    signal_mw: npt.NDArray[np.float64]  # (m,) serving power per RE and transmit antenna
    interference_mw: npt.NDArray[np.float64]  # (m,) interference per RE in that slot
    top_interferers_mw: npt.NDArray[np.float64]  # (m, 2) mean power of the two strongest
    other_interference_mw: npt.NDArray[np.float64]  # (m,) the four others' full-load power
    load: npt.NDArray[np.float64]  # (m, 2) activity probability of the two strongest
    shadow_db: npt.NDArray[np.float64]  # (m, 3) shadow fading of the three links
    link_sites: npt.NDArray[np.int64]  # (m, 3) site index 0..6 of the three links


def faded_sinr(fading: npt.NDArray[np.float32], mean_snr: npt.NDArray[np.float64],
               hardening: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Per-layer SINR per sub-band, linear float32: fading, hardening and impairments.

    Args:
        fading: ``(m, ..., NUM_SUBBANDS)`` |H|^2, unit mean.
        mean_snr: ``(m, ...)`` per-layer SINR without fast fading, linear.
        hardening: ``(m,)`` channel-hardening factor of the layer count.
    """
    extra = (slice(None),) + (None,) * (fading.ndim - 1)
    faded = 1.0 + (fading - 1.0) * hardening[extra]
    sinr = faded * mean_snr.astype(np.float32)[..., None]
    # transmitter / receiver impairments add distortion proportional to the signal
    return (sinr / (1.0 + sinr * IMPAIRMENT)).astype(np.float32, copy=False)

