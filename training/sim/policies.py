"""Link-adaptation policies the simulator can run: OLLA, ILLA, genie, fixed MCS, ONNX models.

Every policy maps the gNB's view of a slot (:class:`xapp.features.ReportBatch`)
to one MCS per UE. OLLA keeps per-UE state built only from what the reports
carry, so it behaves the same behind the E2 emulator as in-process. The genie is
the exception by design: it reads the true channel from the simulator and is the
upper bound the learned policies are measured against.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

import numpy as np
import numpy.typing as npt

from training.sim import bler
from training.sim.link import LinkSimulator
from xapp import nr_tables
from xapp.features import IntArray, ReportBatch, observe

if TYPE_CHECKING:
    import onnxruntime as ort

BLER_TARGET: Final = 0.1
OFFSET_LIMIT_DB: Final = 20.0  # OLLA offsets are clipped to +-20 dB (3gpp-tables.md)

# 10%-BLER SNR per (table, MCS) and per (table, CQI); CQI 0 is -inf ("out of range").
_MCS_SNR10: Final = [bler.mcs_snr10_db(t) for t in (nr_tables.QAM64, nr_tables.QAM256)]
_CQI_SNR10: Final = np.stack([bler.cqi_snr10_db(t) for t in (nr_tables.QAM64, nr_tables.QAM256)])


class Policy(Protocol):
    """Chooses an MCS per UE from the reports of one slot."""

    name: str

    def reset(self, n: int) -> None:
        """Forget all per-UE state; ``n`` UEs follow."""

    def act(self, reports: ReportBatch, sim: LinkSimulator) -> npt.NDArray[np.int64]:
        """Return ``(n,)`` MCS indices for the UEs of ``reports``."""


def _flat_thresholds() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], float]:
    """Both tables' 10%-BLER SNRs in one sorted array: table 2 shifted up by a large offset."""
    offset = 1000.0
    flat = np.concatenate([_MCS_SNR10[0], _MCS_SNR10[1] + offset])
    start = np.array([0, _MCS_SNR10[0].size])
    return flat, start, offset


_FLAT_SNR10, _TABLE_START, _TABLE_OFFSET = _flat_thresholds()


def threshold_mcs(sinr_db: npt.NDArray[np.float64], table: IntArray) -> npt.NDArray[np.int64]:
    """Highest MCS whose 10%-BLER SNR is at most ``sinr_db`` (MCS 0 if none), per UE."""
    row = table - 1
    key = np.clip(sinr_db, -100.0, 100.0) + _TABLE_OFFSET * row
    idx = np.searchsorted(_FLAT_SNR10, key, side="right") - 1 - _TABLE_START[row]
    return np.maximum(idx, 0)


def cqi_sinr_db(reports: ReportBatch) -> npt.NDArray[np.float64]:
    """SINR the gNB infers from a CQI: that CQI's 10%-BLER threshold (-inf for CQI 0)."""
    return np.asarray(_CQI_SNR10[reports.mcs_table - 1, reports.cqi])


class Illa:
    """Inner-loop link adaptation: the highest MCS whose 10%-BLER SNR fits the CQI's SINR."""

    name = "illa"

    def reset(self, n: int) -> None:
        """No state."""

    def act(self, reports: ReportBatch, sim: LinkSimulator) -> npt.NDArray[np.int64]:
        """Map each UE's CQI to an MCS."""
        return threshold_mcs(cqi_sinr_db(reports), reports.mcs_table)


class Olla:
    r"""Outer-loop link adaptation (the industry baseline).

    .. math::
        \text{offset} \mathrel{+}= \Delta_{up} \text{ on NACK}, \quad
        \text{offset} \mathrel{-}= \Delta_{down} \text{ on ACK}, \quad
        \Delta_{down} = \Delta_{up}\, T / (1 - T)

    applied to HARQ feedback of initial transmissions as it arrives (a report's
    newest entry with age 0); the MCS is the highest whose 10%-BLER SNR is at most
    the CQI's SINR minus the offset. In steady state the NACK rate of initial
    transmissions equals T whatever the channel, as long as the offset stays
    within its +-20 dB clip.
    """

    def __init__(self, d_up_db: float = 0.5, target: float = BLER_TARGET) -> None:
        if not (np.isfinite(d_up_db) and d_up_db > 0):
            raise ValueError(f"OLLA step d_up must be a positive number of dB, got {d_up_db}")
        if not 0 < target < 1:
            raise ValueError(f"BLER target must be in (0, 1), got {target}")
        self.d_up = float(d_up_db)
        self.d_down = self.d_up * target / (1.0 - target)
        self.target = target
        self.name = f"olla:{d_up_db:g}"
        self.offset_db = np.zeros(0)

    def reset(self, n: int) -> None:
        """Zero every UE's offset."""
        self.offset_db = np.zeros(n)

    def update(self, reports: ReportBatch) -> None:
        """Apply the HARQ feedback that arrived in this slot."""
        fresh = (reports.harq_mcs[:, 0] >= 0) & (reports.harq_age[:, 0] == 0) & (
            reports.harq_initial[:, 0] == 1)
        step = np.where(reports.harq_ack[:, 0] == 1, -self.d_down, self.d_up)
        self.offset_db = np.clip(self.offset_db + np.where(fresh, step, 0.0),
                                 -OFFSET_LIMIT_DB, OFFSET_LIMIT_DB)

    def act(self, reports: ReportBatch, sim: LinkSimulator) -> npt.NDArray[np.int64]:
        """Update the offsets with this slot's feedback, then choose MCS."""
        if self.offset_db.shape != (len(reports),):
            self.reset(len(reports))
        self.update(reports)
        return threshold_mcs(cqi_sinr_db(reports) - self.offset_db, reports.mcs_table)


class Genie:
    """Knows the true channel of the slot: picks the MCS with the largest expected goodput."""

    name = "genie"

    def reset(self, n: int) -> None:
        """No state."""

    def act(self, reports: ReportBatch, sim: LinkSimulator) -> npt.NDArray[np.int64]:
        """Argmax over MCS of bits delivered in expectation (lowest MCS on ties)."""
        return np.asarray(np.argmax(sim.expected_goodput(), axis=1), dtype=np.int64)


class Fixed:
    """The same MCS for every UE and slot (clipped to each UE's table)."""

    def __init__(self, mcs: int) -> None:
        if not 0 <= mcs < nr_tables.NUM_ACTIONS:
            raise ValueError(f"fixed MCS must be in 0..{nr_tables.NUM_ACTIONS - 1}, got {mcs}")
        self.mcs = mcs
        self.name = f"fixed:{mcs}"

    def reset(self, n: int) -> None:
        """No state."""

    def act(self, reports: ReportBatch, sim: LinkSimulator) -> npt.NDArray[np.int64]:
        """Return the fixed MCS, clipped to each UE's table."""
        return np.minimum(self.mcs, nr_tables.MAX_MCS[reports.mcs_table - 1])


def check_policy_model(data: bytes, path: str | Path) -> ort.InferenceSession:
    """Check that serialized ONNX ``data`` is a usable policy model; return its session.

    The checks the xApp runs before it admits a model (:mod:`xapp.model_check`),
    except the model card (the simulator also runs card-less models) and the latency
    budget: the signature (input ``observation`` float32 ``[batch, 43]``, output
    ``q_values`` float32 ``[batch, 29]``), an ONNX Runtime load, and probe batches of
    valid reports that must give finite scores of shape ``[n, 29]``. A model that
    fails here would otherwise fail mid-run, or run "fine" on NaN scores (MCS 0).

    Raises:
        ValueError: naming ``path`` and the first failed check.

    """
    import onnxruntime as ort

    # Imported here: the signature check and the probe reports are the service's own.
    from xapp import model_check
    from xapp.errors import ModelRejected
    from xapp.model_card import INPUT_NAME, OUTPUT_NAME, ModelCardError, load_model

    where = repr(str(path))
    try:
        model = load_model(data)
    except ModelCardError as exc:
        raise ValueError(f"{where}: {exc}") from None
    try:
        model_check.check_signature(model)
    except ModelRejected as exc:
        raise ValueError(f"{where} is not a linkadapt policy model: {exc}") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ValueError(f"{where} is not a loadable ONNX model: {_first_line(exc)}") from None
    try:
        model_check.check_probe(lambda obs: session.run([OUTPUT_NAME], {INPUT_NAME: obs})[0])
    except ModelRejected as exc:
        raise ValueError(f"{where}: {_first_line(exc)}") from None
    return session


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class OnnxPolicy:
    """A learned policy exported to ONNX (input ``observation``, output ``q_values``).

    Raises:
        ValueError: the file cannot be read or is not a usable policy model
            (:func:`check_policy_model`).

    """

    def __init__(self, path: str | Path) -> None:
        from xapp.model_card import INPUT_NAME, OUTPUT_NAME  # onnx: only for ONNX policies

        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot read ONNX model {str(path)!r}: {exc.strerror}") from None
        self._session = check_policy_model(data, path)
        self._input, self._output = INPUT_NAME, OUTPUT_NAME
        self.name = path.name

    def reset(self, n: int) -> None:
        """No state."""

    def act(self, reports: ReportBatch, sim: LinkSimulator) -> npt.NDArray[np.int64]:
        """Masked argmax of the model's scores over the MCS valid for each UE's table."""
        q = self._session.run([self._output], {self._input: observe(reports)})[0]
        q = np.where(nr_tables.valid_action_mask(reports.mcs_table), q, -np.inf)
        return np.asarray(np.argmax(q, axis=1), dtype=np.int64)


def parse_policy(spec: str) -> Policy:
    """Build a policy from ``olla[:D_UP_DB]``, ``illa``, ``genie``, ``fixed:K`` or ``PATH.onnx``."""
    name, _, arg = spec.partition(":")
    if spec.endswith(".onnx"):
        return OnnxPolicy(spec)
    if name == "olla":
        try:
            return Olla(float(arg)) if arg else Olla()
        except ValueError as exc:
            raise ValueError(f"bad policy {spec!r}: {exc}") from None
    if name == "illa" and not arg:
        return Illa()
    if name == "genie" and not arg:
        return Genie()
    if name == "fixed":
        if not arg.isdigit():
            raise ValueError(f"bad policy {spec!r}: fixed needs an MCS index, e.g. fixed:10")
        return Fixed(int(arg))
    raise ValueError(
        f"unknown policy {spec!r}; use olla[:D_UP_DB], illa, genie, fixed:K or a PATH.onnx")
