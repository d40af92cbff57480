"""``linkadapt serve`` refuses to start with one line and exit status 2.

The command runs as a subprocess, as an operator runs it: a traceback, a warning
about a never-awaited coroutine or a server that starts anyway (the subprocess
times out) all fail these tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TOKEN

from xapp.settings import SettingsError, load_settings

REPO = Path(__file__).resolve().parents[2]


def _serve(*flags: str, store: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINKADAPT_")}
    env.update({"LINKADAPT_ADMIN_TOKEN": TOKEN, "LINKADAPT_LOG_LEVEL": "warning"})
    command = [sys.executable, "-m", "linkadapt.cli", "serve", "--host", "127.0.0.1",
               "--grpc-port", "0", "--http-port", "0", "--model-store", str(store), *flags]
    # A service that starts despite the error never exits: the timeout fails the test.
    return subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=60)


def _assert_refused(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    ours = [line for line in result.stderr.splitlines() if line.startswith("linkadapt serve:")]
    assert result.returncode == 2, result.stderr
    assert len(ours) == 1, result.stderr
    for part in expected:
        assert part in ours[0], result.stderr
    for noise in ("Traceback", "never awaited", "Exception ignored", "Event loop is closed"):
        assert noise not in result.stderr, result.stderr


def test_missing_default_model(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "default.onnx"
    _assert_refused(_serve("--default-model", str(missing), store=tmp_path / "store"),
                    f"default model file {missing} does not exist")
    with pytest.raises(SettingsError, match="default_model: the default model file"):
        load_settings({"default_model": missing}, environ={})
