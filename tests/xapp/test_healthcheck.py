"""The container HEALTHCHECK probes the port the service resolved, however it was given."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from certificates import make_pki

from xapp.healthcheck import alive_url, serve_arguments, served_settings

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_serve_arguments_are_found_in_the_command_line() -> None:
    cmdline = ["/usr/local/bin/python3", "/usr/local/bin/linkadapt", "serve", "--http-port", "9"]
    assert serve_arguments(cmdline) == ["--http-port", "9"]
    with pytest.raises(ValueError, match="not a 'linkadapt serve' command line"):
        serve_arguments(["sleep", "infinity"])


def test_without_a_pid_the_service_is_found_behind_an_init_process() -> None:
    from xapp.healthcheck import _is_service

    assert _is_service(["/usr/local/bin/python3", "/usr/local/bin/linkadapt", "serve"])
    assert _is_service(["python", "-m", "linkadapt.cli", "serve", "--http-port", "1"])
    assert not _is_service(["/catatonit", "--", "linkadapt", "emulate"])
    assert not _is_service(["python", "-c", "pass", "serve"])


def test_the_port_follows_the_services_own_precedence(tmp_path: Path) -> None:
    config = tmp_path / "config-file.json"
    config.write_text(json.dumps({"controls": {"http_port": 9100}}))
    from_file = {"LINKADAPT_CONFIG": str(config)}
    assert served_settings([], {}).http_port == 8080
    assert served_settings([], from_file).http_port == 9100
    assert served_settings(["--config", str(config)], {}).http_port == 9100
    env = {**from_file, "LINKADAPT_HTTP_PORT": "9200"}
    assert served_settings([], env).http_port == 9200
    assert served_settings(["--http-port", "9300", "--log-level", "info"], env).http_port == 9300


@pytest.mark.parametrize(("host", "url"), [
    ("0.0.0.0", "http://127.0.0.1:8080/ric/v1/health/alive"),
    ("::", "http://[::1]:8080/ric/v1/health/alive"),
    ("10.1.2.3", "http://10.1.2.3:8080/ric/v1/health/alive"),
])
def test_a_wildcard_bind_address_is_probed_on_loopback(host: str, url: str) -> None:
    assert alive_url(served_settings(["--host", host], {})) == url


def _healthcheck(pid: int, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "xapp.healthcheck", "--pid", str(pid), *flags],
                          cwd=REPO, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("given_by", ["flag", "service environment"])
def test_a_service_is_healthy_on_its_own_port_and_a_non_service_is_not(
        tmp_path: Path, given_by: str) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINKADAPT_")}
    env["LINKADAPT_LOG_LEVEL"] = "warning"
    flags = ["--http-port", str(port)]
    if given_by != "flag":  # only the service has it: the check reads /proc/PID/environ
        env["LINKADAPT_HTTP_PORT"], flags = str(port), []
    service = subprocess.Popen(
        [sys.executable, "-m", "linkadapt.cli", "serve", "--insecure", "--host",
         "127.0.0.1", "--grpc-port", "0", *flags, "--model-store", str(tmp_path / "s")],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while (result := _healthcheck(service.pid)).returncode != 0:
            assert service.poll() is None, service.communicate()[1]
            assert time.monotonic() < deadline, result.stderr
            time.sleep(0.5)
        assert result.stderr == ""
    finally:
        service.terminate()
        service.wait(timeout=30)
    idle = _free_port()  # a "serve" command line whose port nobody listens on
    sleepers = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", *extra])
                for extra in ([], ["serve", "--http-port", str(idle)])]
    try:
        not_serve, not_listening = (_healthcheck(p.pid) for p in sleepers)
    finally:
        for sleeper in sleepers:
            sleeper.kill()
            sleeper.wait()
    assert not_serve.returncode == 1
    assert not_serve.stderr.startswith(
        "healthcheck: cannot tell the service's REST port: not a 'linkadapt serve' command line")
    assert not_listening.returncode == 1
    assert not_listening.stderr.startswith(
        f"healthcheck: http://127.0.0.1:{idle}/ric/v1/health/alive: ")


def test_the_check_speaks_mutual_tls_to_a_tls_service(tmp_path: Path) -> None:
    """Under (mutual) TLS the check trusts the served certificate and presents it."""
    pki = make_pki(tmp_path / "pki")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINKADAPT_")}
    env.update({"LINKADAPT_LOG_LEVEL": "warning", "LINKADAPT_TLS_CERT": str(pki.server.cert),
                "LINKADAPT_TLS_KEY": str(pki.server.key)})
    service = subprocess.Popen(
        [sys.executable, "-m", "linkadapt.cli", "serve", "--host", "127.0.0.1",
         "--grpc-port", "0", "--http-port", str(port), "--model-store", str(tmp_path / "s"),
         "--tls-client-ca", str(pki.ca.cert)],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while (result := _healthcheck(service.pid)).returncode != 0:
            assert service.poll() is None, service.communicate()[1]
            assert time.monotonic() < deadline, result.stderr
            time.sleep(0.5)
        assert result.stderr == ""
        assert _healthcheck(service.pid, "--ready").returncode == 0  # the embedded model
        given = _healthcheck(service.pid, "--tls-ca", str(pki.ca.cert), "--tls-cert",
                             str(pki.client.cert), "--tls-key", str(pki.client.key))
        assert given.returncode == 0, given.stderr
        wrong = _healthcheck(service.pid, "--tls-ca", str(pki.rogue_ca.cert))
        assert wrong.returncode == 1
        assert wrong.stderr.count("\n") == 1 and "--tls-ca" in wrong.stderr, wrong.stderr
        assert wrong.stderr.startswith(f"healthcheck: https://127.0.0.1:{port}/")
    finally:
        service.terminate()
        service.wait(timeout=30)


def test_the_probe_imports_neither_onnx_nor_onnx_runtime() -> None:
    # Under TLS the chart's probes run this module every few seconds: it must stay light.
    code = ("import sys, xapp.healthcheck; "
            "print(sorted(m for m in ('onnx', 'onnxruntime', 'torch') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
