"""``linkadapt serve`` refuses to start with one line and exit status 2, and leaves nothing behind.

The command runs as a subprocess, as an operator runs it: a traceback, a warning
about a never-awaited coroutine or a server that starts anyway (the subprocess
times out) all fail these tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TOKEN, make_settings, mlp_bytes

from xapp.lifecycle import Bound, serve
from xapp.model_check import Limits
from xapp.registry import Registry
from xapp.service import Service, StartupError
from xapp.settings import SettingsError, load_settings

REPO = Path(__file__).resolve().parents[2]


def _serve(*flags: str, store: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINKADAPT_")}
    env.update({"LINKADAPT_ADMIN_TOKEN": TOKEN, "LINKADAPT_LOG_LEVEL": "warning"})
    command = [sys.executable, "-m", "linkadapt.cli", "serve", "--insecure", "--host",
               "127.0.0.1", "--grpc-port", "0", "--http-port", "0", "--model-store", str(store),
               *flags]
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


@pytest.fixture
def listening() -> Iterator[int]:
    """A loopback port someone else listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_rest_port_in_use(tmp_path: Path, listening: int) -> None:
    result = _serve("--http-port", str(listening), store=tmp_path / "store")
    _assert_refused(result, f"REST on 127.0.0.1:{listening}", "Address already in use")


def test_grpc_port_in_use(tmp_path: Path, listening: int) -> None:
    result = _serve("--grpc-port", str(listening), store=tmp_path / "store")
    _assert_refused(result, f"gRPC on 127.0.0.1:{listening}", "Address already in use")
    assert "add_port" not in result.stderr, result.stderr  # no log line of gRPC's C core


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


def test_a_default_model_not_trained_for_the_default_target_stops_serve(tmp_path: Path) -> None:
    """The embedded default is trained for 1..30%: a 50% default cannot be served."""
    _assert_refused(_serve("--default-target-bler", "0.5", store=tmp_path / "store"),
                    "is not a valid model", "target_bler_range 0.01..0.3 does not include the "
                    "service's default_target_bler 0.5")


def test_a_schema_1_default_model_stops_serve_naming_the_versions(tmp_path: Path) -> None:
    old = REPO / "tests" / "data" / "schema1-default.onnx"
    _assert_refused(_serve("--default-model", str(old), store=tmp_path / "store"),
                    f"default model {old} is not a valid model",
                    "feature_schema_version is 1, this service needs 2")


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


def test_a_failed_rest_bind_stops_the_started_grpc_server(tmp_path: Path,
                                                          listening: int) -> None:
    grpc_port = _free_port()
    settings = make_settings(tmp_path / "store", grpc_port=grpc_port, http_port=listening)
    with pytest.raises(StartupError, match=f"REST on 127.0.0.1:{listening}"):
        asyncio.run(serve(settings, handle_signals=False))
    assert _is_free(grpc_port)


def test_a_failing_start_callback_stops_both_servers(tmp_path: Path) -> None:
    seen: list[Bound] = []

    def on_started(service: Service, bound: Bound) -> None:
        seen.append(bound)
        raise RuntimeError("the caller's start-up failed")

    settings = make_settings(tmp_path / "store")
    with pytest.raises(RuntimeError, match="caller's start-up"):
        asyncio.run(serve(settings, on_started=on_started, handle_signals=False))
    assert seen
    assert _is_free(seen[0].grpc_port)
    assert _is_free(seen[0].http_port)


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def test_addresses_put_ipv6_hosts_in_brackets() -> None:
    from xapp.settings import host_port

    assert host_port("0.0.0.0", 50051) == "0.0.0.0:50051"
    assert host_port("::", 50051) == "[::]:50051"
    assert host_port("::1", 0) == "[::1]:0"
    assert host_port("[::1]", 7) == "[::1]:7"


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback on this host")
def test_the_service_serves_grpc_and_rest_on_an_ipv6_host(start_service: Callable[..., Any]
                                                          ) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    running = start_service(host="::1")
    with grpc.insecure_channel(f"[::1]:{running.bound.grpc_port}") as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(),
                                                          timeout=10)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    with socket.create_connection(("::1", running.bound.http_port), timeout=10) as sock:
        sock.sendall(b"GET /ric/v1/health/alive HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert sock.recv(64).startswith(b"HTTP/1.1 200")
