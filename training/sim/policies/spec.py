"""Policy specs (``olla:0.5:0.02``, ``salad:0.1``, ``model.onnx`` ...) -> policies.

The one parser behind ``linkadapt simulate --policy``, ``linkadapt emulate
--compare`` and the evaluation's baselines. Bad specs raise ValueError with one
line that names the spec.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

from training.sim.config import DEFAULT_TARGET_BLER
from training.sim.policies.base import McsPolicy
from training.sim.policies.genie import Fixed, Genie
from training.sim.policies.olla import EOlla, Illa, Olla
from training.sim.policies.onnx import OnnxPolicy
from training.sim.policies.salad import Salad

SPEC_FORMS: Final = ("olla[:D_UP_DB[:TARGET]]", "eolla[:TARGET]", "salad[:TARGET]", "illa",
                     "genie", "genie-delayed", "fixed:K", "a PATH.onnx")
"""The spellings :func:`parse_policy` accepts (TARGET: first-transmission BLER in (0, 1);
without it, the caller's default target)."""


def _number(spec: str, what: str, text: str) -> float:
    """``text`` as a finite float; ValueError naming ``spec`` and the field otherwise."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(f"bad policy {spec!r}: {what} must be a number, got {text!r}")
    return value


def _fields(spec: str, args: list[str], usage: str, least: int, most: int) -> list[str]:
    """Check the number of ``:``-separated arguments; ValueError with the usage otherwise."""
    if not least <= len(args) <= most:
        raise ValueError(f"bad policy {spec!r}: expected {usage}")
    return args


def _olla(spec: str, args: list[str], default_target: float) -> McsPolicy:
    usage = "olla, olla:D_UP_DB or olla:D_UP_DB:TARGET, e.g. olla:0.5:0.02"
    args = _fields(spec, args, usage, 0, 2)
    d_up = _number(spec, "D_UP_DB", args[0]) if args else 0.5
    if len(args) < 2:
        return Olla(d_up, default_target)
    policy = Olla(d_up, _number(spec, "TARGET", args[1]))
    policy.name = f"olla:{d_up:g}:{policy.target:g}"
    return policy


def _with_target(spec: str, name: str, args: list[str], default_target: float) -> float:
    """The optional TARGET argument of ``eolla`` and ``salad`` (``default_target`` without)."""
    args = _fields(spec, args, f"{name} or {name}:TARGET with TARGET in (0, 1), e.g. {name}:0.1",
                   0, 1)
    return _number(spec, "TARGET", args[0]) if args else default_target


def _genie_delayed() -> McsPolicy:
    # Imported here: training.sim.genie_delayed imports this package (threshold_mcs).
    from training.sim.genie_delayed import GenieDelayed

    policy: McsPolicy = GenieDelayed()
    return policy


def _build(spec: str, default_target: float) -> McsPolicy | None:
    """The policy ``spec`` names, or None when it names none; ValueError for bad arguments."""
    name, *args = spec.split(":")
    if name == "olla":
        return _olla(spec, args, default_target)
    if name == "eolla":
        return EOlla(_with_target(spec, name, args, default_target))
    if name == "salad":
        return Salad(_with_target(spec, name, args, default_target))
    if name == "fixed":
        if len(args) != 1 or not args[0].isdigit():
            raise ValueError(f"bad policy {spec!r}: fixed needs an MCS index, e.g. fixed:10")
        return Fixed(int(args[0]))
    if args:
        return None
    simple: dict[str, Callable[[], McsPolicy]] = {"illa": Illa, "genie": Genie,
                                               "genie-delayed": _genie_delayed}
    return simple[name]() if name in simple else None


def parse_policy(spec: str, default_target: float = DEFAULT_TARGET_BLER) -> McsPolicy:
    """Build a policy from a spec; the accepted spellings are :data:`SPEC_FORMS`.

    A spec written without a target (``olla``, ``olla:D_UP_DB``, ``eolla``,
    ``salad``) runs at ``default_target``: the target the simulated UEs report
    (``--target-bler``); a target in the spec wins. At the 10% default ``olla`` and
    ``olla:D_UP_DB`` keep the name ``olla:D``; any other target is in the name
    (``olla:D:T``, ``eolla:T``, ``salad:T``).

    Raises:
        ValueError: one line naming ``spec``: unknown policy, a target outside
            (0, 1), a step that is not positive, a field that is not a number, or
            too many fields.

    """
    if spec.endswith(".onnx"):
        return OnnxPolicy(spec)
    try:
        policy = _build(spec, default_target)
    except ValueError as exc:
        message = str(exc)
        if message.startswith("bad policy"):
            raise
        raise ValueError(f"bad policy {spec!r}: {message}") from None
    if policy is None:
        raise ValueError(f"unknown policy {spec!r}; use {', '.join(SPEC_FORMS[:-1])} or "
                         f"{SPEC_FORMS[-1]}")
    return policy
