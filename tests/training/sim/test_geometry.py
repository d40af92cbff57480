"""Hexagonal layout, UE drops and reflecting mobility."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.sim.geometry import (
    cell_radius,
    distances,
    drop_ues,
    move,
    neighbor_sites,
    random_velocity,
)


def test_neighbor_sites_hexagonal() -> None:
    sites = neighbor_sites(500.0)
    assert sites.shape == (6, 2)
    assert sites.dtype == np.float64
    np.testing.assert_allclose(np.hypot(sites[:, 0], sites[:, 1]), 500.0)
    # Consecutive neighbours are also one ISD apart (a hexagonal ring).
    ring = np.roll(sites, -1, axis=0) - sites
    np.testing.assert_allclose(np.hypot(ring[:, 0], ring[:, 1]), 500.0)
    # The midpoint between the serving site and a neighbour is the apothem of both
    # cells: sqrt(3)/2 * R = ISD / 2.
    assert cell_radius(500.0) * math.sqrt(3.0) / 2.0 == pytest.approx(250.0)


def test_cell_radius_vectorized() -> None:
    # 200 / 1.7320508 = 115.47005; 1732 / 1.7320508 = 999.97067
    np.testing.assert_allclose(cell_radius(np.array([200.0, 1732.0])), [115.47005, 999.97067],
                               rtol=1e-6)


def test_drop_inside_annulus_and_uniform_in_area() -> None:
    rng = np.random.default_rng(1)
    n = 200_000
    pos = drop_ues(rng, n, 300.0, 35.0)
    assert pos.shape == (n, 2)
    r2 = (pos**2).sum(axis=1)
    assert r2.min() >= 35.0**2 and r2.max() <= 300.0**2 * (1 + 1e-12)
    # Uniform in area: r^2 ~ U(35^2, 300^2), mean (35^2 + 300^2)/2 = 45612.5,
    # std (300^2 - 35^2)/sqrt(12) = 25627; standard error of the mean ~57.
    assert r2.mean() == pytest.approx((35.0**2 + 300.0**2) / 2.0, abs=300.0)
    # Uniform angle: the mean position is near the origin.
    assert np.abs(pos.mean(axis=0)).max() < 2.0


def test_drop_cell_edge_per_ue_radius() -> None:
    rng = np.random.default_rng(2)
    radius = np.where(np.arange(10_000) % 2 == 0, 100.0, 1000.0)
    pos = drop_ues(rng, radius.size, radius, 10.0, radial_fraction=(0.8, 1.0))
    r = np.hypot(pos[:, 0], pos[:, 1])
    assert np.all(r >= 0.8 * radius - 1e-9) and np.all(r <= radius * (1 + 1e-12))
    # min_distance dominates when it exceeds lo * radius.
    pos = drop_ues(rng, 1000, 100.0, 50.0, radial_fraction=(0.1, 0.6))
    r = np.hypot(pos[:, 0], pos[:, 1])
    assert r.min() >= 50.0 and r.max() <= 60.0 + 1e-9
    with pytest.raises(ValueError, match="annulus"):
        drop_ues(rng, 3, 100.0, 90.0, radial_fraction=(0.0, 0.5))


def test_random_velocity() -> None:
    rng = np.random.default_rng(3)
    speed = rng.uniform(0.0, 40.0, 50_000)
    vel = random_velocity(rng, speed)
    assert vel.shape == (50_000, 2)
    np.testing.assert_allclose(np.hypot(vel[:, 0], vel[:, 1]), speed)
    unit = vel / np.maximum(speed, 1e-9)[:, None]
    assert np.abs(unit.mean(axis=0)).max() < 0.02


def test_distances() -> None:
    pos = np.array([[0.0, 0.0], [3.0, 4.0]])
    sites = np.array([[0.0, 0.0], [3.0, 0.0], [-3.0, -4.0]])
    np.testing.assert_allclose(distances(pos, sites), [[0.0, 3.0, 5.0], [5.0, 4.0, 10.0]])


def _check_moves(pos: np.ndarray, vel: np.ndarray, dt: float, radius: np.ndarray | float,
                 r_min: np.ndarray | float, steps: int) -> None:
    speed = np.hypot(vel[:, 0], vel[:, 1])
    hi = np.broadcast_to(radius, speed.shape)
    lo = np.broadcast_to(r_min, speed.shape)
    for _ in range(steps):
        pos0, vel0 = pos.copy(), vel.copy()
        new_pos, new_vel = move(pos, vel, dt, radius, r_min)
        np.testing.assert_array_equal(pos, pos0)  # inputs untouched
        np.testing.assert_array_equal(vel, vel0)
        pos, vel = new_pos, new_vel
        r = np.hypot(pos[:, 0], pos[:, 1])
        assert np.all(r <= hi * (1 + 1e-9)), r.max()
        assert np.all(r >= lo * (1 - 1e-9)), r.min()
        np.testing.assert_allclose(np.hypot(vel[:, 0], vel[:, 1]), speed, rtol=1e-9, atol=1e-12)


def test_move_keeps_ues_inside_many_steps() -> None:
    rng = np.random.default_rng(4)
    n = 4096
    radius = rng.uniform(50.0, 600.0, n)
    r_min = np.minimum(rng.uniform(0.0, 40.0, n), radius)
    pos = drop_ues(rng, n, radius, r_min)
    vel = random_velocity(rng, rng.uniform(0.0, 45.0, n))
    # 2000 steps of 1 s at up to 45 m/s: many reflections at both edges, including steps
    # comparable to the annulus width.
    _check_moves(pos, vel, 1.0, radius, r_min, steps=2000)


def test_move_free_motion_is_straight() -> None:
    pos = np.array([[100.0, 0.0], [0.0, -200.0]])
    vel = np.array([[3.0, 4.0], [-1.0, 0.0]])
    new_pos, new_vel = move(pos, vel, 2.0, 500.0, 10.0)
    np.testing.assert_allclose(new_pos, [[106.0, 8.0], [-2.0, -200.0]])
    np.testing.assert_array_equal(new_vel, vel)


def test_move_reflects_at_outer_and_inner_edge() -> None:
    # Radially outward at the outer edge: overshoot 5 m -> 5 m inside, velocity reversed.
    pos = np.array([[98.0, 0.0], [0.0, 12.0]])
    vel = np.array([[7.0, 0.0], [0.0, -4.0]])
    new_pos, new_vel = move(pos, vel, 1.0, 100.0, 10.0)
    np.testing.assert_allclose(new_pos, [[95.0, 0.0], [0.0, 12.0]])
    np.testing.assert_allclose(new_vel, [[-7.0, 0.0], [0.0, 4.0]])
    # Tangential motion at the outer edge: radial component flips sign, inwards.
    pos = np.array([[100.0, 0.0]])
    vel = np.array([[0.0, 10.0]])
    new_pos, new_vel = move(pos, vel, 1.0, 100.0, 10.0)
    assert np.hypot(*new_pos[0]) <= 100.0
    assert float(new_vel[0] @ new_pos[0]) < 0.0
    assert np.hypot(*new_vel[0]) == pytest.approx(10.0)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    radius=st.floats(20.0, 3000.0),
    inner=st.floats(0.0, 0.9, allow_subnormal=False),  # subnormal radii lose all precision
    speed=st.floats(0.0, 200.0),
    dt=st.floats(0.001, 5.0),
)
def test_move_property(seed: int, radius: float, inner: float, speed: float, dt: float) -> None:
    rng = np.random.default_rng(seed)
    n = 64
    r_min = inner * radius
    pos = drop_ues(rng, n, radius, r_min)
    vel = random_velocity(rng, np.full(n, speed))
    _check_moves(pos, vel, dt, radius, r_min, steps=50)


def test_move_per_ue_time_step() -> None:
    pos = np.array([[100.0, 0.0], [100.0, 0.0]])
    vel = np.array([[0.0, 10.0], [0.0, 10.0]])
    new_pos, _ = move(pos, vel, np.array([1.0, 0.5]), np.array([500.0, 500.0]), 10.0)
    np.testing.assert_allclose(new_pos, [[100.0, 10.0], [100.0, 5.0]])
