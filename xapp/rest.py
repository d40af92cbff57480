"""REST adapter (FastAPI): decisions, model management, O-RAN SC health, metrics.

Routes stay thin: decisions go through :class:`~xapp.core.DecisionCore`, model
management through :class:`~xapp.registry.Registry`, errors through
:func:`xapp.errors.status_of`. Anything slow (model validation and loading,
rendering ``/metrics``) runs in the thread pool, never on the event loop.
"""

from __future__ import annotations

import time
from typing import Any, Final

from fastapi import FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from xapp import nr_tables
from xapp.errors import InvalidRequest, PayloadTooLarge, ServiceError, status_of
from xapp.features import ReportError, batch_from_records
from xapp.service import Service

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


class BodyLimit:
    """ASGI middleware refusing request bodies above a size limit with 413.

    Model uploads get their own (usually larger) limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, refusing it once its body exceeds the limit."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_upload_bytes if scope["path"] == _UPLOAD_PATH else self.max_bytes
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await _send_error(send, PayloadTooLarge(
                f"request body of {int(length)} bytes exceeds the limit of {limit} bytes"))
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
            return message

        await self.app(scope, limited_receive, send)


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
    """Build the FastAPI application over ``service``."""
    app = FastAPI(
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
        return JSONResponse(_error_body(error), status_code=status)

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(ReportError)
    async def _report_error(request: Request, exc: ReportError) -> JSONResponse:
        return error_response(InvalidRequest.from_report_error(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        field = ".".join(str(p) for p in first["loc"] if p != "body")
        return error_response(InvalidRequest(f"{field}: {first['msg']}", field=field))

    def admin(authorization: str | None) -> None:
        service.check_admin(authorization)

    @app.post("/v1/decisions", response_model=DecisionResponseBody, tags=["decisions"])
    async def decide(
        body: DecisionRequestBody, authorization: str | None = Header(None)
    ) -> Response:
        """Decide the MCS of every UE of one cell-slot batch."""
        start = time.perf_counter()
        service.check_decisions(authorization)
        core.check_request(body.schema_version, len(body.reports))
        batch = batch_from_records(body.reports)
        decisions = core.decide(batch)
        out = [
            {"ue_id": int(r.get("ue_id") or 0), "mcs": mcs, "mcs_table": _TABLE_NAMES[table],
             "source": "DECISION_SOURCE_MODEL" if m else "DECISION_SOURCE_FALLBACK",
             "model_id": decisions.model_id if m else "",
             "model_version": decisions.model_version if m else ""}
            for r, mcs, table, m in zip(body.reports, decisions.mcs.tolist(),
                                        decisions.mcs_table.tolist(),
                                        decisions.from_model.tolist(), strict=True)
        ]
        response = JSONResponse({"cell_id": body.cell_id, "slot": body.slot, "decisions": out})
        stats.record(time.perf_counter() - start, len(batch))
        return response

    @app.get("/v1/models", tags=["models"])
    def list_models(authorization: str | None = Header(None)) -> dict[str, Any]:
        """List the stored models, the active one and the rollback history."""
        admin(authorization)
        return {"models": [m.to_dict() for m in registry.list()],
                "active": registry.active_key, "history": registry.history}

    @app.post(_UPLOAD_PATH, status_code=201, tags=["models"], openapi_extra={
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

    @app.get("/v1/models/active", tags=["models"])
    def active_model(authorization: str | None = Header(None)) -> JSONResponse:
        """Show the serving model with its card and checksum."""
        admin(authorization)
        policy = core.policy
        if policy is None:
            return JSONResponse({"active": None, "reason": core.not_ready_reason},
                                status_code=404)
        return JSONResponse({"model_id": policy.card.model_id, "version": policy.card.version,
                             "sha256": policy.sha256, "size_bytes": policy.size_bytes,
                             "origin": policy.origin, "card": policy.card.to_dict()})

    @app.post("/v1/models/rollback", tags=["models"])
    async def rollback(authorization: str | None = Header(None)) -> dict[str, Any]:
        """Re-activate the previously active model."""
        admin(authorization)
        policy = await run_in_threadpool(registry.rollback)
        return {"active": policy.card.key, "sha256": policy.sha256}

    @app.post("/v1/models/{model_id}/{version}/activate", tags=["models"])
    async def activate(model_id: str, version: str,
                       authorization: str | None = Header(None)) -> dict[str, Any]:
        """Make a stored model the serving one (atomic swap; requests in flight finish)."""
        admin(authorization)
        policy = await run_in_threadpool(registry.activate, f"{model_id}@{version}")
        return {"active": policy.card.key, "sha256": policy.sha256}

    @app.delete("/v1/models/{model_id}/{version}", status_code=204, tags=["models"])
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

    @app.get("/metrics", tags=["health"])
    def prometheus_metrics() -> Response:
        """Prometheus metrics (rendered in the thread pool, off the event loop)."""
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    return app
