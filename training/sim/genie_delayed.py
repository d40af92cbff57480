r"""The delayed genie: the best MCS that perfect CSI reports at the real delay allow.

The full genie (:class:`training.sim.policies.Genie`) knows the channel of the very
slot it transmits in; no report can tell that. :class:`GenieDelayed` knows exactly
what the simulator knew when the UE measured the CSI report the gNB holds now
(noise-free, unquantized: the fading taps, the serving and interfering powers, which
neighbours were on, their loads), and only the statistics of what happened since.
It picks the MCS with the largest goodput expected under that conditional
distribution. Its gap to OLLA is what better use of the reports could still win; its
gap to the genie is what unpredictable fading and interference keep.

Conditional model
-----------------
A report measured in slot :math:`s` is used in slot :math:`t`, :math:`d = t - s`
slots later (:math:`d` is at least the CSI delay, at most delay + period - 1).
Given the snapshot at :math:`s`, Monte Carlo samples :math:`j = 1..S` of slot
:math:`t` are drawn from the generator of the simulator's own processes
(:mod:`training.sim.channel`):

* **Fast fading.** Each tap is AR(1) with :math:`\rho = J_0(2\pi f_D T_\mathrm{slot})`
  per slot and unit-power complex Gaussian innovations, so

  .. math:: h_t = \rho^d h_s + \sqrt{1 - \rho^{2d}}\, w, \qquad w \sim \mathcal{CN}(0, I)

  exactly (the Rician LOS part and the tap-to-sub-band responses are fixed).
* **Large scale.** The geometry, shadowing and loads are refreshed every
  :data:`~training.sim.channel.LARGE_SCALE_INTERVAL` slots; :math:`r` refreshes fall
  in :math:`(s, t]`. The shadowing of the serving link and of the two strongest
  neighbours is AR(1) per refresh with :math:`a = e^{-\Delta x / d_\mathrm{corr}}`:
  :math:`\sigma_t = a^r \sigma_s + \sqrt{1 - a^{2r}}\,\sigma_\mathrm{SF} z`, and each
  power scales by :math:`10^{-(\sigma_t - \sigma_s)/10}`. Each neighbour's load
  takes :math:`r` steps of its clipped, mean-reverting random walk.
* **Interference.** Each of the two strongest neighbours transmits in a slot with
  probability equal to its load, independently from slot to slot, so for
  :math:`d \ge 1` the on/off states are fresh Bernoulli draws; the four weaker
  neighbours contribute their mean, as in the simulator. For :math:`d = 0` the
  snapshot's own interference is used.

Each sample gives per-sub-band SINR on the reported rank through the simulator's
arithmetic (layer gain, channel hardening, impairments), and the decision is

.. math:: \hat m = \arg\max_m \frac{1}{S}\sum_j \min(\mathrm{TBS}_m, B)\,
          \big(1 - P_\mathrm{TB}(\gamma^{(j)}_{\mathrm{eff},m}, m)\big)

with the EESM effective SINR and transport-block error model of
:mod:`training.sim.bler`, exactly as :meth:`LinkSimulator.expected_goodput` scores
the genie (:math:`B` the buffer). The expectation is of goodput, not of SINR: a
policy that took the argmax at the snapshot's channel (ignoring the uncertainty)
runs at 28-33% BLER in mimo and high-mobility.

Random numbers
--------------
The samples come from the policy's own generator, seeded from the run's seed
sequence with a spawn key no simulator stream uses. The snapshots are copies taken
at measurement time (:class:`training.sim.csi.CsiSnapshots`, switched on at the
policy's first decision), so the simulator's streams, and hence the channels every
other policy sees with the same seed, are unchanged.

Limits
------
* Between refreshes the path loss is taken as fixed: the UE moves at most a few
  metres per refresh interval, well under the shadowing decorrelation distance.
  Handover and the ranking of the strongest neighbours are frozen at the
  snapshot; the four weaker neighbours' shadowing drift is ignored.
* The rank is the reported one (what the gNB would schedule), not re-optimised.
* It scores only the initial transmission of a transport block: like the genie it
  does not value the HARQ retransmissions that rescue a failed block.
* With :math:`S` samples the expectation carries Monte Carlo noise: near a tie
  between two MCS it may pick the slightly worse one. In mimo (256 UEs x 2000
  slots, seed 0) 16, 32 and 64 samples give 209.9, 211.6 and 212.4 Mbit/s for
  about 16, 21 and 46 s of wall time on one shared core
  (``benchmarks/genie_delayed.py``); 32 is the default.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from training.sim.channel import LARGE_SCALE_INTERVAL, Channel, faded_sinr
from training.sim.link import LinkSimulator
from training.sim.policies import threshold_mcs
from xapp.features import IntArray, ReportBatch

DEFAULT_SAMPLES: Final = 32
# Spawn key of the policy's generator under the run's seed sequence; the simulator's
# own streams are its children 0, 1 and 2.
_STREAM_KEY: Final = 0x67656E69


def policy_rng(sim: LinkSimulator) -> np.random.Generator:
    """A generator derived from ``sim``'s seed but independent of its streams."""
    seq = sim.seed_sequence
    child = np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, _STREAM_KEY),
                                   pool_size=seq.pool_size)
    return np.random.default_rng(child)


def _complex_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> npt.NDArray[np.complex64]:
    z = rng.standard_normal((*shape, 2), dtype=np.float32) * np.float32(np.sqrt(0.5))
    return z.view(np.complex64)[..., 0]


def conditional_sinr(sim: LinkSimulator, rows: npt.NDArray[np.int64], samples: int,
                     rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """Samples of this slot's per-sub-band SINR given each UE's latest seen CSI snapshot.

    Args:
        sim: the simulator, with CSI snapshots enabled before its first slot.
        rows: ``(m,)`` UE indices.
        samples: samples per UE.
        rng: the generator to draw from (never one of the simulator's).

    Returns:
        ``(m, samples, NUM_SUBBANDS)`` per-layer SINR, linear float32, on the
        reported rank. See the module docstring for the model.
    """
    snapshots = sim.csi.snapshots
    if snapshots is None:
        raise ValueError("CSI snapshots are off: call sim.csi.enable_snapshots() at slot 0")
    ch, cfg = sim.channel, sim.cfg
    snap, measured = snapshots.seen(rows)
    m = rows.size
    elapsed = sim.slot - measured
    refreshes = sim.slot // LARGE_SCALE_INTERVAL - measured // LARGE_SCALE_INTERVAL

    # fast fading: h_t = rho^d h_s + sqrt(1 - rho^2d) w (d = 0 gives h_s exactly)
    rho_d = ch.fading_correlation(rows).astype(np.float64) ** elapsed
    keep = rho_d.astype(np.float32)[:, None, None]
    spread = np.sqrt(1.0 - rho_d**2).astype(np.float32)[:, None, None]
    taps = keep * snap.taps[:, None, :] + spread * _complex_normal(rng, (m, samples,
                                                                          snap.taps.shape[1]))
    fading = ch.subband_fading(taps, rows)

    # large scale: shadowing of the three links and the loads, over r refreshes
    signal = np.broadcast_to(snap.signal_mw[:, None], (m, samples))
    top = np.broadcast_to(snap.top_interferers_mw[:, None, :], (m, samples, 2))
    load = np.broadcast_to(snap.load[:, None, :], (m, samples, 2))
    most = int(refreshes.max(initial=0))
    if most > 0:
        a, std = ch.shadow_process(rows, snap.link_sites)
        a_r = a ** refreshes[:, None]
        drift = ((a_r - 1.0) * snap.shadow_db)[:, None, :] + (
            np.sqrt(1.0 - a_r**2) * std)[:, None, :] * rng.standard_normal((m, samples, 3))
        scale = 10.0 ** (-drift / 10.0)
        signal = signal * scale[..., 0]
        top = top * scale[..., 1:]
        mean_load = cfg.interference_load[rows, None, None]
        for i in range(most):
            stepped = Channel.load_step(load, mean_load, rng.standard_normal((m, samples, 2)))
            load = np.where((i < refreshes)[:, None, None], stepped, load)

    # interference: the two strongest neighbours on/off afresh, the others at their mean
    active = rng.random((m, samples, 2), dtype=np.float32) < load
    interference = ((top * active).sum(axis=2)
                    + (snap.other_interference_mw * cfg.interference_load[rows])[:, None])
    interference = np.where((elapsed == 0)[:, None], snap.interference_mw[:, None], interference)

    layers = np.minimum(sim.csi.rank[rows], ch.max_layers[rows])
    mean_snr, hardening = ch.mean_snr(signal, interference, layers, rows)
    return faded_sinr(fading, mean_snr, hardening)


def _guess(sinr: npt.NDArray[np.float32], table: IntArray) -> npt.NDArray[np.int64]:
    """A cautious MCS per UE from the samples: the 10%-BLER MCS one deviation below the mean.

    Only a starting point: the expected-goodput argmax does not depend on it, but the
    closer it is, the fewer low MCS need scoring.
    """
    db = 10.0 * np.log10(sinr.mean(axis=2))
    return threshold_mcs(db.mean(axis=1) - db.std(axis=1), table)


class GenieDelayed:
    """Expected-goodput argmax given the channel at the latest seen CSI measurement.

    A realistic upper bound: see the module docstring for the conditional model.

    Args:
        samples: Monte Carlo samples per UE and slot (>= 1).
    """

    name = "genie-delayed"

    def __init__(self, samples: int = DEFAULT_SAMPLES) -> None:
        if samples < 1:
            raise ValueError(f"genie-delayed needs at least 1 sample, got {samples}")
        self.samples = samples
        self._sim: LinkSimulator | None = None
        self._rng = np.random.default_rng(0)

    def reset(self, n: int) -> None:
        """Forget the simulator: the next :meth:`act` attaches to its own."""
        self._sim = None

    def _attach(self, sim: LinkSimulator) -> None:
        if sim.slot != 0:
            raise ValueError("genie-delayed must act from the simulation's first slot: "
                             f"the channel of earlier CSI measurements is gone (slot {sim.slot})")
        sim.csi.enable_snapshots()
        self._rng = policy_rng(sim)
        self._sim = sim

    def act(self, reports: ReportBatch, sim: LinkSimulator) -> npt.NDArray[np.int64]:
        """Argmax over MCS of the expected goodput (lowest MCS on ties) for UEs that send now."""
        if sim is not self._sim:
            self._attach(sim)
        mcs = np.zeros(sim.n, dtype=np.int64)
        rows = np.flatnonzero(sim.needs_decision())
        if rows.size:
            sinr = conditional_sinr(sim, rows, self.samples, self._rng)
            goodput = sim.expected_goodput(sinr, rows, guess=_guess(sinr, reports.mcs_table[rows]))
            mcs[rows] = np.argmax(goodput, axis=1)
        return mcs
