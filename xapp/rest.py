"""REST adapter (FastAPI): decisions, model management, O-RAN SC health, metrics.

Routes stay thin: decisions go through :class:`~xapp.core.DecisionCore`, model
management through :class:`~xapp.registry.Registry` (routes in
:mod:`xapp.rest_models`), errors through :func:`xapp.errors.status_of` (handling in
:mod:`xapp.rest_errors`). Anything slow (model validation and loading, rendering
``/metrics``) runs in the thread pool, never on the event loop.
"""

from __future__ import annotations

import time
from typing import Any, Final

from fastapi import FastAPI, Header
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field

from xapp import nr_tables
from xapp.features import batch_from_records, ue_ids_from_records
from xapp.rest_errors import BodyLimit, error_responses, install_error_handling
from xapp.rest_models import add_model_routes
from xapp.service import Service

_TABLE_NAMES: Final = {nr_tables.QAM64: "MCS_TABLE_QAM64", nr_tables.QAM256: "MCS_TABLE_QAM256"}


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
    install_error_handling(app, service)
    _add_decision_route(app, service)
    add_model_routes(app, service)
    _add_health_routes(app, service)
    return app


def _add_decision_route(app: FastAPI, service: Service) -> None:
    """``POST /v1/decisions``: the decision path, straight to the decision core."""
    core, stats = service.core, service.metrics.requests["rest"]

    @app.post("/v1/decisions", response_model=DecisionResponseBody, tags=["decisions"],
              responses=error_responses(400, 401, 413))
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


def _add_health_routes(app: FastAPI, service: Service) -> None:
    """O-RAN SC liveness and readiness, and the Prometheus metrics."""
    core, metrics = service.core, service.metrics

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
