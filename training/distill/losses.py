r"""Distillation losses: three pure functions of student scores and teacher Q-values.

All take ``student (b, 29)``, ``teacher (b, 29)`` and ``mask (b, 29)`` (the MCS
indices valid for each row's table, :func:`training.dqn.valid_actions`) and
return the batch mean. Invalid actions never enter a softmax: MCS 28 does not
exist in the 256QAM table, so the teacher's (untrained) Q-value there must not
take probability mass from the real actions.

.. math::
    L_\mathrm{KL} = \sum_a p_T(a) \big(\log p_T(a) - \log p_S(a)\big),\quad
    p_T = \mathrm{softmax}(q_T/\tau),\; p_S = \mathrm{softmax}(q_S)

(Rusu et al. 2016, eq. 3: a small :math:`\tau` sharpens the teacher; ``tau`` may be
one temperature or one per row, :func:`relative_temperature`),
:math:`L_\mathrm{NLL} = -\log p_S(\arg\max_a q_T)` and
:math:`L_\mathrm{MSE} = \overline{(q_S - q_T)^2}` over the valid actions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

import torch
from torch.nn import functional

_NEG: Final = -1e9  # stands for -inf in a softmax without producing NaN in 0 * log 0


def kl_loss(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor,
            tau: float | torch.Tensor = 0.01) -> torch.Tensor:
    """``KL(softmax(q_T / tau) || softmax(q_S))`` over the valid actions, batch mean.

    ``tau`` is one temperature or a ``(b, 1)`` column of them, one per row.
    """
    if bool(torch.as_tensor(tau).le(0).any()):
        raise ValueError(f"tau must be positive, got {tau}")
    log_p_t = functional.log_softmax(teacher.masked_fill(~mask, _NEG) / tau, dim=1)
    log_p_s = functional.log_softmax(student.masked_fill(~mask, _NEG), dim=1)
    p_t = log_p_t.exp()
    per_action = torch.where(mask, p_t * (log_p_t - log_p_s), torch.zeros_like(p_t))
    return per_action.sum(dim=1).mean()


def nll_loss(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor,
             tau: float | torch.Tensor = 0.01) -> torch.Tensor:
    """Negative log-likelihood of the teacher's greedy valid action (``tau`` unused)."""
    del tau
    best = teacher.masked_fill(~mask, _NEG).argmax(dim=1)
    return functional.cross_entropy(student.masked_fill(~mask, _NEG), best)


def mse_loss(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor,
             tau: float | torch.Tensor = 0.01) -> torch.Tensor:
    """Mean squared error of the Q-values of the valid actions (``tau`` unused)."""
    del tau
    err = torch.where(mask, student - teacher, torch.zeros_like(student))
    return (err ** 2).sum() / mask.sum().clamp(min=1)


RELATIVE_FLOOR: Final = 0.1
"""The smallest share of ``tau`` that :func:`relative_temperature` gives a row."""


def relative_temperature(teacher: torch.Tensor, mask: torch.Tensor, tau: float,
                         reference: float) -> torch.Tensor:
    r"""``(b, 1)`` temperatures: ``tau`` scaled down where the teacher's best score is small.

    .. math:: \tau_s = \tau\,\mathrm{clip}\big(\max_a q_T(s, a) / q_\mathrm{ref},\;
              0.1,\; 1\big)

    A fixed temperature makes the teacher's target soft wherever all its scores are
    small, e.g. a UE with little data buffered, where every MCS that empties the buffer
    scores nearly the same and their differences lie in the error term alone: there a
    student learns an MCS near the best, not the best. Scaling the temperature with
    the state's best score keeps the target as sharp relative to the scores as in a
    state scoring ``reference``; states scoring more keep ``tau``.
    """
    if not (reference > 0 and math.isfinite(reference)):
        raise ValueError(f"the reference score must be a positive number, got {reference}")
    best = teacher.masked_fill(~mask, _NEG).max(dim=1, keepdim=True).values
    return tau * torch.clamp(best / reference, min=RELATIVE_FLOOR, max=1.0)


LossFunction = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, float | torch.Tensor],
                        torch.Tensor]
LOSSES: Final[dict[str, LossFunction]] = {"kl": kl_loss, "nll": nll_loss, "mse": mse_loss}


def loss_function(name: str) -> LossFunction:
    """The loss called ``name`` (``kl``, ``nll`` or ``mse``)."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}") from None
