"""Latency and throughput of the running xApp, against a bare grpcio echo.

Starts ``linkadapt serve`` (serving a random 3x32 MLP with the student's shape,
built here with onnx.helper: the figures are about the service, not the policy)
and a bare ``grpc.aio`` echo server (identity serializers, no protobuf) in
subprocesses, then measures from this process, one request in flight at a time,
the wall time from sending a request to holding its decoded reply (with this
client's garbage collector paused while it times, as ``timeit`` does):

* ``echo_unary`` / ``echo_stream``: the floor Python grpcio sets on this machine
  (the 1-UE request's bytes sent and returned: unary call / one message on an
  open bidirectional stream); ``echo_stream_1000ue_columns``: the same for the
  ~100 kB of the 1000-UE columnar request (a reference for the transport's
  share, not a floor: the service answers with ~2 kB); ``echo_stream_inference``:
  the stream echo with one batch-1 ONNX Runtime inference per message (the
  service's own call, ``Policy.q_row``, on a fixed observation), in a server
  of its own: what a decision path cannot go below;
* ``stream_1ue``: one 1-UE ``DecisionRequest`` (8 HARQ entries) on an open
  ``StreamDecisions`` stream, per-UE messages in and out: the headline case;
* ``stream_1000ue_messages``: 1000 UEs as 1000 ``UeReport`` messages, 1000
  ``McsDecision`` messages back (the simple form);
* ``stream_1000ue_columns``: the same 1000 UEs as ``ReportColumns``, answered as
  ``DecisionColumns`` (the fast form);
* ``unary_1ue``: ``Decide`` with the 1-UE request;
* ``rest_1ue``: ``POST /v1/decisions`` with the 1-UE report as JSON, over one
  keep-alive HTTP/1.1 connection with a minimal raw-socket client (httpx costs
  ~0.8 ms per request by itself), the reply's JSON parsed;
* ``decisions_per_s``: 1000-UE columnar requests back to back on one stream;
* ratios of the service's p50/p99 to the echo's, the service's RSS, and the
  load average (1 min) before and after the run;
* with ``--breakdown``, where the service's time goes: echoes (in one more
  server) that run the service's own code on each request before echoing it,
  up to a stage, for the 1-UE and the 1000-UE columnar request:
  ``echo_stream[_1000ue_columns]_parse`` (``DecisionRequest.FromString``),
  ``_features`` (+ ``single_ue.observe_one``, or ``decode_columns`` and
  ``observe``), ``_decision`` (+ the ONNX Runtime inference and the argmax:
  ``DecisionCore.decide_one``, or ``DecisionCore.decide``). The service itself
  adds the reply, the metrics and its handler (and sends ~2 kB back, not 100 kB,
  for the columns).

Every request message is built and serialized before timing starts. By default
(``--pin``) the servers run on CPU 1 and this client on CPU 0, so client and
server do not take turns on one core (the machine has two); ``--no-pin`` lets
the scheduler place them. Each mode warms up for min(200, n) requests first,
then times n requests (1 UE), max(200, n/2) (1000 UEs as columns) or
max(20, n/50) (1000 UEs as messages).
With ``--tls``, a second service runs with mutual TLS (certificates made here with
the ``openssl`` commands of deploy/README.md: an EC P-256 CA, server and client
certificates) and its rows are timed the same way over TLS, beside the plaintext
ones: ``tls_stream_1ue``, ``tls_stream_1000ue_columns``, ``tls_unary_1ue``,
``tls_rest_1ue`` (the raw-socket client wrapped in ``ssl``), their ratios to the
plaintext rows, and ``[tls_]grpc_connect_1ue``: a new channel (TCP, and the TLS
handshake) plus its first ``Decide``, what a gNB pays once per connection.

The machine is shared: run it a few times and compare.

Usage: ``python benchmarks/service_latency.py [--n 2000] [--json] [--no-pin] [--breakdown]
[--tls]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from google.protobuf import json_format

from xapp._proto.linkadapt.v1 import linkadapt_pb2 as pb
from xapp.columns import encode_columns
from xapp.proto_reports import batch_from_protos

# tests/synthetic.py makes the random test models: reachable from the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.synthetic import random_mlp

# A bare echo (identity serializers, no protobuf). With a model path as second
# argument its stream runs one batch-1 inference per message, by the service's own
# call (Policy.q_row) on a fixed observation: what the decision path cannot go below.
# With "breakdown" as third argument it also serves Parse, Features and Decision:
# echoes that first run the service's own code on the request, up to that stage.
ECHO_SERVER = """
import asyncio, sys, grpc
async def unary(request, context):
    return request
async def stream(requests, context):
    async for r in requests:
        yield r
stages = {}
if len(sys.argv) > 2:
    from pathlib import Path
    from xapp.model_check import Limits, check_model
    policy = check_model(Path(sys.argv[2]).read_bytes(), Limits(latency_budget_us=None))
    from xapp.features import NUM_FEATURES
    row = [0.5] * NUM_FEATURES
    async def stream(requests, context):
        async for r in requests:
            policy.q_row(row)
            yield r
if len(sys.argv) > 3:
    from xapp._proto.linkadapt.v1 import linkadapt_pb2 as pb
    from xapp.columns import decode_columns
    from xapp.core import DecisionCore
    from xapp.features import observe
    from xapp.metrics import Metrics
    from xapp.single_ue import observe_one
    from xapp.report_fields import float32
    core = DecisionCore(Metrics())
    core.set_policy(policy)
    default_target = float32(core.default_target_bler)
    parse = pb.DecisionRequest.FromString
    def parsed(raw):
        request = parse(raw)
        return request.reports[0] if request.reports else request.columns
    def features(raw):
        request = parse(raw)
        if request.reports:
            return observe_one(request.reports[0], default_target, policy.card.target_bounds)
        return observe(core.with_targets(decode_columns(request.columns)[1], policy))
    def decision(raw):
        request = parse(raw)
        if request.reports:
            return core.decide_one(request.reports[0])
        return core.decide(decode_columns(request.columns)[1])
    def echo_after(work):
        async def handler(requests, context):
            async for r in requests:
                work(r)
                yield r
        return handler
    stages = {"Parse": echo_after(parsed), "Features": echo_after(features),
              "Decision": echo_after(decision)}
async def main():
    server = grpc.aio.server()
    ident = lambda b: b
    handlers = {"Unary": grpc.unary_unary_rpc_method_handler(unary, ident, ident),
                "Stream": grpc.stream_stream_rpc_method_handler(stream, ident, ident)}
    for name, handler in stages.items():
        handlers[name] = grpc.stream_stream_rpc_method_handler(handler, ident, ident)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("echo.Echo", handlers),))
    server.add_insecure_port("127.0.0.1:" + sys.argv[1])
    await server.start()
    await server.wait_for_termination()
asyncio.run(main())
"""

REPORT: dict[str, Any] = {
    "ue_id": 1, "mcs_table": "MCS_TABLE_QAM64", "wideband_cqi": 9, "cqi_age_slots": 4,
    "rank_indicator": 2, "tb_initial_total": 30, "tb_initial_errors": 3, "last_mcs": 13,
    "ss_sinr_db": 12.5, "ss_rsrp_dbm": -85.0, "buffer_bytes": 120000, "allocated_prbs": 52,
    "num_tx_antennas": 4, "numerology": 1, "csi_period_slots": 20,
    "harq": [{"ack": k % 3 != 0, "mcs": 12, "age_slots": 2 + k} for k in range(8)],
}


BREAKDOWN_STAGES = ("Parse", "Features", "Decision")
_SERVICE = pb.DESCRIPTOR.services_by_name["LinkAdaptation"].full_name


def _identity(data: bytes) -> bytes:
    return data


def student_model(path: Path) -> None:
    """Write a random MLP 44-32-32-32-29 (the 3x32 student's shape) with a model card."""
    path.write_bytes(random_mlp("bench-3x32", hidden=(32, 32, 32), kind="benchmark"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int) -> None:
    for _ in range(300):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"port {port} never opened")


def summary(times: np.ndarray) -> dict[str, float]:
    return {"p50_us": float(np.percentile(times, 50) * 1e6),
            "p99_us": float(np.percentile(times, 99) * 1e6),
            "mean_us": float(times.mean() * 1e6), "n": int(times.size)}


def timed(call: Callable[[], object], n: int) -> dict[str, float]:
    for _ in range(min(200, n)):
        call()
    times = np.empty(n)
    for i in range(n):
        start = time.perf_counter()
        call()
        times[i] = time.perf_counter() - start
    return summary(times)


async def timed_async(call: Callable[[], Awaitable[object]], n: int) -> dict[str, float]:
    for _ in range(min(200, n)):
        await call()
    times = np.empty(n)
    # As timeit does: the measuring client's own garbage collections are not the
    # servers' latency (a gNB is not a Python process).
    gc.collect()
    gc.disable()
    try:
        for i in range(n):
            start = time.perf_counter()
            await call()
            times[i] = time.perf_counter() - start
    finally:
        gc.enable()
    return summary(times)


class StreamCaller:
    """Send one message on an open ``grpc.aio`` stream and wait for its reply."""

    def __init__(self, call: Any) -> None:
        self._call = call

    async def __call__(self, message: Any) -> Any:
        """Send ``message`` and return its reply."""
        await self._call.write(message)
        return await self._call.read()

    async def close(self) -> None:
        """End the stream."""
        await self._call.done_writing()


class HttpClient:
    """A minimal HTTP/1.1 keep-alive client: one socket, TCP_NODELAY, one send per request."""

    def __init__(self, port: int, context: ssl.SSLContext | None = None) -> None:
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = (sock if context is None
                      else context.wrap_socket(sock, server_hostname="127.0.0.1"))
        self._buffer = b""

    @staticmethod
    def request(path: str, body: bytes) -> bytes:
        """Return the bytes of a JSON POST of ``body`` to ``path``."""
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
        return head.encode() + body

    def send(self, request: bytes) -> tuple[int, bytes]:
        """Send a prepared request; return the status and the body of the reply."""
        self._sock.sendall(request)
        while b"\r\n\r\n" not in self._buffer:
            self._buffer += self._recv()
        head, _, rest = self._buffer.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            rest += self._recv()
        self._buffer = rest[length:]
        return int(head.split(b" ", 2)[1]), rest[:length]

    def _recv(self) -> bytes:
        data = self._sock.recv(65536)
        if not data:
            raise ConnectionError("server closed the connection")
        return data

    def close(self) -> None:
        """Close the connection."""
        self._sock.close()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def build_requests() -> dict[str, Any]:
    """Build every request of the run, serialized where the call takes bytes."""
    ue = json_format.ParseDict(REPORT, pb.UeReport())
    one = pb.DecisionRequest(schema_version=2, cell_id=1, slot=1, reports=[ue])
    ue_ids, batch = batch_from_protos([ue] * 1000)
    columns = pb.DecisionRequest(schema_version=2, cell_id=1, slot=1,
                                 columns=encode_columns(batch, ue_ids), columnar_response=True)
    messages = pb.DecisionRequest(schema_version=2, cell_id=1, slot=1, reports=[ue] * 1000)
    body = json.dumps({"schema_version": 2, "cell_id": 1, "slot": 1, "reports": [REPORT]})
    return {
        "echo_bytes": one.SerializeToString(),
        "echo_columns_bytes": columns.SerializeToString(),
        "one_bytes": one.SerializeToString(),
        "messages_1000_bytes": messages.SerializeToString(),
        "columns_1000_bytes": columns.SerializeToString(),
        "rest": HttpClient.request("/v1/decisions", body.encode()),
    }


async def measure_grpc(ports: dict[str, int], n: int, requests: dict[str, Any]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    columns_n = max(200, n // 2)  # the 1000-UE goal is a p99: enough samples to estimate it
    async with grpc.aio.insecure_channel(f"127.0.0.1:{ports['echo']}") as channel:
        unary = channel.unary_unary("/echo.Echo/Unary")
        payload = requests["echo_bytes"]
        results["echo_unary"] = await timed_async(lambda: unary(payload), n)
        stream = StreamCaller(channel.stream_stream("/echo.Echo/Stream")())
        results["echo_stream"] = await timed_async(lambda: stream(payload), n)
        columns_payload = requests["echo_columns_bytes"]
        results["echo_stream_1000ue_columns"] = await timed_async(
            lambda: stream(columns_payload), columns_n)
        await stream.close()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{ports['inference_echo']}") as channel:
        stream = StreamCaller(channel.stream_stream("/echo.Echo/Stream")())
        results["echo_stream_inference"] = await timed_async(
            lambda: stream(requests["echo_bytes"]), n)
        await stream.close()
    if "breakdown_echo" in ports:
        results.update(await measure_breakdown(ports["breakdown_echo"], n, requests))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{ports['grpc']}") as channel:
        results.update(await measure_service(channel, n, requests))
    results["grpc_connect_1ue"] = await timed_connect(
        lambda: grpc.aio.insecure_channel(f"127.0.0.1:{ports['grpc']}"), n, requests)
    return results


async def timed_connect(open_channel: Callable[[], Any], n: int,
                        requests: dict[str, Any]) -> dict[str, float]:
    """A new channel and its first 1-UE ``Decide``, closed after: the per-connection cost."""
    async def connect_and_decide() -> None:
        async with open_channel() as channel:
            decide = channel.unary_unary(f"/{_SERVICE}/Decide", request_serializer=_identity,
                                         response_deserializer=pb.DecisionResponse.FromString)
            await decide(requests["one_bytes"])

    return await timed_async(connect_and_decide, max(20, n // 20))


async def measure_service(channel: Any, n: int, requests: dict[str, Any]) -> dict[str, Any]:
    """Time the service's gRPC modes on ``channel`` (plaintext or TLS)."""
    results: dict[str, Any] = {}
    big_n = max(50, n // 10)
    columns_n = max(200, n // 2)  # the 1000-UE goal is a p99: enough samples to estimate it
    # Requests go out as the bytes serialized above; replies are decoded.
    decide = channel.unary_unary(f"/{_SERVICE}/Decide", request_serializer=_identity,
                                 response_deserializer=pb.DecisionResponse.FromString)
    open_stream = channel.stream_stream(
        f"/{_SERVICE}/StreamDecisions", request_serializer=_identity,
        response_deserializer=pb.DecisionResponse.FromString)
    one, columns = requests["one_bytes"], requests["columns_1000_bytes"]
    first = await decide(one)
    assert first.decisions[0].source == pb.DECISION_SOURCE_MODEL, first
    stream = StreamCaller(open_stream())
    reply = await stream(columns)
    assert len(reply.columns.mcs) == 1000 and not reply.HasField("error"), reply.error
    results["stream_1ue"] = await timed_async(lambda: stream(one), n)
    results["stream_1000ue_columns"] = await timed_async(lambda: stream(columns), columns_n)
    messages = requests["messages_1000_bytes"]
    results["stream_1000ue_messages"] = await timed_async(lambda: stream(messages),
                                                          max(20, big_n // 5))
    batches = max(100, n // 10)
    start = time.perf_counter()
    for _ in range(batches):
        await stream(columns)
    results["decisions_per_s"] = batches * 1000 / (time.perf_counter() - start)
    await stream.close()
    results["unary_1ue"] = await timed_async(lambda: decide(one), n)
    return results


async def measure_breakdown(port: int, n: int, requests: dict[str, Any]) -> dict[str, Any]:
    """Time the echoes that run the service's code up to a stage (``--breakdown``)."""
    results: dict[str, Any] = {}
    columns_n = max(200, n // 2)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        for stage in BREAKDOWN_STAGES:
            stream = StreamCaller(channel.stream_stream(f"/echo.Echo/{stage}")())
            one, columns = requests["one_bytes"], requests["columns_1000_bytes"]
            results[f"echo_stream_{stage.lower()}"] = await timed_async(
                lambda: stream(one), n)  # noqa: B023 - awaited before the loop moves on
            results[f"echo_stream_1000ue_columns_{stage.lower()}"] = await timed_async(
                lambda: stream(columns), columns_n)  # noqa: B023 - likewise
            await stream.close()
    return results


def start_servers(tmp: Path, pin: bool, breakdown: bool = False) -> tuple[
        subprocess.Popen[bytes], list[subprocess.Popen[bytes]], dict[str, int]]:
    student_model(tmp / "student.onnx")
    ports = {"grpc": free_port(), "http": free_port(), "echo": free_port(),
             "inference_echo": free_port()}
    env = {**os.environ, "LINKADAPT_LOG_LEVEL": "warning"}
    server_cpu = {1} if pin else None

    def on_server_cpu() -> None:
        if server_cpu is not None:
            os.sched_setaffinity(0, server_cpu)

    service = subprocess.Popen(
        [sys.executable, "-m", "linkadapt.cli", "serve", "--insecure", "--host", "127.0.0.1",
         "--grpc-port", str(ports["grpc"]), "--http-port", str(ports["http"]), "--model-store",
         str(tmp / "store"), "--default-model", str(tmp / "student.onnx"),
         "--max-batch-size", "4096"], env=env, preexec_fn=on_server_cpu)
    echo = subprocess.Popen([sys.executable, "-c", ECHO_SERVER, str(ports["echo"])],
                            preexec_fn=on_server_cpu)
    inference_echo = subprocess.Popen(
        [sys.executable, "-c", ECHO_SERVER, str(ports["inference_echo"]),
         str(tmp / "student.onnx")], env=env, preexec_fn=on_server_cpu)
    echoes = [echo, inference_echo]
    if breakdown:
        ports["breakdown_echo"] = free_port()
        echoes.append(subprocess.Popen(
            [sys.executable, "-c", ECHO_SERVER, str(ports["breakdown_echo"]),
             str(tmp / "student.onnx"), "breakdown"], env=env, preexec_fn=on_server_cpu))
    return service, echoes, ports


# The by-hand commands of deploy/README.md: an EC P-256 CA, then certificates it signs.
_OPENSSL_CA = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
               "-nodes", "-days", "2", "-subj", "/CN=linkadapt bench CA",
               "-keyout", "ca.key", "-out", "ca.crt"]


def make_certificates(folder: Path) -> dict[str, Path]:
    """CA, server (127.0.0.1, both usages) and client certificates, made with openssl."""
    folder.mkdir()

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl(*_OPENSSL_CA)
    for name, extensions in (
            ("tls", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                    "extendedKeyUsage=serverAuth,clientAuth"),
            ("client", "extendedKeyUsage=clientAuth")):
        (folder / f"{name}.ext").write_text(extensions + "\n")
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-subj", f"/CN=bench-{name}", "-keyout", f"{name}.key", "-out", f"{name}.csr")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-out", f"{name}.crt",
                "-extfile", f"{name}.ext")
    return {name: folder / name for name in
            ("ca.crt", "tls.crt", "tls.key", "client.crt", "client.key")}


def start_tls_service(tmp: Path, pin: bool, ports: dict[str, int]
                      ) -> tuple[subprocess.Popen[bytes], dict[str, Path]]:
    """The same service as the plaintext one, with mutual TLS."""
    files = make_certificates(tmp / "pki")
    ports["tls_grpc"], ports["tls_http"] = free_port(), free_port()

    def on_server_cpu() -> None:
        if pin:
            os.sched_setaffinity(0, {1})

    service = subprocess.Popen(
        [sys.executable, "-m", "linkadapt.cli", "serve", "--host", "127.0.0.1",
         "--grpc-port", str(ports["tls_grpc"]), "--http-port", str(ports["tls_http"]),
         "--model-store", str(tmp / "tls-store"), "--default-model", str(tmp / "student.onnx"),
         "--max-batch-size", "4096", "--tls-cert", str(files["tls.crt"]),
         "--tls-key", str(files["tls.key"]), "--tls-client-ca", str(files["ca.crt"])],
        env={**os.environ, "LINKADAPT_LOG_LEVEL": "warning"}, preexec_fn=on_server_cpu)
    return service, files


async def measure_tls(port: int, n: int, requests: dict[str, Any],
                      files: dict[str, Path]) -> dict[str, Any]:
    """The service's gRPC modes over mutual TLS, and a new TLS channel's first answer."""
    credentials = grpc.ssl_channel_credentials(
        files["ca.crt"].read_bytes(), files["client.key"].read_bytes(),
        files["client.crt"].read_bytes())
    target = f"127.0.0.1:{port}"
    async with grpc.aio.secure_channel(target, credentials) as channel:
        results = await measure_service(channel, n, requests)
    results["grpc_connect_1ue"] = await timed_connect(
        lambda: grpc.aio.secure_channel(target, credentials), n, requests)
    return results


def client_context(files: dict[str, Path]) -> ssl.SSLContext:
    """The REST client's side of mutual TLS."""
    context = ssl.create_default_context(cafile=str(files["ca.crt"]))
    context.load_cert_chain(files["client.crt"], files["client.key"])
    return context


def run(n: int, pin: bool = True, breakdown: bool = False, tls: bool = False) -> dict[str, Any]:
    if pin:
        os.sched_setaffinity(0, {0})
    tmp = Path(tempfile.mkdtemp(prefix="linkadapt-bench-"))
    service, echoes, ports = start_servers(tmp, pin, breakdown)
    if tls:
        tls_service, files = start_tls_service(tmp, pin, ports)
        echoes.append(tls_service)
    requests = build_requests()
    results: dict[str, Any] = {"pinned": "servers on CPU 1, client on CPU 0" if pin else "no",
                               "load_average_before": os.getloadavg()[0]}
    try:
        for port in ports.values():
            wait_port(port)
        results.update(asyncio.run(measure_grpc(ports, n, requests)))
        client = HttpClient(ports["http"])
        status, body = client.send(requests["rest"])
        assert status == 200, body
        rest = requests["rest"]
        results["rest_1ue"] = timed(lambda: json.loads(client.send(rest)[1]), n)
        client.close()
        results["service_rss_mb"] = rss_mb(service.pid)
        if tls:
            over_tls = asyncio.run(measure_tls(ports["tls_grpc"], n, requests, files))
            client = HttpClient(ports["tls_http"], client_context(files))
            assert client.send(rest)[0] == 200
            over_tls["rest_1ue"] = timed(lambda: json.loads(client.send(rest)[1]), n)
            client.close()
            results.update({f"tls_{k}": v for k, v in over_tls.items()})
    finally:
        for server in (service, *echoes):
            server.terminate()
        for server in (service, *echoes):
            server.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)
    for mode, echo_mode in (("stream_1ue", "echo_stream"), ("unary_1ue", "echo_unary"),
                            ("echo_stream_inference", "echo_stream")):
        for q in ("p50", "p99"):
            results[f"{mode}_ratio_to_echo_{q}"] = (results[mode][f"{q}_us"]
                                                    / results[echo_mode][f"{q}_us"])
    if tls:
        for mode in ("stream_1ue", "stream_1000ue_columns", "unary_1ue", "rest_1ue",
                     "grpc_connect_1ue"):
            for q in ("p50", "p99"):
                results[f"tls_{mode}_ratio_to_plaintext_{q}"] = (
                    results[f"tls_{mode}"][f"{q}_us"] / results[mode][f"{q}_us"])
    results["load_average_after"] = os.getloadavg()[0]
    results["p50_us"] = results["stream_1ue"]["p50_us"]
    results["p99_us"] = results["stream_1ue"]["p99_us"]
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="timed requests per 1-UE mode")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--pin", action=argparse.BooleanOptionalAction, default=True,
                        help="servers on CPU 1, client on CPU 0 (default: on)")
    parser.add_argument("--breakdown", action="store_true",
                        help="also time echoes that run the service's code up to each stage")
    parser.add_argument("--tls", action="store_true",
                        help="also time the service over mutual TLS (a second service)")
    args = parser.parse_args()
    if args.pin and len(os.sched_getaffinity(0)) < 2:
        parser.error("--pin needs two CPUs")
    results = run(args.n, args.pin, args.breakdown, args.tls)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for name, value in results.items():
        if isinstance(value, dict):
            print(f"{name:36s} p50 {value['p50_us']:8.0f} us   p99 {value['p99_us']:8.0f} us")
        elif isinstance(value, str):
            print(f"{name:44s} {value}")
        else:
            print(f"{name:44s} {value:10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
