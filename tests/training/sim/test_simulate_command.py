"""``linkadapt simulate`` end to end: KPI table, JSON, plot, and clear errors on bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from linkadapt.cli import main
from training.sim import closed_loop


def test_json_has_the_documented_keys(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--scenario", "mimo", "--policy", "olla:0.7", "--ues", "16",
                 "--slots", "200", "--seed", "3", "--json"]) == 0
    kpis = json.loads(capsys.readouterr().out)
    for key in ("throughput_mbps", "bler", "spectral_efficiency", "mcs_histogram"):
        assert key in kpis
    assert kpis["policy"] == "olla:0.7"
    assert kpis["ues"] == 16 and kpis["slots"] == 200
    assert len(kpis["mcs_histogram"]) == 29


def test_table_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "run.png"
    assert main(["simulate", "--scenario", "random", "--policy", "genie", "--ues", "8",
                 "--slots", "120", "--plot", str(png), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "throughput (mean per UE)" in out and "MCS histogram" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scenario", "nowhere"], "unknown scenario 'nowhere'"),
        (["--speed-kmh", "-3"], "--speed-kmh must be a number >= 0"),
        (["--ues", "0"], "--ues must be at least 1"),
        (["--slots", "0"], "--slots must be at least 1"),
        (["--policy", "/nonexistent/model.onnx"], "cannot read ONNX model"),
        (["--policy", "fixed:99"], "fixed MCS must be in 0..28"),
        (["--plot", "out.jpg"], "--plot must name a .png file"),
        (["--plot", "{tmp}/nodir/x.png"], "directory '{tmp}/nodir' does not exist"),
        (["--plot", "{tmp}/dir.png"], "--plot '{tmp}/dir.png' is a directory"),
        (["--seed", "-1"], "--seed must be >= 0, got -1"),
    ],
)
def test_bad_input_exits_non_zero_with_a_clear_message(
        args: list[str], message: str, capsys: pytest.CaptureFixture[str],
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "dir.png").mkdir()
    ran: list[object] = []
    monkeypatch.setattr(closed_loop, "run", lambda *a, **k: ran.append(a))
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main(["simulate", "--slots", "10", "--ues", "2", *args]) == 2
    err = capsys.readouterr().err
    assert message.replace("{tmp}", str(tmp_path)) in err
    assert "Traceback" not in err
    assert not ran  # refused before the simulation, not after it


def test_console_script_runs_as_a_module() -> None:
    done = subprocess.run([sys.executable, "-m", "linkadapt", "simulate", "--ues", "4",
                           "--slots", "50", "--json"], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ues"] == 4
    unknown = subprocess.run([sys.executable, "-m", "linkadapt", "frobnicate"],
                             capture_output=True, text=True, timeout=60, check=False)
    assert unknown.returncode == 2
    assert "invalid choice" in unknown.stderr


def test_ctrl_c_ends_with_one_line_and_status_130() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "linkadapt", "simulate", "--ues", "64",
                             "--slots", "10000000"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stderr is not None
    first = os.read(proc.stderr.fileno(), 1)  # the progress bar: the run has started
    assert first, "simulate ended before it started"
    proc.send_signal(signal.SIGINT)
    out, rest = proc.communicate(timeout=60)
    err = (first + rest).decode()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and out == b""
    # after the progress bar (cleared on a terminal): the one line
    assert err.endswith("linkadapt simulate: interrupted\n") and err.count("interrupted") == 1


def test_help_names_every_scenario_and_the_command_line_round_trips() -> None:
    import argparse

    from linkadapt.commands import simulate
    from linkadapt.config import command_line, parse_config
    from training.sim import config
    from training.sim.simulate import SimulateConfig

    parser = argparse.ArgumentParser()
    simulate.add_arguments(parser)
    help_line = SimulateConfig.__pydantic_fields__["scenario"].description  # type: ignore[attr-defined]
    assert f"({', '.join(config.SCENARIOS)})" in " ".join(help_line.split())
    cfg = parse_config(SimulateConfig, parser.parse_args(
        ["--scenario", "bursty", "--target-bler", "0.02", "--json", "--plot", "a.png"]))
    line = command_line(["linkadapt", "simulate"], cfg)
    assert line == "linkadapt simulate --scenario bursty --target-bler 0.02 --json --plot a.png"
    assert parse_config(SimulateConfig, parser.parse_args(line.split()[2:])) == cfg
