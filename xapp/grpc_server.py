"""gRPC adapter: ``linkadapt.v1.LinkAdaptation`` over the decision core, on ``grpc.aio``.

``grpc.aio`` serves any number of concurrent streams from one event loop (a sync
server serves only as many as it has threads, and the rest hang), which is what
one-stream-per-cell needs. Also serves ``grpc.health.v1`` and server reflection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from time import perf_counter
from typing import Any, Final, cast

import grpc
import numpy as np
import numpy.typing as npt
from google.protobuf.message import DecodeError
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from xapp._proto.linkadapt.v1 import linkadapt_pb2 as pb
from xapp._proto.linkadapt.v1 import linkadapt_pb2_grpc as pb_grpc
from xapp.columns import decode_columns
from xapp.core import Decisions
from xapp.error_log import RefusalLog
from xapp.errors import ClientNotAllowed, InvalidRequest, ServiceError, status_of
from xapp.proto_reports import batch_from_protos
from xapp.report_batch import ReportError
from xapp.service import Service
from xapp.settings import host_port
from xapp.tls import peer_names

log = logging.getLogger(__name__)

SERVICE_NAME: Final = pb.DESCRIPTOR.services_by_name["LinkAdaptation"].full_name
_MODEL: Final = pb.DECISION_SOURCE_MODEL
_FALLBACK: Final = pb.DECISION_SOURCE_FALLBACK
_Decision: Final = pb.McsDecision
_Response: Final = pb.DecisionResponse
_Request: Final = pb.DecisionRequest


def build_response(request: Any, ue_ids: npt.NDArray[np.uint64], decisions: Decisions) -> Any:
    """Encode decisions as a ``DecisionResponse`` (one ``McsDecision`` per UE, in order)."""
    model_id, version = decisions.model_id, decisions.model_version
    items = [
        _Decision(ue_id=ue, mcs=mcs, mcs_table=table, source=_MODEL, model_id=model_id,
                  model_version=version)
        if from_model else
        _Decision(ue_id=ue, mcs=mcs, mcs_table=table, source=_FALLBACK)
        for ue, mcs, table, from_model in zip(
            ue_ids.tolist(), decisions.mcs.tolist(), decisions.mcs_table.tolist(),
            decisions.from_model.tolist(), strict=True)
    ]
    return _Response(cell_id=request.cell_id, slot=request.slot, decisions=items)


def build_columns_response(request: Any, decisions: Decisions) -> Any:
    """Encode decisions as a ``DecisionResponse`` carrying ``DecisionColumns``."""
    source = np.where(decisions.from_model, _MODEL, _FALLBACK).astype(np.uint8)
    columns = pb.DecisionColumns(
        mcs=decisions.mcs.astype(np.uint8).tobytes(), source=source.tobytes(),
        model_id=decisions.model_id, model_version=decisions.model_version,
    )
    return _Response(cell_id=request.cell_id, slot=request.slot, columns=columns)


def _one_columns_response(request: Any, mcs: int, model_id: str, version: str) -> Any:
    """Encode the model's decision for a one-UE request that asked for columns."""
    columns = pb.DecisionColumns(mcs=bytes((mcs,)), source=bytes((_MODEL,)),
                                 model_id=model_id, model_version=version)
    return _Response(cell_id=request.cell_id, slot=request.slot, columns=columns)


_EMPTY_REQUEST: Final = _Request()


def decode_request(data: bytes) -> Any:
    """Parse a serialized ``DecisionRequest``.

    Raises:
        InvalidRequest: the bytes are not one (named in one line, with their size).

    """
    try:
        return _Request.FromString(data)
    except DecodeError:
        raise InvalidRequest(
            f"the request is not a valid linkadapt.v1.DecisionRequest ({len(data)} bytes "
            "that do not parse as one)") from None


def request_address(data: bytes) -> tuple[int, int]:
    """``(cell_id, slot)`` of a serialized request, ``(0, 0)`` where it does not parse."""
    try:
        request = _Request.FromString(data)
    except DecodeError:
        return 0, 0
    return request.cell_id, request.slot


class InternalFailure(ServiceError):
    """The service failed on a request (a bug): answered ``INTERNAL``, never ``UNKNOWN``."""

    @classmethod
    def during(cls, error: Exception, request: Any, bugs: RefusalLog) -> InternalFailure:
        """Wrap ``error``; the first of each interval in ``bugs`` is logged with its traceback."""
        if bugs.due("grpc", type(error).__name__) is not None:
            log.error("decision failed on cell %d slot %d", request.cell_id, request.slot,
                      exc_info=error)
        return cls(f"internal error ({type(error).__name__}); the service log has the details")


class _OneReply:
    """The serialized ``DecisionResponse`` of a one-UE decision, from a reused message.

    Building a response and its ``McsDecision`` per request costs more than
    twice as much in Python calls (more on a CPU that idled since the last request)
    as setting the integer fields of one kept message and serializing it
    (docs/benchmarks.md), and the bytes are those of a fresh message (proto3 omits zero
    values either way; ``tests/xapp/test_grpc_server.py`` compares). A new model
    gets a new message: upb copies a string into the message's arena on every
    assignment, so a kept message would grow with every swap.
    """

    __slots__ = ("decision", "model_id", "response", "version")

    def __init__(self) -> None:
        self._start("", "")

    def _start(self, model_id: str, version: str) -> None:
        self.response = _Response()
        self.decision = self.response.decisions.add(source=_MODEL, model_id=model_id,
                                                    model_version=version)
        self.model_id, self.version = model_id, version

    def serialize(self, request: Any, ue_id: int, mcs: int, table: int, model_id: str,
                  version: str) -> bytes:
        """Return the bytes of ``_Response(cell_id, slot, decisions=[McsDecision(...)])``."""
        if model_id is not self.model_id or version is not self.version:
            self._start(model_id, version)
        decision = self.decision
        decision.ue_id = ue_id
        decision.mcs = mcs
        decision.mcs_table = table
        response = self.response
        response.cell_id = request.cell_id
        response.slot = request.slot
        return cast(bytes, response.SerializeToString())


class LinkAdaptationServicer(pb_grpc.LinkAdaptationServicer):
    """``Decide`` and ``StreamDecisions`` over :class:`~xapp.core.DecisionCore`.

    Everything on the decision path runs inline on the event loop: a 1-UE decision
    takes less CPU than handing it to a thread would cost (docs/benchmarks.md). Both methods
    return serialized responses (:func:`add_to_server` registers them without a
    response serializer), so a one-UE reply can come from :class:`_OneReply`.
    """

    def __init__(self, service: Service) -> None:
        self._service = service
        self._core = service.core
        self._metrics = service.metrics
        self._stats = service.metrics.requests["grpc"]
        self._one = _OneReply()
        self._allowed_names = frozenset(service.settings.tls_client_names)
        self._bugs = RefusalLog()

    def _answer(self, request: Any) -> tuple[bytes, int]:
        """Return the serialized response to ``request`` and its number of UEs.

        Raises:
            ServiceError: the request is refused (with field and UE where known).

        """
        core = self._core
        try:
            if request.HasField("columns"):
                if request.reports:
                    raise InvalidRequest("set reports or columns, not both", field="columns")
                core.check_request(request.schema_version, request.columns.num_ues)
                ue_ids, batch = decode_columns(request.columns)
            else:
                reports = request.reports
                core.check_request(request.schema_version, len(reports))
                if len(reports) == 1:
                    one = core.decide_one(reports[0])
                    if one is not None:
                        if request.columnar_response:
                            return _one_columns_response(
                                request, one[1], one[3], one[4]).SerializeToString(), 1
                        return self._one.serialize(request, *one), 1
                ue_ids, batch = batch_from_protos(reports)
        except ReportError as exc:
            raise InvalidRequest.from_report_error(exc) from None
        decisions = core.decide(batch)
        if request.columnar_response:
            response = build_columns_response(request, decisions)
        else:
            response = build_response(request, ue_ids, decisions)
        return response.SerializeToString(), len(batch)

    def _authorize(self, context: grpc.aio.ServicerContext) -> None:
        if self._allowed_names and not peer_names(context.auth_context()) & self._allowed_names:
            self._metrics.refused_credentials.labels("grpc", "client_certificate").inc()
            raise ClientNotAllowed("the client certificate names no gNB allowed to ask for "
                                   "decisions (tls_client_names)")
        if self._service.settings.decisions_require_token:
            metadata = dict(context.invocation_metadata() or ())
            self._service.check_decisions(metadata.get("authorization"), "grpc")

    def _count_error(self, error: BaseException) -> grpc.StatusCode:
        code = status_of(error).grpc_code
        self._metrics.errors.labels("grpc", code.name).inc()
        self._service.refusals.refused("grpc", code.name, str(error))
        return code

    def _decide_bytes(self, data: bytes) -> tuple[Any, bytes, int]:
        """Decode and answer one serialized request; return it, the response and its UEs.

        The request arrives undecoded (see :func:`add_to_server`) so that bytes
        which are no ``DecisionRequest`` are refused here, like any other bad
        input, rather than by gRPC with ``UNKNOWN`` and a traceback. A failure of
        the service itself on a request becomes :class:`InternalFailure`.

        Raises:
            ServiceError: the request is refused.

        """
        request = _EMPTY_REQUEST
        try:
            request = decode_request(data)
            response, num_ues = self._answer(request)
        except ServiceError:
            raise
        except Exception as exc:  # a bug must not take the stream down or flood the log
            raise InternalFailure.during(exc, request, self._bugs) from None
        return request, response, num_ues

    async def Decide(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        """Answer one cell-slot batch; refuse bad input with a status naming field and UE."""
        start = perf_counter()
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            self._metrics.errors.labels("grpc", "DEADLINE_EXCEEDED").inc()
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline already passed")
        try:
            self._authorize(context)
            _, response, num_ues = self._decide_bytes(request)
        except ServiceError as exc:
            code = self._count_error(exc)
            context.set_trailing_metadata((("linkadapt-field", exc.field),
                                           ("linkadapt-ue-index", str(exc.ue_index))))
            await context.abort(code, str(exc))
        self._stats.record(perf_counter() - start, num_ues)
        return response

    async def StreamDecisions(
        self, request_iterator: AsyncIterator[Any], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        """Answer each request of a cell's stream in order; bad requests get an error reply.

        The caller is authorized when its first request has arrived: aborting
        while the client may still be writing that request can reach it as a
        reset stream (``INTERNAL``) instead of the refusal's own status.
        """
        answer, record = self._decide_bytes, self._stats.record
        authorized = False
        async for data in request_iterator:
            if not authorized:
                try:
                    self._authorize(context)
                except ServiceError as exc:
                    await context.abort(self._count_error(exc), str(exc))
                authorized = True
            start = perf_counter()
            try:
                _, response, num_ues = answer(data)
            except ServiceError as exc:
                response, num_ues = self._error_response(data, exc), 0
            record(perf_counter() - start, num_ues)
            yield response

    def _error_response(self, data: bytes, error: ServiceError) -> bytes:
        code = self._count_error(error)
        cell_id, slot = request_address(data)
        return cast(bytes, _Response(
            cell_id=cell_id, slot=slot,
            error=pb.DecisionError(code=code.name, message=str(error), field=error.field,
                                   ue_index=error.ue_index),
        ).SerializeToString())


def add_to_server(servicer: LinkAdaptationServicer, server: grpc.aio.Server) -> None:
    """Register ``servicer`` like the generated ``add_LinkAdaptationServicer_to_server``.

    The differences: no serializers. The servicer returns serialized
    ``DecisionResponse`` bytes (gRPC sends bytes as they are) and decodes each
    request itself, so that undecodable bytes get ``INVALID_ARGUMENT`` with a
    reason (a deserializer that raises makes gRPC answer ``UNKNOWN`` and log a
    traceback per request).
    """
    handlers = {
        "Decide": grpc.unary_unary_rpc_method_handler(servicer.Decide),
        "StreamDecisions": grpc.stream_stream_rpc_method_handler(servicer.StreamDecisions),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
    server.add_registered_method_handlers(SERVICE_NAME, handlers)


class ModelHealthServicer(health_aio.HealthServicer):
    """``grpc.health.v1`` with the LinkAdaptation status following the serving model.

    The server ("") is SERVING while alive; the LinkAdaptation service only while
    a validated model is loaded (the same rule as ``/ric/v1/health/ready``).
    ``Check`` reads the live state; ``Watch`` streams are told of every change:
    each swap of the core's policy (activate, rollback, fallback only) schedules
    a status update on the server's event loop, from whatever thread swapped.
    """

    def __init__(self, service: Service, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._service = service
        self._loop = loop
        self._updates: set[asyncio.Task[None]] = set()  # the loop keeps only weak references
        service.core.add_listener(self._on_policy_change)

    def _status(self) -> Any:
        return (health_pb2.HealthCheckResponse.SERVING if self._service.ready
                else health_pb2.HealthCheckResponse.NOT_SERVING)

    def _on_policy_change(self, policy: Any) -> None:
        self._loop.call_soon_threadsafe(self._schedule_update)

    def _schedule_update(self) -> None:
        # The status is read when the update runs, so updates arriving out of
        # order still end on the current state.
        task = self._loop.create_task(self.set(SERVICE_NAME, self._status()))
        self._updates.add(task)
        task.add_done_callback(self._updates.discard)

    async def Check(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Report the live status of the server or the LinkAdaptation service."""
        if request.service == SERVICE_NAME:
            return health_pb2.HealthCheckResponse(status=self._status())
        return await super().Check(request, context)


async def start_grpc_server(service: Service, host: str, port: int,
                            credentials: grpc.ServerCredentials | None = None
                            ) -> tuple[grpc.aio.Server, int]:
    """Create, bind and start the gRPC server (TLS with ``credentials``); return it and the port."""
    server = grpc.aio.server(options=[
        ("grpc.max_receive_message_length", service.settings.max_request_bytes),
        ("grpc.so_reuseport", 0),
    ])
    add_to_server(LinkAdaptationServicer(service), server)
    health = ModelHealthServicer(service, asyncio.get_running_loop())
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    await health.set("", health_pb2.HealthCheckResponse.SERVING)
    await health.set(SERVICE_NAME, health._status())
    reflection.enable_server_reflection(
        (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
         reflection.SERVICE_NAME),
        server,
    )
    address = host_port(host, port)
    bound = (server.add_insecure_port(address) if credentials is None
             else server.add_secure_port(address, credentials))
    if bound == 0:
        raise OSError(f"cannot bind gRPC to {host}:{port}")
    await server.start()
    return server, bound
