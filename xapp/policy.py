"""The learned policy (an ONNX Runtime session) and the conservative fallback rule.

A :class:`Policy` is immutable once built: hot-swap replaces the whole object, so
a request that picked up a policy finishes on it while the next one sees the new.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, cast

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from xapp import nr_tables
from xapp.defaults import DEFAULT_BACKOFF
from xapp.features import NUM_FEATURES
from xapp.model_card import INPUT_NAME, OUTPUT_NAME, ModelCard
from xapp.report_batch import IntArray
from xapp.sessions import open_session

_OUTPUTS: Final = [OUTPUT_NAME]
OBSERVATION_ROW: Final = struct.Struct(f"{NUM_FEATURES}f")
"""One observation row as float32 bytes: ``pack`` rounds each number like numpy's cast."""

class _SingleRowRunner:
    """Batch-1 inference through an ORT I/O binding bound once to fixed buffers.

    ``session.run`` re-checks its arguments and allocates the output on every
    call; a run over a binding whose input and output buffers never move skips
    both and is faster (docs/benchmarks.md). :meth:`Policy.q_row` goes
    further for the one-UE path: the row is packed into :attr:`input_bytes` and the
    output read back from :attr:`output_values` as Python floats, with no numpy
    call at all (each is dearer still when the CPU idled since the last
    request). The buffers are shared, so one caller at a time (:attr:`lock`):
    another caller (a probe in a worker thread while the event loop decides) finds
    it taken and takes the plain path.
    """

    __slots__ = ("binding", "input", "input_bytes", "lock", "output", "output_values", "run")

    def __init__(self, session: ort.InferenceSession) -> None:
        self.input = np.zeros((1, NUM_FEATURES), dtype=np.float32)
        self.output = np.zeros((1, nr_tables.NUM_ACTIONS), dtype=np.float32)
        self.binding = session.io_binding()
        self.binding.bind_cpu_input(INPUT_NAME, self.input)
        self.binding.bind_output(OUTPUT_NAME, "cpu", 0, np.float32, list(self.output.shape),
                                 self.output.ctypes.data)
        self.input_bytes = self.input.data.cast("B")
        self.output_values = self.output.data.cast("B").cast("f")
        self.run = session.run_with_iobinding
        self.lock = threading.Lock()

    def __call__(self, observation: npt.NDArray[np.float32]) -> npt.NDArray[np.float32] | None:
        if not self.lock.acquire(blocking=False):
            return None
        try:
            self.input[...] = observation
            self.run(self.binding)
            return self.output.copy()
        finally:
            self.lock.release()


@dataclass(frozen=True, slots=True)
class Policy:
    """A loaded model: ORT session plus identity.

    Attributes:
        session: the ONNX Runtime inference session.
        card: the model card.
        sha256: hex digest of the ONNX bytes.
        size_bytes: size of the ONNX bytes.
        origin: ``"store"`` or ``"embedded"``.

    """

    session: ort.InferenceSession
    card: ModelCard
    sha256: str
    size_bytes: int
    origin: str = "store"
    _single_row: Any = field(default=None, repr=False, compare=False)

    @classmethod
    def load(cls, data: bytes, card: ModelCard, sha256: str, origin: str = "store") -> Policy:
        """Build the ORT session of serialized ONNX ``data`` (CPU, serving options)."""
        session = open_session(data)
        try:
            single_row: _SingleRowRunner | None = _SingleRowRunner(session)
        except Exception:  # a model whose binding ORT refuses still serves via run()
            single_row = None
        return cls(session, card, sha256, len(data), origin, single_row)

    def q_values(self, observation: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Run the model on an ``(n, NUM_FEATURES)`` observation; ``(n, NUM_ACTIONS)``."""
        if observation.shape[0] == 1 and self._single_row is not None:
            q = self._single_row(observation)
            if q is not None:
                return q
        out = self.session.run(_OUTPUTS, {INPUT_NAME: observation})[0]
        return np.asarray(out)

    def q_row(self, row: Sequence[float]) -> list[float]:
        """Run the model on one observation row given as Python numbers.

        The row is rounded to float32 as numpy would (:data:`OBSERVATION_ROW`).
        This is the one-UE path's call: the bound buffers are used right here,
        without a further call (on a CPU that idled since the last request each
        Python call level costs microseconds).

        Raises:
            Exception: whatever ONNX Runtime raises.

        """
        runner = self._single_row
        if runner is not None and runner.lock.acquire(False):
            try:
                OBSERVATION_ROW.pack_into(runner.input_bytes, 0, *row)
                runner.run(runner.binding)
                return cast(list[float], runner.output_values.tolist())  # "f": floats
            finally:
                runner.lock.release()
        observation = np.frombuffer(OBSERVATION_ROW.pack(*row), np.float32).reshape(1, -1)
        return list(self.q_values(observation)[0].tolist())

    def choose(
        self, observation: npt.NDArray[np.float32], mcs_table: IntArray
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """Pick the MCS per row: argmax of the Q-values over the table's valid actions.

        Returns:
            ``(mcs, answered)``: int64 MCS per row, and False for rows whose
            Q-values are not all finite (the caller falls back for those).

        Raises:
            Exception: whatever ONNX Runtime raises; the caller falls back.

        """
        q = self.q_values(observation)
        n = observation.shape[0]
        if q.shape != (n, nr_tables.NUM_ACTIONS):
            raise ValueError(f"model returned shape {q.shape}")
        answered: npt.NDArray[np.bool_]
        if np.isfinite(q).all():  # one reduction over the whole batch, the usual case
            answered = np.ones(n, dtype=bool)
        else:
            answered = np.asarray(np.isfinite(q).all(axis=1))
        return masked_argmax(q, mcs_table), answered


# Actions above the table's top MCS, per table that has any: (table, first invalid action).
_INVALID_FROM: Final = tuple(
    (table, nr_tables.max_mcs(table) + 1) for table in (nr_tables.QAM64, nr_tables.QAM256)
    if nr_tables.max_mcs(table) + 1 < nr_tables.NUM_ACTIONS
)
_TRANSPOSED_ARGMAX_FROM: Final = 320
"""Rows from which :func:`masked_argmax` takes the transposed route (measured crossover)."""
# Action a weighs NUM_ACTIONS - a: among a row's maxima, the first weighs most.
_FIRST_WEIGHTS: Final = np.arange(nr_tables.NUM_ACTIONS, 0, -1, dtype=np.uint8)[:, None]
# ... and the heaviest weight gives the action back; weight 0 (a row of NaN) gives 0.
_ACTION_OF_WEIGHT: Final = np.array([0, *range(nr_tables.NUM_ACTIONS - 1, -1, -1)],
                                    dtype=np.int64)
for _table in (_FIRST_WEIGHTS, _ACTION_OF_WEIGHT):
    _table.setflags(write=False)


def masked_argmax(q: npt.NDArray[np.float32], mcs_table: IntArray) -> npt.NDArray[np.int64]:
    """Argmax of ``q`` ``(n, NUM_ACTIONS)`` over the actions valid in each row's table.

    ``mcs_table`` must hold 1 or 2 (a validated batch). Only the 256QAM table has
    invalid actions (MCS 28). The first maximum wins, as with ``np.argmax``; a row
    holding NaN gets an unspecified valid index (the caller falls back for it).
    ``np.argmax(axis=1)`` costs a call per row (docs/benchmarks.md), so
    from :data:`_TRANSPOSED_ARGMAX_FROM` rows on this works on a transposed copy,
    where each step is one pass over contiguous memory: blank the invalid actions,
    take each UE's maximum, then the first action that attains it.
    """
    if len(q) < _TRANSPOSED_ARGMAX_FROM:
        masked = q.copy()
        for table, first_invalid in _INVALID_FROM:
            masked[mcs_table == table, first_invalid:] = -np.inf
        return np.argmax(masked, axis=1).astype(np.int64, copy=False)
    q_t = q.T.copy()
    for table, first_invalid in _INVALID_FROM:  # where= writes rows in place, no gather
        np.copyto(q_t[first_invalid:], -np.inf, where=mcs_table == table)
    is_best = (q_t == q_t.max(axis=0)).view(np.uint8)
    return _ACTION_OF_WEIGHT.take((is_best * _FIRST_WEIGHTS).max(axis=0))


def fallback_mcs(
    cqi: IntArray, mcs_table: IntArray, backoff: int = DEFAULT_BACKOFF
) -> npt.NDArray[np.int64]:
    """Apply the conservative rule: the CQI's MCS minus ``backoff`` steps, at least 0.

    The CQI -> MCS mapping is :func:`xapp.nr_tables.cqi_to_mcs` (TS 38.214 CQI
    tables 5.2.2.1-2/-3 at 10% BLER against MCS tables 5.1.3.1-1/-2); backing off
    trades throughput for a BLER well under the CQI's 10% target. CQI 0 ("out of
    range") maps to MCS 0.
    """
    mcs = nr_tables.cqi_to_mcs(cqi, mcs_table) - backoff
    return np.clip(mcs, 0, None).astype(np.int64, copy=False)
