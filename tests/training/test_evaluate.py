"""``linkadapt evaluate``: tiny runs with a random student, the report files, and bad input."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
import torch

from training import evaluate, evaluate_command
from training.export import export_onnx
from training.networks import student_network
from training.sim import config, runner
from training.sim.link import LinkSimulator
from training.sim.policies import Olla
from xapp.features import observe

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TINY = ["--ues", "8", "--slots", "100", "--scenarios", "mimo,bursty"]


def _run(argv: list[str]) -> tuple[int, str, str]:
    """Parse ``argv`` the way ``linkadapt evaluate`` does and run; (status, stdout, stderr)."""
    parser = argparse.ArgumentParser(prog="linkadapt evaluate")
    evaluate_command.add_arguments(parser)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = evaluate_command.run(parser.parse_args(argv))
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def student(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(3)
    net = student_network("3x32")
    net.set_normalization(observe(LinkSimulator(config.scenario("mimo").config(64), 0).reports))
    path = tmp_path_factory.mktemp("models") / "student.onnx"
    return export_onnx(net, path, {"model_id": "student-3x32", "version": "0.1",
                                   "kind": "student"})


@pytest.fixture(scope="module")
def tiny_run(student: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any],
                                                                              Path]:
    out = tmp_path_factory.mktemp("evaluation")
    status, stdout, stderr = _run(["--model", str(student), *TINY, "--out", str(out), "--json"])
    assert status == 0, stderr
    return json.loads(stdout), out


def test_json_has_every_scenario_policy_and_kpi(tiny_run: tuple[dict[str, Any], Path]) -> None:
    result, _ = tiny_run
    assert list(result["scenarios"]) == ["mimo", "bursty"]
    for rows in result["scenarios"].values():
        assert list(rows) == ["student-3x32:0.1", "olla", "illa", "genie"]
        for row in rows.values():
            for key in ("throughput_mbps", "bler", "reward", "spectral_efficiency",
                        "mean_mcs", "mcs_histogram"):
                assert key in row
            assert len(row["mcs_histogram"]) == 29
        meta = rows["student-3x32:0.1"]["metadata"]
        assert meta["parameter_count"] == 4477 and meta["kind"] == "student"
        assert meta["size_kbit"] == pytest.approx(4477 * 32 / 1000)
        olla = rows["olla"]
        assert list(olla["sweep"]) == ["0.25", "0.5", "1", "2"]
        assert olla["d_up_db"] in (0.25, 0.5, 1.0, 2.0)
        assert olla["throughput_mbps"] == olla["sweep"][f"{olla['d_up_db']:g}"]["throughput_mbps"]
    assert result["config"]["ues"] == 8 and result["config"]["slots"] == 100


def test_summary_compares_with_tuned_olla_and_the_genie(
        tiny_run: tuple[dict[str, Any], Path]) -> None:
    summary = tiny_run[0]["summary"]
    assert summary["reference"] == "olla"
    assert set(summary["policies"]) == {"student-3x32:0.1", "illa", "genie"}
    genie = summary["policies"]["genie"]
    assert genie["mean_throughput_gain_pct"] >= 0
    assert genie["mean_gap_closed"] == pytest.approx(1.0)
    student = summary["policies"]["student-3x32:0.1"]
    assert student["worst_scenario"] in ("mimo", "bursty")
    assert student["worst_throughput_gain_pct"] <= student["mean_throughput_gain_pct"]
    for per in student["scenarios"].values():
        for key in ("throughput_gain_pct", "bler", "olla_bler", "gap_closed"):
            assert per[key] is not None


def test_report_files_are_written(tiny_run: tuple[dict[str, Any], Path]) -> None:
    result, out = tiny_run
    for name in ("throughput.png", "bler.png", "mcs_distribution.png"):
        assert (out / name).read_bytes()[:8] == PNG_MAGIC
    assert json.loads((out / "evaluation.json").read_text()) == result
    report = (out / "report.md").read_text()
    assert "## mimo" in report and "## bursty" in report and "## Summary" in report
    assert "| policy | throughput Mbit/s | vs olla % | BLER % | reward | mean MCS |" in report
    assert "student-3x32:0.1" in report and "olla (d_up" in report


def test_olla_row_is_what_the_simulator_gives_alone(tiny_run: tuple[dict[str, Any], Path]) -> None:
    result, _ = tiny_run
    olla = result["scenarios"]["mimo"]["olla"]
    alone = runner.run(Olla(olla["d_up_db"]), config.scenario("mimo").config(8), 100, 0).kpis
    assert alone == {k: olla[k] for k in alone}


def test_same_policy_twice_gives_identical_kpis(student: Path, tmp_path: Path) -> None:
    status, stdout, stderr = _run(["--model", str(student), "--model", str(student),
                                   "--no-baselines", "--ues", "8", "--slots", "60",
                                   "--scenarios", "mimo,cell-edge", "--out", str(tmp_path),
                                   "--json"])
    assert status == 0, stderr
    result = json.loads(stdout)
    assert result["summary"]["reference"] == "student-3x32:0.1"
    for rows in result["scenarios"].values():
        first, second = rows["student-3x32:0.1"], rows["student-3x32:0.1#2"]
        assert {k: v for k, v in first.items() if k != "metadata"} == \
            {k: v for k, v in second.items() if k != "metadata"}
    twin = result["summary"]["policies"]["student-3x32:0.1#2"]
    assert twin["mean_throughput_gain_pct"] == 0.0
    assert twin["mean_gap_closed"] is None  # no baselines, no OLLA-to-genie gap


def test_parallel_workers_give_the_serial_result(student: Path, tmp_path: Path) -> None:
    cfg = evaluate.EvaluationConfig(scenarios=("mimo", "cell-edge"), ues=4, slots=40,
                                    models=(evaluate.model_spec(student),), baselines=False,
                                    reference="student-3x32:0.1")
    serial = evaluate.run_scenarios(cfg)
    parallel = evaluate.run_scenarios(evaluate.EvaluationConfig(**{**cfg.__dict__, "workers": 2}))
    assert parallel == serial


def test_reference_names_the_change_column(student: Path, tmp_path: Path) -> None:
    status, stdout, _ = _run(["--model", str(student), "--reference", "genie", "--ues", "4",
                              "--slots", "30", "--scenarios", "scsu", "--olla-steps", "1",
                              "--out", str(tmp_path)])
    assert status == 0
    assert "| vs genie % |" in stdout and "| genie | " not in stdout.split("## Summary")[1]
    assert "olla (d_up 1 dB" in stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "/nonexistent/m.onnx"], "cannot read ONNX model '/nonexistent/m.onnx'"),
        (["--model", "{garbage}"], "not an ONNX model"),
        (["--scenarios", "mimo,nowhere"], "unknown scenario 'nowhere'"),
        (["--scenarios", "random"], "'random' is not a benchmark scenario; choose from: mimo,"),
        (["--ues", "0"], "--ues must be at least 1"),
        (["--slots", "-1"], "--slots must be at least 1"),
        (["--workers", "0"], "--workers must be at least 1"),
        (["--seed", "-1"], "--seed must be >= 0, got -1"),
        (["--olla-steps", "0.5,x"], "--olla-steps must be comma-separated numbers"),
        (["--olla-steps", "0.5,-1"], "--olla-steps: steps must be positive"),
        (["--reference", "teacher"], "--reference 'teacher' is not an evaluated policy"),
        (["--no-baselines"], "nothing to evaluate"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(args: list[str], message: str,
                                                tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00not a model at all")
    args = [a.replace("{garbage}", str(garbage)) for a in args]
    status, _, stderr = _run(["--ues", "2", "--slots", "5", *args,
                             "--out", str(tmp_path / "out")])
    assert status == 2
    assert message in stderr
    assert stderr.startswith("linkadapt evaluate: error:")
    assert "Traceback" not in stderr
    assert not (tmp_path / "out").exists()


def test_scenario_lists_offer_only_names_that_are_accepted() -> None:
    with pytest.raises(ValueError, match="unknown scenario 'moon'") as benchmark:
        config.scenario("moon")
    assert "random" not in str(benchmark.value)  # config.scenario refuses it
    with pytest.raises(ValueError, match="unknown scenario 'moon'") as any_source:
        config.config_source("moon")
    assert str(any_source.value).endswith(", random")  # config_source takes it
    config.config_source("random")


def test_help_example_reference_is_a_name_the_pipeline_gives() -> None:
    from training import teacher
    from training.teacher_command import teacher_card

    card = teacher_card(teacher.TrainResult(student_network("3x32"), teacher.profile("quick"),
                                            teacher.Progress(), []))
    example = evaluate_command._EXAMPLES.split("--reference ")[1].split()[0]
    assert example == f"{card['model_id']}:{card['version']}"
