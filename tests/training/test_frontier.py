"""The throughput-BLER frontier on hand-made points: hull, time-sharing, gains, edges."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from training.frontier import Point, frontier_at, gain, gap_share, upper_hull

# Three configurations; "mid" sits below the chord from "low" to "high": at BLER 0.1
# the chord gives 100 + 0.5 * (200 - 100) = 150 > 140.
LOW, MID, HIGH = Point(0.0, 100.0, "low"), Point(0.1, 140.0, "mid"), Point(0.2, 200.0, "high")


def test_a_point_under_the_chord_of_two_others_is_not_on_the_frontier() -> None:
    hull = upper_hull([HIGH, MID, LOW])
    assert [p.spec for p in hull] == ["low", "high"]
    value = frontier_at(hull, 0.1)
    assert value.throughput == pytest.approx(150.0)
    assert value.specs == ("low", "high") and value.weights == pytest.approx((0.5, 0.5))
    assert not value.extrapolated
    # MID itself, measured against the frontier, loses what time-sharing would win.
    assert gain(MID.throughput, value.throughput) == pytest.approx(140 / 150 - 1)


def test_a_point_above_the_chord_is_a_vertex() -> None:
    above = Point(0.1, 160.0, "above")
    assert [p.spec for p in upper_hull([LOW, above, HIGH])] == ["low", "above", "high"]


def test_a_learned_point_above_the_frontier_gains_and_one_below_loses() -> None:
    hull = upper_hull([LOW, MID, HIGH])
    at = frontier_at(hull, 0.05).throughput  # 125 on the chord
    assert at == pytest.approx(125.0)
    assert gain(131.25, at) == pytest.approx(0.05)
    assert gain(120.0, at) is not None and gain(120.0, at) < 0  # type: ignore[operator]


def test_the_frontier_never_decreases_and_stays_flat_after_its_best_point() -> None:
    # After "high" the points slope down: a policy allowed more BLER can always fall
    # back to "high", so the frontier stays at 200.
    worse = [Point(0.3, 180.0, "worse"), Point(0.5, 90.0, "much-worse")]
    hull = upper_hull([LOW, MID, HIGH, *worse])
    assert hull[-1].spec == "high"
    values = [frontier_at(hull, b).throughput for b in np.linspace(0.0, 0.6, 61)]
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(values))
    assert frontier_at(hull, 0.5).throughput == 200.0
    assert frontier_at(hull, 0.5).specs == ("high",)


def test_hull_vertices_are_concave_and_every_point_is_under_the_frontier() -> None:
    # Throughput rising and saturating with BLER, scattered below that curve, as real
    # baselines lie: the hull has many vertices, so the concavity check has slopes to compare
    # (uniform noise gives a two-vertex hull and one slope).
    rng = np.random.default_rng(7)
    bler = rng.uniform(0.01, 0.4, 40)
    thp = 100.0 * (1.0 - np.exp(-bler / 0.1)) * rng.uniform(0.8, 1.0, 40)
    points = [Point(float(b), float(t), f"p{i}")
              for i, (b, t) in enumerate(zip(bler, thp, strict=True))]
    hull = upper_hull(points)
    assert len(hull) >= 5
    slopes = [(q.throughput - p.throughput) / (q.bler - p.bler)
              for p, q in itertools.pairwise(hull)]
    assert all(s >= 0 for s in slopes)
    assert all(b < a for a, b in itertools.pairwise(slopes))  # concave
    for p in points:
        if p.bler >= hull[0].bler:
            assert p.throughput <= frontier_at(hull, p.bler).throughput + 1e-9


def test_below_the_lowest_baseline_bler_the_lowest_point_is_used_and_flagged() -> None:
    hull = upper_hull([Point(0.05, 80.0, "a"), Point(0.2, 120.0, "b")])
    value = frontier_at(hull, 0.01)
    assert value.extrapolated and value.specs == ("a",)
    assert value.throughput == 80.0  # not the chord to (0, 0), which would give 16
    assert not frontier_at(hull, 0.05).extrapolated


def test_equal_bler_keeps_the_higher_throughput_and_a_vertex_is_reached_alone() -> None:
    hull = upper_hull([Point(0.1, 50.0, "weak"), Point(0.1, 70.0, "strong"),
                       Point(0.3, 90.0, "top")])
    assert [p.spec for p in hull] == ["strong", "top"]
    value = frontier_at(hull, 0.1)
    assert value.specs == ("strong",) and value.throughput == 70.0


def test_one_point_is_a_frontier() -> None:
    hull = upper_hull([Point(0.1, 5.0, "only")])
    assert frontier_at(hull, 0.3).throughput == 5.0
    assert frontier_at(hull, 0.0).extrapolated


def test_gap_share_is_measured_from_the_frontier() -> None:
    assert gap_share(130.0, 100.0, 160.0) == pytest.approx(0.5)
    assert gap_share(90.0, 100.0, 160.0) == pytest.approx(-1 / 6)
    assert gap_share(130.0, 100.0, None) is None  # that genie did not run
    assert gap_share(130.0, 100.0, 100.0) is None  # no gap to close
    assert gain(1.0, 0.0) is None


@pytest.mark.parametrize("points", [[], [Point(math.nan, 1.0, "nan-bler")]])
def test_bad_points_are_refused(points: list[Point]) -> None:
    with pytest.raises(ValueError, match=r"at least one|'nan-bler'"):
        upper_hull(points)
