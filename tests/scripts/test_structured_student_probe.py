"""scripts/structured_student_probe.py: a structured 3x32 student trains and exports."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from synthetic import load_script, teacher_dataset

from training.distill.teachers import load_teacher
from training.export import read_card
from xapp.features import FEATURE_NAMES

ROOT = Path(__file__).parents[2]
probe = load_script("structured_student_probe")
TEACHER = ROOT / "training" / "models" / "teacher-labels-long.onnx"


def _dataset(tmp_path: Path, teacher_path: Path = TEACHER) -> Path:
    return teacher_dataset(tmp_path / "dataset", teacher_path, envs=64, slots=30, seed=7)


@pytest.mark.parametrize("share", [None, 0.25])
def test_the_structured_student_trains_and_exports_with_the_teachers_price(
        tmp_path: Path, capsys: pytest.CaptureFixture, share: float | None) -> None:
    out = tmp_path / "student.onnx"
    balancing = [] if share is None else ["--finite-buffer-share", str(share)]
    assert probe.main(["--dataset", str(_dataset(tmp_path)), "--epochs", "1",
                       "--out", str(out), *balancing]) == 0
    printed = capsys.readouterr().out
    assert "epoch 1: held-out agreement" in printed
    states, rows = re.search(r"(\d+) training states, (\d+) rows an epoch", printed).groups()
    assert (rows == states) == (share is None)  # balancing repeats one kind of state
    card = read_card(out)
    assert card["parameter_count"] == 5434  # 3x32 and two heads of 29
    assert card["training"]["probe"] == "scripts/structured_student_probe.py"
    assert card["training"]["finite_buffer_share"] == share
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    obs = np.zeros((2, len(FEATURE_NAMES)), dtype=np.float32)
    obs[:, FEATURE_NAMES.index("log_target_bler")] = np.log([0.01, 0.3])
    scores = session.run(None, {"observation": obs})[0]
    assert scores.shape == (2, 29)
    assert (scores[0] <= scores[1] + 1e-6).all() and (scores[0] < scores[1]).any()


@pytest.mark.parametrize("share", ["0", "1", "-0.2", "nan"])
def test_a_share_outside_zero_to_one_is_refused_by_name(
        tmp_path: Path, capsys: pytest.CaptureFixture, share: str) -> None:
    with pytest.raises(SystemExit) as refused:
        probe.main(["--dataset", str(tmp_path), "--finite-buffer-share", share,
                    "--out", str(tmp_path / "x.onnx")])
    assert refused.value.code == 2
    assert "--finite-buffer-share must be between 0 and 1" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()


def test_a_teacher_without_heads_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as refused:
        probe.main(["--teacher", str(ROOT / "xapp" / "models" / "default.onnx"),
                    "--dataset", str(tmp_path), "--out", str(tmp_path / "x.onnx")])
    assert refused.value.code == 2


def test_an_exact_teacher_makes_an_exact_student_that_can_calibrate_its_price(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from training.export import export_onnx
    from training.label_teacher.network import LabelNetwork

    torch.manual_seed(0)
    exact = LabelNetwork((16, 16), exact_bits=True)
    exact.set_prices((0.01, 0.1, 0.3), (1.0, 0.1, 0.02))
    exact.set_normalization(np.random.default_rng(0).normal(size=(64, len(FEATURE_NAMES)))
                            .astype(np.float32))
    teacher = export_onnx(exact.eval(), tmp_path / "exact.onnx",
                          {"model_id": "teacher-labels", "version": "exact", "kind": "teacher",
                           "target_bler_range": [0.01, 0.3]}, latency_budget_us=None)
    out = tmp_path / "student.onnx"
    assert probe.main(["--teacher", str(teacher), "--dataset", str(_dataset(tmp_path, teacher)),
                       "--epochs", "1", "--calibrate", "--calibration-ues", "30",
                       "--calibration-slots", "60", "--out", str(out)]) == 0
    assert "calibrated: prices" in capsys.readouterr().out
    card = read_card(out)
    assert card["parameter_count"] == 4477  # 3x32 and the error head alone
    assert card["training"]["exact_bits"] is True
    calibration = card["training"]["calibration"]
    student = load_teacher(out).net
    # the exported prices are the calibrated ones, not the teacher's copied
    assert student.prices(calibration["targets"]) == pytest.approx(calibration["prices"],
                                                                   rel=1e-3, abs=1e-5)
    assert student.prices(calibration["targets"]) != pytest.approx(
        exact.prices(calibration["targets"]), rel=1e-3)


def test_a_calibration_of_no_ues_is_refused(tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as refused:
        probe.main(["--dataset", str(tmp_path), "--calibrate", "--calibration-ues", "0",
                    "--out", str(tmp_path / "x.onnx")])
    assert refused.value.code == 2
    assert "--calibration-ues" in capsys.readouterr().err
