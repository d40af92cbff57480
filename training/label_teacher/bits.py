r"""The bits a new transport block of each MCS carries, computed from the report in the graph.

A label's goodput is :math:`g_m = \min(\mathrm{TBS}_m, 8B) / \mathrm{TBS}_{top}\,(1 -
e_m)`: the bits the block carries (no more than the buffer :math:`B` holds, in bytes),
over the reward's scale (the TBS of the table's top MCS), times the chance that it
decodes (:meth:`training.sim.link.LinkSimulator.mcs_outcomes`). Of these only
:math:`e_m` depends on the channel; the rest is arithmetic on fields every report
carries: PRBs, rank, MCS table and buffer. :class:`TransportBits` does that arithmetic
with the procedure of TS 38.214 5.1.3.2 (as
:func:`training.sim.tbs.transport_block_size`, on the simulator's PDSCH of
:data:`~training.sim.config.PDSCH_SYMBOLS` symbols and
:data:`~training.sim.config.DMRS_RE_PER_PRB` DMRS resource elements per PRB), so a
network need not learn it: least of all the kink where a block starts to carry the whole
buffer, which a regression on bits over the scale sees only as a small step.

Everything is elementwise arithmetic, comparisons and one table lookup, in float64 (the
information bits are exact there), so the exported ONNX graph needs only basic
operators. The layers are the reported rank, at most :data:`~training.sim.config.MAX_LAYERS`
(one codeword), as the simulator transmits.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import torch
from torch import nn

from training.sim import bler
from training.sim.config import DMRS_RE_PER_PRB, MAX_LAYERS, PDSCH_SYMBOLS
from training.sim.tbs import TBS_TABLE
from xapp.features import FEATURE_NAMES
from xapp.nr_tables import NUM_ACTIONS

_RE_PER_PRB: Final = min(156, 12 * PDSCH_SYMBOLS - DMRS_RE_PER_PRB)
_SMALL_TBS_LIMIT: Final = 3824.0
_SMALL_STEP: Final = 8
"""A quantized N_info at or below 3824 is a multiple of 2^3 (TS 38.214: n >= 3)."""


def small_tbs_lookup() -> np.ndarray:
    """TBS of each quantized ``N'_info = 8 k`` (k = 0..478): the smallest table entry >= it."""
    wanted = np.arange(int(_SMALL_TBS_LIMIT) // _SMALL_STEP + 1) * _SMALL_STEP
    return TBS_TABLE[np.searchsorted(TBS_TABLE, np.maximum(wanted, 24), side="left")]


class TransportBits(nn.Module):
    """``observation (batch, F) -> (batch, 29)``: min(TBS, buffer) over the top MCS's TBS.

    Float32 out, in [0, 1]; 0 for every MCS where the report allocates no PRBs. An MCS
    above the table's top (MCS 28 of the 256QAM table) repeats the top's value, as
    the simulator's lookups do; the policy's mask never picks it.
    """

    qm_rate: torch.Tensor
    low_rate: torch.Tensor
    small_tbs: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        qm, rate, _, _ = bler.table_lookups()  # (2, 29); Qm and R x 1024
        # constants of the code, not learned: kept out of the state dict
        self.register_buffer("qm_rate", torch.tensor(qm * rate / 1024.0, dtype=torch.float64),
                             persistent=False)
        # 1.0 where R <= 1/4 (float: ONNX Runtime has no Where over booleans)
        self.register_buffer("low_rate", torch.tensor((rate <= 256.0).astype(np.float64)),
                             persistent=False)
        self.register_buffer("small_tbs", torch.tensor(small_tbs_lookup(), dtype=torch.float64),
                             persistent=False)
        self._prbs = FEATURE_NAMES.index("log_prbs")
        self._rank = FEATURE_NAMES.index("rank")
        self._table = FEATURE_NAMES.index("table_qam256")
        self._buffer = FEATURE_NAMES.index("log_buffer")

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        """The share of the top MCS's transport block that each MCS would fill."""
        obs = observation.to(torch.float64)
        prbs = torch.round(torch.exp(obs[:, self._prbs : self._prbs + 1]) - 1.0)
        layers = torch.clamp(obs[:, self._rank : self._rank + 1], 1.0, float(MAX_LAYERS))
        qam256 = obs[:, self._table : self._table + 1] > 0.5
        qm_rate = torch.where(qam256, self.qm_rate[1], self.qm_rate[0])
        low_rate = torch.where(qam256, self.low_rate[1], self.low_rate[0])
        n_info = (_RE_PER_PRB * prbs * layers) * qm_rate
        tbs = self.tbs(n_info, low_rate)
        buffer = torch.round(torch.pow(10.0, obs[:, self._buffer : self._buffer + 1]) - 1.0)
        bits = torch.minimum(tbs, 8.0 * buffer)
        # the top MCS of either table: MCS 28 (the 256QAM table's repeats its MCS 27)
        scale = tbs[:, NUM_ACTIONS - 1 : NUM_ACTIONS]
        return (bits / torch.clamp(scale, min=1.0)).to(torch.float32)

    def tbs(self, n_info: torch.Tensor, low_rate: torch.Tensor) -> torch.Tensor:
        """TBS in bits (float64) of the information bits ``N_info``, TS 38.214 5.1.3.2.

        ``low_rate`` is 1.0 where the code rate is at most 1/4.
        """
        # N_info <= 3824: quantize, then the smallest entry of Table 5.1.3.2-1 at or above it
        n_small = torch.clamp(self.floor_log2(torch.clamp(n_info, min=1.0)) - 6.0, min=3.0)
        step = torch.pow(2.0, n_small)
        quantized = torch.clamp(step * torch.floor(n_info / step), min=24.0)
        index = torch.clamp(quantized, max=_SMALL_TBS_LIMIT) / _SMALL_STEP
        small = self.small_tbs[index.to(torch.int64)]
        # N_info > 3824: round half up to 2^(floor(log2(N_info - 24)) - 5), then align
        excess = torch.clamp(n_info - 24.0, min=1.0)
        step = torch.pow(2.0, self.floor_log2(excess) - 5.0)
        large_q = torch.clamp(step * torch.floor(excess / step + 0.5), min=3840.0)
        total = large_q + 24.0
        blocks = torch.where(low_rate > 0.5, torch.ceil(total / 3816.0),
                             torch.where(large_q > 8424.0, torch.ceil(total / 8424.0),
                                         torch.ones_like(total)))
        large = 8.0 * blocks * torch.ceil(total / (8.0 * blocks)) - 24.0
        tbs = torch.where(n_info <= _SMALL_TBS_LIMIT, small, large)
        return torch.where(n_info > 0, tbs, torch.zeros_like(tbs))

    @staticmethod
    def floor_log2(x: torch.Tensor) -> torch.Tensor:
        """Exact ``floor(log2 x)`` of ``x >= 1``.

        The float's log2, corrected by one where rounding carried it across a power of two.
        """
        n = torch.floor(torch.log2(x))
        n = n - (torch.pow(2.0, n) > x).to(x.dtype)
        return n + (torch.pow(2.0, n + 1.0) <= x).to(x.dtype)
