"""Per-UE link configurations: named benchmark scenarios and domain randomization.

A :class:`LinkConfig` holds one value per UE row for every parameter the
simulator takes, so one vectorized simulation can mix configurations: a named
scenario fills the rows with the same fixed values, the randomizer draws each
row's configuration afresh from :data:`RANDOMIZATION_TABLE`.

Domain randomization (every simulation, every UE row draws anew):

=====================  ==========================================================
parameter              range / distribution
=====================  ==========================================================
environment            UMa, UMi, RMa (TR 38.901), equally likely
carrier                0.7 .. 6.0 GHz, uniform (FR1)
numerology             mu = 0 or 1 (15 / 30 kHz SCS), equally likely
bandwidth              5, 10, 20, 40, 50 MHz (mu 0); 5 .. 100 MHz (mu 1); TS 38.101-1
allocated PRBs         5% .. 100% of the carrier, uniform (at least 1 PRB)
inter-site distance    UMa 200..1000 m, UMi 100..400 m, RMa 1000..5000 m, log-uniform
TX power (cell)        UMa/RMa 40..49 dBm, UMi 30..44 dBm, uniform
UE speed               0.5 .. 150 km/h, log-uniform
TX antennas            1, 2, 4, 8, 16, 32, 64 ports, equally likely
RX antennas            1, 2, 4, equally likely
traffic                full buffer 60%, FTP model 3 25% (0.5 MB files, 0.5..5 files/s),
                       small packets 15% (10..200 packets/s)
CSI report period      4, 5, 8, 10, 16, 20, 40, 80, 160, 320 slots (TS 38.331), equally likely
CSI report delay       1 .. 8 slots, uniform
HARQ K1                1 .. 8 slots (TS 38.213 9.2.3), uniform
interference load      mean 0 .. 1 uniform; 10% of rows are isolated cells (no interference)
CQI error              0 .. 3 dB standard deviation, uniform
MCS table              table 1 (64QAM) or table 2 (256QAM), equally likely
UE placement           uniform in area over the whole cell (10 m .. cell radius)
=====================  ==========================================================

Fixed everywhere: UE noise figure 9 dB, BS antenna element gain 8 dBi, 12 PDSCH
symbols with 12 DMRS REs per PRB, 16 HARQ processes, at most 4 transmissions per
transport block, at most 4 layers (one codeword).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Final

import numpy as np
import numpy.typing as npt

from training.sim import traffic
from training.sim.pathloss import Environment

ENVIRONMENTS: Final = (Environment.UMA, Environment.UMI, Environment.RMA)
"""Index order of the ``environment`` column."""

# TS 38.101-1 Table 5.3.2-1: maximum transmission bandwidth configuration N_RB.
PRBS_BY_BANDWIDTH: Final[dict[int, dict[int, int]]] = {
    0: {5: 25, 10: 52, 20: 106, 40: 216, 50: 270},
    1: {5: 11, 10: 24, 20: 51, 40: 106, 50: 133, 100: 273},
}
CSI_PERIODS: Final = (4, 5, 8, 10, 16, 20, 40, 80, 160, 320)  # TS 38.331
TX_ANTENNA_CHOICES: Final = (1, 2, 4, 8, 16, 32, 64)
RX_ANTENNA_CHOICES: Final = (1, 2, 4)

NOISE_FIGURE_DB: Final = 9.0  # UE receiver, TR 38.901 calibration assumptions
BS_ELEMENT_GAIN_DBI: Final = 8.0  # TR 38.901 Table 7.3-1 maximum element gain
PDSCH_SYMBOLS: Final = 12
DMRS_RE_PER_PRB: Final = 12
HARQ_PROCESSES: Final = 16  # TS 38.214 5.1: up to 16 DL HARQ processes
MAX_TRANSMISSIONS: Final = 4
MAX_LAYERS: Final = 4  # one codeword (TS 38.211 7.3.1.3)
DEFAULT_TARGET_BLER: Final = 0.1
"""The BLER target a scenario's UEs report unless told otherwise (the usual 10%)."""
TRAINED_TARGET_BLER: Final = (0.01, 0.3)
"""Range of the per-UE BLER targets of the randomized configurations (log-uniform):
from voice-like 1% to an aggressive eMBB 30%."""


@dataclass(frozen=True)
class LinkConfig:
    """Configuration of ``n`` UE rows; every field is a ``(n,)`` array."""

    environment: npt.NDArray[np.int8]  # index into ENVIRONMENTS
    carrier_ghz: npt.NDArray[np.float64]
    numerology: npt.NDArray[np.int8]  # mu; slot = 1 ms / 2^mu
    cell_prbs: npt.NDArray[np.int16]  # carrier bandwidth, PRBs
    ue_prbs: npt.NDArray[np.int16]  # PRBs allocated to the UE each slot
    isd_m: npt.NDArray[np.float64]  # inter-site distance, m
    tx_power_dbm: npt.NDArray[np.float64]  # total cell TX power over the carrier, dBm
    speed_mps: npt.NDArray[np.float64]
    tx_antennas: npt.NDArray[np.int16]
    rx_antennas: npt.NDArray[np.int16]
    traffic_model: npt.NDArray[np.int8]  # traffic.TrafficModel
    traffic_rate: npt.NDArray[np.float64]  # files/s (FTP3) or packets/s (small packets)
    csi_period: npt.NDArray[np.int16]  # slots
    csi_delay: npt.NDArray[np.int16]  # slots from measurement to the gNB
    k1: npt.NDArray[np.int16]  # slots from PDSCH to HARQ feedback
    interference_load: npt.NDArray[np.float64]  # mean neighbour activity 0..1
    isolated: npt.NDArray[np.bool_]  # single cell: no inter-cell interference
    cqi_error_db: npt.NDArray[np.float64]  # std of the UE's SINR estimation error, dB
    mcs_table: npt.NDArray[np.int8]  # 1 or 2
    radial_lo: npt.NDArray[np.float64]  # UE drop annulus, fraction of the cell radius
    radial_hi: npt.NDArray[np.float64]
    target_bler: npt.NDArray[np.float64]  # first-transmission BLER target the report carries

    def __len__(self) -> int:
        return int(self.carrier_ghz.shape[0])

    def __post_init__(self) -> None:
        n = len(self)
        for f in fields(self):
            value = getattr(self, f.name)
            if np.shape(value) != (n,):
                raise ValueError(
                    f"LinkConfig.{f.name} must have shape ({n},), got {np.shape(value)}")
        if np.any(self.speed_mps < 0):
            raise ValueError("speed must be >= 0")
        if np.any((self.ue_prbs < 1) | (self.ue_prbs > self.cell_prbs)):
            raise ValueError("allocated PRBs must be in 1 .. carrier PRBs")
        if np.any((self.k1 < 1) | (self.k1 > 8)):
            raise ValueError("K1 must be 1..8 slots (TS 38.213 9.2.3)")
        if np.any((self.csi_delay < 0) | (self.csi_delay > 8)):
            raise ValueError("CSI delay must be 0..8 slots")
        if not np.all((self.target_bler > 0) & (self.target_bler < 1)):
            raise ValueError("the BLER target must be in (0, 1)")

    def slot_s(self) -> npt.NDArray[np.float64]:
        """Slot duration per UE, seconds (TS 38.211 4.3.2: 1 ms / 2^mu)."""
        return 1e-3 / (2.0 ** self.numerology.astype(np.float64))

    def scs_hz(self) -> npt.NDArray[np.float64]:
        """Subcarrier spacing per UE, Hz."""
        return 15e3 * (2.0 ** self.numerology.astype(np.float64))

    def with_speed_kmh(self, speed_kmh: float) -> LinkConfig:
        """Return a copy with every UE moving at ``speed_kmh``."""
        if not np.isfinite(speed_kmh) or speed_kmh < 0:
            raise ValueError(f"speed must be a finite number >= 0 km/h, got {speed_kmh}")
        return replace(self, speed_mps=np.full(len(self), speed_kmh / 3.6))

    def with_target_bler(self, target: float) -> LinkConfig:
        """Return a copy whose every UE reports the first-transmission BLER target ``target``."""
        if not (np.isfinite(target) and 0 < target < 1):
            raise ValueError(f"the BLER target must be in (0, 1), got {target:g}")
        return replace(self, target_bler=np.full(len(self), float(target)))


@dataclass(frozen=True)
class Scenario:
    """A fixed, documented benchmark configuration (UE placement is still random)."""

    name: str
    summary: str
    environment: Environment
    carrier_ghz: float
    numerology: int
    bandwidth_mhz: int
    ue_prbs: int
    isd_m: float
    tx_power_dbm: float
    speed_kmh: float
    tx_antennas: int
    rx_antennas: int
    traffic_model: traffic.TrafficModel = traffic.TrafficModel.FULL_BUFFER
    traffic_rate: float = 0.0
    csi_period: int = 10
    csi_delay: int = 4
    k1: int = 4
    interference_load: float = 0.5
    isolated: bool = False
    cqi_error_db: float = 1.0
    mcs_table: int = 2
    radial_lo: float = 0.0
    radial_hi: float = 1.0

    def config(self, n: int) -> LinkConfig:
        """Return the configuration of ``n`` UE rows of this scenario."""
        if n < 1:
            raise ValueError(f"the number of UEs must be >= 1, got {n}")

        def full(value: float | int | bool, dtype: type) -> npt.NDArray:
            return np.full(n, value, dtype=dtype)

        return LinkConfig(
            environment=full(ENVIRONMENTS.index(self.environment), np.int8),
            carrier_ghz=full(self.carrier_ghz, np.float64),
            numerology=full(self.numerology, np.int8),
            cell_prbs=full(PRBS_BY_BANDWIDTH[self.numerology][self.bandwidth_mhz], np.int16),
            ue_prbs=full(self.ue_prbs, np.int16),
            isd_m=full(self.isd_m, np.float64),
            tx_power_dbm=full(self.tx_power_dbm, np.float64),
            speed_mps=full(self.speed_kmh / 3.6, np.float64),
            tx_antennas=full(self.tx_antennas, np.int16),
            rx_antennas=full(self.rx_antennas, np.int16),
            traffic_model=full(int(self.traffic_model), np.int8),
            traffic_rate=full(self.traffic_rate, np.float64),
            csi_period=full(self.csi_period, np.int16),
            csi_delay=full(self.csi_delay, np.int16),
            k1=full(self.k1, np.int16),
            interference_load=full(self.interference_load, np.float64),
            isolated=full(self.isolated, np.bool_),
            cqi_error_db=full(self.cqi_error_db, np.float64),
            mcs_table=full(self.mcs_table, np.int8),
            radial_lo=full(self.radial_lo, np.float64),
            radial_hi=full(self.radial_hi, np.float64),
            target_bler=full(DEFAULT_TARGET_BLER, np.float64),
        )


_UMA_MACRO = dict(environment=Environment.UMA, carrier_ghz=3.5, numerology=1, bandwidth_mhz=100,
                  ue_prbs=68, isd_m=500.0, tx_power_dbm=46.0)

SCENARIOS: Final[dict[str, Scenario]] = {
    s.name: s
    for s in (
        Scenario(name="mimo", summary="urban macro, 4T4R, full buffer, 10 km/h, 3.5 GHz, 100 MHz",
                 speed_kmh=10.0, tx_antennas=4, rx_antennas=4, **_UMA_MACRO),  # type: ignore[arg-type]
        Scenario(name="mmimo", summary="urban macro, massive MIMO 64T4R, full buffer, 3 km/h",
                 speed_kmh=3.0, tx_antennas=64, rx_antennas=4, **_UMA_MACRO),  # type: ignore[arg-type]
        Scenario(name="scsu", summary="single cell, single user: all 273 PRBs, no inter-cell "
                 "interference, urban macro 1 km ISD, 2T2R, 3 km/h", environment=Environment.UMA,
                 carrier_ghz=3.5, numerology=1, bandwidth_mhz=100, ue_prbs=273, isd_m=1000.0,
                 tx_power_dbm=46.0, speed_kmh=3.0, tx_antennas=2, rx_antennas=2, isolated=True,
                 interference_load=0.0),
        Scenario(name="high-mobility", summary="urban macro, 4T4R, 120 km/h, CSI every 20 slots",
                 speed_kmh=120.0, tx_antennas=4, rx_antennas=4, csi_period=20,
                 **_UMA_MACRO),  # type: ignore[arg-type]
        Scenario(name="bursty", summary="urban micro, 4T4R, FTP model 3 (0.5 MB files, "
                 "2 files/s per UE), 3 km/h", environment=Environment.UMI, carrier_ghz=3.5,
                 numerology=1, bandwidth_mhz=100, ue_prbs=68, isd_m=200.0, tx_power_dbm=44.0,
                 speed_kmh=3.0, tx_antennas=4, rx_antennas=4,
                 traffic_model=traffic.TrafficModel.FTP3, traffic_rate=2.0),
        Scenario(name="cell-edge", summary="urban macro, UEs at 80-100% of the cell radius, "
                 "busy neighbours (load 0.8), 2T2R, 64QAM table, 10 km/h", speed_kmh=10.0,
                 tx_antennas=2, rx_antennas=2, interference_load=0.8, mcs_table=1,
                 radial_lo=0.8, radial_hi=1.0, **_UMA_MACRO),  # type: ignore[arg-type]
    )
}
BENCHMARK_SCENARIOS: Final = tuple(SCENARIOS)


def scenario(name: str) -> Scenario:
    """Return the named benchmark scenario; ValueError listing the valid names if unknown."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; choose one of: "
                         f"{', '.join(SCENARIOS)}") from None


def _choice(rng: np.random.Generator, values: tuple, n: int, dtype: type) -> npt.NDArray:
    return np.asarray(values, dtype=dtype)[rng.integers(0, len(values), n)]


def _log_uniform(rng: np.random.Generator, lo: npt.ArrayLike, hi: npt.ArrayLike,
                 n: int) -> npt.NDArray[np.float64]:
    return np.exp(rng.uniform(np.log(lo), np.log(hi), n))


def randomized(rng: np.random.Generator, n: int) -> LinkConfig:
    """Draw ``n`` independent UE configurations from the domain-randomization table."""
    if n < 1:
        raise ValueError(f"the number of UEs must be >= 1, got {n}")
    env = rng.integers(0, len(ENVIRONMENTS), n).astype(np.int8)
    mu = rng.integers(0, 2, n).astype(np.int8)
    cell_prbs = np.empty(n, dtype=np.int16)
    for m, table in PRBS_BY_BANDWIDTH.items():
        rows = np.flatnonzero(mu == m)
        cell_prbs[rows] = _choice(rng, tuple(table.values()), rows.size, np.int16)
    share = rng.uniform(0.05, 1.0, n)
    ue_prbs = np.clip(np.round(share * cell_prbs), 1, cell_prbs).astype(np.int16)
    isd_lo = np.array([200.0, 100.0, 1000.0])[env]
    isd_hi = np.array([1000.0, 400.0, 5000.0])[env]
    power_lo = np.array([40.0, 30.0, 40.0])[env]
    power_hi = np.array([49.0, 44.0, 49.0])[env]
    model = rng.choice(
        np.array([traffic.TrafficModel.FULL_BUFFER, traffic.TrafficModel.FTP3,
                  traffic.TrafficModel.SMALL_PACKETS], dtype=np.int8),
        size=n, p=[0.6, 0.25, 0.15])
    rate = np.where(model == traffic.TrafficModel.FTP3, rng.uniform(0.5, 5.0, n),
                    np.where(model == traffic.TrafficModel.SMALL_PACKETS,
                             rng.uniform(10.0, 200.0, n), 0.0))
    return LinkConfig(
        environment=env,
        carrier_ghz=rng.uniform(0.7, 6.0, n),
        numerology=mu,
        cell_prbs=cell_prbs,
        ue_prbs=ue_prbs,
        isd_m=_log_uniform(rng, isd_lo, isd_hi, n),
        tx_power_dbm=rng.uniform(power_lo, power_hi, n),
        speed_mps=_log_uniform(rng, 0.5, 150.0, n) / 3.6,
        tx_antennas=_choice(rng, TX_ANTENNA_CHOICES, n, np.int16),
        rx_antennas=_choice(rng, RX_ANTENNA_CHOICES, n, np.int16),
        traffic_model=model,
        traffic_rate=rate,
        csi_period=_choice(rng, CSI_PERIODS, n, np.int16),
        csi_delay=rng.integers(1, 9, n).astype(np.int16),
        k1=rng.integers(1, 9, n).astype(np.int16),
        interference_load=rng.uniform(0.0, 1.0, n),
        isolated=rng.random(n) < 0.1,
        cqi_error_db=rng.uniform(0.0, 3.0, n),
        mcs_table=rng.integers(1, 3, n).astype(np.int8),
        radial_lo=np.zeros(n),
        radial_hi=np.ones(n),
        # drawn last: every earlier draw of the stream stays what it was
        target_bler=_log_uniform(rng, TRAINED_TARGET_BLER[0], TRAINED_TARGET_BLER[1], n),
    )


ConfigSource = Callable[[np.random.Generator, int], LinkConfig]


def config_source(name: str, targets: tuple[float, float] | None = None) -> ConfigSource:
    """Return a function drawing the configuration of ``name`` (a scenario or ``random``).

    ``targets``: each UE of a scenario draws its BLER target log-uniformly from this
    range instead of taking the scenario's 10% (``random`` draws its own from
    :data:`TRAINED_TARGET_BLER` either way).
    """
    if name == "random":
        return randomized
    if name not in SCENARIOS:  # here 'random' is a valid choice too
        raise ValueError(f"unknown scenario {name!r}; choose one of: "
                         f"{', '.join([*SCENARIOS, 'random'])}")
    fixed = SCENARIOS[name]
    if targets is None:
        return lambda rng, n: fixed.config(n)
    lo, hi = targets
    if not 0 < lo <= hi < 1:
        raise ValueError(f"a target range must lie in (0, 1) with low <= high, got {targets}")
    return lambda rng, n: replace(fixed.config(n), target_bler=_log_uniform(rng, lo, hi, n))
