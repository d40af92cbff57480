"""Hexagonal site layout, UE drops and UE mobility in the serving cell.

The serving site is at the origin; positions are 2D ``(x, y)`` in metres. Each
UE lives in an annulus around the serving site, between a minimum distance
and a maximum radius (both per UE), which approximates the hexagonal cell by its
circumscribed disc (radius :func:`cell_radius`). The first tier of six
interfering sites is given by :func:`neighbor_sites`.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "cell_radius",
    "distances",
    "drop_ues",
    "move",
    "neighbor_sites",
    "random_velocity",
]

FloatArray = npt.NDArray[np.float64]

_SQRT3: Final = math.sqrt(3.0)

# Unit vectors towards the six first-tier neighbours, at 30 + 60 k degrees: with
# hexagon vertices at 0, 60, ... degrees, these are the directions of the edge
# normals, so neighbouring cells share an edge.
_NEIGHBOUR_ANGLES: Final = np.deg2rad(30.0 + 60.0 * np.arange(6))
_NEIGHBOUR_DIRECTIONS: Final = np.stack(
    [np.cos(_NEIGHBOUR_ANGLES), np.sin(_NEIGHBOUR_ANGLES)], axis=1
)


def neighbor_sites(isd_m: float) -> FloatArray:
    """Positions of the six first-tier sites of a hexagonal grid.

    The serving site is at the origin; the neighbours are at distance ``isd_m``
    in the directions 30, 90, ..., 330 degrees.

    Args:
        isd_m: Inter-site distance, m.

    Returns:
        Site positions, shape ``(6, 2)``, float64, m.

    """
    return _NEIGHBOUR_DIRECTIONS * float(isd_m)


def cell_radius(isd_m: npt.ArrayLike) -> FloatArray:
    """Circumradius of the hexagonal cell: ``ISD / sqrt(3)``.

    Neighbouring sites are ``sqrt(3) R`` apart for hexagons of circumradius
    ``R`` (twice the apothem ``sqrt(3)/2 R``), so ``R = ISD / sqrt(3)``. The
    drop and mobility annulus use this radius: the disc covers the hexagon plus
    its six corner slivers.

    Args:
        isd_m: Inter-site distance, any shape, float, m.

    Returns:
        Cell radius, same shape as ``isd_m``, float64, m.

    """
    return np.asarray(isd_m, dtype=np.float64) / _SQRT3


def drop_ues(
    rng: np.random.Generator,
    n: int,
    radius_m: npt.ArrayLike,
    min_distance_m: npt.ArrayLike,
    radial_fraction: tuple[float, float] = (0.0, 1.0),
) -> FloatArray:
    """Drop UEs uniformly in area over an annulus around the serving site.

    The annulus of UE ``i`` runs from ``max(min_distance_m, lo * radius_m)`` to
    ``hi * radius_m`` with ``(lo, hi) = radial_fraction``; e.g. ``(0.8, 1.0)``
    drops at the cell edge. Uniform in area means ``r^2`` is uniform between the
    squared bounds; the angle is uniform. Consumes ``2 n`` uniform draws.

    Args:
        rng: Random generator.
        n: Number of UEs.
        radius_m: Cell radius, scalar or shape ``(n,)``, float, m.
        min_distance_m: Minimum distance to the site, scalar or shape ``(n,)``,
            float, m.
        radial_fraction: ``(lo, hi)`` fractions of the radius bounding the annulus.

    Returns:
        UE positions, shape ``(n, 2)``, float64, m.

    Raises:
        ValueError: If an annulus is empty (inner bound above the outer one).

    """
    lo, hi = radial_fraction
    radius = np.broadcast_to(np.asarray(radius_m, dtype=np.float64), (n,))
    r_lo = np.maximum(np.asarray(min_distance_m, dtype=np.float64), lo * radius)
    r_hi = hi * radius
    if np.any(r_lo > r_hi):
        raise ValueError("empty drop annulus: inner bound exceeds outer bound")
    u = rng.random(n)
    theta = rng.random(n) * (2.0 * np.pi)
    r = np.sqrt(r_lo**2 + u * (r_hi**2 - r_lo**2))
    return np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)


def random_velocity(rng: np.random.Generator, speed_mps: npt.ArrayLike) -> FloatArray:
    """Velocities of the given speeds in uniformly random directions.

    Consumes one uniform draw per UE.

    Args:
        rng: Random generator.
        speed_mps: UE speeds, shape ``(n,)``, float, m/s.

    Returns:
        Velocities, shape ``(n, 2)``, float64, m/s.

    """
    speed = np.asarray(speed_mps, dtype=np.float64)
    theta = rng.random(speed.shape) * (2.0 * np.pi)
    return np.stack([speed * np.cos(theta), speed * np.sin(theta)], axis=-1)


def move(
    pos: FloatArray,
    vel: FloatArray,
    dt_s: npt.ArrayLike,
    radius_m: npt.ArrayLike,
    min_distance_m: npt.ArrayLike,
) -> tuple[FloatArray, FloatArray]:
    """Advance UEs in straight lines, reflecting them at the annulus boundaries.

    Each UE moves by ``vel * dt_s``. A UE that ends outside its annulus
    ``[min_distance_m, radius_m]`` is reflected back inside: its distance to the
    site is mirrored at the boundary it crossed (``r -> 2 R - r`` at the outer
    edge, ``r -> 2 r_min - r`` at the inner one; clipped into the annulus should
    a step exceed its width) keeping its bearing, and the radial component of its
    velocity is reversed so that it heads back inside (inwards after the outer
    edge, outwards after the inner one). The tangential component is kept, so
    speeds are preserved exactly. This is the specular reflection off the circle
    to first order in ``step / radius``. Neither input is modified; the work
    beyond one multiply-add is only done for the (few) reflected UEs.

    Args:
        pos: Positions, shape ``(n, 2)``, float64, m.
        vel: Velocities, shape ``(n, 2)``, float64, m/s.
        dt_s: Time step, scalar or shape ``(n,)`` (per-UE slot lengths), float, s.
        radius_m: Outer radius of the annulus, scalar or shape ``(n,)``, float, m.
        min_distance_m: Inner radius, scalar or shape ``(n,)``, float, m; at most
            ``radius_m``.

    Returns:
        ``(pos, vel)``: new positions and velocities, shapes ``(n, 2)``, float64,
        m and m/s; fresh arrays.

    """
    dt = np.asarray(dt_s, dtype=np.float64)
    new_pos = vel * (dt[:, None] if dt.ndim else dt)
    new_pos += pos
    new_vel = vel.copy()
    r2 = np.einsum("ij,ij->i", new_pos, new_pos)
    r_hi = np.asarray(radius_m, dtype=np.float64)
    r_lo = np.asarray(min_distance_m, dtype=np.float64)
    idx = np.flatnonzero((r2 > r_hi * r_hi) | (r2 < r_lo * r_lo))
    if idx.size == 0:
        return new_pos, new_vel
    hi = np.broadcast_to(r_hi, r2.shape)[idx]
    lo = np.broadcast_to(r_lo, r2.shape)[idx]
    p = new_pos[idx]
    r = np.sqrt(r2[idx])
    outer = r > hi
    # Bearing of the UE; a UE exactly at the site (possible only if min_distance > 0
    # and it was aimed straight through) gets bearing 0.
    safe_r = np.where(r > 0.0, r, 1.0)
    u = np.where((r > 0.0)[:, None], p / safe_r[:, None], np.array([1.0, 0.0]))
    r_new = np.clip(np.where(outer, 2.0 * hi - r, 2.0 * lo - r), lo, hi)
    new_pos[idx] = u * r_new[:, None]
    v = new_vel[idx]
    v_rad = np.einsum("ij,ij->i", v, u)
    target = np.where(outer, -np.abs(v_rad), np.abs(v_rad))
    new_vel[idx] = v + (target - v_rad)[:, None] * u
    return new_pos, new_vel


def distances(pos: FloatArray, sites: FloatArray) -> FloatArray:
    """2D distances from every UE to every site.

    Args:
        pos: UE positions, shape ``(n, 2)``, float, m.
        sites: Site positions, shape ``(k, 2)``, float, m.

    Returns:
        Distances, shape ``(n, k)``, float64, m.

    """
    pos = np.asarray(pos, dtype=np.float64)
    sites = np.asarray(sites, dtype=np.float64)
    return np.hypot(pos[:, None, 0] - sites[None, :, 0], pos[:, None, 1] - sites[None, :, 1])
