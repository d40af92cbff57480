"""Traffic models: offered load, common random numbers, buffer bookkeeping."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training.sim import traffic
from training.sim.traffic import (
    FTP3,
    FULL_BUFFER,
    SMALL_PACKETS,
    TrafficModel,
    TrafficState,
    arrivals,
    give_back,
    has_data,
    take,
)


def _run(state: TrafficState, rng: np.random.Generator, slot_s: float, slots: int) -> np.ndarray:
    total = np.zeros(len(state))
    for _ in range(slots):
        total += arrivals(state, rng, slot_s)
    return total


def test_codes() -> None:
    assert (FULL_BUFFER, FTP3, SMALL_PACKETS) == (0, 1, 2)
    assert TrafficModel(1) is TrafficModel.FTP3
    state = TrafficState.create(np.array([0, 1, 2], dtype=np.int8), [0.0, 2.0, 10.0])
    assert state.model.dtype == np.int8
    assert state.rate_per_s.dtype == np.float32
    assert state.buffer_bits.dtype == np.float64
    np.testing.assert_array_equal(state.buffer_bits, [np.inf, 0.0, 0.0])
    np.testing.assert_array_equal(state.size_min_bytes, [0.0, 500_000.0, 50.0])
    np.testing.assert_array_equal(state.size_max_bytes, [0.0, 500_000.0, 1500.0])


def test_create_defaults_and_validation() -> None:
    state = traffic.create([SMALL_PACKETS, FULL_BUFFER])
    np.testing.assert_array_equal(state.rate_per_s, [50.0, 0.0])
    with pytest.raises(ValueError, match="FTP3"):
        traffic.create([FTP3])
    with pytest.raises(ValueError, match="unknown"):
        traffic.create([3], 1.0)
    with pytest.raises(ValueError, match="rates"):
        traffic.create([SMALL_PACKETS], -1.0)
    with pytest.raises(ValueError, match="sizes"):
        traffic.create([SMALL_PACKETS], 1.0, packet_size_bytes=(100, 50))
    with pytest.raises(ValueError):
        state.rate_per_s[0] = 3.0  # read-only view
    with pytest.raises(ValueError, match="buffers"):
        traffic.create([SMALL_PACKETS], 1.0, buffer_bits=-1.0)


@pytest.mark.parametrize(
    ("model", "rate", "slot_s", "slots", "rel_tol"),
    [
        # 2000 UEs x 4 s x 5 files/s = 40 000 files: relative std 0.5 %.
        (FTP3, 5.0, 1e-3, 4000, 0.02),
        # 2000 UEs x 2 s x 50 packets/s = 200 000 packets; sizes add ~0.5 x the count
        # noise: relative std ~0.25 %. A plain Bernoulli(1 - exp(-0.05)) would be 2.5 % low.
        (SMALL_PACKETS, 50.0, 1e-3, 2000, 0.01),
        # lambda T = 0.5: many multi-arrival slots, still exact in the mean.
        (SMALL_PACKETS, 1000.0, 0.5e-3, 200, 0.01),
    ],
)
def test_long_run_rate(model: int, rate: float, slot_s: float, slots: int, rel_tol: float) -> None:
    n = 2000
    state = traffic.create(np.full(n, model), rate)
    total_bits = _run(state, np.random.default_rng(7), slot_s, slots).sum()
    mean_size_bytes = 500_000.0 if model == FTP3 else (50 + 1500) / 2
    expected = n * rate * slots * slot_s * mean_size_bytes * 8
    assert total_bits == pytest.approx(expected, rel=rel_tol)
    np.testing.assert_allclose(state.buffer_bits.sum(), total_bits)


def test_arrival_counts_are_poisson() -> None:
    # lambda T = 0.8: the per-slot count distribution matches the Poisson pmf.
    n, slots, lam_t = 4000, 100, 0.8
    state = traffic.create(np.full(n, FTP3), lam_t / 1e-3, file_size_bytes=1)
    rng = np.random.default_rng(11)
    counts = np.concatenate([arrivals(state, rng, 1e-3) / 8.0 for _ in range(slots)])
    assert np.all(counts == np.round(counts))
    freq = np.bincount(counts.astype(np.int64), minlength=6)[:6] / counts.size
    pmf = np.array([math.exp(-lam_t) * lam_t**k / math.factorial(k) for k in range(6)])
    np.testing.assert_allclose(freq, pmf, atol=0.004)
    assert counts.var() == pytest.approx(lam_t, rel=0.02)


def test_small_packet_sizes() -> None:
    # lambda T = 1e-3: arrival slots carry one packet, except ~1 in 2000 with two.
    n = 100_000
    state = traffic.create(np.full(n, SMALL_PACKETS), 1.0)
    rng = np.random.default_rng(4)
    sizes = np.concatenate([arrivals(state, rng, 1e-3) for _ in range(40)]) / 8.0
    sizes = sizes[sizes > 0]
    assert sizes.size > 3000
    assert np.all((sizes >= 50) & (sizes == np.round(sizes)))
    assert np.mean(sizes > 1500) < 0.005
    sizes = sizes[sizes <= 1500]
    # Uniform on 50..1500: mean 775, std 419 -> standard error < 8.
    assert sizes.mean() == pytest.approx(775.0, abs=35.0)


def test_rate_change_is_picked_up() -> None:
    n = 10_000
    state = traffic.create(np.full(n, FTP3), 0.0, file_size_bytes=1)
    rng = np.random.default_rng(8)
    assert arrivals(state, rng, 1e-3).sum() == 0.0
    state.rate_per_s = 100.0  # lambda T = 0.1 with the cached slot length
    files = arrivals(state, rng, 1e-3).sum() / 8.0
    assert files == pytest.approx(1000.0, abs=150.0)


def test_rng_draws_independent_of_state() -> None:
    n = 512
    rng_a = np.random.default_rng(2024)
    rng_b = np.random.default_rng(2024)
    # Same population, wildly different buffers, rates and models.
    a = traffic.create(np.full(n, SMALL_PACKETS), 50.0)
    models = np.resize(np.array([FULL_BUFFER, FTP3, SMALL_PACKETS]), n)
    b = traffic.create(models, np.where(models == FTP3, 2.0, 5000.0),
                       buffer_bits=np.linspace(0.0, 1e9, n))
    for t in range(300):
        arrivals(a, rng_a, 1e-3)
        arrivals(b, rng_b, 1e-3 if t % 2 else 0.5e-3)
        take(b, np.full(n, 1e5))
        assert rng_a.bit_generator.state == rng_b.bit_generator.state
    # The traffic stream is the same in both: the next draw matches.
    assert rng_a.random() == rng_b.random()


def test_take_and_give_back_conserve_bits() -> None:
    rng = np.random.default_rng(5)
    n = 300
    models = np.resize(np.array([FTP3, SMALL_PACKETS]), n)
    state = traffic.create(models, np.where(models == FTP3, 20.0, 400.0))
    arrived = np.zeros(n)
    served = np.zeros(n)
    returned = np.zeros(n)
    for _ in range(2000):
        arrived += arrivals(state, rng, 1e-3)
        before = state.buffer_bits.copy()
        request = rng.uniform(-1000.0, 60_000.0, n)
        granted = take(state, request)
        assert np.all(granted >= 0.0)
        assert np.all(granted <= np.maximum(request, 0.0))
        assert np.all(granted <= before)
        np.testing.assert_array_equal(granted, np.minimum(np.maximum(request, 0.0), before))
        served += granted
        back = np.where(rng.random(n) < 0.1, granted, 0.0)
        give_back(state, back)
        returned += back
        assert np.all(state.buffer_bits >= 0.0)
    np.testing.assert_allclose(state.buffer_bits, arrived - served + returned, atol=1e-3)
    assert np.array_equal(has_data(state), state.buffer_bits > 0.0)


def test_full_buffer_never_empties() -> None:
    n = 64
    state = traffic.create(np.full(n, FULL_BUFFER))
    rng = np.random.default_rng(6)
    for _ in range(200):
        assert np.all(arrivals(state, rng, 1e-3) == 0.0)
        request = rng.uniform(0.0, 1e7, n)
        np.testing.assert_array_equal(take(state, request), request)
        give_back(state, request)
        assert np.all(has_data(state))
        assert np.all(np.isposinf(state.buffer_bits))


def test_empty_buffer_has_no_data() -> None:
    state = traffic.create([FTP3, SMALL_PACKETS], [1.0, 1.0])
    assert not has_data(state).any()
    give_back(state, [8.0, 0.0])
    np.testing.assert_array_equal(has_data(state), [True, False])
    np.testing.assert_array_equal(take(state, [100.0, 100.0]), [8.0, 0.0])
    assert not has_data(state).any()


def test_per_ue_slot_lengths() -> None:
    # Mixed numerologies: 1 ms and 0.5 ms slots; the offered load per second is the same.
    n, slots = 4000, 2000
    slot_s = np.where(np.arange(n) % 2 == 0, 1e-3, 0.5e-3)
    state = traffic.create(np.full(n, FTP3), 50.0, file_size_bytes=1)
    rng = np.random.default_rng(9)
    files = _run(state, rng, slot_s, slots) / 8.0
    # 2000 UEs x 2 s x 50/s = 200 000 files; 2000 UEs x 1 s x 50/s = 100 000 files.
    assert files[0::2].sum() == pytest.approx(200_000, rel=0.01)
    assert files[1::2].sum() == pytest.approx(100_000, rel=0.01)
    # A changed slot array (same object mutated in place) is picked up.
    slot_s[:] = 1e-3
    files = _run(state, rng, slot_s, 200) / 8.0
    assert files[1::2].sum() == pytest.approx(20_000, rel=0.05)
