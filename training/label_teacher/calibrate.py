r"""The price of an error per BLER target, set so that the policy's BLER meets the target.

Stochastic approximation on the training distribution: UE rows of randomized
configurations are split evenly over the calibration targets; every
``interval`` slots each target's price moves by

.. math:: \ln\mu_T \leftarrow \ln\mu_T + \frac{a}{\sqrt{k}}\,\frac{b_T - T}{T}

where :math:`b_T` is the first-transmission BLER of its UEs in the interval and
:math:`k` the update's number; it stops where the pooled BLER of each group equals
its target. The prices of the last half of the run are averaged (in the log),
and made non-increasing in the target (a higher target never costs more).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Final

import numpy as np

from training.label_teacher.collect import NetworkBehaviour, draw_config
from training.label_teacher.network import LabelNetwork
from training.sim.link import LinkSimulator

CALIBRATION_TARGETS: Final = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3)
MIN_PRICE: Final = 1e-4
_STEP: Final = 0.5
_MAX_MOVE: Final = 0.5  # at most x1.65 per update
_SPAWN_KEY: Final = 0x43414C49  # "CALI"


def initial_prices(targets: Sequence[float]) -> list[float]:
    """A first guess: the price 0.01 / T (near the mark at 2% and at 10%)."""
    return [0.01 / t for t in targets]


def calibrate(net: LabelNetwork, seed: int, ues: int, slots: int, interval: int = 50,
              targets: Sequence[float] = CALIBRATION_TARGETS,
              scenario: str = "random") -> dict[str, list[float]]:
    """Set ``net``'s prices; return the targets, prices and the BLER of the last half."""
    seq = np.random.SeedSequence(seed, spawn_key=(_SPAWN_KEY,))
    config_seq, sim_seq = seq.spawn(2)
    k = len(targets)
    group = np.arange(ues) % k
    cfg = draw_config(scenario, np.random.default_rng(config_seq), ues)
    cfg = replace(cfg, target_bler=np.asarray(targets, dtype=np.float64)[group])
    sim = LinkSimulator(cfg, sim_seq)
    log_mu = np.log(np.asarray(
        net.prices(targets) if net.knots.numel() == k else initial_prices(targets)))
    behaviour = NetworkBehaviour(net)
    sent, errors = np.zeros(k), np.zeros(k)
    tail_sent, tail_errors, tail_log_mu = np.zeros(k), np.zeros(k), []
    updates = 0
    for t in range(1, slots + 1):
        outcome = sim.step(behaviour.act(sim.reports, sim))
        new = np.asarray(outcome.new)
        failed = new & ~np.asarray(outcome.decoded)
        sent += np.bincount(group, weights=new, minlength=k)
        errors += np.bincount(group, weights=failed, minlength=k)
        if t % interval:
            continue
        updates += 1
        bler = errors / np.maximum(sent, 1)
        target = np.asarray(targets)
        move = np.clip(_STEP / math.sqrt(updates) * (bler - target) / target,
                       -_MAX_MOVE, _MAX_MOVE)
        log_mu = np.maximum(log_mu + np.where(sent > 0, move, 0.0), math.log(MIN_PRICE))
        net.set_prices(targets, np.exp(log_mu).tolist())
        if t > slots // 2:
            tail_sent += sent
            tail_errors += errors
            tail_log_mu.append(log_mu.copy())
        sent[:], errors[:] = 0, 0
    final = np.mean(tail_log_mu, axis=0) if tail_log_mu else log_mu
    # Where the mix stays under a high target at any price, the price only sinks: a floor
    # keeps the curve of prices from running away to nothing.
    prices = np.maximum(np.minimum.accumulate(np.exp(final)), MIN_PRICE)
    net.set_prices(targets, prices.tolist())
    return {"targets": list(targets), "prices": prices.round(5).tolist(),
            "bler": (tail_errors / np.maximum(tail_sent, 1)).round(4).tolist()}
