"""``linkadapt evaluate``: tiny runs with a random student, the report files, and bad input."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from linkadapt.commands import evaluate as evaluate_command
from training import baselines, evaluate, frontier
from training.export import export_onnx, read_card
from training.networks import student_network
from training.sim import closed_loop, config
from training.sim.link import LinkSimulator
from training.sim.policies import Olla
from xapp.features import observe

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# The default baseline grid needs eolla/salad/genie-delayed; the tests name specs that exist.
SPECS = ["--baselines", "olla:0.25,olla:0.5,olla:1,olla:2,illa,fixed:0,fixed:14",
         "--no-genie-delayed"]
TINY = ["--ues", "8", "--slots", "100", "--scenarios", "mimo,bursty", *SPECS]


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
        assert meta["parameter_count"] == 4509 and meta["kind"] == "student"
        assert meta["size_kbit"] == pytest.approx(4509 * 32 / 1000)
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
    alone = closed_loop.run(Olla(olla["d_up_db"]), config.scenario("mimo").config(8), 100,
                       evaluate.evaluation_seed(0)).kpis
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
                              "--slots", "30", "--scenarios", "scsu", "--baselines",
                              "olla:1,illa", "--no-genie-delayed", "--out", str(tmp_path)])
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
        (["--targets", "0"], "--targets: targets must be in (0, 1), got 0"),
        (["--targets", "0.1,1"], "--targets: targets must be in (0, 1), got 1"),
        (["--targets", "0.1,ten"], "--targets must be comma-separated numbers"),
        (["--fixed-mcs", "29"], "--fixed-mcs: MCS must be in 0..28, got 29"),
        (["--olla-steps", "-0.5"], "--olla-steps: steps must be positive dB values, got -0.5"),
        (["--baselines", "olla:1", "--targets", "0.1"], "--baselines replaces the grid; drop "
                                                        "--targets"),
        (["--baselines", "olla:1,nosuch:2", "--no-genie-delayed"],
         "--baselines: unknown policy 'nosuch:2'"),
        (["--baselines", "olla:1,genie", "--no-genie-delayed"], "'genie' is a reference"),
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
    from training.label_teacher.pipeline import LabelTeacherConfig

    committed = LabelTeacherConfig(profile="long")  # training/models/teacher-labels-long.onnx
    example = evaluate_command.EXAMPLES.split("--reference ")[1].split()[0]
    assert example == f"{committed.model_id}:{committed.version}"


# --- the frontier -----------------------------------------------------------------

TINY_SPECS = SPECS[1].split(",")


def _hull(result: dict[str, Any], scenario: str) -> list[frontier.Point]:
    return [frontier.Point(p["bler"], p["throughput_mbps"], p["spec"])
            for p in result["frontiers"][scenario]["hull"]]


def test_every_baseline_runs_and_none_lies_above_the_frontier(
        tiny_run: tuple[dict[str, Any], Path]) -> None:
    result, _ = tiny_run
    assert result["config"]["baseline_specs"] == TINY_SPECS
    assert result["config"]["runs"] == 2 * (1 + 1 + len(TINY_SPECS))  # genie, model, specs
    for scenario in ("mimo", "bursty"):
        runs = result["baselines"][scenario]
        assert list(runs) == TINY_SPECS
        hull = _hull(result, scenario)
        assert {p.spec for p in hull} == {s for s, r in runs.items() if r["on_hull"]}
        for spec, row in runs.items():
            assert row["family"] == spec.partition(":")[0]
            if row["bler"] >= hull[0].bler:
                assert row["throughput_mbps"] <= frontier.frontier_at(
                    hull, row["bler"]).throughput + 1e-9
        # The tuned olla row is one of the OLLA runs at 10%.
        olla = result["scenarios"][scenario]["olla"]
        assert olla["spec"] == f"olla:{olla['d_up_db']:g}"
        assert olla["throughput_mbps"] == runs[olla["spec"]]["throughput_mbps"]


def test_a_policy_is_judged_at_its_own_bler(tiny_run: tuple[dict[str, Any], Path]) -> None:
    result, _ = tiny_run
    for scenario, rows in result["scenarios"].items():
        hull = _hull(result, scenario)
        genie = rows["genie"]["throughput_mbps"]
        for name, row in rows.items():
            f = row["frontier"]
            at = frontier.frontier_at(hull, row["bler"])
            assert f["frontier_mbps"] == pytest.approx(at.throughput), name
            assert f["frontier_specs"] == list(at.specs)
            assert f["extrapolated"] == at.extrapolated
            assert f["gain_pct"] == pytest.approx(
                100 * (row["throughput_mbps"] / at.throughput - 1))
            assert f["gap_share_genie_delayed"] is None  # --no-genie-delayed
            if genie > at.throughput:
                assert f["gap_share_genie"] == pytest.approx(
                    (row["throughput_mbps"] - at.throughput) / (genie - at.throughput))
        # A baseline on the frontier gains nothing over it.
        assert rows["olla"]["frontier"]["gain_pct"] <= 1e-9
        per = result["summary"]["policies"]["student-3x32:0.1"]["scenarios"][scenario]
        assert per["frontier"] == rows["student-3x32:0.1"]["frontier"]


def test_illa_is_set_against_the_olla_frontier(tiny_run: tuple[dict[str, Any], Path]) -> None:
    result, _ = tiny_run
    for scenario, f in result["frontiers"].items():
        assert [p["spec"] for p in f["olla_hull"]] == [
            p.spec for p in frontier.upper_hull(
                frontier.Point(r["bler"], r["throughput_mbps"], s)
                for s, r in result["baselines"][scenario].items() if s.startswith("olla"))]
        (illa,) = f["families"]["illa"]
        olla_hull = [frontier.Point(p["bler"], p["throughput_mbps"], p["spec"])
                     for p in f["olla_hull"]]
        at = frontier.frontier_at(olla_hull, illa["bler"]).throughput
        assert illa["gain_pct"] == pytest.approx(100 * (illa["throughput_mbps"] / at - 1))
        best = result["summary"]["families"]["illa"][scenario]
        assert best == {"spec": "illa", "gain_pct": illa["gain_pct"], "bler": illa["bler"]}


def test_frontier_plots_and_tables_are_written(tiny_run: tuple[dict[str, Any], Path]) -> None:
    _, out = tiny_run
    for scenario in ("mimo", "bursty"):
        assert (out / f"frontier-{scenario}.png").read_bytes()[:8] == PNG_MAGIC
    report = (out / "report.md").read_text()
    assert ("| policy | throughput Mbit/s | BLER % | frontier at that BLER Mbit/s | gain at no "
            "higher BLER % | frontier->genie-delayed gap closed % | frontier->genie gap closed "
            "% | frontier from |") in report
    assert "![frontier](frontier-mimo.png)" in report
    assert "Baselines against tuned OLLA at equal BLER" in report
    assert "Gain at no higher BLER %" in report.split("## Summary")[1]


def test_the_default_baselines_are_the_grid() -> None:
    args = _args(["--olla-steps", "1,2", "--targets", "0.05,0.1", "--fixed-mcs", "0,9"])
    assert evaluate_command.baseline_specs_from_args(args) == (
        "olla:1:0.05", "olla:1:0.1", "olla:2:0.05", "olla:2:0.1", "eolla:0.05", "eolla:0.1",
        "salad:0.05", "salad:0.1", "illa", "fixed:0", "fixed:9")
    assert evaluate_command.baseline_specs_from_args(_args([])) == tuple(
        baselines.baseline_specs())


def test_the_committed_student_in_parallel_gives_the_serial_result(tmp_path: Path) -> None:
    model = Path(__file__).parents[2] / "xapp" / "models" / "default.onnx"
    argv = ["--model", str(model), "--ues", "4", "--slots", "40", "--scenarios", "mimo,scsu",
            "--baselines", "olla:0.5,olla:2,illa,fixed:0,fixed:20", "--no-genie-delayed"]
    status, stdout, stderr = _run([*argv, "--workers", "2", "--out", str(tmp_path), "--json"])
    assert status == 0, stderr
    assert "evaluate: 14 runs on 2 scenarios in" in stderr  # (genie + model + 5 specs) x 2
    result = json.loads(stdout)
    serial = evaluate.run_all(evaluate_command.config_from_args(_args(argv)))
    card = read_card(model)
    key = f"{card['model_id']}:{card['version']}"  # the committed default's run
    assert key.startswith("student-3x32:")
    for scenario, runs in serial.items():
        assert list(runs) == ["genie", key, "olla:0.5", "olla:2", "illa", "fixed:0", "fixed:20"]
        for spec in ("olla:0.5", "olla:2", "illa", "fixed:0", "fixed:20"):
            assert result["baselines"][scenario][spec]["throughput_mbps"] == \
                runs[spec]["throughput_mbps"]
        for name, row in result["scenarios"][scenario].items():
            if name != "olla":
                assert row["bler"] == runs[name]["bler"]
    for name in ("report.md", "evaluation.json", "frontier-mimo.png", "frontier-scsu.png"):
        assert (tmp_path / name).stat().st_size > 0


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    evaluate_command.add_arguments(parser)
    return parser.parse_args(argv)


# --- seeds ------------------------------------------------------------------------


def _training_sim_seeds(seed: int, episodes: int) -> list[Any]:
    """Seed sequences of the simulators a training rollout worker really builds."""
    from training.sim.env import LinkAdaptationVectorEnv

    env = LinkAdaptationVectorEnv(num_envs=2, scenario="random", episode_slots=1)
    env.reset(seed=seed)
    out = []
    for _ in range(episodes):
        sim = env.simulator
        out += [rng.bit_generator.seed_seq
                for rng in (sim._channel_rng, sim._decode_rng, sim._traffic_rng)]
        env.step(np.zeros(2, dtype=np.int64))
    return out


def _state(seq: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in seq.generate_state(4))


def test_evaluation_streams_are_never_training_streams() -> None:
    # Rollout workers of train-teacher and distill reset their env with seed * 1000 + i.
    training_seeds = [s * 1000 + i for s in range(3) for i in range(4)]
    sims = [seq for s in training_seeds for seq in _training_sim_seeds(s, 3)]
    assert all(len(q.spawn_key) == 2 and q.spawn_key[0] % 2 == 1 for q in sims)
    training = {_state(q) for q in sims}
    for s in training_seeds:  # configuration draws, action choices, the learner's rng
        training |= {_state(np.random.SeedSequence(s, spawn_key=(2 * j,))) for j in range(3)}
        training |= {_state(np.random.SeedSequence([s, 0x5EED])), _state(
            np.random.SeedSequence(s))}
    evaluation = {_state(q) for e in range(20) for q in evaluate.evaluation_seed(e).spawn(3)}
    assert not evaluation & training
    # What it replaces: a plain integer seed's channel stream was training's first
    # configuration draw under the same integer.
    plain = {_state(q) for q in np.random.SeedSequence(0).spawn(3)}
    assert plain & training
    assert evaluate.EVALUATION_SPAWN_KEY % 2 == 0


def test_evaluation_runs_use_the_evaluation_seed(tiny_run: tuple[dict[str, Any], Path]) -> None:
    result, _ = tiny_run
    illa = result["scenarios"]["mimo"]["illa"]
    link_cfg = config.scenario("mimo").config(8)
    from training.sim.policies import Illa

    assert closed_loop.run(Illa(), link_cfg, 100,
                           evaluate.evaluation_seed(0)).kpis["throughput_mbps"] \
        == illa["throughput_mbps"]
    assert closed_loop.run(Illa(), link_cfg, 100, 0).kpis["throughput_mbps"] != \
        illa["throughput_mbps"]


def test_a_model_named_like_a_baseline_spec_is_refused(tmp_path: Path) -> None:
    torch.manual_seed(0)
    path = export_onnx(student_network("3x32"), tmp_path / "fixed.onnx",
                       {"model_id": "fixed", "version": "4", "kind": "student"})
    status, _, stderr = _run(["--model", str(path), "--ues", "2", "--slots", "5",
                              "--baselines", "olla:1,fixed:4", "--no-genie-delayed",
                              "--out", str(tmp_path / "out")])
    assert status == 2
    assert "--model: the name 'fixed:4' is also a baseline spec" in stderr
    assert not (tmp_path / "out").exists()


def test_gap_shares_are_measured_from_tuned_olla_to_each_genie() -> None:
    def row(thp: float) -> dict[str, Any]:
        return {"throughput_mbps": thp, "bler": 0.1, "role": "baseline"}

    rows = {"model": {**row(125.0), "role": "model"}, "olla": row(100.0),
            "genie-delayed": row(150.0), "genie": row(200.0)}
    per = evaluate.summarize({"mimo": rows}, "olla")["policies"]["model"]
    assert per["scenarios"]["mimo"]["gap_closed_genie_delayed"] == pytest.approx(0.5)
    assert per["scenarios"]["mimo"]["gap_closed"] == pytest.approx(0.25)
    assert per["mean_gap_closed_genie_delayed"] == pytest.approx(0.5)


# --- BLER targets -----------------------------------------------------------------

TWO_TARGETS = ["--target-bler", "0.1,0.02"]
STUDENT = "student-3x32:0.1"


@pytest.fixture(scope="module")
def two_targets(student: Path, tmp_path_factory: pytest.TempPathFactory,
                ) -> tuple[dict[str, Any], Path, str]:
    out = tmp_path_factory.mktemp("two-targets")
    status, stdout, stderr = _run(["--model", str(student), *TINY, *TWO_TARGETS,
                                   "--out", str(out), "--json"])
    assert status == 0, stderr
    return json.loads(stdout), out, stderr


def test_two_targets_give_two_summaries(two_targets: tuple[dict[str, Any], Path, str]) -> None:
    result, _, _ = two_targets
    assert list(result["targets"]) == ["0.1", "0.02"]
    assert result["config"]["target_blers"] == [0.1, 0.02]
    assert result["config"]["primary_target_bler"] == 0.1
    for label, t in result["targets"].items():
        assert t["target_bler"] == float(label)
        assert t["bler_limit"] == pytest.approx(1.2 * float(label))
        assert list(t["models"]) == [STUDENT]
        m = t["models"][STUDENT]
        assert list(m["scenarios"]) == ["mimo", "bursty"]
        for scenario, p in m["scenarios"].items():
            assert p["bler_within_limit"] == (p["bler"] <= 1.2 * float(label) + 1e-12)
            hull = _hull(result, scenario)
            at = frontier.frontier_at(hull, p["bler"])
            assert p["frontier_mbps"] == pytest.approx(at.throughput)
            assert p["gain_pct"] == pytest.approx(100 * (p["throughput_mbps"] / at.throughput
                                                         - 1))
            assert p["gap_share_genie_delayed"] is None  # --no-genie-delayed
        gains = {s: p["gain_pct"] for s, p in m["scenarios"].items()}
        assert m["mean_gain_pct"] == pytest.approx(float(np.mean(list(gains.values()))))
        assert m["worst_scenario"] == min(gains, key=lambda s: gains[s])
        assert m["worst_gain_pct"] == gains[m["worst_scenario"]]
        assert m["bler_over_limit"] == [s for s, p in m["scenarios"].items()
                                        if not p["bler_within_limit"]]
        assert m["bler_within_limit"] == (not m["bler_over_limit"])


def test_the_primary_target_keeps_todays_keys(two_targets: tuple[dict[str, Any], Path, str],
                                              tiny_run: tuple[dict[str, Any], Path]) -> None:
    result, _, _ = two_targets
    today, _ = tiny_run
    # The model's row at 10% is named as today and is the run of a one-target evaluation
    # (but for the inference time of its card's metadata, measured anew by each run).
    assert _untimed(result["scenarios"]) == _untimed(today["scenarios"])
    assert _untimed(result["summary"]) == _untimed(today["summary"])
    assert result["frontiers"] == today["frontiers"]
    for scenario, rows in result["scenarios"].items():
        per = result["targets"]["0.1"]["models"][STUDENT]["scenarios"][scenario]
        assert per["gain_pct"] == rows[STUDENT]["frontier"]["gain_pct"]
        assert per["bler"] == rows[STUDENT]["bler"]
    assert list(today["targets"]) == ["0.1"]
    assert today["targets"]["0.1"]["models"][STUDENT]["scenarios"] == \
        result["targets"]["0.1"]["models"][STUDENT]["scenarios"]


def _untimed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if k != "inference_us"}
    return value


def test_baselines_run_once_whatever_the_targets(
        two_targets: tuple[dict[str, Any], Path, str]) -> None:
    result, _, stderr = two_targets
    runs = 2 * (1 + 2 + len(TINY_SPECS))  # per scenario: genie, the model twice, the specs
    assert result["config"]["runs"] == runs
    assert f"evaluate: {runs} runs on 2 scenarios in" in stderr


def test_each_run_gets_its_target_and_baselines_run_once(
        student: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Record what the simulator is given, run by run (the real simulation still runs).
    seen: list[tuple[str, tuple[float, ...]]] = []
    real_run = closed_loop.run

    def recording_run(policy: Any, cfg: config.LinkConfig, *args: Any,
                      **kwargs: Any) -> closed_loop.RunResult:
        seen.append((type(policy).__name__, tuple(sorted(set(cfg.target_bler.tolist())))))
        return real_run(policy, cfg, *args, **kwargs)

    monkeypatch.setattr(closed_loop, "run", recording_run)
    cfg = evaluate.EvaluationConfig(scenarios=("mimo", "scsu"), ues=4, slots=20,
                                    models=(evaluate.model_spec(student),),
                                    baseline_specs=("olla:1", "illa", "fixed:0"),
                                    genie_delayed=False, target_blers=(0.1, 0.02, 0.3))
    result = evaluate.evaluate(cfg)
    models = sorted(t for name, t in seen if name == "OnnxPolicy")
    assert models == [(0.02,), (0.02,), (0.1,), (0.1,), (0.3,), (0.3,)]  # two scenarios
    others = [t for name, t in seen if name != "OnnxPolicy"]
    assert len(others) == 2 * 4  # olla:1, illa, fixed:0 and the genie, once per scenario
    assert set(others) == {(config.DEFAULT_TARGET_BLER,)}
    assert len(seen) == result["config"]["runs"] == len(evaluate.tasks(cfg))
    keys = [(t.scenario, t.key) for t in evaluate.tasks(cfg)]
    assert len(keys) == len(set(keys))
    assert {k for s, k in keys if s == "mimo"} == {
        "genie", STUDENT, f"{STUDENT}@0.02", f"{STUDENT}@0.3", "olla:1", "illa", "fixed:0"}
    assert list(result["targets"]) == ["0.1", "0.02", "0.3"]


def test_task_config_carries_the_target() -> None:
    cfg = evaluate.EvaluationConfig(scenarios=("mimo",), ues=3, baseline_specs=("olla:1",),
                                    target_blers=(0.05,))
    for task in evaluate.tasks(cfg):
        link_cfg = evaluate.task_config(task, cfg.ues)
        assert len(link_cfg) == 3
        assert link_cfg.target_bler.tolist() == [config.DEFAULT_TARGET_BLER] * 3
    task = evaluate.Task("mimo", "m@0.05", "m.onnx", True, 0.05)
    assert evaluate.task_config(task, 3).target_bler.tolist() == [0.05] * 3


def test_without_10_percent_the_first_target_is_the_primary(student: Path,
                                                             tmp_path: Path) -> None:
    status, stdout, stderr = _run(["--model", str(student), "--no-baselines", "--ues", "4",
                                   "--slots", "30", "--scenarios", "scsu",
                                   "--target-bler", "0.05,0.01", "--out", str(tmp_path)])
    assert status == 0, stderr
    assert "report a 5% BLER target in the sections below" in stdout
    section = stdout.split("## BLER targets")[1]
    assert "### At the 5% target (the sections above)" in section
    assert "### At the 1% target" in section and "BLER <= 1.2%" in section
    # Without baselines there is no frontier: gains are empty, the BLER check is not.
    row = next(line for line in section.split("### At the 1% target")[1].splitlines()
               if line.startswith(f"| {STUDENT} |"))
    assert row.startswith(f"| {STUDENT} | - / ")
    assert row.endswith((" | yes |", " | no (scsu) |"))
    result = json.loads((tmp_path / "evaluation.json").read_text())
    assert result["config"]["primary_target_bler"] == 0.05
    assert list(result["scenarios"]["scsu"]) == [STUDENT]
    assert result["targets"]["0.01"]["models"][STUDENT]["mean_gain_pct"] is None


def test_report_has_a_table_per_target(two_targets: tuple[dict[str, Any], Path, str],
                                       tiny_run: tuple[dict[str, Any], Path]) -> None:
    result, out, _ = two_targets
    report = (out / "report.md").read_text()
    assert "### At the 10% target (the sections above)" in report
    assert "| model | mimo | bursty | mean gain % | worst gain % | mean frontier->genie-" \
           "delayed gap closed % | BLER <= 12% |" in report
    table = report.split("### At the 2% target")[1]
    assert "| BLER <= 2.4% |" in table
    m = result["targets"]["0.02"]["models"][STUDENT]
    p = m["scenarios"]["mimo"]
    assert f"| {STUDENT} | {p['gain_pct']:+.1f} / {100 * p['bler']:.1f} | " in table
    check = "yes" if m["bler_within_limit"] else f"no ({', '.join(m['bler_over_limit'])})"
    assert table.rstrip().endswith(f" | {check} |")
    # One target: today's report, no target tables.
    assert "BLER targets" not in (tiny_run[1] / "report.md").read_text()
    assert (out / "frontier-mimo.png").read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "--target-bler: targets must be in (0, 1), got 0"),
        ("0.1,1", "--target-bler: targets must be in (0, 1), got 1"),
        ("-0.02", "--target-bler: targets must be in (0, 1), got -0.02"),
        ("nan", "--target-bler: targets must be in (0, 1), got nan"),
        ("0.1,ten", "--target-bler must be comma-separated numbers, got '0.1,ten'"),
        ("0.1,0.02,0.1", "--target-bler: a target is named twice"),
        (",", "--target-bler: give at least one target"),
    ],
)
def test_bad_target_bler_is_refused_with_the_flag_named(value: str, message: str,
                                                        tmp_path: Path) -> None:
    status, stdout, stderr = _run(["--model", "/nonexistent/m.onnx", "--target-bler", value,
                                   "--ues", "2", "--slots", "5",
                                   "--out", str(tmp_path / "out")])
    assert status == 2
    assert stderr == f"linkadapt evaluate: error: {message}\n"  # before the model is read
    assert stdout == ""
    assert not (tmp_path / "out").exists()


def test_a_model_named_like_another_models_run_is_refused(student: Path) -> None:
    spec = evaluate.model_spec(student)
    twin = evaluate.ModelSpec(name=f"{spec.name}@0.02", path=spec.path)
    with pytest.raises(ValueError, match=r"--model: the name 'student-3x32:0.1@0.02' is also "
                                         r"the run of model 'student-3x32:0.1' at "
                                         r"--target-bler 0.02"):
        evaluate.EvaluationConfig(models=(spec, twin), baselines=False,
                                  reference=spec.name, target_blers=(0.1, 0.02))
    evaluate.EvaluationConfig(models=(spec, twin), baselines=False, reference=spec.name)


def test_parallel_workers_run_every_target(student: Path) -> None:
    cfg = evaluate.EvaluationConfig(scenarios=("mimo",), ues=4, slots=30,
                                    models=(evaluate.model_spec(student),), baselines=False,
                                    reference=STUDENT, target_blers=(0.1, 0.02))
    serial = evaluate.run_all(cfg)
    parallel = evaluate.run_all(evaluate.EvaluationConfig(**{**cfg.__dict__, "workers": 2}))
    assert parallel == serial
    assert list(serial["mimo"]) == [STUDENT, f"{STUDENT}@0.02"]


def test_the_reproducing_command_line_gives_the_same_options() -> None:
    from linkadapt.config import command_line, parse_config
    from training.evaluation_config import EvaluateOptions

    argv = ["--model", "a.onnx", "--model", "b.onnx", "--scenarios", "mimo, scsu",
            "--olla-steps", "0.5,1", "--fixed-mcs", "0,9", "--target-bler", "0.1,0.02",
            "--no-genie-delayed", "--json"]
    options = parse_config(EvaluateOptions, _args(argv))
    line = command_line(["linkadapt", "evaluate"], options)
    assert line == ("linkadapt evaluate --model a.onnx --model b.onnx --scenarios mimo,scsu "
                    "--olla-steps 0.5,1 --fixed-mcs 0,9 --target-bler 0.1,0.02 "
                    "--no-genie-delayed --json")
    assert parse_config(EvaluateOptions, _args(line.split()[2:])) == options
