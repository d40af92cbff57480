r"""The label teacher's network: what a report predicts of each MCS, and one price per target.

Two heads read the report's features (all but the BLER target, which does not
change the channel): :math:`\hat g_m`, the bits a new transport block with MCS
:math:`m` delivers in expectation (over the reward's scale), and :math:`\hat e_m`,
its error probability. With *exact bits* there is one head, :math:`\hat e_m`, and
:math:`\hat g_m = b_m (1 - \hat e_m)`, where :math:`b_m` is what the block carries
(its TBS, no more than the buffer) over the scale, computed from the report
(:mod:`training.label_teacher.bits`): the label's own structure, so the network
learns only what depends on the channel. The score of an MCS is

.. math:: s_m = \hat g_m - \mu(T)\,\hat e_m

Maximizing it is the Lagrangian of "most bits at a BLER of :math:`T`": the price
:math:`\mu` of an initial-transmission error falls as the target rises.

One price for all UEs holds the BLER of the training mix at the target, not that of
each UE: where the most bits lie at a high BLER (fast fading, bursts) a UE would run
well above its target. The report's own KPM window says so, and the price rises with
the UE's excess over its target:

.. math:: \mu_u = \mu(T) + \kappa\,\frac{0.01}{T}\,w\,\max\Big(0, \frac{b - T}{T}\Big),
          \qquad w = \min(1, n / 10)

with :math:`b` the window BLER over :math:`n` initial TBs (a window of few TBs says
little) and :math:`\kappa` = :data:`FEEDBACK_GAIN`. Only an excess raises it: a UE
under its target keeps the calibrated price.
:math:`\ln\mu` is piecewise linear in :math:`\ln T` through calibrated points
(:mod:`training.label_teacher.calibrate`), flat outside them, and written as a
sum of ReLU hinges so that the exported graph needs nothing but ONNX's basic
operators. The output is a ``q_values`` row of 29 scores like every linkadapt
policy: the service takes the masked argmax.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Final

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from training.label_teacher.bits import TransportBits
from xapp.features import FEATURE_NAMES, NUM_FEATURES
from xapp.nr_tables import NUM_ACTIONS

TARGET_FEATURE: Final = "log_target_bler"
FEEDBACK_GAIN: Final = 3.0
"""kappa: at 10% the price rises by 0.03 per 10% of excess window BLER (measured: 2 left
bursty UEs at 12.2% BLER, 5 cost 0.5% of throughput in mimo)."""
FEEDBACK_FULL_TBS: Final = 10.0
FEEDBACK_SCALE: Final = 0.01
"""The feedback's price scale at target T is FEEDBACK_SCALE / T (the first guess of
the calibrated price, :func:`training.label_teacher.calibrate.initial_prices`)."""
LABEL_HIDDEN: Final = (256, 256, 256, 256)
_MIN_STD: Final = 1e-3


def target_index() -> int:
    """Index of ln(target BLER) in the observation."""
    return FEATURE_NAMES.index(TARGET_FEATURE)


def report_columns() -> list[int]:
    """The observation columns the heads read: every feature but the target."""
    skip = target_index()
    return [i for i in range(NUM_FEATURES) if i != skip]


class LabelNetwork(nn.Module):
    """``observation (batch, NUM_FEATURES) -> q_values (batch, 29)``; see the module docstring."""

    obs_mean: torch.Tensor
    obs_std: torch.Tensor
    columns: torch.Tensor
    knots: torch.Tensor
    slopes: torch.Tensor
    log_mu0: torch.Tensor

    def __init__(self, hidden: Sequence[int] = LABEL_HIDDEN, exact_bits: bool = False) -> None:
        super().__init__()
        if not hidden or any(h < 1 for h in hidden):
            raise ValueError(f"hidden layer widths must be positive, got {list(hidden)}")
        self.hidden = tuple(int(h) for h in hidden)
        cols = report_columns()
        self.register_buffer("columns", torch.tensor(cols, dtype=torch.int64))
        self.register_buffer("obs_mean", torch.zeros(len(cols)))
        self.register_buffer("obs_std", torch.ones(len(cols)))
        layers: list[nn.Module] = []
        width = len(cols)
        for h in self.hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.body = nn.Sequential(*layers)
        # exact bits: the goodput is arithmetic on the report and the error head's output
        self.exact_bits = bool(exact_bits)
        self.bits = TransportBits() if self.exact_bits else None
        self.head = nn.Linear(width, (1 if self.exact_bits else 2) * NUM_ACTIONS)
        # ln mu(ln T) = log_mu0 + sum_k slopes_k * relu(ln T - knots_k), clamped at both ends
        self.register_buffer("knots", torch.zeros(1))
        self.register_buffer("slopes", torch.zeros(1))
        self.register_buffer("log_mu0", torch.zeros(()))
        self._target = target_index()
        self._window_bler = FEATURE_NAMES.index("window_bler")
        self._window_tbs = FEATURE_NAMES.index("log_window_tbs")

    def set_normalization(self, observations: npt.NDArray[np.float32]) -> None:
        """Input statistics of the heads' columns from a sample of observations."""
        obs = np.asarray(observations, dtype=np.float64)[:, report_columns()]
        self.obs_mean.copy_(torch.as_tensor(obs.mean(axis=0), dtype=torch.float32))
        self.obs_std.copy_(torch.as_tensor(np.maximum(obs.std(axis=0), _MIN_STD),
                                           dtype=torch.float32))

    def heads(self, observation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(goodput, error)``, each ``(batch, 29)`` in [0, 1].

        With exact bits the goodput is the share of the top MCS's block that each MCS
        fills (:class:`~training.label_teacher.bits.TransportBits`) times the chance it
        decodes; otherwise a head of its own predicts it.
        """
        x = (observation.index_select(1, self.columns) - self.obs_mean) / self.obs_std
        z = self.head(self.body(x))
        if self.bits is not None:
            error = torch.sigmoid(z)
            return self.bits(observation) * (1.0 - error), error
        return torch.sigmoid(z[:, :NUM_ACTIONS]), torch.sigmoid(z[:, NUM_ACTIONS:])

    def base_price(self, observation: torch.Tensor) -> torch.Tensor:
        """``(batch, 1)``: the calibrated price at each row's target."""
        log_t = observation[:, self._target : self._target + 1]
        lo, hi = self.knots[0], self.knots[-1]
        x = torch.minimum(torch.maximum(log_t, lo), hi)
        return torch.exp(self.log_mu0 + (torch.relu(x - self.knots) * self.slopes).sum(
            dim=1, keepdim=True))

    def price(self, observation: torch.Tensor) -> torch.Tensor:
        """``(batch, 1)``: the price of an error of each row's UE, feedback included."""
        target = torch.exp(observation[:, self._target : self._target + 1])
        bler = observation[:, self._window_bler : self._window_bler + 1]
        tbs = torch.exp(observation[:, self._window_tbs : self._window_tbs + 1]) - 1.0
        weight = torch.clamp(tbs / FEEDBACK_FULL_TBS, max=1.0)
        excess = torch.relu((bler - target) / target)
        return self.base_price(observation) + (
            FEEDBACK_GAIN * FEEDBACK_SCALE / target * weight * excess)

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        """Score of every MCS: expected goodput less the priced error probability."""
        goodput, error = self.heads(observation)
        return goodput - self.price(observation) * error

    def set_prices(self, targets: Sequence[float], prices: Sequence[float]) -> None:
        """Set the prices through ``(target, price)`` points (targets ascending)."""
        t = np.log(np.asarray(targets, dtype=np.float64))
        m = np.log(np.asarray(prices, dtype=np.float64))
        if t.size < 1 or t.size != m.size or np.any(np.diff(t) <= 0):
            raise ValueError("price points need ascending, distinct targets, one price each")
        if t.size == 1:
            t, m = np.array([t[0], t[0] + 1.0]), np.array([m[0], m[0]])
        gradients = np.diff(m) / np.diff(t)
        slopes = np.concatenate([[gradients[0]], np.diff(gradients), [0.0]])
        self.knots = torch.tensor(t, dtype=torch.float32)
        self.slopes = torch.tensor(slopes, dtype=torch.float32)
        self.log_mu0 = torch.tensor(float(m[0]), dtype=torch.float32)

    def prices(self, targets: Sequence[float]) -> list[float]:
        """The calibrated price of an error at each target (no feedback)."""
        obs = torch.zeros(len(targets), NUM_FEATURES)
        obs[:, self._target] = torch.tensor([math.log(t) for t in targets])
        with torch.no_grad():
            return [float(v) for v in self.base_price(obs)[:, 0]]

    def parameter_count(self) -> int:
        """Trainable parameters (normalization and prices are not counted)."""
        return sum(p.numel() for p in self.parameters())

    def size_kbit(self, bits_per_parameter: int = 32) -> float:
        """Model size in kbit at ``bits_per_parameter`` (float32: 32)."""
        return self.parameter_count() * bits_per_parameter / 1000.0


def label_network_from_state(state: dict[str, torch.Tensor]) -> LabelNetwork:
    """Rebuild a :class:`LabelNetwork` from its ``state_dict`` (widths read from the weights)."""
    weights = sorted((k for k in state if k.startswith("body.") and k.endswith(".weight")),
                     key=lambda k: int(k.split(".")[1]))
    # one head row per MCS: the error head alone, the goodput computed (exact bits)
    exact = int(torch.as_tensor(state["head.weight"]).shape[0]) == NUM_ACTIONS
    net = LabelNetwork([int(state[k].shape[0]) for k in weights], exact_bits=exact)
    for name in ("knots", "slopes"):
        setattr(net, name, torch.as_tensor(state[name]).clone())
    missing = [k for k in net.state_dict() if k not in state]
    if missing:
        raise ValueError(f"the label network's state lacks {', '.join(missing)}")
    # an ONNX export also holds constants the exporter made (the clamp's bounds): skipped
    net.load_state_dict({k: torch.as_tensor(state[k]) for k in net.state_dict()})
    return net


def is_label_state(state: Mapping[str, object]) -> bool:
    """True if ``state`` (a state dict or ONNX initializers) is a label network's."""
    return "head.weight" in state and "knots" in state
