"""Learned policies exported to ONNX, and the checks a model passes before it runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from training.sim.link import LinkSimulator
from xapp import nr_tables
from xapp.features import ReportBatch, observe

if TYPE_CHECKING:
    import onnxruntime as ort


def check_policy_model(data: bytes, path: str | Path) -> ort.InferenceSession:
    """Check that serialized ONNX ``data`` is a usable policy model; return its session.

    The checks the xApp runs before it admits a model (:mod:`xapp.model_check`),
    except the model card (the simulator also runs card-less models) and the latency
    budget: the signature (input ``observation`` float32 ``[batch, 44]``, output
    ``q_values`` float32 ``[batch, 29]``), an ONNX Runtime load, and probe batches of
    valid reports that must give finite scores of shape ``[n, 29]``. A model that
    fails here would otherwise fail mid-run, or run "fine" on NaN scores (MCS 0).

    Raises:
        ValueError: naming ``path`` and the first failed check.

    """
    # Imported here: the signature check and the probe reports are the service's own.
    from xapp import model_check
    from xapp.errors import ModelRejected
    from xapp.model_card import INPUT_NAME, OUTPUT_NAME, ModelCardError, load_model
    from xapp.sessions import open_session

    where = repr(str(path))
    try:
        model = load_model(data)
    except ModelCardError as exc:
        raise ValueError(f"{where}: {exc}") from None
    try:
        model_check.check_signature(model)
    except ModelRejected as exc:
        raise ValueError(f"{where} is not a linkadapt policy model: {exc}") from None
    try:
        session = open_session(data)
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
