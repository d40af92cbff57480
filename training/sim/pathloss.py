"""3GPP TR 38.901 large-scale propagation for UMa, UMi (street canyon) and RMa.

Implements, for outdoor UEs only:

* the LOS probability of TR 38.901 Table 7.4.2-1,
* the path loss of TR 38.901 Table 7.4.1-1 (LOS two-slope model with a
  breakpoint; NLOS as ``max(PL_LOS, PL'_NLOS)``),
* the shadow-fading standard deviations of Table 7.4.1-1 and the shadow-fading
  decorrelation distances of Table 7.5-6.

Conventions: distances and heights in metres, carrier frequency ``fc_ghz`` in
GHz, path loss and shadow fading in dB. Every function is vectorized and
broadcasts its array arguments against each other with the usual numpy rules.

Validity. The models are specified for ``10 m <= d2D <= 5 km`` (RMa LOS
``<= 10 km``). Below 10 m the 2D distance is clipped to 10 m (the path loss is
flat there); beyond the upper limit the formulas are extrapolated unchanged.
Frequency and antenna-height ranges are not checked.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final, NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULTS",
    "MIN_D2D_M",
    "Environment",
    "EnvironmentDefaults",
    "breakpoint_distance_m",
    "los_probability",
    "path_loss_db",
    "shadow_decorrelation_m",
    "shadow_fading_std_db",
]

FloatArray = npt.NDArray[np.float64]

# TR 38.901 Table 7.4.1-1 note 1: c = 3.0e8 m/s, propagation velocity in free space
SPEED_OF_LIGHT_MPS: Final = 3.0e8
"""Propagation velocity in free space used by the breakpoint distances, m/s."""

MIN_D2D_M: Final = 10.0
"""Smallest 2D distance (m) for which the Table 7.4.1-1 formulas are specified;
shorter distances are clipped to it."""

# TR 38.901 Table 7.2-3 (RMa): average building height h and average street width W
RMA_BUILDING_HEIGHT_M: Final = 5.0
RMA_STREET_WIDTH_M: Final = 20.0

# TR 38.901 Table 7.4.1-1 note 1: effective environment height for UMa/UMi when
# the UT is below 13 m (UMa: h_E = 1 m with probability 1/(1 + C(d2D, h_UT)),
# and C = 0 for h_UT < 13 m; UMi: always 1 m).
_H_E_M: Final = 1.0


class Environment(enum.StrEnum):
    """TR 38.901 deployment scenario; the value is the name used in the TR."""

    UMA = "UMa"
    """Urban macro."""
    UMI = "UMi"
    """Urban micro, street canyon."""
    RMA = "RMa"
    """Rural macro."""


@dataclass(frozen=True, slots=True)
class EnvironmentDefaults:
    """Typical deployment parameters of one environment.

    Attributes:
        h_bs_m: BS antenna height, m.
        h_ut_m: UT antenna height, m.
        tx_power_dbm: Typical BS transmit power, dBm.
        isd_m: Inter-site distance, m.
        min_distance_m: Minimum BS-UT 2D distance, m.
        building_height_m: Average building height ``h``, m (RMa only; None elsewhere).
        street_width_m: Average street width ``W``, m (RMa only; None elsewhere).

    """

    h_bs_m: float
    h_ut_m: float
    tx_power_dbm: float
    isd_m: float
    min_distance_m: float
    building_height_m: float | None = None
    street_width_m: float | None = None


DEFAULTS: Final[dict[Environment, EnvironmentDefaults]] = {
    # TR 38.901 Table 7.2-1 (UMa): h_BS 25 m, ISD 500 m, min BS-UT distance 35 m;
    # h_UT 1.5 m (outdoor UT, within the 1.5..22.5 m range). Tx power 46 dBm: the
    # usual macro value of 3GPP/ITU-R below-6-GHz system-level evaluations.
    Environment.UMA: EnvironmentDefaults(
        h_bs_m=25.0, h_ut_m=1.5, tx_power_dbm=46.0, isd_m=500.0, min_distance_m=35.0
    ),
    # TR 38.901 Table 7.2-1 (UMi street canyon): h_BS 10 m, ISD 200 m, min BS-UT
    # distance 10 m; h_UT 1.5 m. Tx power 44 dBm: the usual micro value of 3GPP/ITU-R
    # below-6-GHz evaluations.
    Environment.UMI: EnvironmentDefaults(
        h_bs_m=10.0, h_ut_m=1.5, tx_power_dbm=44.0, isd_m=200.0, min_distance_m=10.0
    ),
    # TR 38.901 Table 7.2-3 (RMa): h_BS 35 m, h_UT 1.5 m, ISD 1732 m, min BS-UT
    # distance 35 m, average building height 5 m, street width 20 m. Tx power 46 dBm
    # as for UMa.
    Environment.RMA: EnvironmentDefaults(
        h_bs_m=35.0, h_ut_m=1.5, tx_power_dbm=46.0, isd_m=1732.0, min_distance_m=35.0,
        building_height_m=RMA_BUILDING_HEIGHT_M, street_width_m=RMA_STREET_WIDTH_M,
    ),
}
"""Per-environment defaults, ``DEFAULTS[env]``."""


def _as_f64(x: npt.ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def breakpoint_distance_m(
    env: Environment,
    h_bs_m: npt.ArrayLike,
    h_ut_m: npt.ArrayLike,
    fc_ghz: npt.ArrayLike,
) -> FloatArray:
    """LOS breakpoint distance of TR 38.901 Table 7.4.1-1 (notes 1 and 5).

    UMa/UMi use ``d'_BP = 4 h'_BS h'_UT f_c / c`` with effective heights
    ``h' = h - h_E`` and ``h_E = 1 m`` (the TR's value for UTs below 13 m; the
    probabilistic ``h_E`` of UMa UTs above 13 m is not modelled). RMa uses
    ``d_BP = 2 pi h_BS h_UT f_c / c`` with the actual heights.

    Args:
        env: Environment.
        h_bs_m: BS antenna height, any shape, float, m.
        h_ut_m: UT antenna height, any shape, float, m.
        fc_ghz: Carrier frequency, any shape, float, GHz.

    Returns:
        Breakpoint 2D distance, broadcast shape of the inputs, float64, m.

    """
    h_bs = _as_f64(h_bs_m)
    h_ut = _as_f64(h_ut_m)
    fc_hz = _as_f64(fc_ghz) * 1e9
    if env is Environment.RMA:
        return 2.0 * np.pi * h_bs * h_ut * fc_hz / SPEED_OF_LIGHT_MPS
    return 4.0 * (h_bs - _H_E_M) * (h_ut - _H_E_M) * fc_hz / SPEED_OF_LIGHT_MPS


def los_probability(
    env: Environment, d2d_m: npt.ArrayLike, h_ut_m: npt.ArrayLike
) -> FloatArray:
    """LOS probability of an outdoor UE, TR 38.901 Table 7.4.2-1.

    UMi: ``1`` up to 18 m, else ``18/d + exp(-d/36) (1 - 18/d)``.
    UMa: ``1`` up to 18 m, else ``[18/d + exp(-d/63) (1 - 18/d)] (1 + C'(h_UT)
    5/4 (d/100)^3 exp(-d/150))`` with ``C' = 0`` for ``h_UT <= 13 m`` and
    ``((h_UT - 13)/10)^1.5`` above. RMa: ``1`` up to 10 m, else
    ``exp(-(d - 10)/1000)``. Decreasing in distance except for UMa UTs above
    13 m, where the ``C'`` bump can make it rise between ~100 and ~300 m.

    Args:
        env: Environment.
        d2d_m: Outdoor BS-UT 2D distance, any shape, float, m.
        h_ut_m: UT antenna height, broadcastable with ``d2d_m``, float, m (UMa only).

    Returns:
        Probability of LOS in ``[0, 1]``, broadcast shape, float64.

    """
    d = _as_f64(d2d_m)
    if env is Environment.RMA:
        # TR 38.901 Table 7.4.2-1, RMa
        p = np.exp(-(d - 10.0) / 1000.0)
        return np.where(d <= 10.0, 1.0, p)
    # Guard the division below; the value at d <= 18 m is replaced by 1 anyway.
    ds = np.maximum(d, 18.0)
    if env is Environment.UMI:
        # TR 38.901 Table 7.4.2-1, UMi street canyon
        p = 18.0 / ds + np.exp(-ds / 36.0) * (1.0 - 18.0 / ds)
        return np.where(d <= 18.0, 1.0, p)
    # TR 38.901 Table 7.4.2-1, UMa
    h_ut = _as_f64(h_ut_m)
    c_prime = np.where(h_ut <= 13.0, 0.0, (np.maximum(h_ut - 13.0, 0.0) / 10.0) ** 1.5)
    p = (18.0 / ds + np.exp(-ds / 63.0) * (1.0 - 18.0 / ds)) * (
        1.0 + c_prime * 1.25 * (ds / 100.0) ** 3 * np.exp(-ds / 150.0)
    )
    return np.clip(np.where(d <= 18.0, 1.0, p), 0.0, 1.0)


def _rma_pl1(
    d3d: FloatArray, fc_ghz: FloatArray, h_bld: FloatArray
) -> FloatArray:
    # TR 38.901 Table 7.4.1-1, RMa LOS PL1 (fc in GHz, h = average building height)
    return (
        20.0 * np.log10(40.0 * np.pi * d3d * fc_ghz / 3.0)
        + np.minimum(0.03 * h_bld**1.72, 10.0) * np.log10(d3d)
        - np.minimum(0.044 * h_bld**1.72, 14.77)
        + 0.002 * np.log10(h_bld) * d3d
    )


class _Geometry(NamedTuple):
    """What the LOS and NLOS formulas of one path-loss evaluation share (m, GHz)."""

    d2d: FloatArray  # clipped at MIN_D2D_M
    d3d: FloatArray
    dh2: FloatArray  # (h_BS - h_UT)^2
    d_bp: FloatArray  # breakpoint_distance_m
    h_bs: FloatArray
    h_ut: FloatArray
    fc: FloatArray


def _uma_path_loss(g: _Geometry) -> tuple[FloatArray, FloatArray]:
    """UMa ``(PL_LOS, PL'_NLOS)`` of TR 38.901 Table 7.4.1-1."""
    d3d, dh2, d_bp, log_fc = g.d3d, g.dh2, g.d_bp, np.log10(g.fc)
    # TR 38.901 Table 7.4.1-1, UMa LOS: PL1 / PL2
    pl1 = 28.0 + 22.0 * np.log10(d3d) + 20.0 * log_fc
    pl2 = 28.0 + 40.0 * np.log10(d3d) + 20.0 * log_fc - 9.0 * np.log10(d_bp**2 + dh2)
    pl_los = np.where(g.d2d <= d_bp, pl1, pl2)
    # TR 38.901 Table 7.4.1-1, UMa NLOS PL'
    pl_nlos = 13.54 + 39.08 * np.log10(d3d) + 20.0 * log_fc - 0.6 * (g.h_ut - 1.5)
    return pl_los, pl_nlos


def _umi_path_loss(g: _Geometry) -> tuple[FloatArray, FloatArray]:
    """UMi street canyon ``(PL_LOS, PL'_NLOS)`` of TR 38.901 Table 7.4.1-1."""
    d3d, dh2, d_bp, log_fc = g.d3d, g.dh2, g.d_bp, np.log10(g.fc)
    # TR 38.901 Table 7.4.1-1, UMi street canyon LOS: PL1 / PL2
    pl1 = 32.4 + 21.0 * np.log10(d3d) + 20.0 * log_fc
    pl2 = 32.4 + 40.0 * np.log10(d3d) + 20.0 * log_fc - 9.5 * np.log10(d_bp**2 + dh2)
    pl_los = np.where(g.d2d <= d_bp, pl1, pl2)
    # TR 38.901 Table 7.4.1-1, UMi street canyon NLOS PL'
    pl_nlos = 35.3 * np.log10(d3d) + 22.4 + 21.3 * log_fc - 0.3 * (g.h_ut - 1.5)
    return pl_los, pl_nlos


def _rma_path_loss(g: _Geometry, h_bld: FloatArray, w: FloatArray) -> tuple[FloatArray, FloatArray]:
    """RMa ``(PL_LOS, PL'_NLOS)`` of TR 38.901 Table 7.4.1-1 (building height, street width)."""
    d3d, d_bp, h_bs, log_fc = g.d3d, g.d_bp, g.h_bs, np.log10(g.fc)
    # TR 38.901 Table 7.4.1-1, RMa LOS: PL1 up to d_BP, PL2 = PL1(d_BP) + 40 log10(d3D/d_BP)
    pl1 = _rma_pl1(d3d, g.fc, h_bld)
    pl2 = _rma_pl1(d_bp, g.fc, h_bld) + 40.0 * np.log10(d3d / d_bp)
    pl_los = np.where(g.d2d <= d_bp, pl1, pl2)
    # TR 38.901 Table 7.4.1-1, RMa NLOS PL'
    pl_nlos = (
        161.04
        - 7.1 * np.log10(w)
        + 7.5 * np.log10(h_bld)
        - (24.37 - 3.7 * (h_bld / h_bs) ** 2) * np.log10(h_bs)
        + (43.42 - 3.1 * np.log10(h_bs)) * (np.log10(d3d) - 3.0)
        + 20.0 * log_fc
        - (3.2 * np.log10(11.75 * g.h_ut) ** 2 - 4.97)
    )
    return pl_los, pl_nlos


def path_loss_db(
    env: Environment,
    d2d_m: npt.ArrayLike,
    h_bs_m: npt.ArrayLike,
    h_ut_m: npt.ArrayLike,
    fc_ghz: npt.ArrayLike,
    los: npt.ArrayLike,
    *,
    building_height_m: float = RMA_BUILDING_HEIGHT_M,
    street_width_m: float = RMA_STREET_WIDTH_M,
) -> FloatArray:
    """Compute the basic path loss (no shadow fading) of TR 38.901 Table 7.4.1-1.

    LOS is the two-slope model: ``PL1`` up to the breakpoint distance
    (:func:`breakpoint_distance_m`), ``PL2`` beyond. NLOS is
    ``max(PL_LOS, PL'_NLOS)``. ``d3D = sqrt(d2D^2 + (h_BS - h_UT)^2)``. The 2D
    distance is clipped below at :data:`MIN_D2D_M` (10 m), the lower limit of
    every model here.

    The UMa and UMi LOS curves are continuous at the breakpoint. The RMa one has
    a tiny jump (below 0.05 dB for the default heights and 0.5..30 GHz) because
    the TR evaluates ``PL1`` at ``d_BP`` (a 2D distance used as 3D distance)
    and adds ``40 log10(d3D / d_BP)``.

    Args:
        env: Environment.
        d2d_m: BS-UT 2D distance, any shape, float, m.
        h_bs_m: BS antenna height, broadcastable, float, m.
        h_ut_m: UT antenna height, broadcastable, float, m.
        fc_ghz: Carrier frequency, broadcastable, float, GHz.
        los: LOS condition, broadcastable, bool (True = LOS).
        building_height_m: RMa average building height ``h``, m (TR range 5..50 m).
            Ignored for UMa/UMi.
        street_width_m: RMa average street width ``W``, m (TR range 5..50 m).
            Ignored for UMa/UMi.

    Returns:
        Path loss, broadcast shape of all array inputs, float64, dB.

    """
    d2d = np.maximum(_as_f64(d2d_m), MIN_D2D_M)
    h_bs = _as_f64(h_bs_m)
    h_ut = _as_f64(h_ut_m)
    fc = _as_f64(fc_ghz)
    is_los = np.asarray(los, dtype=bool)
    dh2 = (h_bs - h_ut) ** 2
    d3d = np.sqrt(d2d**2 + dh2)
    d_bp = breakpoint_distance_m(env, h_bs, h_ut, fc)
    geometry = _Geometry(d2d, d3d, dh2, d_bp, h_bs, h_ut, fc)
    if env is Environment.UMA:
        pl_los, pl_nlos = _uma_path_loss(geometry)
    elif env is Environment.UMI:
        pl_los, pl_nlos = _umi_path_loss(geometry)
    else:
        pl_los, pl_nlos = _rma_path_loss(
            geometry, _as_f64(building_height_m), _as_f64(street_width_m)
        )
    return np.where(is_los, pl_los, np.maximum(pl_los, pl_nlos))


def shadow_fading_std_db(
    env: Environment, los: npt.ArrayLike, beyond_breakpoint: npt.ArrayLike = False
) -> FloatArray:
    """Log-normal shadow-fading standard deviation, TR 38.901 Table 7.4.1-1.

    UMa 4 dB LOS / 6 dB NLOS; UMi 4 / 7.82 dB; RMa LOS 4 dB before the
    breakpoint and 6 dB beyond it, RMa NLOS 8 dB. For RMa at the default
    heights the breakpoint is ~3.8 km at 3.5 GHz, beyond a 1732 m ISD cell, so
    ``beyond_breakpoint`` rarely matters; compute it as
    ``d2d_m > breakpoint_distance_m(...)`` when it does.

    Args:
        env: Environment.
        los: LOS condition, any shape, bool.
        beyond_breakpoint: RMa LOS only: UE beyond ``d_BP``; broadcastable with
            ``los``, bool. Ignored for UMa/UMi.

    Returns:
        Shadow-fading standard deviation, broadcast shape, float64, dB.

    """
    is_los = np.asarray(los, dtype=bool)
    if env is Environment.UMA:
        return np.where(is_los, 4.0, 6.0)  # TR 38.901 Table 7.4.1-1, UMa sigma_SF
    if env is Environment.UMI:
        return np.where(is_los, 4.0, 7.82)  # TR 38.901 Table 7.4.1-1, UMi sigma_SF
    # TR 38.901 Table 7.4.1-1, RMa sigma_SF: LOS 4 (PL1) / 6 (PL2), NLOS 8
    los_std = np.where(np.asarray(beyond_breakpoint, dtype=bool), 6.0, 4.0)
    return np.where(is_los, los_std, 8.0)


def shadow_decorrelation_m(env: Environment, los: npt.ArrayLike) -> FloatArray:
    """Shadow-fading decorrelation distance, TR 38.901 Table 7.5-6.

    UMa 37 m LOS / 50 m NLOS; UMi 10 / 13 m; RMa 37 / 120 m.

    Args:
        env: Environment.
        los: LOS condition, any shape, bool.

    Returns:
        Decorrelation distance (exponential autocorrelation), same shape as
        ``los``, float64, m.

    """
    # TR 38.901 Table 7.5-6, SF correlation distance (LOS, NLOS) in m
    los_m, nlos_m = {
        Environment.UMA: (37.0, 50.0),
        Environment.UMI: (10.0, 13.0),
        Environment.RMA: (37.0, 120.0),
    }[env]
    return np.where(np.asarray(los, dtype=bool), los_m, nlos_m)
