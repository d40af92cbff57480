"""REST adapter (FastAPI): decisions, model management, O-RAN SC health, metrics.

Routes stay thin: decisions go through :class:`~xapp.core.DecisionCore`, model
management through :class:`~xapp.registry.Registry`, errors through
:func:`xapp.errors.status_of`. Anything slow (model validation and loading,
rendering ``/metrics``) runs in the thread pool, never on the event loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Final

from fastapi import FastAPI, Header, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from xapp import nr_tables
from xapp.errors import (
    InvalidRequest,
    MalformedRequest,
    PayloadTooLarge,
    ServiceError,
    status_of,
)
from xapp.features import ReportError, batch_from_records, ue_ids_from_records
from xapp.policy import Policy
from xapp.registry import DEFAULT_KEY
from xapp.service import Service

log = logging.getLogger(__name__)

_TABLE_NAMES: Final = {nr_tables.QAM64: "MCS_TABLE_QAM64", nr_tables.QAM256: "MCS_TABLE_QAM256"}
_UPLOAD_PATH: Final = "/v1/models"


class DecisionRequestBody(BaseModel):
    """One cell, one slot: the JSON form of ``linkadapt.v1.DecisionRequest``."""

    schema_version: int = Field(description="feature schema version of the sender")
    cell_id: int = 0
    slot: int = 0
    reports: list[dict[str, Any]] = Field(
        description="UE reports with the proto field names (see linkadapt.proto)"
    )


class McsDecisionBody(BaseModel):
    """One UE's decision."""

    ue_id: int
    mcs: int
    mcs_table: str
    source: str
    model_id: str
    model_version: str


class DecisionResponseBody(BaseModel):
    """Decisions in the order of the reports."""

    cell_id: int
    slot: int
    decisions: list[McsDecisionBody]


class ErrorDetail(BaseModel):
    """What went wrong, for people and programs."""

    code: str = Field(description="gRPC status code name: INVALID_ARGUMENT, NOT_FOUND ...")
    message: str = Field(description="the reason, naming the offending field and UE")
    field: str = Field(description="offending field in proto naming (harq[2].mcs); empty if none")
    ue_index: int = Field(description="position of the offending report; -1 if none")


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


_ERROR_MEANINGS: Final = {
    400: "The body is not the JSON object the route takes (not JSON, a list, ...).",
    401: "No bearer token, or the wrong one.",
    403: "Model management is disabled: no admin token is configured.",
    404: "No such model.",
    409: "The operation contradicts the store's state (delete the active model, "
         "roll back with no history, an id and version stored with another checksum).",
    413: "The body, the batch or the model exceeds its configured limit.",
    422: "A report or parameter is invalid, or an uploaded model failed validation.",
    503: "The model store cannot be written; nothing was changed.",
}


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, all with :class:`ErrorBody`.

    422 (FastAPI documents its own validation body for any route with parameters,
    which this service never sends) and 500 are always included.
    """
    return {status: {"model": ErrorBody, "description": _ERROR_MEANINGS.get(
        status, "An unexpected error; the service log has the details.")}
        for status in sorted({*statuses, 422, 500})}


_ADMIN_ERRORS: Final = (401, 403)


def _activation(policy: Policy) -> dict[str, Any]:
    """The response to an activation or rollback: registry key and what now serves."""
    key = DEFAULT_KEY if policy.origin == "embedded" else policy.card.key
    return {"active": key, "model_id": policy.card.model_id, "version": policy.card.version,
            "sha256": policy.sha256, "origin": policy.origin}


class BodyLimit:
    """ASGI middleware refusing request bodies above a size limit with 413.

    Model uploads get their own (usually larger) limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, or refuse it with 413 if its body exceeds the limit.

        With a ``Content-Length`` the header decides (the server delivers exactly
        that many bytes). Without one (chunked), the body is read here, up to the
        limit, and handed on: a limit hit while the route parses the body would
        surface as the parser's 400.
        """
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_upload_bytes if scope["path"] == _UPLOAD_PATH else self.max_bytes
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            if length.isdigit() and int(length) > limit:
                await _send_error(send, PayloadTooLarge(
                    f"request body of {int(length)} bytes exceeds the limit of {limit} bytes"))
                return
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            if len(body) > limit:
                await _send_error(send, PayloadTooLarge(
                    f"request body exceeds the limit of {limit} bytes"))
                return
            if not message.get("more_body", False):
                break
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)


class CatchAll:
    """ASGI middleware answering an unexpected exception with the error body (500).

    Unlike an exception handler, which Starlette re-raises to the server after
    answering (uvicorn then drops the keep-alive connection), the error ends here.
    An exception after the response started is left to the server.
    """

    def __init__(self, app: ASGIApp, on_error: Callable[[Scope, Exception], Response]) -> None:
        self.app = app
        self.on_error = on_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app; answer an exception raised before the response started."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            await self.on_error(scope, exc)(scope, receive, send)


def _error_body(error: BaseException) -> dict[str, Any]:
    return {"error": {"code": status_of(error).grpc_code.name, "message": str(error),
                      "field": getattr(error, "field", ""),
                      "ue_index": getattr(error, "ue_index", -1)}}


async def _send_error(send: Send, error: ServiceError) -> None:
    response = JSONResponse(_error_body(error), status_code=status_of(error).http_status)
    await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:  # pragma: no cover - never awaited by JSONResponse
    return {"type": "http.disconnect"}


def create_app(service: Service) -> FastAPI:
    """Build the FastAPI application over ``service``.

    ``/docs`` and ``/redoc`` load their scripts from the ``fastapi-offline`` package,
    not from a CDN: a RIC cluster is often offline.
    """
    app = FastAPIOffline(
        title="linkadapt xApp",
        description="5G NR downlink MCS decisions by a learned policy, with model hot-swap.",
        version="1",
    )
    app.add_middleware(BodyLimit, max_bytes=service.settings.max_request_bytes,
                       max_upload_bytes=service.settings.max_model_bytes + 4096)
    core, registry, metrics = service.core, service.registry, service.metrics
    stats = metrics.requests["rest"]

    def error_response(error: BaseException) -> JSONResponse:
        status = status_of(error).http_status
        metrics.errors.labels("rest", str(status)).inc()
        if status < 500:  # 5xx are logged where they happen, with their cause
            service.refusals.refused("rest", str(status), str(error))
        return JSONResponse(_error_body(error), status_code=status)

    def unexpected(scope: Scope, error: Exception) -> JSONResponse:
        log.error("%s %s failed", scope.get("method"), scope.get("path"), exc_info=error)
        return error_response(RuntimeError(
            f"internal error ({type(error).__name__}); the service log has the details"))

    app.add_middleware(CatchAll, on_error=unexpected)

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(ReportError)
    async def _report_error(request: Request, exc: ReportError) -> JSONResponse:
        return error_response(InvalidRequest.from_report_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # FastAPI's own refusal of a body it cannot decode (bytes that are not UTF-8
        # JSON): answered, counted and logged like every other malformed body.
        if exc.status_code == 400:
            return error_response(MalformedRequest(
                f"request body is not valid JSON: {exc.detail}".rstrip(".")))
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": ""}
        return error_response(_request_error(first, request.headers.get("content-type", "")))

    def admin(authorization: str | None) -> None:
        service.check_admin(authorization)

    @app.post("/v1/decisions", response_model=DecisionResponseBody, tags=["decisions"],
              responses=_errors(400, 401, 413))
    async def decide(
        body: DecisionRequestBody, authorization: str | None = Header(None)
    ) -> Response:
        """Decide the MCS of every UE of one cell-slot batch."""
        start = time.perf_counter()
        service.check_decisions(authorization)
        core.check_request(body.schema_version, len(body.reports))
        batch = batch_from_records(body.reports)
        ue_ids = ue_ids_from_records(body.reports)
        decisions = core.decide(batch)
        out = [
            {"ue_id": ue, "mcs": mcs, "mcs_table": _TABLE_NAMES[table],
             "source": "DECISION_SOURCE_MODEL" if m else "DECISION_SOURCE_FALLBACK",
             "model_id": decisions.model_id if m else "",
             "model_version": decisions.model_version if m else ""}
            for ue, mcs, table, m in zip(ue_ids, decisions.mcs.tolist(),
                                        decisions.mcs_table.tolist(),
                                        decisions.from_model.tolist(), strict=True)
        ]
        response = JSONResponse({"cell_id": body.cell_id, "slot": body.slot, "decisions": out})
        stats.record(time.perf_counter() - start, len(batch))
        return response

    @app.get("/v1/models", tags=["models"], responses=_errors(*_ADMIN_ERRORS))
    def list_models(authorization: str | None = Header(None)) -> dict[str, Any]:
        """List the stored models, the active one and the rollback history."""
        admin(authorization)
        return {"models": [m.to_dict() for m in registry.list()],
                "active": registry.active_key, "history": registry.history,
                "generation": registry.generation}

    @app.post(_UPLOAD_PATH, status_code=201, tags=["models"],
              responses=_errors(*_ADMIN_ERRORS, 404, 409, 413, 503), openapi_extra={
        "requestBody": {"required": True, "content": {"application/octet-stream": {
            "schema": {"type": "string", "format": "binary"}}}}})
    async def upload_model(request: Request, authorization: str | None = Header(None),
                           activate: bool = False) -> JSONResponse:
        """Upload an ONNX model carrying its model card; it is validated, then stored."""
        admin(authorization)
        data = await request.body()
        stored, created = await run_in_threadpool(registry.upload, data)
        if activate:
            await run_in_threadpool(registry.activate, stored.key)
        return JSONResponse(stored.to_dict(), status_code=201 if created else 200)

    @app.get("/v1/models/active", tags=["models"], responses=_errors(*_ADMIN_ERRORS))
    def active_model(authorization: str | None = Header(None)) -> JSONResponse:
        """Show the model this replica serves, with its card, checksum and store generation.

        ``generation`` is the model store's generation this replica has applied;
        replicas showing the same one serve the same model.
        """
        admin(authorization)
        policy, generation = core.policy, registry.applied_generation
        if policy is None:
            return JSONResponse({"active": None, "reason": core.not_ready_reason,
                                 "generation": generation}, status_code=404)
        return JSONResponse({"model_id": policy.card.model_id, "version": policy.card.version,
                             "sha256": policy.sha256, "size_bytes": policy.size_bytes,
                             "origin": policy.origin, "card": policy.card.to_dict(),
                             "generation": generation})

    @app.post("/v1/models/rollback", tags=["models"],
              responses=_errors(*_ADMIN_ERRORS, 409, 503))
    async def rollback(authorization: str | None = Header(None)) -> dict[str, Any]:
        """Re-activate the previously active model.

        ``active`` is the registry's key of what now serves: ``model_id@version``,
        or ``default`` for the embedded default model.
        """
        admin(authorization)
        return _activation(await run_in_threadpool(registry.rollback))

    @app.post("/v1/models/{model_id}/{version}/activate", tags=["models"],
              responses=_errors(*_ADMIN_ERRORS, 404, 503))
    async def activate(model_id: str, version: str,
                       authorization: str | None = Header(None)) -> dict[str, Any]:
        """Make a stored model the serving one (atomic swap; requests in flight finish)."""
        admin(authorization)
        return _activation(await run_in_threadpool(registry.activate, f"{model_id}@{version}"))

    @app.delete("/v1/models/{model_id}/{version}", status_code=204, tags=["models"],
                responses=_errors(*_ADMIN_ERRORS, 404, 409, 503))
    def delete(model_id: str, version: str, authorization: str | None = Header(None)) -> Response:
        """Delete a stored model that is not active."""
        admin(authorization)
        registry.delete(f"{model_id}@{version}")
        return Response(status_code=204)

    @app.get("/ric/v1/health/alive", tags=["health"])
    async def alive() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "alive"}

    @app.get("/ric/v1/health/ready", tags=["health"])
    async def ready() -> JSONResponse:
        """Readiness: a validated model is loaded (fallback-only is not ready)."""
        if service.ready:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "not ready", "reason": core.not_ready_reason},
                            status_code=503)

    @app.get("/metrics", tags=["health"], response_class=PlainTextResponse)
    def prometheus_metrics() -> Response:
        """Prometheus metrics (rendered in the thread pool, off the event loop)."""
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    return app


def _request_error(error: Any, content_type: str) -> ServiceError:
    """Turn FastAPI's first validation error into an error naming the field (and UE)."""
    loc = tuple(error.get("loc", ()))
    message = str(error.get("msg", "invalid request"))
    if error.get("type") == "json_invalid":
        detail = error.get("ctx", {}).get("error", "")
        where = f" at character {loc[1]}" if len(loc) > 1 else ""
        return MalformedRequest(f"request body is not valid JSON{where}: {detail or message}")
    if loc == ("body",):
        if "json" not in content_type.lower():
            return MalformedRequest(
                f"request body must be a JSON object sent as application/json, got "
                f"{content_type or 'no content type'}")
        return MalformedRequest(f"request body must be a JSON object: {message}")
    path = loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc
    if len(path) >= 2 and path[0] == "reports" and isinstance(path[1], int):
        ue = path[1]
        rest = ".".join(str(p) for p in path[2:])
        field = rest or "(report)"
        return InvalidRequest(f"reports[{ue}]{'.' + rest if rest else ''}: {message}",
                              field=field, ue_index=ue)
    field = ".".join(str(p) for p in path)
    return InvalidRequest(f"{field}: {message}", field=field)
