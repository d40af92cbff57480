"""``linkadapt serve`` refuses to start with one line and exit status 2.

The command runs as a subprocess, as an operator runs it: a traceback, a warning
about a never-awaited coroutine or a server that starts anyway (the subprocess
times out) all fail these tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import TOKEN, make_settings, mlp_bytes

from xapp.model_check import Limits
from xapp.registry import Registry
from xapp.service import Service, StartupError
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


def _store_is_a_file(tmp_path: Path) -> Path:
    path = tmp_path / "store"
    path.write_text("not a directory")
    return path


def _store_with_state(text: str) -> Callable[[Path], Path]:
    def make(tmp_path: Path) -> Path:
        path = tmp_path / "store"
        path.mkdir()
        (path / "state.json").write_text(text)
        return path
    return make


def _unwritable_store(tmp_path: Path) -> Path:
    # sysfs refuses a new top-level directory even to root (a chmod'ed one would not).
    if not Path("/sys/kernel").is_dir():
        pytest.skip("needs Linux sysfs")
    return Path("/sys/linkadapt-store")


@pytest.mark.parametrize(("make_store", "reason"), [
    (_store_is_a_file, "Not a directory"),
    (_store_with_state("{not json"), "state.json is not valid JSON"),
    (_store_with_state(json.dumps({"format": 99, "active": None})), "unknown store format 99"),
    (_unwritable_store, "not permitted"),
], ids=["regular file", "corrupt state", "unknown format", "unwritable"])
def test_unusable_model_store(tmp_path: Path, make_store: Callable[[Path], Path],
                              reason: str) -> None:
    store = make_store(tmp_path)
    _assert_refused(_serve(store=store), f"model store {store}", reason)


def test_missing_default_model(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "default.onnx"
    _assert_refused(_serve("--default-model", str(missing), store=tmp_path / "store"),
                    f"default model file {missing} does not exist")
    with pytest.raises(SettingsError, match="default_model: the default model file"):
        load_settings({"default_model": missing}, environ={})


def test_invalid_default_model(tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x01 not a model" * 10)
    _assert_refused(_serve("--default-model", str(broken), store=tmp_path / "store"),
                    f"default model {broken} is not a valid model", "not an ONNX model")


def test_invalid_default_model_refused_even_with_an_active_stored_model(
        tmp_path: Path) -> None:
    """Rollback can lead back to the default: a broken one is found at start-up."""
    store = tmp_path / "store"
    registry = Registry(store, Limits(latency_budget_us=5000.0), lambda *_: None)
    registry.upload(mlp_bytes("stored", "1"))
    registry.activate("stored@1")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(mlp_bytes(out_width=28))
    with pytest.raises(StartupError, match=f"default model {broken} is not a valid model"):
        Service(make_settings(store, default_model=broken))
    assert Service(make_settings(store)).core.policy.card.key == "stored@1"
