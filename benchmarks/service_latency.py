"""Latency and throughput of the running xApp, against a bare grpcio echo.

Starts ``linkadapt serve`` (serving a random 3x32 MLP with the student's shape,
built here with onnx.helper: the figures are about the service, not the policy)
and a bare ``grpc.aio`` echo server in subprocesses, then measures from this
process, one request at a time:

* echo unary / echo stream: the floor Python grpcio sets on this machine;
* stream 1 UE, stream 1000 UEs, unary 1 UE, REST 1 UE through the service;
* decisions/s: 1000-UE batches over the stream;
* RSS of the service process.

Usage: ``python benchmarks/service_latency.py [--n 2000] [--json]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import queue
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
from google.protobuf import json_format
from onnx import TensorProto, helper, numpy_helper

from xapp import features, nr_tables
from xapp._proto.linkadapt.v1 import linkadapt_pb2 as pb
from xapp._proto.linkadapt.v1 import linkadapt_pb2_grpc as pb_grpc
from xapp.model_card import write_model_card

ECHO_SERVER = """
import asyncio, sys, grpc
async def unary(request, context):
    return request
async def stream(requests, context):
    async for r in requests:
        yield r
async def main():
    server = grpc.aio.server()
    ident = lambda b: b
    handler = grpc.method_handlers_generic_handler("echo.Echo", {
        "Unary": grpc.unary_unary_rpc_method_handler(unary, ident, ident),
        "Stream": grpc.stream_stream_rpc_method_handler(stream, ident, ident)})
    server.add_generic_rpc_handlers((handler,))
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


def student_model(path: Path) -> None:
    """Write a random MLP 43-32-32-32-29 (the 3x32 student's shape) with a model card."""
    rng = np.random.default_rng(0)
    widths = (features.NUM_FEATURES, 32, 32, 32, nr_tables.NUM_ACTIONS)
    nodes, inits, x = [], [], "observation"
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        inits += [numpy_helper.from_array(rng.standard_normal((a, b)).astype(np.float32), f"w{i}"),
                  numpy_helper.from_array(np.zeros(b, np.float32), f"b{i}")]
        last = i == len(widths) - 2
        nodes += [helper.make_node("MatMul", [x, f"w{i}"], [f"m{i}"]),
                  helper.make_node("Add", [f"m{i}", f"b{i}"], ["q_values" if last else f"z{i}"])]
        if not last:
            nodes.append(helper.make_node("Relu", [f"z{i}"], [f"a{i}"]))
            x = f"a{i}"
    graph = helper.make_graph(
        nodes, "bench",
        [helper.make_tensor_value_info("observation", TensorProto.FLOAT, ["batch", 43])],
        [helper.make_tensor_value_info("q_values", TensorProto.FLOAT, ["batch", 29])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    write_model_card(model, {
        "model_id": "bench-3x32", "version": "1", "feature_schema_version": 1,
        "num_features": 43, "num_actions": 29, "action_map": "mcs_index", "kind": "test",
        "parameter_count": sum(int(np.prod(t.dims)) for t in inits),
        "created": "2025-01-01T00:00:00+00:00"})
    path.write_bytes(model.SerializeToString())


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


def timed(call: Callable[[], object], n: int) -> dict[str, float]:
    for _ in range(min(200, n)):
        call()
    times = np.empty(n)
    for i in range(n):
        start = time.perf_counter()
        call()
        times[i] = time.perf_counter() - start
    return {"p50_us": float(np.percentile(times, 50) * 1e6),
            "p99_us": float(np.percentile(times, 99) * 1e6), "mean_us": float(times.mean() * 1e6)}


class StreamCaller:
    """Send one message on an open stream and wait for its reply."""

    def __init__(self, method: Any) -> None:
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._replies = method(iter(self._q.get, None))

    def __call__(self, message: Any) -> Any:
        """Send ``message`` and return its reply."""
        self._q.put(message)
        return next(self._replies)

    def close(self) -> None:
        """End the stream."""
        self._q.put(None)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(n: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="linkadapt-bench-"))
    student_model(tmp / "student.onnx")
    grpc_port, http_port, echo_port = free_port(), free_port(), free_port()
    env = {**os.environ, "LINKADAPT_LOG_LEVEL": "warning"}
    service = subprocess.Popen(
        [sys.executable, "-m", "linkadapt.cli", "serve", "--host", "127.0.0.1",
         "--grpc-port", str(grpc_port), "--http-port", str(http_port), "--model-store",
         str(tmp / "store"), "--default-model", str(tmp / "student.onnx"),
         "--max-batch-size", "4096"], env=env)
    echo = subprocess.Popen([sys.executable, "-c", ECHO_SERVER, str(echo_port)])
    try:
        wait_port(grpc_port)
        wait_port(http_port)
        wait_port(echo_port)
        ue = json_format.ParseDict(REPORT, pb.UeReport())
        one = pb.DecisionRequest(schema_version=1, cell_id=1, slot=1, reports=[ue])
        big = pb.DecisionRequest(schema_version=1, cell_id=1, slot=1, reports=[ue] * 1000)
        results: dict[str, Any] = {}
        with grpc.insecure_channel(f"127.0.0.1:{echo_port}") as channel:
            payload = one.SerializeToString()
            unary = channel.unary_unary("/echo.Echo/Unary")
            results["echo_unary"] = timed(lambda: unary(payload), n)
            stream = StreamCaller(channel.stream_stream("/echo.Echo/Stream"))
            results["echo_stream"] = timed(lambda: stream(payload), n)
            stream.close()
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            stub = pb_grpc.LinkAdaptationStub(channel)
            assert stub.Decide(one).decisions[0].source == pb.DECISION_SOURCE_MODEL
            stream = StreamCaller(stub.StreamDecisions)
            results["stream_1ue"] = timed(lambda: stream(one), n)
            results["stream_1000ue"] = timed(lambda: stream(big), max(50, n // 20))
            start, batches = time.perf_counter(), max(20, n // 50)
            for _ in range(batches):
                stream(big)
            results["decisions_per_s"] = batches * 1000 / (time.perf_counter() - start)
            stream.close()
            results["unary_1ue"] = timed(lambda: stub.Decide(one), n)
        body = {"schema_version": 1, "cell_id": 1, "slot": 1, "reports": [REPORT]}
        # Without TCP_NODELAY, headers and body go out in two segments and Nagle plus
        # delayed ACK add 40 ms to every request.
        transport = httpx.HTTPTransport(
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
        with httpx.Client(base_url=f"http://127.0.0.1:{http_port}", transport=transport) as client:
            results["rest_1ue"] = timed(lambda: client.post("/v1/decisions", json=body), n)
        results["service_rss_mb"] = rss_mb(service.pid)
    finally:
        service.terminate()
        echo.terminate()
        service.wait(30)
        echo.wait(30)
    results["stream_ratio_to_echo_p50"] = (results["stream_1ue"]["p50_us"]
                                           / results["echo_stream"]["p50_us"])
    results["unary_ratio_to_echo_p50"] = (results["unary_1ue"]["p50_us"]
                                          / results["echo_unary"]["p50_us"])
    results["p50_us"] = results["stream_1ue"]["p50_us"]
    results["p99_us"] = results["stream_1ue"]["p99_us"]
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="timed requests per 1-UE mode")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    results = run(args.n)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for name, value in results.items():
        if isinstance(value, dict):
            print(f"{name:16s} p50 {value['p50_us']:8.0f} us   p99 {value['p99_us']:8.0f} us")
        else:
            print(f"{name:28s} {value:10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
