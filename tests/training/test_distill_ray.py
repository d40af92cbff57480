"""Distillation on real (local) Ray with smoke teachers: collection, multi-policy,
real-time and from-scratch modes. Slow: CI runs them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from linkadapt.cli import main
from training import teacher
from training.cards import teacher_card
from training.distill import dataset as ds
from training.distill.student import finite_buffer_rows
from training.distill.teachers import load_teacher
from training.export import export_onnx, read_card

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke_teachers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Smoke teachers for domain randomization and two scenarios (one Ray instance)."""
    root = tmp_path_factory.mktemp("teachers")
    out = {}
    for scenario in ("random", "mimo", "cell-edge"):
        result = teacher.train(teacher.profile("smoke", scenario=scenario), root / scenario)
        out[scenario] = export_onnx(result.net, root / scenario / "teacher.onnx",
                                    teacher_card(result), latency_budget_us=None)
    return out


def _summary(capsys: pytest.CaptureFixture) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_single_policy_collects_on_ray_and_distills(smoke_teachers: dict[str, Path],
                                                    tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "single"
    assert main(["distill", "--teacher", str(smoke_teachers["random"]), "--profile", "smoke",
                 "--student", "3x32", "--out", str(out), "--no-progress", "--no-int8"]) == 0
    summary = _summary(capsys)
    manifest = ds.read_manifest(out / "dataset")
    assert manifest["samples"] == summary["samples"] == 6000
    assert manifest["teacher_sha256"] == load_teacher(smoke_teachers["random"]).sha256
    assert len(manifest["shards"]) == 2
    assert read_card(out / "student-3x32.onnx")["training"]["dataset_samples"] == 6000


def test_aggregation_rounds_label_the_students_own_states_with_the_teacher(
        smoke_teachers: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "dagger"
    assert main(["distill", "--teacher", str(smoke_teachers["random"]), "--profile", "smoke",
                 "--student", "3x32", "--dagger-rounds", "1", "--dagger-samples", "2000",
                 "--out", str(out), "--no-progress", "--no-int8"]) == 0
    capsys.readouterr()
    teacher_model = load_teacher(smoke_teachers["random"])
    manifest = ds.read_manifest(out / "dataset-student-3x32-dagger-1")
    assert manifest["samples"] == 2000
    assert manifest["collected_by"] == "student-3x32 (aggregation round 1)"
    assert ds.read_manifest(out / "dataset")["collected_by"] == "teacher"
    assert manifest["teacher_sha256"] == teacher_model.sha256
    visited = ds.load_dataset(out / "dataset-student-3x32-dagger-1")
    with torch.no_grad():
        labels = teacher_model.net(torch.from_numpy(visited.obs)).numpy()
    np.testing.assert_allclose(visited.q, labels, rtol=1e-5, atol=1e-6)  # the teacher's
    training = read_card(out / "student-3x32.onnx")["training"]
    assert training["dataset_samples"] == 8000 and training["aggregation_rounds"] == 1
    assert "--dagger-rounds 1 --dagger-samples 2000" in training["command"]


def test_scenario_states_add_distinct_states_of_that_scenario_to_every_training(
        smoke_teachers: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "scenario"
    assert main(["distill", "--teacher", str(smoke_teachers["random"]), "--profile", "smoke",
                 "--student", "3x32", "--scenario-states", "bursty:1500", "--dagger-rounds", "1",
                 "--dagger-samples", "1000", "--out", str(out), "--no-progress",
                 "--no-int8"]) == 0
    summary = _summary(capsys)
    manifest = ds.read_manifest(out / "dataset-bursty")
    assert manifest["scenario"] == "bursty" and manifest["samples"] == 1500
    assert manifest["collected_by"] == "teacher"
    assert manifest["collect"]["seed"] != ds.read_manifest(out / "dataset")["collect"]["seed"]
    # every bursty UE has finite traffic; a domain-randomized dataset holds few such states
    assert finite_buffer_rows(ds.load_dataset(out / "dataset-bursty").obs).all()
    assert finite_buffer_rows(ds.load_dataset(out / "dataset").obs).mean() < 0.5
    assert summary["samples"] == 6000 + 1500
    card = read_card(out / "student-3x32.onnx")
    training = card["training"]
    assert training["dataset_samples"] == 6000 + 1500 + 1000  # the round trains on all
    assert [d["scenario"] for d in training["datasets"]] == ["random", "bursty", "random"]
    assert card["version"] == "single-kl-tau0.01-bursty1500-smoke-s0"
    assert "--scenario-states bursty:1500" in training["command"]


def test_multi_policy_aggregates_scenario_datasets(smoke_teachers: dict[str, Path],
                                                   tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "multi"
    assert main(["distill", "--mode", "multi", "--teacher", str(smoke_teachers["mimo"]),
                 "--teacher", str(smoke_teachers["cell-edge"]), "--profile", "smoke",
                 "--samples", "3000", "--out", str(out), "--no-progress", "--no-int8"]) == 0
    assert _summary(capsys)["samples"] == 6000
    scenarios = {ds.read_manifest(d)["scenario"] for d in out.glob("dataset-*")}
    assert scenarios == {"mimo", "cell-edge"}
    training = read_card(out / "student-3x32.onnx")["training"]
    assert training["mode"] == "multi" and len(training["teacher_sha256"]) == 2


def test_realtime_run_yields_teacher_and_student(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "rt"
    assert main(["distill", "--mode", "realtime", "--profile", "smoke", "--out", str(out),
                 "--no-progress", "--no-int8"]) == 0
    summary = _summary(capsys)
    assert summary["student_updates"] > 0 and summary["seconds"] > 0
    assert read_card(out / "teacher.onnx")["kind"] == "teacher"
    card = read_card(out / "student-3x32.onnx")
    assert card["training"]["mode"] == "realtime" and card["parameter_count"] == 4509
    assert card["training"]["polish_epochs"] == 10 and card["training"]["polish_states"] > 0
    assert "--polish-epochs 10 --polish-states 1000000" in card["training"]["command"]


def test_scratch_control_is_the_3x32_network_trained_with_dqn(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "scratch"
    assert main(["distill", "--mode", "scratch", "--profile", "smoke", "--out", str(out),
                 "--no-progress", "--no-int8"]) == 0
    card = read_card(out / "scratch-3x32.onnx")
    assert card["kind"] == "scratch" and card["parameter_count"] == 4509
    assert card["training"]["config"]["hidden"] == [32, 32, 32]


def test_interrupted_collection_on_ray_keeps_the_old_dataset(smoke_teachers: dict[str, Path],
                                                             tmp_path: Path) -> None:
    teacher_model = load_teacher(smoke_teachers["random"])
    directory = tmp_path / "dataset"
    cfg = ds.CollectConfig(samples=3000, actors=1, ues=128, episode_slots=100,
                           shard_samples=1000)
    ds.collect(teacher_model, directory, cfg)
    before = {p.name: p.read_bytes() for p in directory.iterdir()}

    def interrupt(n: int) -> None:
        if n >= 2000:  # new shards are on disk by now
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ds.collect(teacher_model, directory, dataclasses.replace(cfg, samples=100_000, seed=1),
                   on_chunk=interrupt)
    assert {p.name: p.read_bytes() for p in directory.iterdir()} == before
    assert len(ds.load_dataset(directory)) == 3000
    assert [p.name for p in tmp_path.iterdir()] == ["dataset"]
