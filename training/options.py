"""Option checks shared by the training commands (``train-teacher``, ``distill``)."""

from __future__ import annotations

from typing import Final

MAX_SEED: Final = 2**32 - 1
"""Largest ``--seed``: every generator seeded from it (numpy, torch, the simulations) takes it."""


def seed_problem(seed: int) -> str | None:
    """The reason ``seed`` is not a valid ``--seed``, or ``None`` if it is."""
    if 0 <= seed <= MAX_SEED:
        return None
    return f"--seed must be from 0 to {MAX_SEED}, got {seed}"
