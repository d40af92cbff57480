"""Shared fixtures: every test starts from the same global random state."""

from __future__ import annotations

import random

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _seed_globals() -> None:
    random.seed(20261120)
    np.random.seed(20261120)  # noqa: NPY002 - seeds any legacy global-RNG use too
