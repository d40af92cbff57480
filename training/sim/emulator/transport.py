"""One cell's gRPC connection (unary calls or one stream) and the backoff after a failure."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Final

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from training.sim.emulator.errors import EmulatorError, SlotFailure
from xapp._proto.linkadapt.v1 import linkadapt_pb2_grpc as pb_grpc
from xapp.tls_client import ClientTls, client_failure_hint

BACKOFF_START_S: Final = 0.02
BACKOFF_MAX_S: Final = 1.0
_CHANNEL_OPTIONS: Final = [
    ("grpc.initial_reconnect_backoff_ms", 50),
    ("grpc.min_reconnect_backoff_ms", 50),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.enable_retries", 0),
]


def next_retry_delay_s(previous_s: float) -> float:
    """The wait before the next try after a failed slot: 20 ms, doubling to 1 s."""
    return min(max(2 * previous_s, BACKOFF_START_S), BACKOFF_MAX_S)


class Transport:
    """One cell's connection: unary ``Decide`` calls or one ``StreamDecisions`` stream.

    Any failure drops the channel; the next call opens a new one.
    """

    def __init__(self, target: str, stream: bool, timeout_s: float,
                 token: str | None = None, tls: ClientTls | None = None) -> None:
        self.target = target
        self.tls = tls
        self._credentials = None if tls is None else tls.grpc_credentials()
        self.stream = stream
        self.timeout_s = timeout_s
        self._metadata = (("authorization", f"Bearer {token}"),) if token else None
        self._channel: grpc.aio.Channel | None = None
        self._stub: Any = None
        self._call: Any = None
        self._watchdog: asyncio.Task[None] | None = None
        self._sent_at: float | None = None
        self._timed_out = False

    async def _watch(self, call: Any) -> None:
        """Cancel the stream when a message waits longer than the timeout for its answer.

        A timer per message (``asyncio.timeout``) costs event-loop work on every
        slot (docs/benchmarks.md); this one wakes four times per timeout.
        """
        while not call.done():
            await asyncio.sleep(self.timeout_s / 4)
            sent = self._sent_at
            if sent is not None and time.monotonic() - sent > self.timeout_s:
                self._timed_out = True
                call.cancel()
                return

    def _connect(self) -> Any:
        if self._channel is None:
            if self._credentials is None:
                self._channel = grpc.aio.insecure_channel(self.target, options=_CHANNEL_OPTIONS)
            else:
                assert self.tls is not None
                self._channel = grpc.aio.secure_channel(
                    self.target, self._credentials,
                    options=_CHANNEL_OPTIONS + self.tls.channel_options())
            self._stub = pb_grpc.LinkAdaptationStub(self._channel)
        return self._stub

    async def wait_ready(self, timeout_s: float) -> None:
        """Wait until the channel connects; EmulatorError after ``timeout_s``.

        A failed TLS handshake (wrong CA, no client certificate where the service
        asks for one) ends the wait at once with the flag to fix: waiting longer
        cannot help.
        """
        self._connect()
        channel = self._channel
        assert channel is not None
        try:
            async with asyncio.timeout(timeout_s):
                state = channel.get_state(try_to_connect=True)
                while state != grpc.ChannelConnectivity.READY:
                    if state == grpc.ChannelConnectivity.TRANSIENT_FAILURE:
                        hint = await self._tls_failure()
                        if hint is not None:
                            await self.close()
                            raise EmulatorError(f"cannot connect to the xApp at "
                                                f"{self.target}: {hint}")
                    await channel.wait_for_state_change(state)
                    state = channel.get_state(try_to_connect=True)
        except TimeoutError:
            await self.close()
            raise EmulatorError(f"cannot reach the xApp at {self.target} "
                                f"within {timeout_s:g} s") from None

    async def _tls_failure(self) -> str | None:
        """Why the channel failed, when it is TLS (one health check shows gRPC's reason)."""
        assert self._channel is not None
        try:
            await health_pb2_grpc.HealthStub(self._channel).Check(
                health_pb2.HealthCheckRequest(), timeout=self.timeout_s, wait_for_ready=False)
        except grpc.aio.AioRpcError as exc:
            return client_failure_hint(exc.details() or "", self.tls)
        return None

    async def decide(self, request: Any) -> Any:
        """Send one request and return its response; SlotFailure on any failure."""
        stub = self._connect()
        try:
            if not self.stream:
                return await stub.Decide(request, timeout=self.timeout_s,
                                         metadata=self._metadata)
            if self._call is None:
                self._call = stub.StreamDecisions(metadata=self._metadata)
                self._watchdog = asyncio.get_running_loop().create_task(
                    self._watch(self._call))
            self._sent_at = time.monotonic()
            await self._call.write(request)
            response = await self._call.read()
            self._sent_at = None
            if response is grpc.aio.EOF:
                raise SlotFailure("the service ended the stream")
            return response
        except grpc.aio.AioRpcError as exc:
            await self.close()
            raise SlotFailure(f"{exc.code().name}: {exc.details()}", exc.code().name) from None
        except asyncio.CancelledError:
            if not self._timed_out:
                raise  # the emulation itself is being cancelled
            await self.close()
            raise SlotFailure(f"no answer within {self.timeout_s * 1e3:g} ms") from None
        except SlotFailure:
            await self.close()
            raise
        except (grpc.RpcError, asyncio.InvalidStateError, OSError) as exc:
            await self.close()
            raise SlotFailure(f"transport error: {exc!r}") from None

    async def close(self) -> None:
        """Cancel the stream and close the channel."""
        call, channel, watchdog = self._call, self._channel, self._watchdog
        self._call = self._channel = self._stub = self._watchdog = None
        self._sent_at, self._timed_out = None, False
        if watchdog is not None:
            watchdog.cancel()
        if call is not None:
            call.cancel()
        if channel is not None:
            await channel.close(grace=None)
