r"""The throughput-BLER frontier of the non-learned baselines, and gains measured against it.

A link-adaptation configuration (OLLA at one step and target, SALAD at one
target, a fixed MCS...) run on a scenario gives one point (BLER, throughput).
Time-sharing two configurations, a fraction :math:`w` of the time one and
:math:`1 - w` the other, gives the mix of both their BLER and their throughput,
so every point on the chord between two points is reachable too. The reachable
set is the convex hull of the points; its upper boundary is the **upper concave
hull**. The **frontier** at BLER :math:`b` is the best throughput reachable at a
BLER of at most :math:`b`:

.. math::
    F(b) = \max_{x \le b} H(x)

with :math:`H` the upper hull: it follows the hull up to its highest point and
stays flat after it, so it never decreases.

Below the lowest BLER any baseline reached, the frontier is undefined: no
baseline runs there, and the chord to :math:`(0, 0)` is not physical (a policy at
BLER 0 still delivers bits). There :math:`F(b)` is the throughput of the
lowest-BLER point and the value is flagged ``extrapolated``: the policy is then
compared with a baseline that is allowed more BLER than itself, which can only
understate its gain.

A learned policy at (b, t) is judged by its **gain at no higher BLER**,
:math:`t / F(b) - 1`, and by the share of the frontier-to-genie gap it closes,
:math:`(t - F(b)) / (G - F(b))`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple


class Point(NamedTuple):
    """One baseline configuration's result on one scenario."""

    bler: float
    """First-transmission BLER, 0..1."""
    throughput: float
    """Mean throughput per UE (any unit; the frontier keeps it)."""
    spec: str
    """The policy spec that produced it, e.g. ``olla:0.5:0.1``."""


@dataclass(frozen=True)
class FrontierValue:
    """The frontier at one BLER and the configurations that reach it."""

    throughput: float
    """:math:`F(b)`."""
    specs: tuple[str, ...]
    """One spec (a hull vertex or the flat part) or the two that time-share."""
    weights: tuple[float, ...]
    """Share of time of each spec of ``specs`` (sums to 1)."""
    extrapolated: bool
    """``b`` is below every baseline's BLER: ``throughput`` is the lowest-BLER point's."""


def _cross(o: Point, a: Point, b: Point) -> float:
    return (a.bler - o.bler) * (b.throughput - o.throughput) - \
        (a.throughput - o.throughput) * (b.bler - o.bler)


def upper_hull(points: Iterable[Point]) -> list[Point]:
    """Vertices of the non-decreasing part of the upper concave hull, by increasing BLER.

    It starts at the lowest-BLER point (the highest-throughput one among ties) and
    ends at the highest-throughput point (the lowest-BLER one among ties): the part
    after it slopes down and never sets the frontier. Points on a chord between two
    vertices are dropped (time-sharing the two reaches them).

    Raises:
        ValueError: no points, or a non-finite coordinate (naming its spec).

    """
    pts = list(points)
    if not pts:
        raise ValueError("the frontier needs at least one baseline point")
    for p in pts:
        if not (math.isfinite(p.bler) and math.isfinite(p.throughput)):
            raise ValueError(f"baseline {p.spec!r} has a non-finite BLER or throughput")
    # Sort by BLER, highest throughput first among equal BLER, so the first of a tie wins.
    pts.sort(key=lambda p: (p.bler, -p.throughput))
    top = max(pts, key=lambda p: (p.throughput, -p.bler))
    hull: list[Point] = []
    for p in pts:
        if hull and p.bler == hull[-1].bler:
            continue  # same BLER, lower throughput
        while len(hull) >= 2 and _cross(hull[-2], hull[-1], p) >= 0:
            hull.pop()  # hull[-1] is on or under the chord from hull[-2] to p
        hull.append(p)
        if p is top:
            break
    return hull


def frontier_at(hull: Sequence[Point], bler: float) -> FrontierValue:
    """:math:`F(b)` on the hull of :func:`upper_hull`, and who reaches it.

    Raises:
        ValueError: an empty hull or a non-finite ``bler``.

    """
    if not hull:
        raise ValueError("the frontier needs at least one baseline point")
    if not math.isfinite(bler):
        raise ValueError(f"BLER must be finite, got {bler}")
    first, last = hull[0], hull[-1]
    if bler < first.bler:
        return FrontierValue(first.throughput, (first.spec,), (1.0,), extrapolated=True)
    if bler >= last.bler:
        return FrontierValue(last.throughput, (last.spec,), (1.0,), extrapolated=False)
    for left, right in itertools.pairwise(hull):
        if left.bler <= bler < right.bler:
            if bler == left.bler:
                return FrontierValue(left.throughput, (left.spec,), (1.0,), extrapolated=False)
            w = (bler - left.bler) / (right.bler - left.bler)
            thp = left.throughput + w * (right.throughput - left.throughput)
            return FrontierValue(thp, (left.spec, right.spec), (1.0 - w, w), extrapolated=False)
    raise AssertionError("unreachable: bler lies within the hull's range")


def gain(throughput: float, frontier: float) -> float | None:
    """Gain at no higher BLER, :math:`t / F(b) - 1` (None for a frontier at 0 or below)."""
    return throughput / frontier - 1.0 if frontier > 0 else None


def gap_share(throughput: float, frontier: float, genie: float | None) -> float | None:
    """Share of the gap from ``frontier`` (or any reference, e.g. OLLA) to ``genie`` closed.

    None: no genie, or a gap <= 0.
    """
    if genie is None or not genie - frontier > 0:
        return None
    return (throughput - frontier) / (genie - frontier)
