"""``make run`` (scripts/demo.py) on a machine where another server holds its ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def held() -> Iterator[tuple[int, int]]:
    """Two loopback-and-wildcard ports: the first held by another listening server."""
    with socket.socket() as other, socket.socket() as spare:
        other.bind(("0.0.0.0", 0))
        other.listen()
        spare.bind(("0.0.0.0", 0))
        free = int(spare.getsockname()[1])
        spare.close()
        yield int(other.getsockname()[1]), free


def _demo(http_port: int, grpc_port: int, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINKADAPT_")}
    env.update({"LINKADAPT_HTTP_PORT": str(http_port), "LINKADAPT_GRPC_PORT": str(grpc_port),
                "LINKADAPT_MODEL_STORE": str(tmp_path / "store"),
                "PYTHONPATH": str(REPO)})
    # A demo that starts anyway would serve until the timeout: that fails the test too.
    return subprocess.run([sys.executable, str(REPO / "scripts" / "demo.py"), "--once"],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("taken", ["REST", "gRPC"])
def test_busy_ports_fail_with_one_line_before_any_decision(
    held: tuple[int, int], taken: str, tmp_path: Path
) -> None:
    busy, free = held
    http_port, grpc_port = (busy, free) if taken == "REST" else (free, busy)
    result = _demo(http_port, grpc_port, tmp_path)
    assert result.returncode != 0
    assert result.stdout == ""  # no readiness, no decision
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"{taken} port {busy}" in lines[0] and "in use" in lines[0]
    assert not (tmp_path / "store").exists()  # nothing was started
