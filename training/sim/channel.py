"""Radio channel of ``n`` independent downlink links, advanced one slot at a time.

Per UE row (all arrays lead with the UE dimension ``n``):

* **Large scale** (refreshed every :data:`LARGE_SCALE_INTERVAL` slots as the UE
  moves): TR 38.901 path loss with a LOS state per link (Table 7.4.2-1), shadow
  fading correlated over the distance moved (exponential model of TR 38.901
  7.6.3.1 with the Table 7.5-6 decorrelation distances), to the serving site and
  the six first-tier neighbours of a hexagonal layout.
* **Fast fading**: a tapped delay line of :data:`NUM_TAPS` taps with an
  exponential power-delay profile whose rms spread is the TR 38.901 Table 7.5-6
  median delay spread; LOS links add a Rician component on the first tap (median
  K-factor of Table 7.5-6). Each tap is a first-order autoregressive complex
  Gaussian process with lag-one correlation rho = J0(2 pi f_D T_slot) (Clarke /
  Jakes), f_D = v f_c / c, so coherence follows speed, carrier and numerology.
  The frequency response is taken at :data:`NUM_SUBBANDS` sub-band centres across
  the UE's allocation, which gives frequency selectivity.
* **MIMO**: a rank-L transmission splits power over L layers, each served by one
  eigenmode of the Nt x Nr channel. Eigenmode gains follow a geometric profile
  (ratio :data:`EIGEN_RATIO`, a moderately correlated array) normalized so that
  they sum to Nt*Nr, the mean of trace(H H^H) for unit-power channel entries; the
  layer gain is the geometric mean of the L strongest over L. Channel hardening:
  a layer combines about D = Nt*Nr/L independent fading contributions, so the
  fading power keeps its unit mean and its standard deviation shrinks by sqrt(D)
  (moment-matched: p = 1 + (|H|^2 - 1)/sqrt(D)).
* **Interference**: each neighbour transmits in a slot with a probability equal
  to its load; the two strongest neighbours are drawn slot by slot, the other
  four contribute their mean. Loads wander around the configured mean
  (a bounded random walk refreshed with the large-scale state).

Powers are in mW per resource element. Noise: -174 dBm/Hz over one subcarrier
plus the UE noise figure.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from training.sim import geometry, pathloss
from training.sim.config import (
    BS_ELEMENT_GAIN_DBI,
    ENVIRONMENTS,
    MAX_LAYERS,
    NOISE_FIGURE_DB,
    LinkConfig,
)
from training.sim.fading import (
    EIGEN_RATIO,
    IMPAIRMENT,
    IMPAIRMENT_SINR_DB,
    K_FACTOR_DB,
    NUM_SUBBANDS,
    NUM_TAPS,
    ChannelState,
    bessel_j0,
    db_to_lin,
    eigenmode_gains,
    faded_sinr,
    median_delay_spread_s,
)

__all__ = [
    "EIGEN_RATIO",
    "HANDOVER_HYSTERESIS_DB",
    "IMPAIRMENT_SINR_DB",
    "LARGE_SCALE_INTERVAL",
    "NUM_NEIGHBOURS",
    "NUM_SUBBANDS",
    "NUM_TAPS",
    "Channel",
    "ChannelState",
    "bessel_j0",
    "eigenmode_gains",
    "faded_sinr",
    "median_delay_spread_s",
]

LARGE_SCALE_INTERVAL: Final = 20  # slots between geometry / shadowing / load refreshes
NUM_NEIGHBOURS: Final = 6
HANDOVER_HYSTERESIS_DB: Final = 3.0  # A3-event style offset (TS 38.331 a3-Offset + hysteresis)
_SLOTS_PER_DRAW: Final = 16  # fading innovations are drawn for this many slots at once
_LIGHT_SPEED: Final = 299_792_458.0
_THERMAL_NOISE_DBM_HZ: Final = -174.0
_LOAD_STEP: Final = 0.05  # std of the per-refresh load random walk
_MEASUREMENT_ERROR_DB: Final = 1.0  # SS-RSRP / SS-SINR report accuracy (TS 38.133 order)


class Channel:
    """Channel state of ``n`` links; :meth:`advance` moves it one slot forward.

    After construction and after every :meth:`advance` the attributes describe
    the current slot:

    * ``fading`` ``(n, NUM_SUBBANDS)`` float32: |H|^2 per sub-band, unit mean.
    * ``interference_mw`` ``(n,)`` float64: interference per RE this slot.
    * ``signal_mw`` ``(n,)``: serving power per RE and transmit antenna, before
      beamforming; ``noise_mw`` ``(n,)``.
    * ``ss_rsrp_dbm``, ``ss_sinr_db`` ``(n,)``: the latest SSB measurements.
    """

    def __init__(self, cfg: LinkConfig, rng: np.random.Generator) -> None:
        self.cfg = cfg
        self.rng = rng
        n = len(cfg)
        self.n = n
        # the draws below keep their order: drop, velocity, LOS, shadowing, load
        self._init_geometry()
        d2d = self._distances()
        self._init_links(d2d)
        self._tx_re_dbm = (cfg.tx_power_dbm - 10.0 * np.log10(cfg.cell_prbs * 12.0)
                           + BS_ELEMENT_GAIN_DBI)
        self.noise_mw = db_to_lin(_THERMAL_NOISE_DBM_HZ + 10.0 * np.log10(cfg.scs_hz())
                                  + NOISE_FIGURE_DB)
        self.load = np.clip(cfg.interference_load[:, None]
                            + 0.1 * rng.standard_normal((n, 2)), 0.0, 1.0)
        self._init_layers()
        self._slot = 0
        self.serving = np.zeros(n, dtype=np.int64)  # site index 0..6, set by _associate
        self._refresh_large_scale(moved_m=None)
        self._init_fading()
        self._draw_interference()

    def _init_geometry(self) -> None:
        """Drop the UEs, draw their velocities and place the seven sites per UE row."""
        cfg, rng, n = self.cfg, self.rng, self.n
        radius = geometry.cell_radius(cfg.isd_m)
        self._radius = radius
        # TR 38.901 Table 7.2-1 / 7.2-3 minimum BS-UT distance per environment
        env_min = np.array([pathloss.DEFAULTS[e].min_distance_m for e in ENVIRONMENTS])
        self._min_distance = np.maximum(cfg.radial_lo * radius, env_min[cfg.environment])
        self.position = np.empty((n, 2))
        bounds = np.stack([cfg.radial_lo, cfg.radial_hi], axis=1)
        for lo, hi in np.unique(bounds, axis=0):
            rows = np.flatnonzero((bounds[:, 0] == lo) & (bounds[:, 1] == hi))
            self.position[rows] = geometry.drop_ues(rng, rows.size, radius[rows],
                                                    self._min_distance[rows],
                                                    radial_fraction=(float(lo), float(hi)))
        self.velocity = geometry.random_velocity(rng, cfg.speed_mps)
        self._sites = np.concatenate(
            [np.zeros((n, 1, 2)), cfg.isd_m[:, None, None] * geometry.neighbor_sites(1.0)[None]],
            axis=1)  # (n, 7, 2)
        self._h_bs = np.empty(n)
        self._h_ut = np.empty(n)
        for k, env in enumerate(ENVIRONMENTS):
            rows = cfg.environment == k
            self._h_bs[rows] = pathloss.DEFAULTS[env].h_bs_m
            self._h_ut[rows] = pathloss.DEFAULTS[env].h_ut_m

    def _init_links(self, d2d: npt.NDArray[np.float64]) -> None:
        """Draw each link's LOS state and initial shadow fading."""
        cfg, rng = self.cfg, self.rng
        self.los = np.zeros((self.n, 1 + NUM_NEIGHBOURS), dtype=bool)
        for k, env in enumerate(ENVIRONMENTS):
            rows = np.flatnonzero(cfg.environment == k)
            p = pathloss.los_probability(env, d2d[rows], self._h_ut[rows, None])
            self.los[rows] = rng.random(p.shape) < p
        self._shadow_std = np.empty_like(d2d)
        self._shadow_corr = np.empty_like(d2d)
        for k, env in enumerate(ENVIRONMENTS):
            rows = cfg.environment == k
            self._shadow_std[rows] = pathloss.shadow_fading_std_db(env, self.los[rows])
            self._shadow_corr[rows] = pathloss.shadow_decorrelation_m(env, self.los[rows])
        self.shadow_db = rng.standard_normal(d2d.shape) * self._shadow_std

    def _init_layers(self) -> None:
        """Per-rank layer gains, hardening factors and the feasible rank of every UE."""
        cfg = self.cfg
        self.layer_gain = eigenmode_gains(cfg.tx_antennas, cfg.rx_antennas).astype(np.float32)
        diversity = (cfg.tx_antennas.astype(np.float64) * cfg.rx_antennas)[:, None] / np.arange(
            1, MAX_LAYERS + 1)
        self.hardening = (1.0 / np.sqrt(np.maximum(diversity, 1.0))).astype(np.float32)
        self._layer_gain_flat = self.layer_gain.ravel()
        self._hardening_flat = self.hardening.ravel()
        self._rows = np.arange(self.n)
        self.max_layers = np.minimum(np.minimum(cfg.tx_antennas, cfg.rx_antennas),
                                     MAX_LAYERS).astype(np.int64)

    # -- large scale -----------------------------------------------------------------------

    def _distances(self) -> npt.NDArray[np.float64]:
        diff = self.position[:, None, :] - self._sites
        return np.asarray(np.hypot(diff[..., 0], diff[..., 1]))

    def _refresh_large_scale(self, moved_m: npt.NDArray[np.float64] | None) -> None:
        cfg = self.cfg
        d2d = self._distances()
        if moved_m is not None:
            a = np.exp(-moved_m[:, None] / self._shadow_corr)
            self.shadow_db = a * self.shadow_db + np.sqrt(1.0 - a * a) * self._shadow_std * (
                self.rng.standard_normal(d2d.shape))
        pl = np.empty_like(d2d)
        for k, env in enumerate(ENVIRONMENTS):
            rows = cfg.environment == k
            pl[rows] = pathloss.path_loss_db(env, d2d[rows], self._h_bs[rows, None],
                                             self._h_ut[rows, None],
                                             cfg.carrier_ghz[rows, None], self.los[rows])
        rx_dbm = self._tx_re_dbm[:, None] - pl - self.shadow_db
        rx_mw = db_to_lin(rx_dbm)
        self._associate(rx_dbm, initial=moved_m is None)
        rows = np.arange(self.n)
        self.signal_mw = rx_mw[rows, self.serving]
        others = np.ones_like(rx_mw, dtype=bool)
        others[rows, self.serving] = False
        neighbours = rx_mw[others].reshape(self.n, NUM_NEIGHBOURS)
        neighbours = np.where(cfg.isolated[:, None], 0.0, neighbours)
        order = np.argsort(-neighbours, axis=1)
        top = np.take_along_axis(neighbours, order[:, :2], axis=1)
        self._top_interferers_mw = top
        # neighbour k of the row is site k, or k + 1 once past the serving site
        top_sites = order[:, :2] + (order[:, :2] >= self.serving[:, None])
        self._link_sites = np.concatenate([self.serving[:, None], top_sites], axis=1)
        self._other_interference_mw = neighbours.sum(axis=1) - top.sum(axis=1)
        if moved_m is not None:
            self.load = self.load_step(self.load, self.cfg.interference_load[:, None],
                                       self.rng.standard_normal(self.load.shape))
        mean_interference = ((self._top_interferers_mw * self.load).sum(axis=1)
                             + self._other_interference_mw * cfg.interference_load)
        noise = self.rng.standard_normal((self.n, 2)) * _MEASUREMENT_ERROR_DB
        self.ss_rsrp_dbm = rx_dbm[rows, self.serving] + noise[:, 0]
        self.ss_sinr_db = 10.0 * np.log10(self.signal_mw / (mean_interference + self.noise_mw)) + \
            noise[:, 1]

    def _associate(self, rx_dbm: npt.NDArray[np.float64], initial: bool) -> None:
        """Serve each UE from its strongest site (RSRP), with a handover hysteresis.

        Isolated cells (no neighbours) always serve from the origin site.
        """
        best = np.argmax(rx_dbm, axis=1)
        if initial:
            self.serving = np.where(self.cfg.isolated, 0, best)
            return
        rows = np.arange(self.n)
        margin = rx_dbm[rows, best] - rx_dbm[rows, self.serving]
        handover = (margin > HANDOVER_HYSTERESIS_DB) & ~self.cfg.isolated
        self.serving = np.where(handover, best, self.serving)

    # -- fast fading -----------------------------------------------------------------------

    def _init_fading(self) -> None:
        cfg, n = self.cfg, self.n
        f_doppler = cfg.speed_mps * cfg.carrier_ghz * 1e9 / _LIGHT_SPEED
        rho = np.clip(bessel_j0(2.0 * np.pi * f_doppler * cfg.slot_s()), 0.0, 1.0 - 1e-7)
        self._rho = rho.astype(np.float32)[:, None]
        self._innovation_std = np.sqrt(1.0 - rho**2).astype(np.float32)[:, None]
        los = self.los[np.arange(n), self.serving]
        k_lin = np.where(los, db_to_lin(K_FACTOR_DB[cfg.environment]), 0.0)
        scatter = np.sqrt(1.0 / (k_lin + 1.0))
        spread = median_delay_spread_s(cfg.environment, los, cfg.carrier_ghz)
        k = np.arange(NUM_TAPS, dtype=np.float64)
        tap_power = np.exp(-k)
        tap_power /= tap_power.sum()
        delays = spread[:, None] * k[None, :]  # (n, K)
        bandwidth = cfg.ue_prbs * 12.0 * cfg.scs_hz()
        freqs = ((np.arange(NUM_SUBBANDS) + 0.5) / NUM_SUBBANDS - 0.5)[None, :] * bandwidth[:, None]
        phase = -2.0 * np.pi * delays[:, :, None] * freqs[:, None, :]  # (n, K, S)
        resp = np.sqrt(tap_power)[None, :, None] * np.exp(1j * phase) * scatter[:, None, None]
        self._tap_response = np.ascontiguousarray(resp.transpose(1, 0, 2)).astype(np.complex64)
        los_phase = self.rng.uniform(0.0, 2.0 * np.pi, n)
        los_amp = np.sqrt(k_lin / (k_lin + 1.0))
        self._los_response = np.repeat((los_amp * np.exp(1j * los_phase))[:, None],
                                       NUM_SUBBANDS, axis=1).astype(np.complex64)
        self._taps = self._complex_normal((n, NUM_TAPS))
        self._innovations = np.empty((_SLOTS_PER_DRAW, n, NUM_TAPS, 2), dtype=np.float32)
        self._next_innovation = _SLOTS_PER_DRAW
        self._update_fading()

    def _complex_normal(self, shape: tuple[int, ...]) -> npt.NDArray[np.complex64]:
        z = self.rng.standard_normal((*shape, 2), dtype=np.float32) * np.float32(np.sqrt(0.5))
        return z.view(np.complex64)[..., 0]

    def _update_fading(self) -> None:
        h = self._los_response.copy()
        for k in range(NUM_TAPS):
            h += self._taps[:, k, None] * self._tap_response[k]
        self.fading = (h.real**2 + h.imag**2).astype(np.float32, copy=False)

    def _draw_interference(self) -> None:
        active = self.rng.random((self.n, 2), dtype=np.float32) < self.load
        self.interference_mw = ((self._top_interferers_mw * active).sum(axis=1)
                                + self._other_interference_mw * self.cfg.interference_load)

    # -- per slot --------------------------------------------------------------------------

    def advance(self) -> None:
        """Move the channel one slot forward."""
        self._slot += 1
        if self._slot % LARGE_SCALE_INTERVAL == 0:
            dt = LARGE_SCALE_INTERVAL * self.cfg.slot_s()
            self.position, self.velocity = geometry.move(
                self.position, self.velocity, dt, self._radius * self.cfg.radial_hi,
                self._min_distance)
            self._refresh_large_scale(moved_m=self.cfg.speed_mps * dt)
        if self._next_innovation == _SLOTS_PER_DRAW:
            self.rng.standard_normal(out=self._innovations, dtype=np.float32)
            self._innovations *= np.float32(np.sqrt(0.5))
            self._next_innovation = 0
        w = self._innovations[self._next_innovation].view(np.complex64)[..., 0]
        self._next_innovation += 1
        self._taps *= self._rho
        self._taps += self._innovation_std * w
        self._update_fading()
        self._draw_interference()

    def wideband_sinr(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """Per-layer SINR averaged over sub-bands, linear, ``(m, MAX_LAYERS)`` for rank 1..4.

        Infeasible ranks (beyond min(Nt, Nr)) get 0. Used for the rank indicator.
        """
        mean_fading = self.fading[rows].mean(axis=1, dtype=np.float64)
        snr = self.signal_mw[rows] / (self.interference_mw[rows] + self.noise_mw[rows])
        faded = 1.0 + (mean_fading[:, None] - 1.0) * self.hardening[rows]
        sinr = snr[:, None] * self.layer_gain[rows] * faded
        return np.asarray(sinr / (1.0 + sinr * IMPAIRMENT))

    def sinr(self, layers: npt.NDArray[np.int64],
             rows: npt.NDArray[np.int64] | None = None) -> npt.NDArray[np.float32]:
        """Per-layer SINR per sub-band (linear) for ``layers`` per UE, shape ``(m, NUM_SUBBANDS)``.

        Args:
            layers: ``(m,)`` int, 1..max_layers of each selected UE.
            rows: UE indices (``m`` of them); all UEs when None.
        """
        sel = slice(None) if rows is None else rows
        idx = self._rows if rows is None else rows
        mean_snr, hardening = self.mean_snr(self.signal_mw[sel], self.interference_mw[sel],
                                            layers, idx)
        return faded_sinr(self.fading[sel], mean_snr, hardening)

    # -- conditional sampling (the delayed genie) ---------------------------------------------

    def state(self, rows: npt.NDArray[np.int64]) -> ChannelState:
        """Copy of the current slot's state of ``rows`` (fancy indexing copies)."""
        sites = self._link_sites[rows]
        return ChannelState(
            taps=self._taps[rows], signal_mw=self.signal_mw[rows],
            interference_mw=self.interference_mw[rows],
            top_interferers_mw=self._top_interferers_mw[rows],
            other_interference_mw=self._other_interference_mw[rows], load=self.load[rows],
            shadow_db=np.take_along_axis(self.shadow_db[rows], sites, axis=1), link_sites=sites)

    def fading_correlation(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """``(m,)`` lag-one correlation rho = J0(2 pi f_D T_slot) of every fading tap."""
        return self._rho[rows, 0]

    def shadow_process(self, rows: npt.NDArray[np.int64], sites: npt.NDArray[np.int64]
                       ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Per large-scale refresh: the shadowing's AR(1) coefficient and its std (dB).

        ``sites`` is ``(m, j)``; both results have its shape. A refresh maps ``s`` to
        ``a s + sqrt(1 - a^2) std z`` (see :meth:`_refresh_large_scale`).
        """
        moved = (self.cfg.speed_mps * LARGE_SCALE_INTERVAL * self.cfg.slot_s())[rows, None]
        corr = np.take_along_axis(self._shadow_corr[rows], sites, axis=1)
        std = np.take_along_axis(self._shadow_std[rows], sites, axis=1)
        return np.exp(-moved / corr), std

    @staticmethod
    def load_step(load: npt.NDArray[np.float64], mean: npt.NDArray[np.float64],
                  z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """One refresh of the neighbours' load random walk, given standard normals ``z``."""
        return np.clip(load + _LOAD_STEP * z + 0.1 * (mean - load), 0.0, 1.0)

    def subband_fading(self, taps: npt.NDArray[np.complex64],
                       rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """|H|^2 per sub-band for tap amplitudes ``taps`` ``(m, ..., NUM_TAPS)`` of ``rows``.

        Returns ``(m, ..., NUM_SUBBANDS)``; the same arithmetic as the simulated channel,
        so the current taps give exactly :attr:`fading`.
        """
        extra = (slice(None),) + (None,) * (taps.ndim - 2) + (slice(None),)
        h = np.broadcast_to(self._los_response[rows][extra],
                            (*taps.shape[:-1], NUM_SUBBANDS)).copy()
        for k in range(NUM_TAPS):
            h += taps[..., k, None] * self._tap_response[k, rows][extra]
        return (h.real**2 + h.imag**2).astype(np.float32, copy=False)

    def mean_snr(self, signal_mw: npt.NDArray[np.float64],
                 interference_mw: npt.NDArray[np.float64], layers: npt.NDArray[np.int64],
                 rows: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.float64],
                                                       npt.NDArray[np.float32]]:
        """Per-layer SINR before fast fading and the hardening factor, as :meth:`sinr` uses.

        ``signal_mw`` and ``interference_mw`` are ``(m, ...)``; ``layers`` ``(m,)``.
        """
        flat = rows * MAX_LAYERS + layers - 1
        extra = (slice(None),) + (None,) * (signal_mw.ndim - 1)
        gain = self._layer_gain_flat[flat][extra]
        noise = self.noise_mw[rows][extra]
        return signal_mw * gain / (interference_mw + noise), self._hardening_flat[flat]
