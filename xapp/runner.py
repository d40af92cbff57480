"""Run the gRPC and REST servers together on one event loop, and stop them gracefully."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Callable, Generator
from dataclasses import dataclass

import uvicorn

from xapp.grpc_server import start_grpc_server
from xapp.rest import create_app
from xapp.service import Service
from xapp.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Bound:
    """Where the servers listen (ports resolved when 0 was asked)."""

    host: str
    grpc_port: int
    http_port: int


class _UvicornServer(uvicorn.Server):
    """uvicorn without its own signal handling.

    :func:`serve` owns SIGTERM/SIGINT so that gRPC and REST stop together, after
    in-flight calls finish.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    """Bind the REST listening socket.

    The protocol must be given as ``IPPROTO_TCP``: asyncio sets ``TCP_NODELAY`` on
    accepted connections only when ``sock.proto`` says TCP, and a socket made with
    the default protocol 0 says nothing. Without it, uvicorn's separate writes of
    the response head and body meet Nagle's algorithm and the client's delayed ACK,
    and every keep-alive request waits ~40 ms.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accept() on Linux
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


async def serve(
    settings: Settings,
    stop: asyncio.Event | None = None,
    on_started: Callable[[Service, Bound], None] | None = None,
    handle_signals: bool = True,
) -> None:
    """Serve until ``stop`` is set (or SIGTERM/SIGINT when ``handle_signals``).

    Args:
        settings: validated settings.
        stop: event that ends serving; a new one if ``None``.
        on_started: called once both servers accept connections.
        handle_signals: install SIGTERM/SIGINT handlers (main thread only).

    """
    stop = stop or asyncio.Event()
    service = Service(settings)
    loop = asyncio.get_running_loop()
    if handle_signals:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    grpc_server, grpc_port = await start_grpc_server(service, settings.host, settings.grpc_port)
    sock = _bind(settings.host, settings.http_port)
    http_port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(service), log_level=settings.log_level, access_log=False, lifespan="off",
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
    )
    http_server = _UvicornServer(config)
    http_task = asyncio.create_task(http_server.serve(sockets=[sock]))
    while not http_server.started and not http_task.done():
        await asyncio.sleep(0.01)
    if http_task.done():
        await grpc_server.stop(None)
        http_task.result()
        raise RuntimeError("the REST server did not start")
    bound = Bound(settings.host, grpc_port, http_port)
    log.info("serving gRPC on %s:%d and REST on %s:%d", bound.host, grpc_port, bound.host,
             http_port)
    if on_started is not None:
        on_started(service, bound)
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait((stopper, http_task), return_when=asyncio.FIRST_COMPLETED)
    log.info("shutting down: in-flight calls get %.1f s", settings.shutdown_grace_s)
    http_server.should_exit = True
    await asyncio.gather(grpc_server.stop(settings.shutdown_grace_s), http_task,
                         return_exceptions=True)
    stopper.cancel()
    sock.close()
    if handle_signals:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
