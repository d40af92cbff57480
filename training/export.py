"""Export a Q-network to the served ONNX format, with its model card, atomically.

The format is the one :mod:`xapp.model_card` defines: input ``observation``
float32 ``(batch, 44)``, output ``q_values`` float32 ``(batch, 29)``, dynamic batch,
the card as JSON in ``metadata_props``. Everything is checked in memory before
the file is written: the ONNX checker, and the service's own admission checks
(:func:`xapp.model_check.check_model`: signature, card, ONNX Runtime load, probe
batch, latency). Only then is the file written to a temporary file in the target
directory and renamed over ``path``, so a failed export leaves nothing behind and
a reader never sees half a model.
"""

from __future__ import annotations

import copy
import os
import subprocess
import tempfile
import warnings
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import onnx
import torch

from training.networks import ExportableNetwork
from training.sim.config import TRAINED_TARGET_BLER
from xapp import features, nr_tables
from xapp.atomic import write_atomic
from xapp.errors import ModelRejected
from xapp.model_card import (
    ACTION_MAP,
    INPUT_NAME,
    OUTPUT_NAME,
    ModelCardError,
    read_model_card,
    write_model_card,
)
from xapp.model_check import DEFAULT_MAX_MODEL_BYTES, Limits, check_model

OPSET: Final = 17
BATCH_AXIS: Final = "batch"
EXPORT_LATENCY_BUDGET_US: Final = 10_000.0
"""Latency budget of the admission check at export time: generous on purpose, since
the exporting machine may be busy training; the service applies its own budget."""
_REPO_ROOT: Final = Path(__file__).resolve().parent.parent


class ExportError(RuntimeError):
    """The model could not be exported: bad card, refused by the service's checks, or I/O."""


def git_revision() -> str:
    """``git rev-parse HEAD`` of this checkout, or ``"unknown"`` (no git, no repository)."""
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=_REPO_ROOT, capture_output=True,
                              text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    revision = done.stdout.strip()
    return revision if done.returncode == 0 and revision else "unknown"


def build_card(net: ExportableNetwork, card: Mapping[str, Any],
               target_bler_range: tuple[float, float] = TRAINED_TARGET_BLER) -> dict[str, Any]:
    """Complete the caller's card with what the network and the xApp contract determine.

    The caller gives ``model_id``, ``version`` and ``kind`` (and optionally
    ``training``, ``evaluation`` or any extra key, passed through). Filled in here:
    ``parameter_count``, ``size_kbit`` (float32 weights), ``hidden_layers``,
    ``feature_schema_version``, ``num_features``, ``num_actions``, ``action_map``,
    ``target_bler_range`` (the BLER targets the network was trained for: the
    service refuses reports outside it), and, unless given, ``created`` (UTC,
    ISO 8601) and ``git_revision``.

    Raises:
        ExportError: when the caller gives a contract key with a different value.

    """
    derived: dict[str, Any] = {
        "parameter_count": net.parameter_count(),
        "feature_schema_version": features.FEATURE_SCHEMA_VERSION,
        "num_features": features.NUM_FEATURES,
        "num_actions": nr_tables.NUM_ACTIONS,
        "action_map": ACTION_MAP,
        "target_bler_range": [float(target_bler_range[0]), float(target_bler_range[1])],
    }
    for key, value in derived.items():
        if key in card and card[key] != value:
            raise ExportError(f"model card: {key} is {card[key]!r} but the network and "
                              f"the xApp contract give {value!r}")
    defaults: dict[str, Any] = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_revision": git_revision(),
        "size_kbit": net.size_kbit(),
        "hidden_layers": list(net.hidden),
    }
    return {**defaults, **card, **derived}


def to_onnx_model(net: ExportableNetwork) -> onnx.ModelProto:
    """Trace ``net`` (on a CPU copy, eval mode) into an ONNX graph, opset :data:`OPSET`."""
    model = copy.deepcopy(net).cpu().eval()
    example = torch.zeros(1, features.NUM_FEATURES, dtype=torch.float32)
    with tempfile.TemporaryDirectory(prefix="linkadapt-export-") as scratch, \
            warnings.catch_warnings():
        # The TorchScript exporter warns that it is legacy; the dynamo exporter
        # needs onnxscript, which the training image does not ship.
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = Path(scratch) / "model.onnx"
        torch.onnx.export(
            model, (example,), traced,
            input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: BATCH_AXIS}, OUTPUT_NAME: {0: BATCH_AXIS}},
            opset_version=OPSET, do_constant_folding=True, dynamo=False,
        )
        proto = onnx.load_model(str(traced))
    proto.doc_string = f"linkadapt Q-network, hidden layers {list(net.hidden)}"
    return proto


def export_onnx(net: ExportableNetwork, path: Path, card: Mapping[str, Any], *,
                latency_budget_us: float | None = EXPORT_LATENCY_BUDGET_US,
                target_bler_range: tuple[float, float] = TRAINED_TARGET_BLER) -> Path:
    """Export ``net`` with its model card to ``path``; return ``path``.

    Args:
        net: the Q-network (its normalization buffers are part of the graph).
        path: target ``.onnx`` file; parent directories are created, an existing
            file is replaced atomically.
        card: model card keys from the caller, at least ``model_id``, ``version``
            and ``kind`` (see :func:`build_card` for what is filled in).
        latency_budget_us: budget of the batch-1 latency check at export time;
            ``None`` skips it.
        target_bler_range: ``(low, high)``, the BLER targets the network was trained
            for; the card's ``target_bler_range``.

    Raises:
        ExportError: the card is invalid, the model fails the ONNX checker or the
            service's admission checks, or the file cannot be written. Nothing is
            left at ``path`` (an older file there is kept as it was).

    """
    path = Path(path)
    model = to_onnx_model(net)
    try:
        write_model_card(model, build_card(net, card, target_bler_range))
    except ModelCardError as exc:
        raise ExportError(str(exc)) from None
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ExportError(f"ONNX checker: {exc}") from None
    data = model.SerializeToString()
    limits = Limits(max_bytes=DEFAULT_MAX_MODEL_BYTES, latency_budget_us=latency_budget_us)
    try:
        check_model(data, limits, origin="export")
    except ModelRejected as exc:
        raise ExportError(f"the xApp would refuse this model: {exc}") from None
    write_file(path, data)
    return path


def write_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (:func:`xapp.atomic.write_atomic`), mode 0644.

    Models, cards and run records are meant to be shared, hence readable by all.
    Missing directories are made.

    Raises:
        ExportError: the file cannot be written, naming it.

    """
    try:
        os.makedirs(path.parent, exist_ok=True)
        write_atomic(path, data, mode=0o644)
    except OSError as exc:
        raise ExportError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None


def read_card(path: Path) -> dict[str, Any]:
    """Return the checked model card of the ONNX file at ``path`` as a dict."""
    return read_model_card(Path(path).read_bytes()).to_dict()


def parity(net: ExportableNetwork, onnx_path: Path,
           observations: npt.NDArray[np.float32]) -> float:
    """Max absolute difference of torch and ONNX Runtime Q-values over ``observations``.

    Args:
        net: the network that was exported.
        onnx_path: the exported file.
        observations: ``(n, 44)`` raw feature vectors.

    Returns:
        ``max |q_torch - q_onnx|`` over all ``n x 29`` values.

    """
    from xapp.sessions import open_session

    obs = np.ascontiguousarray(observations, dtype=np.float32)
    model = copy.deepcopy(net).cpu().eval()
    with torch.no_grad():
        expected = model(torch.from_numpy(obs)).numpy()
    session = open_session(Path(onnx_path))
    got = session.run([OUTPUT_NAME], {INPUT_NAME: obs})[0]
    return float(np.max(np.abs(expected - got))) if obs.size else 0.0
