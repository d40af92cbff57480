"""The non-learned baselines an evaluation runs: families, their grids, and their specs.

Every baseline is a policy spec that :func:`training.sim.policies.parse_policy`
accepts, so the frontier's baseline set is a plain list of strings, built by
:func:`baseline_specs` from the families and their parameter grids. A family
that :func:`~training.sim.policies.parse_policy` does not know fails
:func:`check_specs` with one line naming the spec; nothing here knows how a
policy works or how its spec is spelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from training.sim.policies import parse_policy

OLLA: Final = "olla"
EOLLA: Final = "eolla"
SALAD: Final = "salad"
ILLA: Final = "illa"
FIXED: Final = "fixed"
GENIE: Final = "genie"
GENIE_DELAYED: Final = "genie-delayed"
FRONTIER_FAMILIES: Final = (OLLA, EOLLA, SALAD, ILLA, FIXED)
"""Families whose points make the frontier; the genies are references, not part of it."""
REFERENCE_SPECS: Final = (GENIE, GENIE_DELAYED)

DEFAULT_OLLA_STEPS_DB: Final = (0.25, 0.5, 1.0, 2.0)
DEFAULT_TARGETS: Final = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3)
"""BLER targets of OLLA, eOLLA and SALAD: from below the lowest target a policy is asked
for (0.2%, 0.5%: without them the frontier under 1-2.5% BLER is the chord down to fixed
MCS 0, which flatters any policy run at a low target) past the throughput optimum
that ILLA finds in interference-limited scenarios (~25-30%)."""
DEFAULT_FIXED_MCS: Final = tuple(range(0, 29, 4))
"""Every 4th MCS, 0..28 (28 is clipped to 27 on the 256QAM table). A fixed MCS is
far below the adaptive policies except at the ends of the BLER range, where it
anchors the frontier (MCS 0 runs at almost no BLER); every MCS would add 21 runs
per scenario that never reach the hull."""


@dataclass(frozen=True)
class SpecInfo:
    """What a baseline spec is: its family, and the target and step of the policy it builds."""

    family: str
    """``olla``, ``eolla``, ``salad``, ``illa``, ``fixed``, ``genie``, ``genie-delayed``..."""
    target: float | None = None
    """BLER target (OLLA, eOLLA, SALAD)."""
    d_up_db: float | None = None
    """OLLA step."""


def describe(spec: str) -> SpecInfo:
    """Family, target and step of ``spec``, read off the policy it builds.

    The spec's grammar and defaults live in one place,
    :func:`training.sim.policies.parse_policy`; building a baseline allocates no
    per-UE state, so this costs microseconds.

    Raises:
        ValueError: ``spec`` is not a policy spec, naming it.

    """
    family = spec.partition(":")[0]
    policy = parse_policy(spec)
    return SpecInfo(family, getattr(policy, "target", None),
                    getattr(policy, "d_up", None) if family == OLLA else None)


def baseline_specs(olla_steps_db: Sequence[float] = DEFAULT_OLLA_STEPS_DB,
                   targets: Sequence[float] = DEFAULT_TARGETS,
                   fixed_mcs: Sequence[int] = DEFAULT_FIXED_MCS) -> list[str]:
    """The frontier's baselines as policy specs.

    OLLA over steps x targets (``olla:D:T``), eOLLA and SALAD over the targets
    (``eolla:T``, ``salad:T``), ILLA, and the fixed MCS (``fixed:K``), in that order.
    """
    return ([f"olla:{d:g}:{t:g}" for d in olla_steps_db for t in targets]
            + [f"eolla:{t:g}" for t in targets] + [f"salad:{t:g}" for t in targets]
            + [ILLA] + [f"fixed:{k}" for k in fixed_mcs])


def check_specs(specs: Sequence[str], option: str) -> None:
    """Build every spec once so that a bad one fails before anything runs.

    Raises:
        ValueError: ``option``, and the spec and what is wrong with it, on one line;
            a genie or an ONNX file given as a frontier baseline; a spec named twice.

    """
    seen: set[str] = set()
    for spec in specs:
        if spec in seen:
            raise ValueError(f"{option}: {spec!r} is named twice")
        seen.add(spec)
        if spec.endswith(".onnx"):
            raise ValueError(f"{option}: {spec!r} is a model; give models with --model")
        if spec.partition(":")[0] in REFERENCE_SPECS:
            raise ValueError(f"{option}: {spec!r} is a reference, not a frontier baseline; "
                             "the genies run as reference rows")
        try:
            parse_policy(spec)
        except ValueError as exc:
            raise ValueError(f"{option}: {exc}") from None
