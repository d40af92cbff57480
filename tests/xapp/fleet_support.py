"""A fleet of real ``linkadapt serve`` processes on one model store, and a gNB-like driver.

The driver plays the gNB side: it sends one-UE ``Decide`` calls over gRPC and
records, for every answer, when it was sent and received and which model
(``model_id``, ``version``) it names, so that tests can check each answer
against the store's activation timeline.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from conftest import AUTH, TOKEN
from test_grpc_server import request

from xapp._proto.linkadapt.v1 import linkadapt_pb2 as pb
from xapp._proto.linkadapt.v1 import linkadapt_pb2_grpc as pb_grpc

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http(method: str, url: str, data: bytes | None = None, timeout: float = 30
         ) -> tuple[int, Any]:
    """Call the REST API with the admin token; return the status and the decoded body."""
    req = urllib.request.Request(url, data=data, method=method, headers=dict(AUTH))
    if data is not None:
        req.add_header("content-type", "application/octet-stream")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


class Replica:
    """One ``linkadapt serve`` process on fixed loopback ports (so it can restart on them)."""

    def __init__(self, store: Path, log_dir: Path, index: int) -> None:
        self.store = store
        self.index = index
        self.grpc_port, self.http_port = free_port(), free_port()
        self.log_path = log_dir / f"replica-{index}.log"
        self.http = f"http://127.0.0.1:{self.http_port}"
        self.grpc = f"127.0.0.1:{self.grpc_port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LINKADAPT_")}
        env.update({"LINKADAPT_ADMIN_TOKEN": TOKEN, "LINKADAPT_LOG_LEVEL": "info",
                    "LINKADAPT_SHUTDOWN_GRACE_S": "2"})
        command = [sys.executable, "-m", "linkadapt.cli", "serve", "--host", "127.0.0.1",
                   "--grpc-port", str(self.grpc_port), "--http-port", str(self.http_port),
                   "--model-store", str(self.store), "--latency-budget-us", "20000"]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, env=env, cwd=REPO, stdout=log,
                                            stderr=subprocess.STDOUT)

    def wait_ready(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, self.log()
            try:
                if http("GET", f"{self.http}/ric/v1/health/ready", timeout=2)[0] == 200:
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"replica {self.index} not ready:\n{self.log()}")

    def stop(self) -> None:
        """SIGTERM, as Kubernetes stops a pod; in-flight calls finish."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)

    def active(self) -> tuple[str, str, int]:
        """``(model_id, version, generation)`` this replica serves."""
        status, body = http("GET", f"{self.http}/v1/models/active", timeout=5)
        assert status == 200, body
        return body["model_id"], body["version"], body["generation"]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Fleet:
    """Replicas sharing one store."""

    replicas: list[Replica]

    @classmethod
    def start(cls, tmp_path: Path, size: int) -> Fleet:
        store = tmp_path / "store"
        fleet = cls([Replica(store, tmp_path, i) for i in range(size)])
        for replica in fleet.replicas:
            replica.start()
        for replica in fleet.replicas:
            replica.wait_ready()
        return fleet

    def stop(self) -> None:
        for replica in self.replicas:
            replica.stop()

    def wait_all_serve(self, model: tuple[str, str], bound_s: float) -> float:
        """Seconds until every replica reports ``model``; fails past ``bound_s``."""
        start = time.monotonic()
        pending = set(range(len(self.replicas)))
        while pending:
            for i in list(pending):
                if self.replicas[i].active()[:2] == model:
                    pending.discard(i)
            elapsed = time.monotonic() - start
            assert not pending or elapsed < bound_s, (
                f"replicas {sorted(pending)} do not serve {model} {elapsed:.2f} s after it "
                f"was activated")
            time.sleep(0.02)
        return time.monotonic() - start


@dataclass(frozen=True)
class Answer:
    """One decision as the gNB saw it."""

    replica: int
    sent: float
    received: float
    model: tuple[str, str]
    from_model: bool


@dataclass
class Driver:
    """Threads sending one-UE ``Decide`` calls to the fleet until stopped.

    Args:
        targets: gRPC addresses of the replicas.
        failover: one client over all replicas that tries the next one when a
            call fails (a gNB with several xApp endpoints); otherwise one client
            per replica, each failure counted.

    """

    targets: Sequence[str]
    failover: bool = False
    pause_s: float = 0.005
    answers: list[Answer] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        lanes = [list(range(len(self.targets)))] if self.failover else [
            [i] for i in range(len(self.targets))]
        for lane in lanes:
            thread = threading.Thread(target=self._run, args=(lane,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _run(self, lane: list[int]) -> None:
        # A gNB retries a restarted endpoint within a second, not after gRPC's default
        # backoff (1 s growing to 120 s), so that a rolled replica takes traffic again.
        options = [("grpc.initial_reconnect_backoff_ms", 100),
                   ("grpc.min_reconnect_backoff_ms", 100), ("grpc.max_reconnect_backoff_ms", 500)]
        channels = {i: grpc.insecure_channel(self.targets[i], options=options) for i in lane}
        stubs = {i: pb_grpc.LinkAdaptationStub(c) for i, c in channels.items()}
        slot, turn = 0, 0
        try:
            while not self._stop.is_set():
                slot += 1
                req = request(1, slot=slot)
                errors = []
                for attempt in range(len(lane)):
                    i = lane[(turn + attempt) % len(lane)]
                    sent = time.monotonic()
                    try:
                        response = stubs[i].Decide(req, timeout=2)
                    except grpc.RpcError as exc:
                        errors.append(f"replica {i}: {exc.code().name} {exc.details()}")
                        continue
                    decision = response.decisions[0]
                    self.answers.append(Answer(
                        i, sent, time.monotonic(), (decision.model_id, decision.model_version),
                        decision.source == pb.DECISION_SOURCE_MODEL))
                    break
                else:
                    self.failures.append("; ".join(errors))
                turn += 1
                time.sleep(self.pause_s)
        finally:
            for channel in channels.values():
                channel.close()


@dataclass
class Timeline:
    """When each model was active in the store, as seen by the operator's calls.

    A model became active no earlier than the start of the call that activated
    it and stopped being active no later than the end of the call that replaced it.
    """

    spans: list[tuple[tuple[str, str], float, float]] = field(default_factory=list)

    def begin(self, model: tuple[str, str], at: float) -> None:
        self.spans.append((model, at, float("inf")))

    def end_current(self, at: float) -> None:
        model, begun, _ = self.spans[-1]
        self.spans[-1] = (model, begun, at)

    def plausible(self, answer: Answer, lag_s: float) -> bool:
        """Whether ``answer``'s model was active while it was asked, give or take ``lag_s``.

        ``lag_s``: how long a replica may keep serving a model after the store moved on.
        """
        return any(model == answer.model and begun <= answer.received
                   and answer.sent <= ended + lag_s
                   for model, begun, ended in self.spans)
