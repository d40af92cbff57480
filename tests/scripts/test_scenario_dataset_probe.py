"""scripts/scenario_dataset_probe.py: a student of the dataset plus one scenario's own states."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from synthetic import load_script, teacher_dataset

from training.distill import dataset as ds
from training.export import read_card

ROOT = Path(__file__).parents[2]
probe = load_script("scenario_dataset_probe")
TEACHER = ROOT / "training" / "models" / "teacher-labels-quick.onnx"


def _random_dataset(tmp_path: Path) -> Path:
    return teacher_dataset(tmp_path / "dataset", TEACHER, envs=32, slots=20, seed=3)


@pytest.mark.slow  # Ray start and a small collection: about 20 s
def test_the_scenarios_states_are_collected_once_and_trained_on_with_the_rest(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    scenario = tmp_path / "bursty"
    args = ["--dataset", str(_random_dataset(tmp_path)), "--scenario", "bursty",
            "--samples", "500", "--scenario-dataset", str(scenario), "--epochs", "1"]
    assert probe.main([*args, "--out", str(tmp_path / "a.onnx")]) == 0
    manifest = ds.read_manifest(scenario)
    assert manifest["scenario"] == "bursty" and manifest["samples"] == 500
    assert "1140 states (500 of bursty)" in capsys.readouterr().out  # 32 x 20 + 500
    card = read_card(tmp_path / "a.onnx")
    assert card["parameter_count"] == 4509
    assert card["training"]["datasets"][1] == str(scenario)
    # a second student reuses the collected states instead of collecting again
    shards = sorted(p.stat().st_mtime_ns for p in scenario.iterdir())
    assert probe.main([*args, "--seed", "1", "--out", str(tmp_path / "b.onnx")]) == 0
    assert sorted(p.stat().st_mtime_ns for p in scenario.iterdir()) == shards


@pytest.mark.parametrize(("flag", "value", "named"), [("--scenario", "moon", "--scenario"),
                                                      ("--samples", "0", "--samples"),
                                                      ("--epochs", "0", "epochs")])
def test_bad_options_are_refused_by_name_before_anything_runs(
        tmp_path: Path, capsys: pytest.CaptureFixture, flag: str, value: str,
        named: str) -> None:
    with pytest.raises(SystemExit) as refused:
        probe.main(["--dataset", str(tmp_path), "--scenario-dataset", str(tmp_path / "s"),
                    flag, value, "--out", str(tmp_path / "x.onnx")])
    assert refused.value.code == 2
    assert named in capsys.readouterr().err
    assert not (tmp_path / "s").exists() and not (tmp_path / "x.onnx").exists()


@pytest.mark.parametrize("which", ["--dataset", "--scenario-dataset"])
def test_states_of_another_teacher_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture,
                                               which: str) -> None:
    other = tmp_path / "other"
    ds.write_dataset(other, ds.TeacherSamples(np.zeros((4, 44), np.float32),
                                              np.zeros((4, 29), np.float32)),
                     teacher_id="someone-else", teacher_sha256="0" * 64)
    ours = _random_dataset(tmp_path)
    datasets = {"--dataset": ours, "--scenario-dataset": ours, which: other}
    with pytest.raises(SystemExit) as refused:
        probe.main(["--dataset", str(datasets["--dataset"]), "--scenario-dataset",
                    str(datasets["--scenario-dataset"]), "--out", str(tmp_path / "x.onnx")])
    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert f"{which} {str(other)!r} was labelled by another teacher" in err
    assert not (tmp_path / "x.onnx").exists()


def test_a_directory_that_is_no_dataset_is_refused_by_name(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as refused:
        probe.main(["--dataset", str(tmp_path / "nothing"), "--scenario-dataset",
                    str(_random_dataset(tmp_path)), "--out", str(tmp_path / "x.onnx")])
    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert "is not a distillation dataset" in err and "Traceback" not in err
    assert not (tmp_path / "x.onnx").exists()
