"""The label teacher: full-information labels, the priced scores, calibration, the command."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from linkadapt.cli import main
from training.export import read_card
from training.label_teacher.calibrate import calibrate, calibration_scenarios
from training.label_teacher.collect import Episode, episode_seed, run_episode
from training.label_teacher.network import FEEDBACK_GAIN, LabelNetwork, target_index
from training.sim import config
from training.sim.link import LinkSimulator
from xapp import nr_tables
from xapp.features import FEATURE_NAMES, NUM_FEATURES, observe
from xapp.sessions import open_session


def _network(seed: int = 0) -> LabelNetwork:
    torch.manual_seed(seed)
    net = LabelNetwork((16, 16))
    net.set_prices((0.01, 0.1, 0.3), (1.0, 0.1, 0.02))
    return net.eval()


def test_prices_pass_through_their_points_and_are_flat_outside() -> None:
    net = _network()
    got = net.prices([0.01, 0.1, 0.3, 0.001, 0.9])
    assert got == pytest.approx([1.0, 0.1, 0.02, 1.0, 0.02], rel=1e-5)
    # log-linear between the points: the geometric middle of 0.01 and 0.1 costs sqrt(1 * 0.1)
    assert net.prices([math.sqrt(0.01 * 0.1)])[0] == pytest.approx(math.sqrt(0.1), rel=1e-5)
    with pytest.raises(ValueError, match="ascending"):
        net.set_prices((0.1, 0.01), (1.0, 2.0))


def test_score_is_goodput_less_the_priced_error_at_each_rows_target() -> None:
    net = _network()
    obs = torch.randn(5, NUM_FEATURES)
    targets = torch.tensor([0.01, 0.1, 0.3, 0.1, 0.1])
    obs[:, target_index()] = torch.log(targets)
    # window BLER: under the target (no feedback) but for the last two UEs, at twice the
    # target over 20 TBs (full feedback) and over 5 TBs (half of it)
    obs[:, FEATURE_NAMES.index("window_bler")] = torch.tensor([0.0, 0.05, 0.2, 0.2, 0.2])
    obs[:, FEATURE_NAMES.index("log_window_tbs")] = torch.log1p(
        torch.tensor([20.0, 20.0, 20.0, 20.0, 5.0]))
    with torch.no_grad():
        goodput, error = net.heads(obs)
        scores = net(obs)
    extra = FEEDBACK_GAIN * 0.01 / 0.1 * torch.tensor([0.0, 0.0, 0.0, 1.0, 0.5])
    price = (torch.tensor([1.0, 0.1, 0.02, 0.1, 0.1]) + extra)[:, None]
    assert torch.allclose(scores, goodput - price * error, atol=1e-5)
    # the heads do not read the target: changing it alone changes no head output
    other = obs.clone()
    other[:, target_index()] = math.log(0.05)
    with torch.no_grad():
        assert torch.equal(net.heads(other)[0], goodput)


def test_onnx_export_computes_the_same_scores(tmp_path: Path) -> None:
    from training.export import export_onnx

    net = _network()
    path = export_onnx(net, tmp_path / "t.onnx", {"model_id": "teacher-labels",
                                                  "version": "test", "kind": "teacher",
                                                  "target_bler_range": [0.01, 0.3]},
                       latency_budget_us=None)
    obs = np.random.default_rng(0).normal(size=(32, NUM_FEATURES)).astype(np.float32)
    obs[:, target_index()] = np.log(np.linspace(0.005, 0.5, 32))
    with torch.no_grad():
        expected = net(torch.from_numpy(obs)).numpy()
    got = open_session(path).run(None, {"observation": obs})[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_labels_are_what_the_genie_maximizes() -> None:
    cfg = config.scenario("mimo").config(64)
    sim = LinkSimulator(cfg, 3)
    for _ in range(30):
        sim.step(np.full(64, 5))
    rows = np.flatnonzero(sim.needs_decision())
    goodput, error, valid = sim.mcs_outcomes(rows)
    assert rows.size and goodput.shape == error.shape == valid.shape == (rows.size, 29)
    assert np.all((error >= 0) & (error <= 1)) and np.all(goodput >= 0)
    expected = sim.expected_goodput(rows=rows) / sim.reward_scale_bits()[rows][:, None]
    np.testing.assert_allclose(goodput[valid], expected[valid], rtol=1e-5)
    # the lowest MCS almost never fails where the top one often does
    assert error[:, 0].mean() < 0.05 < error[valid[:, 27], 27].mean()


def test_mcs_outside_the_table_is_invalid_and_counts_as_an_error() -> None:
    cfg = config.scenario("mmimo").config(16)  # MCS table 2: top MCS 27
    assert int(cfg.mcs_table[0]) == nr_tables.QAM256
    sim = LinkSimulator(cfg, 0)
    rows = np.flatnonzero(sim.needs_decision())
    _, error, valid = sim.mcs_outcomes(rows)
    assert not valid[:, 28].any() and valid[:, :28].all() and np.all(error[:, 28] == 1)


def test_an_episode_depends_on_its_seed_alone() -> None:
    spec = Episode(ues=32, slots=40, epsilon=0.2, keep=0.5)
    a = run_episode(episode_seed(7, 0, 1), spec, None)
    b = run_episode(episode_seed(7, 0, 1), spec, None)
    c = run_episode(episode_seed(7, 0, 2), spec, None)
    assert len(a) > 0 and np.array_equal(a.obs, b.obs) and np.array_equal(a.error, b.error)
    assert len(a) != len(c) or not np.array_equal(a.obs, c.obs)
    # every UE reports its own target, within the trained range
    targets = np.exp(a.obs[:, target_index()])
    assert targets.min() >= 0.0099 and targets.max() <= 0.3001 and np.unique(targets).size > 5


def test_calibration_raises_the_price_of_a_target_overshot_and_lowers_the_other() -> None:
    net = _network()
    before = net.prices([0.02, 0.3])
    cal = calibrate(net, seed=0, ues=40, slots=200, interval=20, targets=(0.02, 0.3),
                    scenario="mmimo")
    # this untrained network overshoots 2% and stays under 30% in mmimo (seed 0, deterministic)
    assert cal["worst_bler"][0] > 0.02 and cal["worst_bler"][1] < 0.3
    assert cal["prices"][0] > before[0] and cal["prices"][1] < before[1]
    assert net.prices([0.02, 0.3]) == pytest.approx(cal["prices"], rel=1e-3, abs=1e-5)
    assert cal["worst_scenario"] == ["mmimo", "mmimo"] and cal["bler"] == cal["worst_bler"]


def test_the_random_teacher_is_calibrated_on_its_worst_benchmark_scenario() -> None:
    assert calibration_scenarios("random") == config.BENCHMARK_SCENARIOS
    assert calibration_scenarios("bursty") == ("bursty",)
    cal = calibrate(_network(), seed=0, ues=60, slots=60, interval=20, targets=(0.02, 0.3))
    assert set(cal["worst_scenario"]) <= set(config.BENCHMARK_SCENARIOS)
    # the worst scenario's BLER bounds the pooled one from above
    assert all(w >= b for w, b in zip(cal["worst_bler"], cal["bler"], strict=True))


def test_observation_of_a_simulated_report_carries_the_target() -> None:
    cfg = config.scenario("mimo").config(4).with_target_bler(0.02)
    sim = LinkSimulator(cfg, 0)
    assert np.allclose(observe(sim.reports)[:, target_index()], math.log(0.02))


@pytest.mark.slow  # Ray start and a tiny run: about 20 s
def test_smoke_run_exports_a_teacher_with_its_card(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["train-label-teacher", "--profile", "smoke", "--out", str(out)]) == 0
    card = read_card(out / "teacher.onnx")
    assert card["kind"] == "teacher" and card["model_id"] == "teacher-labels-random"
    assert card["target_bler_range"] == [0.01, 0.3]
    assert card["training"]["command"].startswith("linkadapt train-label-teacher --profile smoke")
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["rounds"]) == 2 and summary["samples"] > 0
    assert summary["ray_nodes"] and summary["rounds"][0]["calibration"]["prices"]
    capsys.readouterr()
    # a second run into the same directory is refused unless --overwrite
    assert main(["train-label-teacher", "--profile", "smoke", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "already holds a run" in err and "Traceback" not in err


def test_bad_options_are_refused_by_name(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train-label-teacher", "--profile", "smoke", "--seed", "-1",
                 "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "--seed" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()
    assert main(["train-label-teacher", "--actors", "0", "--out", str(tmp_path / "y")]) == 2
    assert "--actors" in capsys.readouterr().err


def test_rounds_grow_the_samples_field_by_field_as_a_join_would() -> None:
    from training.label_teacher.collect import Samples
    from training.label_teacher.pipeline import _append

    spec = Episode(ues=16, slots=40, epsilon=0.2, keep=1.0)
    first, second = (run_episode(episode_seed(1, 0, e), spec, None) for e in (0, 1))
    columns: dict[str, np.ndarray] = {}
    _append(columns, first)
    _append(columns, second)
    grown, joined = Samples(**columns), Samples.join([first, second])
    assert len(grown) == len(first) + len(second) > 0
    for name in Samples._fields:
        assert np.array_equal(getattr(grown, name), getattr(joined, name))
