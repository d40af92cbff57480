"""Downlink traffic models and per-UE RLC buffers, vectorized over UEs.

Three models, selected per UE by an integer code (:class:`TrafficModel`):

* **Full buffer** -- the UE always has data; its buffer is ``+inf`` and never
  changes.
* **FTP model 3** -- the bursty traffic of 3GPP system-level evaluations
  (TR 36.889, reused by TR 38.814 and others): files of a fixed size (default
  0.5 Mbyte = 500 000 bytes) arrive as a Poisson process of rate ``lambda``
  files/s. Here the process runs per UE (``lambda`` is a per-UE parameter) rather
  than per cell.
* **Small packets** -- a generic small-packet / IoT-style model chosen for this
  simulator (not a 3GPP-defined model): Poisson packet arrivals (default 50
  packets/s) with sizes uniform on the integers 50..1500 bytes (up to an
  Ethernet MTU).

Per-slot arrivals. The number of arrivals of UE ``i`` in a slot of length ``T``
is Poisson with mean ``lambda_i T``, drawn by inversion from one uniform. When
``lambda T`` is small (slots <= 1 ms, rates of at most a few hundred per second),
this is a Bernoulli trial with ``p = 1 - exp(-lambda T)`` except in the rare
slots with two or more arrivals, which are counted exactly so that the long-run
offered load is exactly ``lambda x mean size`` (a plain Bernoulli would lose a
fraction ~``lambda T / 2`` of it: 2.5 % at 50 packets/s and 1 ms). When several
small packets arrive in one slot they share one size draw (the mean is exact).

Common random numbers. :func:`arrivals` always consumes exactly two
``rng.random(n)`` draws (count, size), whatever the buffers, models or
outcomes, so two simulations that differ only in their link-adaptation policy
see identical traffic.
"""

from __future__ import annotations

import enum
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "FTP3",
    "FTP3_FILE_SIZE_BYTES",
    "FULL_BUFFER",
    "SMALL_PACKETS",
    "SMALL_PACKET_RATE_PER_S",
    "SMALL_PACKET_SIZE_BYTES",
    "TrafficModel",
    "TrafficState",
    "arrivals",
    "create",
    "give_back",
    "has_data",
    "take",
]

FloatArray = npt.NDArray[np.float64]


class TrafficModel(enum.IntEnum):
    """Per-UE traffic model code (stored as int8)."""

    FULL_BUFFER = 0
    FTP3 = 1
    SMALL_PACKETS = 2


FULL_BUFFER: Final = TrafficModel.FULL_BUFFER
FTP3: Final = TrafficModel.FTP3
SMALL_PACKETS: Final = TrafficModel.SMALL_PACKETS

# TR 36.889 FTP model 3 (as used by TR 38.814): file size 0.5 Mbytes, read as 0.5e6 bytes
FTP3_FILE_SIZE_BYTES: Final = 500_000
# Generic small-packet model of this simulator (no 3GPP source): 50 packets/s,
# sizes uniform on 50..1500 bytes
SMALL_PACKET_RATE_PER_S: Final = 50.0
SMALL_PACKET_SIZE_BYTES: Final = (50, 1500)

# Inverse-CDF Poisson: stop after this many arrivals in one slot (reached only when
# lambda T is far beyond the slot-level use of this module).
_MAX_ARRIVALS_PER_SLOT: Final = 64


class TrafficState:
    """Per-UE traffic parameters and buffers.

    Attributes:
        model: Traffic model code per UE, shape ``(n,)``, int8 (:class:`TrafficModel`);
            fixed at construction.
        size_min_bytes: Smallest file/packet size, shape ``(n,)``, float64, bytes
            (FTP3: the file size; full buffer: 0); read-only.
        size_max_bytes: Largest file/packet size, shape ``(n,)``, float64, bytes
            (FTP3: the file size; full buffer: 0); read-only. Sizes are uniform on
            the integers ``size_min_bytes..size_max_bytes``.
        rate_per_s: Arrival rate, shape ``(n,)``, float32, files/s or packets/s
            (0 for full buffer); assign a new array to change it.
        buffer_bits: Data waiting for the UE, shape ``(n,)``, float64, bits;
            ``+inf`` for full-buffer UEs. Mutated in place by :func:`arrivals`,
            :func:`take` and :func:`give_back`.
        full_buffer: ``model == FULL_BUFFER``, shape ``(n,)``, bool (read-only).

    """

    __slots__ = (
        "_cache_slot_s",
        "_finite",
        "_lam",
        "_min_bits",
        "_p0",
        "_p_le1",
        "_rate",
        "_size_max",
        "_size_min",
        "_span_bytes",
        "buffer_bits",
        "full_buffer",
        "model",
    )

    def __init__(
        self,
        model: npt.ArrayLike,
        rate_per_s: npt.ArrayLike,
        size_min_bytes: npt.ArrayLike,
        size_max_bytes: npt.ArrayLike,
        buffer_bits: npt.ArrayLike | None = None,
    ) -> None:
        """Build a state from per-UE arrays.

        Args:
            model: Traffic model code per UE, shape ``(n,)``, int.
            rate_per_s: Arrival rate, scalar or shape ``(n,)``, float, files/s
                (FTP3) or packets/s (small packets); ignored for full buffer.
            size_min_bytes: Smallest file/packet size, scalar or ``(n,)``, bytes.
            size_max_bytes: Largest file/packet size, scalar or ``(n,)``, bytes.
            buffer_bits: Initial buffers, scalar or ``(n,)``, float, bits; default
                empty. Forced to ``+inf`` for full-buffer UEs.

        Raises:
            ValueError: On an unknown model code, a negative or non-finite rate
                or size, ``size_min_bytes > size_max_bytes`` or a negative buffer.

        """
        code = np.asarray(model)
        if code.ndim != 1:
            raise ValueError(f"model must have shape (n,), got {code.shape}")
        if not np.all(np.isin(code, [m.value for m in TrafficModel])):
            raise ValueError("unknown traffic model code")
        n = code.shape[0]
        self.model: npt.NDArray[np.int8] = code.astype(np.int8)
        self.full_buffer: npt.NDArray[np.bool_] = self.model == FULL_BUFFER
        self.full_buffer.setflags(write=False)
        self._finite = ~self.full_buffer
        lo = np.broadcast_to(np.asarray(size_min_bytes, dtype=np.float64), (n,))
        hi = np.broadcast_to(np.asarray(size_max_bytes, dtype=np.float64), (n,))
        if not (np.all(np.isfinite(lo) & np.isfinite(hi) & (lo >= 0.0) & (lo <= hi))):
            raise ValueError("sizes must be finite with 0 <= size_min_bytes <= size_max_bytes")
        self._size_min = np.where(self.full_buffer, 0.0, np.floor(lo))
        self._size_max = np.where(self.full_buffer, 0.0, np.floor(hi))
        self._size_min.setflags(write=False)
        self._size_max.setflags(write=False)
        self._span_bytes = self._size_max - self._size_min + 1.0
        self._min_bits = 8.0 * self._size_min
        self._rate = np.zeros(n, dtype=np.float32)
        self._cache_slot_s: FloatArray | None = None
        self._lam = np.zeros(n)
        self._p0 = np.ones(n)
        self._p_le1 = np.ones(n)
        self.rate_per_s = rate_per_s
        buf = np.zeros(n) if buffer_bits is None else buffer_bits
        self.buffer_bits: FloatArray = np.array(
            np.broadcast_to(np.asarray(buf, dtype=np.float64), (n,))
        )
        if not np.all(self.buffer_bits >= 0.0):
            raise ValueError("initial buffers must be >= 0")
        self.buffer_bits[self.full_buffer] = np.inf

    @classmethod
    def create(
        cls,
        model: npt.ArrayLike,
        rate_per_s: npt.ArrayLike | None = None,
        *,
        file_size_bytes: npt.ArrayLike = FTP3_FILE_SIZE_BYTES,
        packet_size_bytes: tuple[npt.ArrayLike, npt.ArrayLike] = SMALL_PACKET_SIZE_BYTES,
        buffer_bits: npt.ArrayLike | None = None,
    ) -> TrafficState:
        """Build a state with the default sizes of each model; see :func:`create`."""
        return create(
            model,
            rate_per_s,
            file_size_bytes=file_size_bytes,
            packet_size_bytes=packet_size_bytes,
            buffer_bits=buffer_bits,
        )

    def __len__(self) -> int:
        return int(self.model.shape[0])

    @property
    def size_min_bytes(self) -> FloatArray:
        """Smallest file/packet size, shape ``(n,)``, float64, bytes (read-only)."""
        return self._size_min

    @property
    def size_max_bytes(self) -> FloatArray:
        """Largest file/packet size, shape ``(n,)``, float64, bytes (read-only)."""
        return self._size_max

    @property
    def rate_per_s(self) -> npt.NDArray[np.float32]:
        """Arrival rate, shape ``(n,)``, float32, files/s or packets/s (0 for full buffer).

        Read-only view; assign a new array to change the rates.
        """
        view = self._rate.view()
        view.setflags(write=False)
        return view

    @rate_per_s.setter
    def rate_per_s(self, value: npt.ArrayLike) -> None:
        n = self.model.shape[0]
        rate = np.broadcast_to(np.asarray(value, dtype=np.float64), (n,))
        rate = np.where(self.full_buffer, 0.0, rate)
        if not np.all(np.isfinite(rate) & (rate >= 0.0)):
            raise ValueError("arrival rates must be finite and >= 0")
        self._rate = rate.astype(np.float32)
        self._cache_slot_s = None

    def _thresholds(self, slot_s: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``(lambda T, P(N = 0), P(N <= 1))`` per UE for slots of ``slot_s`` s, cached."""
        key = np.asarray(slot_s, dtype=np.float64)
        cached = self._cache_slot_s
        if cached is None or not np.array_equal(key, cached):
            self._lam = self._rate.astype(np.float64) * key
            self._p0 = np.exp(-self._lam)
            self._p_le1 = self._p0 * (1.0 + self._lam)
            self._cache_slot_s = key.copy()
        return self._lam, self._p0, self._p_le1


def create(
    model: npt.ArrayLike,
    rate_per_s: npt.ArrayLike | None = None,
    *,
    file_size_bytes: npt.ArrayLike = FTP3_FILE_SIZE_BYTES,
    packet_size_bytes: tuple[npt.ArrayLike, npt.ArrayLike] = SMALL_PACKET_SIZE_BYTES,
    buffer_bits: npt.ArrayLike | None = None,
) -> TrafficState:
    """Build a :class:`TrafficState` with per-model sizes.

    Args:
        model: Traffic model code per UE, shape ``(n,)``, int.
        rate_per_s: Arrival rate, scalar or shape ``(n,)``, float, files/s (FTP3)
            or packets/s (small packets); ignored for full buffer. Default: 50
            packets/s for small packets; FTP3 UEs then need an explicit rate.
        file_size_bytes: FTP3 file size, scalar or ``(n,)``, bytes.
        packet_size_bytes: ``(min, max)`` small-packet size, each scalar or
            ``(n,)``, bytes.
        buffer_bits: Initial buffers, scalar or ``(n,)``, float, bits; default empty.

    Returns:
        The traffic state.

    Raises:
        ValueError: If ``rate_per_s`` is omitted while some UE uses FTP3, or on
            invalid parameters (see :class:`TrafficState`).

    """
    code = np.asarray(model)
    if rate_per_s is None:
        if np.any(code == FTP3):
            raise ValueError("FTP3 UEs need an explicit rate_per_s (files/s)")
        rate_per_s = np.where(code == SMALL_PACKETS, SMALL_PACKET_RATE_PER_S, 0.0)
    p_lo, p_hi = packet_size_bytes
    is_ftp = code == FTP3
    file_size = np.asarray(file_size_bytes, dtype=np.float64)
    size_lo = np.where(is_ftp, file_size, np.asarray(p_lo, dtype=np.float64))
    size_hi = np.where(is_ftp, file_size, np.asarray(p_hi, dtype=np.float64))
    return TrafficState(code, rate_per_s, size_lo, size_hi, buffer_bits)


def arrivals(
    state: TrafficState, rng: np.random.Generator, slot_s: npt.ArrayLike
) -> FloatArray:
    """Draw this slot's arrivals and add them to the buffers.

    Always consumes exactly ``rng.random(n)`` twice (arrival count, then size),
    whatever the state: see the module docstring for the arrival law.

    Args:
        state: Traffic state; ``buffer_bits`` is increased in place.
        rng: Random generator dedicated to traffic.
        slot_s: Slot duration, scalar or shape ``(n,)`` (per-UE numerology),
            float, s.

    Returns:
        Bits arriving this slot, shape ``(n,)``, float64, bits (0 for full buffer).

    """
    lam, p0, p_le1 = state._thresholds(slot_s)
    n = len(state)
    u_count = rng.random(n)
    bits = rng.random(n)  # the size uniform, turned into bits in place
    bits *= state._span_bytes
    np.floor(bits, out=bits)
    bits *= 8.0
    bits += state._min_bits
    bits *= u_count >= p0
    more = np.flatnonzero(u_count >= p_le1)
    if more.size:
        bits[more] *= _extra_arrivals(lam[more], u_count[more], p_le1[more])
    state.buffer_bits += bits
    return bits


def _extra_arrivals(lam: FloatArray, u: FloatArray, cdf: FloatArray) -> FloatArray:
    """Poisson inversion beyond ``N = 1`` for the few UEs with ``u >= P(N <= 1)``."""
    count = np.full(lam.shape, 2.0)
    term = np.exp(-lam) * lam  # P(N = 1)
    k = 1
    active = np.ones(lam.shape, dtype=bool)
    while k < _MAX_ARRIVALS_PER_SLOT:
        k += 1
        term = term * lam / k
        cdf = cdf + term
        active &= (u >= cdf) & (term > 0.0)
        if not active.any():
            break
        count += active
    return count


def take(state: TrafficState, bits_requested: npt.ArrayLike) -> FloatArray:
    """Remove up to ``bits_requested`` from each buffer.

    Args:
        state: Traffic state; ``buffer_bits`` is decreased in place (full-buffer
            UEs unaffected).
        bits_requested: Bits each UE's new transport block could carry, shape
            ``(n,)``, float, bits; negative values count as 0.

    Returns:
        Bits granted, ``min(requested, buffer)``, shape ``(n,)``, float64, bits.

    """
    granted = np.maximum(np.asarray(bits_requested, dtype=np.float64), 0.0)
    np.minimum(granted, state.buffer_bits, out=granted)
    np.subtract(state.buffer_bits, granted, out=state.buffer_bits, where=state._finite)
    return granted


def give_back(state: TrafficState, bits: npt.ArrayLike) -> None:
    """Return bits to the buffers (a TB that exhausted its HARQ transmissions).

    RLC retransmits the lost data, so it goes back to the head of the buffer.

    Args:
        state: Traffic state; ``buffer_bits`` is increased in place (full-buffer
            UEs unaffected).
        bits: Bits to return, shape ``(n,)``, float, bits; must be >= 0.

    """
    np.add(state.buffer_bits, bits, out=state.buffer_bits, where=state._finite)


def has_data(state: TrafficState) -> npt.NDArray[np.bool_]:
    """UEs with data waiting.

    Args:
        state: Traffic state.

    Returns:
        ``buffer_bits > 0``, shape ``(n,)``, bool (always True for full buffer).

    """
    return state.buffer_bits > 0.0
