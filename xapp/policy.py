"""The learned policy (an ONNX Runtime session) and the conservative fallback rule.

A :class:`Policy` is immutable once built: hot-swap replaces the whole object, so
a request that picked up a policy finishes on it while the next one sees the new.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from xapp import nr_tables
from xapp.model_card import INPUT_NAME, OUTPUT_NAME, ModelCard

DEFAULT_BACKOFF: Final = 2
"""MCS steps the fallback rule backs off from the CQI's MCS."""

# valid_action_mask for table 1 and 2, as additive masks: 0 where valid, -inf where not.
_MASK_PENALTY: Final = np.where(
    nr_tables.valid_action_mask(np.array([nr_tables.QAM64, nr_tables.QAM256])), 0.0, -np.inf
).astype(np.float32)
_MASK_PENALTY.setflags(write=False)


def session_options() -> ort.SessionOptions:
    """ORT options for serving: one thread, sequential, no spinning.

    Spinning threads wreck the tail latency when client and server share two
    cores; one intra-op thread is the fastest for models this small.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 3
    return options


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

    @classmethod
    def load(cls, data: bytes, card: ModelCard, sha256: str, origin: str = "store") -> Policy:
        """Build the ORT session of serialized ONNX ``data`` (CPU, serving options)."""
        session = ort.InferenceSession(
            data, sess_options=session_options(), providers=["CPUExecutionProvider"]
        )
        return cls(session, card, sha256, len(data), origin)

    def q_values(self, observation: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Run the model on an ``(n, NUM_FEATURES)`` observation; ``(n, NUM_ACTIONS)``."""
        out = self.session.run((OUTPUT_NAME,), {INPUT_NAME: observation})[0]
        return np.asarray(out)

    def choose(
        self, observation: npt.NDArray[np.float32], mcs_table: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """Pick the MCS per row: argmax of the Q-values over the table's valid actions.

        Returns:
            ``(mcs, answered)``: int64 MCS per row, and False for rows whose
            Q-values are not all finite (the caller falls back for those).

        Raises:
            Exception: whatever ONNX Runtime raises; the caller falls back.

        """
        q = self.q_values(observation)
        if q.shape != (observation.shape[0], nr_tables.NUM_ACTIONS):
            raise ValueError(f"model returned shape {q.shape}")
        answered = np.asarray(np.isfinite(q).all(axis=1))
        mcs = masked_argmax(q, mcs_table)
        return mcs, answered


def masked_argmax(
    q: npt.NDArray[np.float32], mcs_table: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Argmax of ``q`` ``(n, NUM_ACTIONS)`` over the actions valid in each row's table."""
    return np.argmax(q + _MASK_PENALTY[mcs_table - 1], axis=1).astype(np.int64, copy=False)


def fallback_mcs(
    cqi: npt.NDArray[np.int64], mcs_table: npt.NDArray[np.int64], backoff: int = DEFAULT_BACKOFF
) -> npt.NDArray[np.int64]:
    """Apply the conservative rule: the CQI's MCS minus ``backoff`` steps, at least 0.

    The CQI -> MCS mapping is :func:`xapp.nr_tables.cqi_to_mcs` (TS 38.214 CQI
    tables 5.2.2.1-2/-3 at 10% BLER against MCS tables 5.1.3.1-1/-2); backing off
    trades throughput for a BLER well under the CQI's 10% target. CQI 0 ("out of
    range") maps to MCS 0.
    """
    mcs = nr_tables.cqi_to_mcs(cqi, mcs_table) - backoff
    return np.clip(mcs, 0, None).astype(np.int64, copy=False)
