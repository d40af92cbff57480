r"""Double DQN with a target network and the Huber loss (van Hasselt et al. 2016).

.. math::
    y = r + \gamma\, Q_{\bar\theta}\big(s', \arg\max_{a' \in A(s')} Q_\theta(s', a')\big),
    \qquad L = \mathrm{Huber}\big(Q_\theta(s, a) - y\big)

where ``A(s')`` are the MCS indices valid in the next state's MCS table. The
target network is a copy refreshed every ``target_update_interval`` updates.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from training.networks import QNetwork
from training.replay import Batch
from xapp.features import FEATURE_NAMES
from xapp.nr_tables import NUM_ACTIONS, QAM64, QAM256, max_mcs

_TABLE_FEATURE = FEATURE_NAMES.index("table_qam256")
# Best allowed MCS by the table feature (0: 64QAM, 1: 256QAM), and the actions to compare.
_TOP_MCS = torch.tensor([max_mcs(QAM64), max_mcs(QAM256)])
_ACTIONS = torch.arange(NUM_ACTIONS)


@dataclass(frozen=True)
class DqnConfig:
    """Learner hyperparameters."""

    gamma: float = 0.5
    """Discount per decision; link adaptation is close to a contextual bandit."""
    learning_rate: float = 3e-4
    """Adam step size."""
    batch_size: int = 2048
    """Transitions per gradient step."""
    target_update_interval: int = 500
    """Gradient steps between target-network refreshes."""
    huber_delta: float = 1.0
    """Huber loss transition point."""
    max_grad_norm: float = 10.0
    """Gradient clipping (global L2 norm)."""


def valid_actions(observations: torch.Tensor) -> torch.Tensor:
    """``(b, 29)`` mask of the MCS indices valid for each observation's MCS table."""
    qam256 = (observations[:, _TABLE_FEATURE] > 0.5).long()
    return _ACTIONS <= _TOP_MCS[qam256][:, None]


def td_targets(online: QNetwork, target: QNetwork, batch: Batch, gamma: float) -> torch.Tensor:
    """Double-DQN targets ``(b,)``: the online net picks, the target net evaluates."""
    with torch.no_grad():
        mask = valid_actions(batch.next_obs)
        best = online(batch.next_obs).masked_fill(~mask, float("-inf")).argmax(dim=1)
        next_q = target(batch.next_obs).gather(1, best[:, None])[:, 0]
        return batch.rewards + gamma * next_q


class DqnLearner:
    """Owns the online and target networks and the optimizer."""

    def __init__(self, net: QNetwork, config: DqnConfig) -> None:
        self.config = config
        self.online = net
        self.target = copy.deepcopy(net)
        self.target.requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.online.parameters(), lr=config.learning_rate)
        self.updates = 0
        self.last_q_values: torch.Tensor | None = None
        """The online network's Q-values ``(b, 29)`` on the last batch's states, before its step."""

    def update(self, batch: Batch) -> float:
        """One gradient step on ``batch``; returns the loss."""
        cfg = self.config
        targets = td_targets(self.online, self.target, batch, cfg.gamma)
        q_values = self.online(batch.obs)
        self.last_q_values = q_values.detach()
        predicted = q_values.gather(1, batch.actions[:, None])[:, 0]
        loss = nn.functional.huber_loss(predicted, targets, delta=cfg.huber_delta)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.online.parameters(), cfg.max_grad_norm)
        self.optimizer.step()
        self.updates += 1
        if self.updates % cfg.target_update_interval == 0:
            self.target.load_state_dict(self.online.state_dict())
        return float(loss.detach())

    def state_dict(self) -> dict:
        """Everything needed to resume learning."""
        return {"online": self.online.state_dict(), "target": self.target.state_dict(),
                "optimizer": self.optimizer.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        """Restore from :meth:`state_dict`."""
        self.online.load_state_dict(state["online"])
        self.target.load_state_dict(state["target"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.updates = int(state["updates"])
