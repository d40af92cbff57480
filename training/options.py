"""Option checks shared by the training commands (train-teacher, distill, simulate, emulate)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Final

MAX_SEED: Final = 2**32 - 1
"""Largest ``--seed``: every generator seeded from it (numpy, torch, the simulations) takes it."""


def target_bler_problem(target: float | None) -> str | None:
    """The reason ``target`` is not a valid ``--target-bler`` (a BLER in (0, 1)), or ``None``."""
    if target is None or (math.isfinite(target) and 0 < target < 1):
        return None
    return f"--target-bler must be a BLER in (0, 1), got {target:g}"


def seed_problem(seed: int) -> str | None:
    """The reason ``seed`` is not a valid ``--seed``, or ``None`` if it is."""
    if 0 <= seed <= MAX_SEED:
        return None
    return f"--seed must be from 0 to {MAX_SEED}, got {seed}"


def directory_problem(path: Path, option: str) -> str | None:
    """Why ``path`` is not, and cannot be created as, a directory this process writes in.

    ``None`` if it is or can be. The nearest existing ancestor decides: it must be
    a directory the process may write in (``path`` itself, if it exists).
    """
    for ancestor in (path, *path.parents):
        if not ancestor.exists():
            continue
        if not ancestor.is_dir():
            if ancestor == path:
                return f"{option} {str(path)!r} is a file, not a directory"
            return f"{option} {str(path)!r} is inside a file: {str(ancestor)!r} is not a directory"
        if not os.access(ancestor, os.W_OK | os.X_OK):
            return f"{option} {str(path)!r}: cannot write in {str(ancestor)!r}"
        return None
    return None


def model_version_problem(version: str, suffixes: tuple[str, ...] = ("",)) -> str | None:
    """Why ``version`` cannot be ``--model-version``, or ``None`` if it can.

    Every ``version + suffix`` (the run's variants: ``-int8``, ``-tau0.1`` ...) must be
    a valid card version.
    """
    from xapp.model_card import NAME_RULE, is_valid_name

    for suffix in suffixes:
        if not is_valid_name(version + suffix):
            shown = f" (as {version + suffix!r} for one of the run's models)" if suffix else ""
            return f"--model-version {version!r}{shown}: a version is {NAME_RULE}"
    return None
