"""A fleet of real ``linkadapt serve`` processes on one model store, driven by the emulator.

The driver runs the gNB emulator's cells (training.sim.emulator: link simulator,
reports, gRPC streams) against the replicas and records, for every slot's answer,
when it was sent and received and which model (``model_id``, ``version``) it
names, so that tests can check each answer against the store's activation timeline.
"""

from __future__ import annotations

import asyncio
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conftest import AUTH, TOKEN

from training.sim.emulator import (
    LOCAL_FALLBACK,
    SERVICE_FALLBACK,
    Cell,
    EmulatorOptions,
    SlotFailure,
    Transport,
)

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
        command = [sys.executable, "-m", "linkadapt.cli", "serve", "--insecure",
                   "--host", "127.0.0.1",
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
    """One slot's decisions as the emulated gNB saw them."""

    cell: int
    replica: int
    sent: float
    received: float
    model: tuple[str, str]
    from_model: bool


class FailoverTransport:
    """The emulator's transport over several replicas: a failed call goes to the next one.

    A gNB with several xApp endpoints, its own first: a stream that the service
    ends (a replica stopping) or a connection refused is retried, the same
    request, on the next replica; only when every replica fails is the slot
    failed. Each slot tries the cell's own replica first, so a restarted one gets
    its traffic back.
    """

    def __init__(self, transports: list[Transport]) -> None:
        self.transports = transports
        self.last = 0  # which transport answered the last request

    async def decide(self, request: Any) -> Any:
        failures = []
        for index, transport in enumerate(self.transports):
            try:
                response = await transport.decide(request)
            except SlotFailure as exc:
                failures.append(f"replica {index}: {exc}")
                continue
            self.last = index
            return response
        raise SlotFailure("; ".join(failures))

    async def close(self) -> None:
        for transport in self.transports:
            await transport.close()


@dataclass
class Driver:
    """The gNB emulator's cells driving the fleet over gRPC streams until stopped.

    Each cell is a :class:`training.sim.emulator.Cell` (its own link simulator,
    reports, decision stream and bookkeeping); every slot's answer is recorded
    with the model it names.

    Args:
        targets: gRPC addresses of the replicas.
        failover: one cell per replica whose transport fails over to the others
            when its replica stops; otherwise one cell per replica, pinned to it.

    """

    targets: Sequence[str]
    failover: bool = False
    pause_s: float = 0.002
    answers: list[Answer] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _answered: threading.Condition = field(default_factory=threading.Condition)

    def start(self) -> None:
        self._thread = threading.Thread(target=asyncio.run, args=(self._run(),), daemon=True)
        self._thread.start()

    def wait_for(self, wanted: Callable[[Answer], bool], timeout_s: float = 30) -> Answer:
        """Block until an answer that is ``wanted`` arrives (or has); fail past ``timeout_s``."""
        seen = 0

        def newly_wanted() -> Answer | None:  # each answer is looked at once
            nonlocal seen
            new, seen = self.answers[seen:], len(self.answers)
            return next((a for a in new if wanted(a)), None)

        with self._answered:
            found = self._answered.wait_for(newly_wanted, timeout_s)
        assert found is not None, f"no such answer within {timeout_s} s; {self.failures[:3]}"
        return found

    def stop(self) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(60)
        assert not self._thread.is_alive()

    async def _run(self) -> None:
        cells = []
        for i, target in enumerate(self.targets):
            cell = Cell(i, EmulatorOptions(target=target, ues_per_cell=4, seed=15, stream=True,
                                           timeout_ms=2000))
            if self.failover:
                order = [*self.targets[i:], *self.targets[:i]]
                cell.transport = FailoverTransport(  # type: ignore[assignment]
                    [Transport(t, True, 2.0) for t in order])
            cells.append(cell)
        try:
            await asyncio.gather(*(self._drive(cell) for cell in cells))
        finally:
            for cell in cells:
                await cell.transport.close()

    async def _drive(self, cell: Cell) -> None:
        while not self._stop.is_set():
            cell.prepare()
            sent = time.monotonic()
            await cell.exchange(deadline_ns=2_000_000_000, strict=False)
            received = time.monotonic()
            if cell.slot_model == LOCAL_FALLBACK:
                self.failures.append(f"cell {cell.index}: {cell.last_failure}")
            elif cell.slot_model:
                replica = cell.index
                if isinstance(cell.transport, FailoverTransport):
                    replica = (cell.index + cell.transport.last) % len(self.targets)
                model_id, _, version = cell.slot_model.partition("@")
                with self._answered:
                    self.answers.append(Answer(cell.index, replica, sent, received,
                                               (model_id, version),
                                               cell.slot_model != SERVICE_FALLBACK))
                    self._answered.notify_all()
            cell.step()
            await asyncio.sleep(self.pause_s)


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
