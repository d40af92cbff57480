"""How long an activation takes to reach every replica of a fleet sharing one model store.

Starts ``--replicas`` ``linkadapt serve`` processes on one temporary store, then
``--activations`` times uploads a new random MLP (the 3x32 student's shape) with
``?activate=true`` through the next replica in turn, and polls
``GET /v1/models/active`` on every replica every 10 ms until all of them serve it.
The figure per activation is the time from the end of the operator's call to the
moment the last replica reported the new model (what ``store_poll_s``, 0.5 s by
default, and a model load cost). Printed as mean, median and maximum.

Usage: ``python benchmarks/fleet_propagation.py [--replicas 3] [--activations 10] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

# tests/synthetic.py makes the random test models: reachable from the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.synthetic import random_mlp

TOKEN = "bench-admin-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def call(method: str, url: str, data: bytes | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Authorization": f"Bearer {TOKEN}",
                                              "Content-Type": "application/octet-stream"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def start(store: Path, poll_s: float) -> tuple[subprocess.Popen[bytes], str]:
    http_port = free_port()
    env = {**os.environ, "LINKADAPT_ADMIN_TOKEN": TOKEN, "LINKADAPT_STORE_POLL_S": str(poll_s)}
    process = subprocess.Popen(
        [sys.executable, "-m", "linkadapt.cli", "serve", "--insecure", "--host", "127.0.0.1",
         "--grpc-port", str(free_port()), "--http-port", str(http_port), "--model-store",
         str(store), "--log-level", "warning", "--latency-budget-us", "20000"], env=env)
    return process, f"http://127.0.0.1:{http_port}"


def wait_ready(url: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if call("GET", f"{url}/ric/v1/health/ready")[0] == 200:
                return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.1)
    raise SystemExit(f"replica {url} not ready within {timeout_s:g} s")


def measure(replicas: int, activations: int, poll_s: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        fleet = [start(Path(tmp) / "store", poll_s) for _ in range(replicas)]
        try:
            for _, url in fleet:
                wait_ready(url)
            seconds = []
            for i in range(activations):
                through = fleet[i % replicas][1]
                model = random_mlp("bench-fleet", str(i), hidden=(32, 32, 32), seed=i)
                status, body = call("POST", f"{through}/v1/models?activate=true", model)
                if status != 201:
                    raise SystemExit(f"activation {i} refused: {status} {body}")
                done = time.monotonic()
                pending = {url for _, url in fleet}
                while pending:
                    for url in list(pending):
                        if call("GET", f"{url}/v1/models/active")[1]["version"] == str(i):
                            pending.discard(url)
                    time.sleep(0.01)
                seconds.append(time.monotonic() - done)
        finally:
            for process, _ in fleet:
                process.send_signal(signal.SIGTERM)
            for process, _ in fleet:
                process.wait(30)
    return {"replicas": replicas, "activations": activations, "store_poll_s": poll_s,
            "propagation_s": {"mean": statistics.fmean(seconds),
                              "median": statistics.median(seconds), "max": max(seconds)}}


def main() -> None:
    """Measure and print the propagation times."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--activations", type=int, default=10)
    parser.add_argument("--store-poll-s", type=float, default=0.5)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = measure(args.replicas, args.activations, args.store_poll_s)
    if args.json:
        print(json.dumps(result))
        return
    p = result["propagation_s"]
    print(f"{args.replicas} replicas, {args.activations} activations, store_poll_s "
          f"{args.store_poll_s:g}: an activation reached every replica in {p['mean']:.3f} s on "
          f"average (median {p['median']:.3f} s, max {p['max']:.3f} s)")


if __name__ == "__main__":
    main()
