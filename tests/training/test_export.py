"""ONNX export: torch/ORT parity, the model card, the xApp's admission checks, atomic writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
import pytest
import torch

from training import export
from training.export import ExportError, export_onnx, parity
from training.networks import QNetwork, student_network, teacher_network
from training.sim import config
from training.sim.link import LinkSimulator
from training.sim.policies import Illa
from xapp import features, nr_tables
from xapp.model_card import INPUT_NAME, OUTPUT_NAME, read_model_card
from xapp.model_check import Limits, check_model

CARD = {"model_id": "student-3x32", "version": "1.0.0", "kind": "student",
        "training": {"teacher": "none", "steps": 0}}


def _observations(n: int) -> npt.NDArray[np.float32]:
    """``n`` observations of a closed ILLA loop on the mimo scenario (64 UEs per slot)."""
    sim = LinkSimulator(config.scenario("mimo").config(64), 0)
    policy = Illa()
    rows = []
    while sum(len(r) for r in rows) < n:
        rows.append(features.observe(sim.reports))
        sim.step(policy.act(sim.reports, sim))
    return np.concatenate(rows)[:n]


@pytest.fixture(scope="module")
def observations() -> npt.NDArray[np.float32]:
    return _observations(1000)


def _network(kind: str, observations: npt.NDArray[np.float32]) -> QNetwork:
    torch.manual_seed(7)
    net = teacher_network() if kind == "teacher" else student_network("3x32")
    net.set_normalization(observations[:64])
    return net


@pytest.mark.parametrize("kind", ["teacher", "student"])
def test_export_matches_torch_and_passes_the_service_checks(
        kind: str, tmp_path: Path, observations: npt.NDArray[np.float32]) -> None:
    net = _network(kind, observations)
    path = export_onnx(net, tmp_path / f"{kind}.onnx", {**CARD, "kind": kind})

    assert parity(net, path, observations) < 1e-4
    assert parity(net, path, observations[:1]) < 1e-4

    data = path.read_bytes()
    model = onnx.load_model_from_string(data)
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == [INPUT_NAME]
    assert [o.name for o in model.graph.output] == [OUTPUT_NAME]

    card = read_model_card(data)
    assert card.parameter_count == net.parameter_count()
    assert card.kind == kind and card.model_id == "student-3x32" and card.version == "1.0.0"
    assert card.num_features == features.NUM_FEATURES
    assert card.num_actions == nr_tables.NUM_ACTIONS
    assert card.training == {"teacher": "none", "steps": 0}
    assert card.git_revision
    assert card.created.endswith("+00:00")
    assert card.extra["size_kbit"] == pytest.approx(net.parameter_count() * 32 / 1000)
    assert card.target_bler_range == config.TRAINED_TARGET_BLER == (0.01, 0.3)

    policy = check_model(data, Limits(latency_budget_us=10_000.0))
    assert policy.card.key == "student-3x32@1.0.0"


def test_exported_batch_dimension_is_dynamic(
        tmp_path: Path, observations: npt.NDArray[np.float32]) -> None:
    import onnxruntime as ort

    net = _network("student", observations)
    path = export_onnx(net, tmp_path / "s.onnx", CARD)
    session = ort.InferenceSession(path.read_bytes(), providers=["CPUExecutionProvider"])
    for n in (1, 7, 1000):
        q = session.run([OUTPUT_NAME], {INPUT_NAME: observations[:n]})[0]
        assert q.shape == (n, nr_tables.NUM_ACTIONS) and q.dtype == np.float32


def test_export_leaves_the_network_as_it_was(observations: npt.NDArray[np.float32],
                                            tmp_path: Path) -> None:
    net = _network("student", observations)
    net.train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    export_onnx(net, tmp_path / "s.onnx", CARD)
    assert net.training
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_unwritable_directory_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the directory should be")
    with pytest.raises(ExportError, match="cannot write"):
        export_onnx(student_network("3x32"), blocker / "model.onnx", CARD)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-directory"]


def test_failed_rename_leaves_no_partial_file_and_keeps_the_old_model(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "model.onnx"
    export_onnx(student_network("3x32"), target, CARD)
    old = target.read_bytes()

    def fail(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export.os, "replace", fail)
    with pytest.raises(ExportError, match="No space left on device"):
        export_onnx(student_network("4x64"), target, {**CARD, "version": "2"})
    assert target.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


@pytest.mark.parametrize(
    ("card", "message"),
    [
        ({"version": "1", "kind": "student"}, "missing required key 'model_id'"),
        ({**CARD, "model_id": "bad name!"}, "model_id"),
        ({**CARD, "parameter_count": 12}, "parameter_count is 12"),
        ({**CARD, "num_actions": 28}, "num_actions is 28"),
    ],
)
def test_bad_card_is_refused_before_anything_is_written(
        card: dict[str, object], message: str, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=message):
        export_onnx(student_network("3x32"), tmp_path / "m.onnx", card)
    assert list(tmp_path.iterdir()) == []


def test_model_the_service_would_refuse_is_not_written(
        tmp_path: Path, observations: npt.NDArray[np.float32]) -> None:
    net = _network("student", observations)
    with torch.no_grad():
        net.mlp[-1].bias.fill_(float("nan"))
    with pytest.raises(ExportError, match=r"xApp would refuse.*non-finite"):
        export_onnx(net, tmp_path / "m.onnx", CARD)
    assert list(tmp_path.iterdir()) == []


def test_the_trained_target_range_is_an_export_parameter(tmp_path: Path) -> None:
    path = export_onnx(student_network("3x32"), tmp_path / "m.onnx", CARD,
                       target_bler_range=(0.005, 0.12))
    assert read_model_card(path.read_bytes()).target_bler_range == (0.005, 0.12)
    with pytest.raises(ExportError, match="target_bler_range must be"):
        export_onnx(student_network("3x32"), tmp_path / "bad.onnx", CARD,
                    target_bler_range=(0.2, 0.1))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_git_revision_without_git(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_git(*args: object, **kwargs: object) -> None:
        raise FileNotFoundError(2, "No such file or directory", "git")

    monkeypatch.setattr(export.subprocess, "run", no_git)
    assert export.git_revision() == "unknown"
    card = export.build_card(student_network("3x32"), CARD)
    assert card["git_revision"] == "unknown"
