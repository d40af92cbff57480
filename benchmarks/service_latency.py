"""Latency and throughput of the running xApp, against a bare grpcio echo.

Starts ``linkadapt serve`` (serving a random 3x32 MLP with the student's shape,
built here with onnx.helper: the figures are about the service, not the policy)
and a bare ``grpc.aio`` echo server (identity serializers, no protobuf) in
subprocesses (benchmarks/service_servers.py), then measures from this process,
one request in flight at a time, the wall time from sending a request to holding
its decoded reply (with this client's garbage collector paused while it times,
as ``timeit`` does):

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
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from google.protobuf import json_format

# The servers, and xapp: reachable from the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import service_servers as servers
from xapp._proto.linkadapt.v1 import linkadapt_pb2 as pb
from xapp.columns import encode_columns
from xapp.proto_reports import batch_from_protos

REPORT: dict[str, Any] = {
    "ue_id": 1, "mcs_table": "MCS_TABLE_QAM64", "wideband_cqi": 9, "cqi_age_slots": 4,
    "rank_indicator": 2, "tb_initial_total": 30, "tb_initial_errors": 3, "last_mcs": 13,
    "ss_sinr_db": 12.5, "ss_rsrp_dbm": -85.0, "buffer_bytes": 120000, "allocated_prbs": 52,
    "num_tx_antennas": 4, "numerology": 1, "csi_period_slots": 20,
    "harq": [{"ack": k % 3 != 0, "mcs": 12, "age_slots": 2 + k} for k in range(8)],
}


BREAKDOWN_STAGES = ("Parse", "Features", "Decision")
_SERVICE = pb.DESCRIPTOR.services_by_name["LinkAdaptation"].full_name


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
            decide = channel.unary_unary(f"/{_SERVICE}/Decide", request_serializer=servers.ident,
                                         response_deserializer=pb.DecisionResponse.FromString)
            await decide(requests["one_bytes"])

    return await timed_async(connect_and_decide, max(20, n // 20))


async def measure_service(channel: Any, n: int, requests: dict[str, Any]) -> dict[str, Any]:
    """Time the service's gRPC modes on ``channel`` (plaintext or TLS)."""
    results: dict[str, Any] = {}
    big_n = max(50, n // 10)
    columns_n = max(200, n // 2)  # the 1000-UE goal is a p99: enough samples to estimate it
    # Requests go out as the bytes serialized above; replies are decoded.
    decide = channel.unary_unary(f"/{_SERVICE}/Decide", request_serializer=servers.ident,
                                 response_deserializer=pb.DecisionResponse.FromString)
    open_stream = channel.stream_stream(
        f"/{_SERVICE}/StreamDecisions", request_serializer=servers.ident,
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


def run(n: int, pin: bool = True, breakdown: bool = False, tls: bool = False) -> dict[str, Any]:
    if pin:
        os.sched_setaffinity(0, {0})
    tmp = Path(tempfile.mkdtemp(prefix="linkadapt-bench-"))
    service, echoes, ports = servers.start_servers(tmp, pin, breakdown)
    if tls:
        tls_service, files = servers.start_tls_service(tmp, pin, ports)
        echoes.append(tls_service)
    requests = build_requests()
    results: dict[str, Any] = {"pinned": "servers on CPU 1, client on CPU 0" if pin else "no",
                               "load_average_before": os.getloadavg()[0]}
    try:
        for port in ports.values():
            servers.wait_port(port)
        results.update(asyncio.run(measure_grpc(ports, n, requests)))
        client = HttpClient(ports["http"])
        status, body = client.send(requests["rest"])
        assert status == 200, body
        rest = requests["rest"]
        results["rest_1ue"] = timed(lambda: json.loads(client.send(rest)[1]), n)
        client.close()
        results["service_rss_mb"] = servers.rss_mb(service.pid)
        if tls:
            over_tls = asyncio.run(measure_tls(ports["tls_grpc"], n, requests, files))
            client = HttpClient(ports["tls_http"], servers.client_context(files))
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
