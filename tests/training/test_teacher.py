"""Teacher training on real (local) Ray: smoke runs, determinism, resume, export, bad input."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, get_args

import numpy as np
import pytest
import torch

from linkadapt.cli import main
from linkadapt.commands import train_teacher as teacher_command
from training import teacher
from training.cards import teacher_card
from training.dqn import DqnConfig, DqnLearner, td_targets, valid_actions
from training.export import read_card
from training.networks import student_network, teacher_network
from training.replay import Batch, ReplayBuffer, Transitions
from training.rollout import RolloutConfig, learning_reward
from training.teacher_config import REWARD_FLAGS
from training.teacher_run import ProfileName, TrainTeacherConfig
from xapp.features import FEATURE_NAMES, NUM_FEATURES


def test_teacher_network_has_seven_hidden_layers_and_about_105k_parameters() -> None:
    net = teacher_network()
    linear = [m for m in net.mlp if isinstance(m, torch.nn.Linear)]
    assert len(linear) == 8  # 7 hidden + output
    assert net.parameter_count() == 108_573


def test_double_dqn_targets_use_online_argmax_and_mask_table_2() -> None:
    online, target = teacher_network(), teacher_network()
    obs = torch.zeros(2, NUM_FEATURES)
    obs[1, FEATURE_NAMES.index("table_qam256")] = 1.0
    mask = valid_actions(obs)
    assert mask[0].all() and not mask[1, 28] and mask[1, :28].all()
    batch = Batch(obs, torch.tensor([0, 1]), torch.tensor([0.5, -0.1]), obs)
    y = td_targets(online, target, batch, gamma=0.5)
    with torch.no_grad():
        best = online(obs).masked_fill(~mask, float("-inf")).argmax(1)
        expected = batch.rewards + 0.5 * target(obs).gather(1, best[:, None])[:, 0]
    torch.testing.assert_close(y, expected)


def test_learner_fits_a_bandit_and_refreshes_its_target() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)  # tiny batches: threads only contend on a busy machine
    learner = DqnLearner(student_network("4x64"), DqnConfig(gamma=0.0, batch_size=64,
                                                      target_update_interval=10,
                                                      learning_rate=1e-3))
    rng = np.random.default_rng(0)
    replay = ReplayBuffer(1000)
    obs = rng.normal(size=(1000, NUM_FEATURES)).astype(np.float32)
    actions = rng.integers(0, 29, 1000)
    rewards = (actions == 7).astype(np.float32)  # only MCS 7 pays
    replay.add(Transitions(obs, actions, rewards, obs))
    losses = [learner.update(replay.sample(rng, 64)) for _ in range(300)]
    assert np.mean(losses[-20:]) < np.mean(losses[:20]) / 3
    assert learner.updates == 300
    with torch.no_grad():
        q = learner.online(torch.from_numpy(obs[:50])).numpy()
    assert (q.argmax(1) == 7).mean() > 0.9
    for a, b in zip(learner.online.state_dict().values(),
                    learner.target.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)  # refreshed at update 300


def test_learner_keeps_the_q_values_it_stepped_from() -> None:
    torch.manual_seed(1)
    learner = DqnLearner(student_network("3x32"), DqnConfig(batch_size=32, learning_rate=1e-2))
    rng = np.random.default_rng(1)
    replay = ReplayBuffer(100)
    obs = rng.normal(size=(100, NUM_FEATURES)).astype(np.float32)
    replay.add(Transitions(obs, rng.integers(0, 29, 100), np.ones(100, np.float32), obs))
    batch = replay.sample(rng, 32)
    assert learner.last_q_values is None
    with torch.no_grad():
        before = learner.online(batch.obs)
    learner.update(batch)
    assert learner.last_q_values is not None and not learner.last_q_values.requires_grad
    torch.testing.assert_close(learner.last_q_values, before)  # the step's own forward pass
    with torch.no_grad():
        assert not torch.allclose(learner.online(batch.obs), before)  # the step moved it


def _states(window_bler: list[float], window_tbs: list[int]) -> np.ndarray:
    obs = np.zeros((len(window_bler), NUM_FEATURES), dtype=np.float32)
    obs[:, FEATURE_NAMES.index("window_bler")] = window_bler
    obs[:, FEATURE_NAMES.index("log_window_tbs")] = np.log1p(window_tbs)
    return obs


def test_learning_reward_costs_a_share_of_the_block_and_more_above_the_ceiling() -> None:
    cfg = RolloutConfig(harq_credit=0.0, nack_penalty=0.01, nack_cost=0.1, bler_floor=0.0,
                        bler_ceiling=0.1, ceiling_cost=1.0, window_min_tbs=10)
    # rows: decoded; failed below the ceiling; failed above it; failed above it on too
    # few TBs to count; failed exactly at the ceiling
    obs = _states([0.3, 0.05, 0.2, 0.5, 0.1], [50, 50, 50, 9, 50])
    decoded = np.array([True, False, False, False, False])
    reward = np.array([0.4, 0.0, 0.0, 0.0, 0.0])
    tb_value = np.array([0.4, 0.5, 0.5, 0.5, 0.2])
    got = learning_reward(cfg, obs, decoded, reward, tb_value)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, [0.4, -(0.01 + 0.05), -(0.01 + 0.55), -(0.01 + 0.05),
                                     -(0.01 + 0.02)], rtol=1e-6)


def test_failures_earn_a_credit_below_the_floor_and_cost_above_the_ceiling() -> None:
    cfg = RolloutConfig(harq_credit=0.1, bler_floor=0.05, floor_credit=0.5, bler_ceiling=0.15,
                        ceiling_cost=1.0, window_min_tbs=3)
    # below the floor; in the band; above the ceiling; below the floor on too few TBs
    obs = _states([0.02, 0.10, 0.30, 0.0], [40, 40, 40, 2])
    got = learning_reward(cfg, obs, np.zeros(4, dtype=bool), np.zeros(4), np.full(4, 0.4))
    np.testing.assert_allclose(got, [0.4 * 0.6, 0.4 * 0.1, 0.4 * -0.9, 0.4 * 0.1], rtol=1e-6)


def test_reward_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="nack_cost must be >= 0"):
        RolloutConfig(nack_cost=-0.1)
    with pytest.raises(ValueError, match="bler_ceiling"):
        RolloutConfig(bler_ceiling=float("nan"))
    with pytest.raises(ValueError, match="harq_credit must be within"):
        RolloutConfig(harq_credit=1.5)
    with pytest.raises(ValueError, match=r"bler_floor .* must not exceed bler_ceiling"):
        RolloutConfig(bler_floor=0.2, bler_ceiling=0.1)


def test_replay_ring_keeps_the_newest() -> None:
    replay = ReplayBuffer(5)
    for start in (0, 3, 6):
        a = np.arange(start, start + 3)
        obs = np.repeat(a[:, None], NUM_FEATURES, axis=1).astype(np.float32)
        replay.add(Transitions(obs, a, a.astype(np.float32), obs))
    assert len(replay) == 5
    seen = set(replay.sample(np.random.default_rng(0), 200).actions.tolist())
    assert seen == {4, 5, 6, 7, 8}


@pytest.mark.slow  # several Ray runs; CI runs it
def test_smoke_run_with_two_ray_actors_exports_a_teacher(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    assert main(["train-teacher", "--profile", "smoke", "--actors", "2", "--out", str(out),
                 "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["simulations"] == pytest.approx(4.0)
    assert (out / "checkpoint.pt").is_file()
    config = json.loads((out / "config.json").read_text())
    assert config["actors"] == 2 and config["profile"] == "smoke"
    assert any((out / "tensorboard").iterdir())
    card = read_card(out / "teacher.onnx")
    assert card["kind"] == "teacher" and card["parameter_count"] == 108_573
    assert card["training"]["config"]["actors"] == 2
    assert card["training"]["resumes"] == 0 and "--simulations" not in card["training"]["command"]


def test_card_records_extended_and_resumed_runs() -> None:
    cfg = teacher.profile("smoke", simulations=6, seed=2)
    result = teacher.TrainResult(student_network("3x32"), cfg,
                                 teacher.Progress(simulations=6.0, resumes=1), [])
    training = teacher_card(result)["training"]
    assert training["command"].startswith(
        "linkadapt train-teacher --profile smoke --seed 2 --simulations 6 ")
    assert training["resumes"] == 1
    wide = teacher_card(teacher.TrainResult(
        student_network("3x32"), teacher.profile("quick", hidden=(160,) * 7),
        teacher.Progress(), []))
    assert wide["training"]["command"].startswith(
        "linkadapt train-teacher --profile quick --seed 0 --hidden 7x160 ")
    named = teacher_card(result, "retrain-2")
    assert named["version"] == "retrain-2" and teacher_card(result)["version"] == "smoke-s2"
    assert named["training"]["command"].endswith(" --model-version retrain-2")


def test_help_states_the_reward_and_network_every_profile_starts_from() -> None:
    assert set(get_args(ProfileName)) == set(teacher.PROFILES)
    fields = TrainTeacherConfig.__pydantic_fields__  # type: ignore[attr-defined]
    for cfg in teacher.PROFILES.values():
        for name in REWARD_FLAGS:
            text = " ".join(str(fields[name].description).split())
            assert text.endswith(f"(default: the profile's, {getattr(cfg.rollout, name):g})")
        assert str(fields["hidden"].description).endswith(
            f"(default: the profile's, {len(cfg.hidden)}x{cfg.hidden[0]})")


def _weights_after(tmp: Path, seed: int) -> list[torch.Tensor]:
    cfg = teacher.profile("smoke", simulations=2, seed=seed)
    result = teacher.train(cfg, tmp)
    return [v.clone() for v in result.net.state_dict().values()]


@pytest.mark.slow  # several Ray runs; CI runs it
def test_one_actor_runs_are_deterministic_given_the_seed(tmp_path: Path) -> None:
    a = _weights_after(tmp_path / "a", 3)
    b = _weights_after(tmp_path / "b", 3)
    c = _weights_after(tmp_path / "c", 4)
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
    assert any(not torch.equal(x, z) for x, z in zip(a, c, strict=True))


@pytest.mark.slow  # several Ray runs; CI runs it
def test_resume_continues_from_the_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = teacher.train(teacher.profile("smoke", simulations=2), out)
    updates_before = first.history[-1]["train/updates"]
    state = teacher.load_checkpoint(out / "checkpoint.pt")
    cfg = teacher.TeacherConfig.from_dict(state["config"])
    cfg = teacher.TeacherConfig.from_dict({**cfg.to_dict(), "simulations": 3})
    second = teacher.train(cfg, out, resume=out / "checkpoint.pt")
    assert second.progress.resumes == 1
    assert second.progress.simulations == pytest.approx(3.0)
    assert second.history[-1]["train/updates"] > updates_before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--resume", "/nonexistent/checkpoint.pt"], "does not exist"),
        (["--scenario", "atlantis"], "unknown scenario 'atlantis'"),
        (["--ray-address", "127.0.0.1:1"], "cannot reach the Ray cluster at 127.0.0.1:1"),
        (["--ray-address", "nonsense"], "HOST:PORT"),
        (["--actors", "0"], "--actors must be at least 1"),
        (["--nack-cost", "-1"], "--nack-cost must be >= 0"),
        (["--bler-ceiling", "1.5"], "--bler-ceiling must be within [0, 1]"),
        (["--bler-floor", "0.3"], "--bler-floor (0.3) must not exceed --bler-ceiling (0.12)"),
        (["--hidden", "7by160"], "--hidden must be LAYERSxWIDTH"),
        (["--hidden", "0x128"], "--hidden must be LAYERSxWIDTH"),
        (["--seed", "-1"], "--seed must be from 0 to 4294967295, got -1"),
        (["--seed", str(2**32)], "--seed must be from 0 to 4294967295"),
        (["--model-version", "v 2"], "--model-version 'v 2': a version is 1 to 64 of"),
        (["--model-version", "x" * 65], "a version is 1 to 64 of A-Z a-z 0-9 . _ -"),
        (["--resume", "{tmp}"], "is a directory; give the checkpoint.pt file in it"),
        (["--out", "{tmp}/afile"], "--out '{tmp}/afile' is a file, not a directory"),
        (["--export", "{tmp}"], "--export '{tmp}' is a directory"),
        (["--export", "{tmp}/afile/teacher.onnx"], "'{tmp}/afile' is not a directory"),
    ],
)
def test_bad_input_fails_fast_with_a_clear_message(
        args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "afile").write_text("not a directory")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    started = time.monotonic()
    code = main(["train-teacher", "--profile", "smoke", "--out", str(tmp_path / "x"),
                 "--no-progress", *args])
    assert code == 2
    err = capsys.readouterr().err
    assert message.replace("{tmp}", str(tmp_path)) in err
    assert err.startswith("linkadapt train-teacher: error:") and "Traceback" not in err
    assert not (tmp_path / "x").exists()  # a start that fails writes nothing
    assert time.monotonic() - started < 30


# -- existing runs and --resume ----------------------------------------------------------------


def _fake_run(out: Path, seed: int = 1, simulations: float = 4.0) -> Path:
    """A run directory as a smoke run leaves it, without running one (no Ray)."""
    cfg = teacher.profile("smoke", seed=seed)
    out.mkdir(parents=True)
    learner = DqnLearner(teacher_network(), cfg.dqn)
    teacher._save_checkpoint(out / "checkpoint.pt", learner, cfg,
                             teacher.Progress(simulations=simulations, chunks=8),
                             np.random.default_rng(seed))
    for name in ("config.json", "teacher.onnx"):
        (out / name).write_text(f"the {name} of the run\n")
    return out / "checkpoint.pt"


def _contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _plan(*argv: str) -> teacher_command.TeacherPlan:
    parser = argparse.ArgumentParser()
    teacher_command.add_arguments(parser)
    return teacher_command.plan(parser.parse_args(list(argv)))


def test_a_new_run_refuses_a_directory_that_holds_one(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    checkpoint = _fake_run(tmp_path / "run")
    before = _contents(tmp_path / "run")
    assert main(["train-teacher", "--profile", "smoke", "--seed", "1", "--out",
                 str(tmp_path / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "already holds a teacher run (config.json, checkpoint.pt, teacher.onnx)" in err
    assert f"--resume {checkpoint}" in err and "--overwrite" in err
    assert _contents(tmp_path / "run") == before
    # an existing --export file is another run's model too
    assert main(["train-teacher", "--profile", "smoke", "--out", str(tmp_path / "new"),
                 "--export", str(tmp_path / "run" / "teacher.onnx"), "--no-progress"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
    # --overwrite is the explicit way in; resuming the run in place needs none
    assert _plan("--profile", "smoke", "--out", str(tmp_path / "run"), "--overwrite").cfg.seed == 0
    assert _plan("--resume", str(checkpoint)).out == tmp_path / "run"


def test_resume_refuses_options_that_would_change_the_run(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    checkpoint = _fake_run(tmp_path / "run", seed=1)
    before = _contents(tmp_path / "run")
    assert main(["train-teacher", "--resume", str(checkpoint), "--seed", "2", "--hidden",
                 "3x64", "--profile", "quick", "--bler-floor", "0.05", "--scenario", "mimo",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    for change in ("--profile quick (the checkpoint's: smoke)", "--seed 2 (the checkpoint's: 1)",
                   "--hidden 3x64 (the checkpoint's: 7x128)",
                   "--bler-floor 0.05 (the checkpoint's: 0.08)",
                   "--scenario mimo (the checkpoint's: random)"):
        assert change in err
    assert _contents(tmp_path / "run") == before
    assert main(["train-teacher", "--resume", str(checkpoint), "--simulations", "2"]) == 2
    assert "--simulations 2 is fewer than the 4 the checkpoint has done" in \
        capsys.readouterr().err
    # options that agree with the checkpoint are not conflicts; --simulations and --actors apply
    resumed = _plan("--resume", str(checkpoint), "--profile", "smoke", "--seed", "1",
                    "--hidden", "7x128", "--bler-floor", "0.08", "--simulations", "9",
                    "--actors", "2")
    assert (resumed.cfg.simulations, resumed.cfg.actors, resumed.cfg.seed) == (9, 2, 1)
    assert resumed.cfg.rollout == teacher.profile("smoke").rollout


def test_a_failed_start_changes_nothing_in_the_run(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    checkpoint = _fake_run(tmp_path / "run")
    before = _contents(tmp_path / "run")
    assert main(["train-teacher", "--resume", str(checkpoint), "--ray-address", "127.0.0.1:1",
                 "--no-progress"]) == 2
    assert "cannot reach the Ray cluster" in capsys.readouterr().err
    assert _contents(tmp_path / "run") == before
    # the library too: Ray first, then the run directory
    with pytest.raises(teacher.TrainingError, match="cannot reach the Ray cluster"):
        teacher.train(teacher.profile("smoke", seed=5), tmp_path / "run",
                      ray_address="127.0.0.1:1", resume=checkpoint)
    assert _contents(tmp_path / "run") == before
    assert not (tmp_path / "run" / "tensorboard").exists()


def _edit(data: dict[str, Any], part: str, key: str, value: Any) -> dict[str, Any]:
    data[part][key] = value
    return data


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: {"learner": {}, "config": {}, "progress": {}},
         "is not a linkadapt teacher checkpoint: it has no 'rng' entry"),
        (lambda d: {**d, "config": {}}, "has a config this version cannot use: no 'rollout'"),
        (lambda d: _edit(d, "config", "rollout", {**d["config"]["rollout"], "scenario": "moon"}),
         "has a config this version cannot use: unknown scenario 'moon'"),
        (lambda d: _edit(d, "config", "hidden", [64, 64]),
         "its learner state does not fit the network of its config (hidden 64x64)"),
        (lambda d: _edit(d, "config", "future_field", 1),
         "unexpected keyword argument 'future_field'"),
        (lambda d: _edit(d, "progress", "laps", 3), "has unusable progress counters"),
        (lambda d: {**d, "rng": {"bit_generator": "MT19937"}}, "unusable generator state"),
        (lambda d: [1, 2], "is not a linkadapt teacher checkpoint"),
    ],
)
def test_a_checkpoint_of_another_version_is_refused_by_name(
        edit: Any, message: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    checkpoint = _fake_run(tmp_path / "run")
    torch.save(edit(torch.load(checkpoint, weights_only=False)), checkpoint)
    assert main(["train-teacher", "--resume", str(checkpoint), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and str(checkpoint) in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


# -- interruption and export -----------------------------------------------------------------


def _train_then(interrupt: bool, write_checkpoint: bool) -> Any:
    def fake_train(cfg: teacher.TeacherConfig, run_dir: Path, **_: Any) -> teacher.TrainResult:
        if write_checkpoint:
            _fake_run(run_dir / "written")
            (run_dir / "written" / "checkpoint.pt").replace(run_dir / "checkpoint.pt")
        if interrupt:
            raise KeyboardInterrupt
        return teacher.TrainResult(student_network("3x32"), cfg, teacher.Progress(4.0), [])

    return fake_train


def test_ctrl_c_says_where_the_last_checkpoint_is(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"
    out.mkdir()
    monkeypatch.setattr(teacher, "train", _train_then(interrupt=True, write_checkpoint=True))
    assert main(["train-teacher", "--profile", "smoke", "--out", str(out), "--export",
                 str(tmp_path / "t.onnx"), "--no-progress"]) == 130
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == (f"linkadapt train-teacher: interrupted; last checkpoint {out}/checkpoint.pt; "
                   f"continue with: linkadapt train-teacher --resume {out}/checkpoint.pt "
                   f"--export {tmp_path}/t.onnx")
    monkeypatch.setattr(teacher, "train", _train_then(interrupt=True, write_checkpoint=False))
    assert main(["train-teacher", "--profile", "smoke", "--out", str(tmp_path / "other"),
                 "--no-progress"]) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "linkadapt train-teacher: interrupted; no checkpoint was written yet")


def test_ctrl_c_on_resume_before_a_new_checkpoint_repeats_the_extension(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    checkpoint = _fake_run(tmp_path / "run")
    monkeypatch.setattr(teacher, "train", _train_then(interrupt=True, write_checkpoint=False))
    assert main(["train-teacher", "--resume", str(checkpoint), "--simulations", "8",
                 "--no-progress"]) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(
        f"last checkpoint {checkpoint}; continue with: linkadapt train-teacher --resume "
        f"{checkpoint} --simulations 8 --actors 1")


def test_a_failed_export_says_how_to_export_the_saved_run(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    import training.export

    def no_space(*_: Any, **__: Any) -> Path:
        raise training.export.ExportError("cannot write 'x.onnx': No space left on device")

    monkeypatch.setattr(teacher, "train", _train_then(interrupt=False, write_checkpoint=True))
    monkeypatch.setattr(training.export, "export_onnx", no_space)
    out = tmp_path / "run"
    assert main(["train-teacher", "--profile", "smoke", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "Traceback" not in err
    assert (f"the run is saved in {out}/checkpoint.pt: export it with linkadapt train-teacher "
            f"--resume {out}/checkpoint.pt --export PATH.onnx") in err


@pytest.mark.slow  # a real Ray run, interrupted
def test_sigint_stops_a_real_run_with_the_resume_command(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "linkadapt", "train-teacher", "--profile", "smoke",
         "--simulations", "200", "--out", str(out), "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "checkpoint.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        f"linkadapt train-teacher: interrupted; last checkpoint {out}/checkpoint.pt; "
        f"continue with: linkadapt train-teacher --resume {out}/checkpoint.pt")
    teacher.load_checkpoint(out / "checkpoint.pt")  # complete and usable


def test_corrupt_checkpoint_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "checkpoint.pt"
    bad.write_bytes(b"\x00garbage")
    assert main(["train-teacher", "--resume", str(bad), "--no-progress"]) == 2
    assert "cannot read checkpoint" in capsys.readouterr().err


@pytest.mark.slow  # a real Ray run in a subprocess
def test_ray_start_up_notices_stay_off_the_terminal(tmp_path: Path) -> None:
    # As a user starts it: no RAY_* settings, so Ray enables token authentication for
    # its in-process instance and logs a notice about it, which must not show.
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    run = subprocess.run(
        [str(Path(sys.executable).with_name("linkadapt")), "train-teacher", "--profile",
         "smoke", "--out", str(tmp_path / "run"), "--no-progress"],
        env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    foreign = [line for line in run.stderr.splitlines() if not line.startswith("teacher: ")]
    assert not foreign, "\n".join(foreign)
    placements = json.loads(run.stdout.strip().splitlines()[-1])["ray_nodes"]
    assert len(placements) == 1 and placements[0]["node_id"]
    assert "teacher: rollouts on 1 Ray node: 1 actor on " in run.stderr
