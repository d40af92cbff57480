import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import TOKEN, mlp_bytes

from linkadapt.cli import main
from xapp.settings import SettingsError, load_settings


def test_settings_precedence_and_fail_fast(tmp_path: Path) -> None:
    config = tmp_path / "config-file.json"
    config.write_text(json.dumps({"name": "linkadapt", "controls": {
        "grpc_port": 6000, "http_port": 6001, "max_batch_size": 10}}))
    env = {"LINKADAPT_CONFIG": str(config), "LINKADAPT_HTTP_PORT": "7001"}
    settings = load_settings({"max_batch_size": 20, "grpc_port": None}, environ=env)
    assert (settings.grpc_port, settings.http_port, settings.max_batch_size) == (6000, 7001, 20)
    assert load_settings(environ={}).grpc_port == 50051
    with pytest.raises(SettingsError, match="grpc_port"):
        load_settings(environ={"LINKADAPT_GRPC_PORT": "70000"})
    with pytest.raises(SettingsError, match="max_batch_sise"):
        load_settings({"max_batch_sise": 3}, environ={})
    with pytest.raises(SettingsError, match="needs an admin token"):
        load_settings({"decisions_require_token": True}, environ={})


def test_default_target_bler_from_flag_env_and_config_file(tmp_path: Path) -> None:
    assert load_settings(environ={}).default_target_bler == 0.1
    config = tmp_path / "config-file.json"
    config.write_text(json.dumps({"controls": {"default_target_bler": 0.05}}))
    assert load_settings(environ={}, config_file=config).default_target_bler == 0.05
    env = {"LINKADAPT_DEFAULT_TARGET_BLER": "0.02"}
    assert load_settings(environ=env, config_file=config).default_target_bler == 0.02
    assert load_settings({"default_target_bler": 0.2}, environ=env).default_target_bler == 0.2
    for bad in ("0", "1", "-0.1", "1.5", "nan", "inf", "ten"):
        with pytest.raises(SettingsError, match="default_target_bler"):
            load_settings(environ={"LINKADAPT_DEFAULT_TARGET_BLER": bad})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_command_models_command_and_sigterm(tmp_path: Path, capsys) -> None:
    http = _free_port()
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    # no embedded default: this test expects nothing to roll back to
    env = {**os.environ, "LINKADAPT_ADMIN_TOKEN_FILE": str(token_file),
           "LINKADAPT_LOG_LEVEL": "warning", "LINKADAPT_DEFAULT_MODEL": ""}
    proc = subprocess.Popen(
        [sys.executable, "-m", "linkadapt.cli", "serve", "--insecure", "--host", "127.0.0.1",
         "--grpc-port", "0", "--http-port", str(http), "--model-store", str(tmp_path / "store")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{http}"
        for _ in range(200):
            try:
                if httpx.get(f"{url}/ric/v1/health/alive", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        model = tmp_path / "m.onnx"
        model.write_bytes(mlp_bytes("cli", "1"))
        common = ["models", "--url", url, "--token-file", str(token_file)]
        assert main([*common, "upload", str(model), "--activate"]) == 0
        assert json.loads(capsys.readouterr().out)["model_id"] == "cli"
        assert main([*common, "list"]) == 0
        assert json.loads(capsys.readouterr().out)["active"] == "cli@1"
        assert main([*common, "rollback"]) == 1
        assert "no previous model" in capsys.readouterr().err
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("LINKADAPT_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(("argv", "env", "named"), [
    (["--grpc-port", "70000"], {}, "--grpc-port: Input should be less than or equal to 65535"),
    (["--max-batch-size", "0"], {}, "--max-batch-size: "),
    (["--default-model", "/no/such.onnx"], {}, "--default-model: the default model file"),
    ([], {"LINKADAPT_HTTP_PORT": "http"}, "LINKADAPT_HTTP_PORT: Input should be a valid integer"),
    ([], {"LINKADAPT_LATENCY_BUDGET_US": "-1"}, "LINKADAPT_LATENCY_BUDGET_US: "),
    (["--config", "{config}"], {}, "config-file.json: controls.fallback_backoff: "),
    (["--default-target-bler", "0"], {}, "--default-target-bler: "),
    ([], {"LINKADAPT_DEFAULT_TARGET_BLER": "1.5"}, "LINKADAPT_DEFAULT_TARGET_BLER: "),
])
def test_serve_errors_name_what_the_user_typed(
    argv: list[str], env: dict[str, str], named: str, tmp_path: Path, capsys,
    monkeypatch: pytest.MonkeyPatch, clean_env: None,
) -> None:
    config = tmp_path / "config-file.json"
    config.write_text(json.dumps({"controls": {"fallback_backoff": 99}}))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["serve", *(a.replace("{config}", str(config)) for a in argv)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("linkadapt serve: error: "), err
    assert named in err[0], err[0]


def test_serve_help_shows_every_default(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    options = help_text.split(" options: ", 1)[1].split(" Each flag ", 1)[0]
    entries = [e for e in options.split(" --") if not e.startswith("-h")][1:]
    assert len(entries) >= 12
    for entry in entries:  # "grpc-port GRPC_PORT gRPC port (default: 50051; ...)"
        assert "(default: " in entry, entry
