"""scripts/structured_student_probe.py: a structured 3x32 student trains and exports."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from training.distill import dataset as ds
from training.distill.teachers import load_teacher
from training.export import read_card
from training.sim.env import LinkAdaptationVectorEnv
from xapp.features import FEATURE_NAMES

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "scripts" / "structured_student_probe.py"
_spec = importlib.util.spec_from_file_location("structured_student_probe", SCRIPT)
assert _spec is not None and _spec.loader is not None
probe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(probe)
TEACHER = ROOT / "training" / "models" / "teacher-labels-quick.onnx"


def _dataset(tmp_path: Path) -> Path:
    teacher = load_teacher(TEACHER)
    env = LinkAdaptationVectorEnv(num_envs=64, scenario="random")
    obs, _ = env.reset(seed=7)
    states = []
    for _ in range(30):
        states.append(obs)
        obs, *_ = env.step(np.full(64, 9))
    all_obs = np.concatenate(states).astype(np.float32)
    with torch.no_grad():
        q = teacher.net(torch.from_numpy(all_obs)).numpy()
    out = tmp_path / "dataset"
    ds.write_dataset(out, ds.TeacherSamples(all_obs, q), teacher_id=teacher.teacher_id,
                     teacher_sha256=teacher.sha256)
    return out


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
