"""Teachers as distillation sources: an exported ONNX teacher rebuilt as a Q-network.

The exporter keeps the PyTorch parameter names (``obs_mean``, ``obs_std``,
``mlp.<i>.weight``, ``mlp.<i>.bias``) as ONNX initializers, so the network -
normalization included - is rebuilt exactly and the Ray actors run it with
torch, as they do during teacher training. The rebuilt network is checked
against ONNX Runtime on a probe batch before anyone learns from it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from training.networks import QNetwork, network_from_state
from training.teacher_config import DQN_TARGET_BLER
from xapp import features
from xapp.errors import ModelRejected
from xapp.model_card import (
    INPUT_NAME,
    OUTPUT_NAME,
    ModelCardError,
    load_model,
    read_model_card,
)
from xapp.model_check import check_signature

_PARITY_TOLERANCE = 1e-3


class TeacherError(ValueError):
    """The file is not a usable teacher; the message says why."""


@dataclass(frozen=True)
class Teacher:
    """A loaded teacher."""

    net: QNetwork
    """The teacher's Q-network (eval mode, no gradients)."""
    teacher_id: str
    """``model_id:version`` from its card (the file stem without a card)."""
    sha256: str
    """SHA-256 of the ONNX file."""
    scenario: str
    """Scenario it was trained on (``random``: domain randomization)."""
    path: str
    """Where it was read from."""
    card: dict[str, Any]
    """Its model card (empty without one)."""


def trained_range(teacher: Teacher) -> tuple[float, float]:
    """The BLER targets ``teacher`` was trained for (its card's ``target_bler_range``).

    A teacher without one in its card (feature schema 1 had none) is taken at 10%.
    """
    lo, hi = teacher.card.get("target_bler_range") or DQN_TARGET_BLER
    return float(lo), float(hi)


def load_teacher(path: str | Path) -> Teacher:
    """Read, check and rebuild the teacher ONNX at ``path``.

    Raises:
        TeacherError: unreadable file, not ONNX, wrong input/output size, a graph that
            is not a linkadapt Q-network, or a rebuilt network that disagrees with ORT.

    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TeacherError(f"cannot read teacher {str(path)!r}: {exc.strerror}") from None
    try:
        proto = load_model(data)
    except ModelCardError as exc:
        raise TeacherError(f"teacher {str(path)!r}: {exc}") from None
    _check_signature(proto, path)
    net = _rebuild(proto, path)
    try:
        card = read_model_card(proto).to_dict()
    except ModelCardError:
        card = {}
    _check_parity(net, data, path)
    training = card.get("training", {})
    scenario = training.get("scenario") or (training.get("config", {}).get("rollout", {})
                                            .get("scenario", "random"))
    teacher_id = f"{card['model_id']}:{card['version']}" if card else path.stem
    return Teacher(net=net, teacher_id=teacher_id, sha256=hashlib.sha256(data).hexdigest(),
                   scenario=str(scenario), path=str(path), card=card)


def _check_signature(proto: onnx.ModelProto, path: Path) -> None:
    try:
        check_signature(proto)
    except ModelRejected as exc:
        raise TeacherError(f"teacher {str(path)!r}: {exc}") from None


def _rebuild(proto: onnx.ModelProto, path: Path) -> QNetwork:
    state = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy())
             for i in proto.graph.initializer}
    needed = {"obs_mean", "obs_std"}
    layers = any(k.startswith(("mlp.", "body.")) for k in state)
    if not needed <= state.keys() or not layers:
        raise TeacherError(f"teacher {str(path)!r} is not a linkadapt Q-network export "
                           "(no obs_mean/obs_std/mlp.* initializers)")
    try:
        net = network_from_state(state)
    except (RuntimeError, ValueError, IndexError) as exc:
        raise TeacherError(f"teacher {str(path)!r}: cannot rebuild its network: {exc}") from None
    net.eval().requires_grad_(False)
    return net


def _check_parity(net: QNetwork, data: bytes, path: Path) -> None:
    from xapp.sessions import open_session

    obs = np.random.default_rng(0).normal(size=(64, features.NUM_FEATURES)).astype(np.float32)
    if net.obs_mean.numel() == features.NUM_FEATURES:
        obs = obs * net.obs_std.numpy() + net.obs_mean.numpy()
    session = open_session(data)
    expected = session.run([OUTPUT_NAME], {INPUT_NAME: obs})[0]
    with torch.no_grad():
        got = net(torch.from_numpy(obs)).numpy()
    if got.shape != expected.shape or np.max(np.abs(got - expected)) > _PARITY_TOLERANCE:
        raise TeacherError(f"teacher {str(path)!r}: the rebuilt network does not reproduce "
                           "the ONNX graph's Q-values")
