"""INT8 students: ONNX Runtime's dynamic quantization, and how faithful the result is.

:func:`onnxruntime.quantization.quantize_dynamic` stores the Gemm/MatMul weights
as int8 (one scale per output channel: per tensor loses about twice as many MCS
decisions of a 3x32 student) and quantizes activations on the fly, so no
calibration data is needed and the weights take a quarter of the float32 size.
The input normalization stays in float. The card is carried over with
``quantization`` and an int8 ``size_kbit``; the file passes the same admission
checks as any exported model before it is written.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx

from training.export import ExportError, write_atomically
from xapp.errors import ModelRejected
from xapp.model_card import INPUT_NAME, OUTPUT_NAME, read_model_card, write_model_card
from xapp.model_check import DEFAULT_MAX_MODEL_BYTES, Limits, check_model
from xapp.nr_tables import NUM_ACTIONS


def quantize_int8(float_path: Path, out_path: Path) -> Path:
    """Write the INT8 variant of the float model at ``float_path`` to ``out_path``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    card = read_model_card(Path(float_path).read_bytes()).to_dict()
    with tempfile.TemporaryDirectory(prefix="linkadapt-int8-") as scratch:
        tmp = Path(scratch) / "int8.onnx"
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # its advice to pre-process does not apply to an MLP
        try:
            quantize_dynamic(str(float_path), str(tmp), weight_type=QuantType.QInt8,
                             per_channel=True, op_types_to_quantize=["Gemm", "MatMul"])
        finally:
            root.setLevel(level)
        model = onnx.load_model(str(tmp))
    card["version"] = f"{card['version']}-int8"[:64]
    card["quantization"] = {"method": "onnxruntime.quantization.quantize_dynamic",
                            "weights": "int8, per output channel", "activations": "dynamic uint8",
                            "float_model": card.get("model_id", "") + ":" +
                            str(card.get("version", ""))}
    card["size_kbit"] = card["parameter_count"] * 8 / 1000.0
    write_model_card(model, card)
    data = model.SerializeToString()
    try:
        check_model(data, Limits(max_bytes=DEFAULT_MAX_MODEL_BYTES, latency_budget_us=None),
                    origin="export")
    except ModelRejected as exc:
        raise ExportError(f"the xApp would refuse the INT8 model: {exc}") from None
    write_atomically(Path(out_path), data)
    return Path(out_path)


def _greedy(path: Path, obs: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
    import onnxruntime as ort

    from training.dqn import valid_actions

    session = ort.InferenceSession(Path(path).read_bytes(), providers=["CPUExecutionProvider"])
    q = session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(obs, np.float32)})[0]
    import torch

    mask = valid_actions(torch.from_numpy(obs)).numpy()
    return np.asarray(np.argmax(np.where(mask, q, -np.inf), axis=1), dtype=np.int64)


def fidelity(float_path: Path, int8_path: Path, obs: npt.NDArray[np.float32],
             teacher_q: npt.NDArray[np.float32] | None = None) -> dict[str, Any]:
    """Agreement of the INT8 model's MCS with the float model's (and the teacher's) on ``obs``."""
    a_float, a_int8 = _greedy(float_path, obs), _greedy(int8_path, obs)
    out: dict[str, Any] = {"samples": len(obs),
                           "agreement_with_float": float(np.mean(a_float == a_int8)),
                           "mean_abs_mcs_difference": float(np.mean(np.abs(a_float - a_int8))),
                           "float_bytes": Path(float_path).stat().st_size,
                           "int8_bytes": Path(int8_path).stat().st_size}
    if teacher_q is not None and teacher_q.shape[1] == NUM_ACTIONS:
        import torch

        from training.dqn import valid_actions

        mask = valid_actions(torch.from_numpy(obs)).numpy()
        a_t = np.argmax(np.where(mask, teacher_q, -np.inf), axis=1)
        out["float_agreement_with_teacher"] = float(np.mean(a_float == a_t))
        out["int8_agreement_with_teacher"] = float(np.mean(a_int8 == a_t))
    return out
