"""The servers benchmarks/service_latency.py measures, and a bare grpcio echo server.

Run as a script, this is the echo (identity serializers, no protobuf) that
service_latency.py starts as the floor of its figures: ``PORT`` alone serves
``echo.Echo/Unary`` and ``echo.Echo/Stream``; with ``MODEL`` its stream runs one
batch-1 inference per message, by the service's own call (``Policy.q_row``) on a
fixed observation: what the decision path cannot go below; with ``breakdown`` it
also serves ``Parse``, ``Features`` and ``Decision``: echoes that first run the
service's own code on the request, up to that stage.

Imported, it starts those echoes and the ``linkadapt serve`` service (plaintext or
with mutual TLS, the certificates made by the ``openssl`` commands of
deploy/README.md) in subprocesses.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc

# tests/synthetic.py (the random test models) and xapp: reachable from the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ECHO_SCRIPT = Path(__file__).resolve()
_LOG_ENV = {"LINKADAPT_LOG_LEVEL": "warning"}


# --- the echo server (this script) -------------------------------------------------


def ident(data: bytes) -> bytes:
    """Identity (de)serializer: requests and replies stay bytes."""
    return data


async def _unary(request: bytes, context: Any) -> bytes:
    return request


async def _stream(requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:
    async for r in requests:
        yield r


def _inference_stream(policy: Any) -> Callable[..., AsyncIterator[bytes]]:
    """A stream echo that runs one batch-1 inference of ``policy`` per message."""
    from xapp.features import NUM_FEATURES

    row = [0.5] * NUM_FEATURES

    async def stream(requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:
        async for r in requests:
            policy.q_row(row)
            yield r

    return stream


def _echo_after(work: Callable[[bytes], object]) -> Callable[..., AsyncIterator[bytes]]:
    """A stream echo that runs ``work`` on each message before echoing it."""
    async def handler(requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:
        async for r in requests:
            work(r)
            yield r

    return handler


def _breakdown_stages(policy: Any) -> dict[str, Callable[..., AsyncIterator[bytes]]]:
    """The ``Parse``, ``Features`` and ``Decision`` echoes: the service's code up to a stage."""
    from xapp._proto.linkadapt.v1 import linkadapt_pb2 as pb
    from xapp.columns import decode_columns
    from xapp.core import DecisionCore
    from xapp.features import observe
    from xapp.metrics import Metrics
    from xapp.report_fields import float32
    from xapp.single_ue import observe_one

    core = DecisionCore(Metrics())
    core.set_policy(policy)
    default_target = float32(core.default_target_bler)
    parse = pb.DecisionRequest.FromString

    def parsed(raw: bytes) -> object:
        request = parse(raw)
        return request.reports[0] if request.reports else request.columns

    def features(raw: bytes) -> object:
        request = parse(raw)
        if request.reports:
            return observe_one(request.reports[0], default_target, policy.card.target_bounds)
        return observe(core.with_targets(decode_columns(request.columns)[1], policy))

    def decision(raw: bytes) -> object:
        request = parse(raw)
        if request.reports:
            return core.decide_one(request.reports[0])
        return core.decide(decode_columns(request.columns)[1])

    return {"Parse": _echo_after(parsed), "Features": _echo_after(features),
            "Decision": _echo_after(decision)}


async def serve_echo(port: str, model: str | None, breakdown: bool) -> None:
    """Serve the echo on ``127.0.0.1:port`` until terminated."""
    stream, stages = _stream, {}
    if model is not None:
        from xapp.model_check import Limits, check_model

        policy = check_model(Path(model).read_bytes(), Limits(latency_budget_us=None))
        stream = _inference_stream(policy)
        if breakdown:
            stages = _breakdown_stages(policy)
    server = grpc.aio.server()
    handlers = {"Unary": grpc.unary_unary_rpc_method_handler(_unary, ident, ident),
                "Stream": grpc.stream_stream_rpc_method_handler(stream, ident, ident)}
    for name, handler in stages.items():
        handlers[name] = grpc.stream_stream_rpc_method_handler(handler, ident, ident)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("echo.Echo", handlers),))
    server.add_insecure_port("127.0.0.1:" + port)
    await server.start()
    await server.wait_for_termination()


# --- starting the servers ----------------------------------------------------------


def student_model(path: Path) -> None:
    """Write a random MLP 44-32-32-32-29 (the 3x32 student's shape) with a model card."""
    from tests.synthetic import random_mlp

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


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _server_cpu(pin: bool) -> Callable[[], None]:
    """The ``preexec_fn`` that moves a server to CPU 1 (``pin``) or leaves it be."""
    def on_server_cpu() -> None:
        if pin:
            os.sched_setaffinity(0, {1})

    return on_server_cpu


def _serve(ports: tuple[int, int], store: Path, model: Path, pin: bool,
           *tls: str) -> subprocess.Popen[bytes]:
    """Start ``linkadapt serve`` on the (gRPC, HTTP) ``ports``; ``tls``: its TLS flags."""
    grpc_port, http_port = ports
    return subprocess.Popen(
        [sys.executable, "-m", "linkadapt.cli", "serve", *(() if tls else ("--insecure",)),
         "--host", "127.0.0.1", "--grpc-port", str(grpc_port), "--http-port", str(http_port),
         "--model-store", str(store), "--default-model", str(model),
         "--max-batch-size", "4096", *tls], env={**os.environ, **_LOG_ENV},
        preexec_fn=_server_cpu(pin))


def start_servers(tmp: Path, pin: bool, breakdown: bool = False) -> tuple[
        subprocess.Popen[bytes], list[subprocess.Popen[bytes]], dict[str, int]]:
    student_model(tmp / "student.onnx")
    ports = {"grpc": free_port(), "http": free_port(), "echo": free_port(),
             "inference_echo": free_port()}
    env = {**os.environ, **_LOG_ENV}
    on_server_cpu = _server_cpu(pin)
    service = _serve((ports["grpc"], ports["http"]), tmp / "store", tmp / "student.onnx", pin)
    echo = subprocess.Popen([sys.executable, str(ECHO_SCRIPT), str(ports["echo"])],
                            preexec_fn=on_server_cpu)
    inference_echo = subprocess.Popen(
        [sys.executable, str(ECHO_SCRIPT), str(ports["inference_echo"]),
         str(tmp / "student.onnx")], env=env, preexec_fn=on_server_cpu)
    echoes = [echo, inference_echo]
    if breakdown:
        ports["breakdown_echo"] = free_port()
        echoes.append(subprocess.Popen(
            [sys.executable, str(ECHO_SCRIPT), str(ports["breakdown_echo"]),
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
    service = _serve((ports["tls_grpc"], ports["tls_http"]), tmp / "tls-store",
                     tmp / "student.onnx", pin, "--tls-cert", str(files["tls.crt"]),
                     "--tls-key", str(files["tls.key"]), "--tls-client-ca", str(files["ca.crt"]))
    return service, files


def client_context(files: dict[str, Path]) -> ssl.SSLContext:
    """The REST client's side of mutual TLS."""
    context = ssl.create_default_context(cafile=str(files["ca.crt"]))
    context.load_cert_chain(files["client.crt"], files["client.key"])
    return context


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", help="port to serve the echo on (127.0.0.1)")
    parser.add_argument("model", nargs="?", help="ONNX model: one inference per stream message")
    parser.add_argument("breakdown", nargs="?", choices=["breakdown"],
                        help="also serve the Parse, Features and Decision echoes")
    args = parser.parse_args()
    asyncio.run(serve_echo(args.port, args.model, args.breakdown is not None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
