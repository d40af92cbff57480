"""Run the gRPC and REST servers together on one event loop, and stop them gracefully."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import ssl
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Final

import grpc
import uvicorn

from xapp import tls
from xapp.fleet import StoreWatcher
from xapp.grpc_server import start_grpc_server
from xapp.rest import create_app
from xapp.service import Service, StartupError
from xapp.settings import Settings
from xapp.tls_pem import TlsError

log = logging.getLogger(__name__)

_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)


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


def _listen_rest(host: str, port: int) -> socket.socket:
    """Bind the REST socket; raise :class:`StartupError` naming the address if it cannot."""
    try:
        return _bind(host, port)
    except OSError as exc:
        raise StartupError(f"cannot listen for REST on {host}:{port}: "
                           f"{exc.strerror or exc}") from None


@dataclass(frozen=True, slots=True)
class _Transports:
    """The TLS of both servers (``None``: plaintext)."""

    grpc_credentials: grpc.ServerCredentials | None = None
    ssl_context: ssl.SSLContext | None = None


def _transport_security(service: Service) -> _Transports:
    """Load the TLS files; raise :class:`StartupError` naming the flag of a bad one."""
    try:
        files = tls.server_files(service.settings)
    except TlsError as exc:
        raise StartupError(str(exc)) from None
    if files is None:
        log.warning("TLS is off (insecure): gRPC and REST serve plaintext, so reports, "
                    "decisions, the admin token and models cross the network in clear")
        return _Transports()
    count = service.metrics.count_handshake
    log.info("TLS on gRPC and REST with %s%s", files.cert,
             f"; mutual TLS, client CA {files.client_ca}" if files.mutual else "")
    return _Transports(tls.grpc_server_credentials(files, count),
                       tls.rest_ssl_context(files, count))


async def _start_grpc(service: Service, host: str, port: int,
                      credentials: grpc.ServerCredentials | None = None
                      ) -> tuple[grpc.aio.Server, int]:
    """Start the gRPC server; raise :class:`StartupError` naming the address if it cannot.

    The address is tried with a plain socket first: gRPC's C core logs a bind
    failure in a line of its own before Python hears of it, so the service's one
    line would come second.
    """
    if port and (reason := _bind_failure(host, port)):
        raise StartupError(f"cannot listen for gRPC on {host}:{port}: {reason}")
    try:
        return await start_grpc_server(service, host, port, credentials)
    except (RuntimeError, OSError) as exc:
        reason = _bind_failure(host, port) or str(exc).split(";")[0]
        raise StartupError(f"cannot listen for gRPC on {host}:{port}: {reason}") from None


def _bind_failure(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be bound (``None`` if it can).

    gRPC only says that it failed to bind; a plain socket tells whether the port is
    in use or the address is not one of this host.
    """
    try:
        _bind(host, port).close()
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


@dataclass(slots=True)
class _Started:
    """What :func:`serve` has started so far: all of it is stopped, whatever happens."""

    grpc: grpc.aio.Server | None = None
    sock: socket.socket | None = None
    http: _UvicornServer | None = None
    http_task: asyncio.Task[None] | None = None

    async def start_rest(self, service: Service, settings: Settings,
                         ssl_context: ssl.SSLContext | None = None) -> None:
        """Serve REST on :attr:`sock`; return once it accepts connections.

        Raises:
            StartupError: uvicorn stopped before it started.

        """
        assert self.sock is not None
        config = uvicorn.Config(
            create_app(service), log_level=settings.log_level, access_log=False,
            lifespan="off", timeout_graceful_shutdown=int(settings.shutdown_grace_s),
            ssl_context_factory=None if ssl_context is None else (
                lambda config, default: ssl_context),
        )
        self.http = http = _UvicornServer(config)
        self.http_task = task = asyncio.create_task(http.serve(sockets=[self.sock]))
        while not http.started and not task.done():
            await asyncio.sleep(0.01)
        if task.done():
            error = None if task.cancelled() else task.exception()
            raise StartupError(f"the REST server did not start: {error or 'it stopped'}")

    async def stop(self, grace_s: float) -> None:
        """Stop both servers together; in-flight calls get ``grace_s`` seconds."""
        stopping: list[Awaitable[object]] = []
        if self.grpc is not None:
            stopping.append(self.grpc.stop(grace_s))
        if self.http is not None and self.http_task is not None:
            self.http.should_exit = True
            stopping.append(self.http_task)
        await asyncio.gather(*stopping, return_exceptions=True)
        if self.sock is not None:
            self.sock.close()


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

    Raises:
        StartupError: the service cannot start (model store, default model, a port);
            what had started before is stopped first.

    """
    stop = stop or asyncio.Event()
    service = Service(settings)
    transports = _transport_security(service)
    loop = asyncio.get_running_loop()
    if handle_signals:
        for sig in _SIGNALS:
            loop.add_signal_handler(sig, stop.set)
    started = _Started()
    watcher = StoreWatcher(service.registry, settings.store_poll_s)
    watcher.start()
    try:
        started.grpc, grpc_port = await _start_grpc(service, settings.host, settings.grpc_port,
                                                    transports.grpc_credentials)
        started.sock = _listen_rest(settings.host, settings.http_port)
        await started.start_rest(service, settings, transports.ssl_context)
        assert started.http_task is not None
        bound = Bound(settings.host, grpc_port, started.sock.getsockname()[1])
        log.info("serving gRPC on %s:%d and REST on %s:%d", bound.host, grpc_port, bound.host,
                 bound.http_port)
        if on_started is not None:
            on_started(service, bound)
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait((stopper, started.http_task),
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
        log.info("shutting down: in-flight calls get %.1f s", settings.shutdown_grace_s)
    finally:
        watcher.stop()
        await started.stop(settings.shutdown_grace_s)
        if handle_signals:
            for sig in _SIGNALS:
                loop.remove_signal_handler(sig)
