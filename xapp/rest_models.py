"""REST model-management routes: list, upload, show, activate, roll back, delete.

Every route asks for the admin token first and goes through
:class:`~xapp.registry.Registry`; model validation and loading run in the thread
pool, never on the event loop.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from xapp.policy import Policy
from xapp.registry import DEFAULT_KEY
from xapp.rest_errors import ADMIN_ERRORS, UPLOAD_PATH, error_responses
from xapp.service import Service


def _activation(policy: Policy) -> dict[str, Any]:
    """The response to an activation or rollback: registry key and what now serves."""
    key = DEFAULT_KEY if policy.origin == "embedded" else policy.card.key
    return {"active": key, "model_id": policy.card.model_id, "version": policy.card.version,
            "sha256": policy.sha256, "origin": policy.origin}


def add_model_routes(app: FastAPI, service: Service) -> None:
    """Add the ``/v1/models`` routes to ``app`` (in this order, as OpenAPI lists them)."""
    _add_reading_routes(app, service)
    _add_switching_routes(app, service)


def _add_reading_routes(app: FastAPI, service: Service) -> None:
    """List, upload and show the active model."""
    core, registry = service.core, service.registry

    @app.get("/v1/models", tags=["models"], responses=error_responses(*ADMIN_ERRORS))
    def list_models(authorization: str | None = Header(None)) -> dict[str, Any]:
        """List the stored models, the active one and the rollback history."""
        service.check_admin(authorization)
        return {"models": [m.to_dict() for m in registry.list()],
                "active": registry.active_key, "history": registry.history,
                "generation": registry.generation}

    @app.post(UPLOAD_PATH, status_code=201, tags=["models"],
              responses=error_responses(*ADMIN_ERRORS, 404, 409, 413, 503), openapi_extra={
        "requestBody": {"required": True, "content": {"application/octet-stream": {
            "schema": {"type": "string", "format": "binary"}}}}})
    async def upload_model(request: Request, authorization: str | None = Header(None),
                           activate: bool = False) -> JSONResponse:
        """Upload an ONNX model carrying its model card; it is validated, then stored."""
        service.check_admin(authorization)
        data = await request.body()
        stored, created = await run_in_threadpool(registry.upload, data)
        if activate:
            await run_in_threadpool(registry.activate, stored.key)
        return JSONResponse(stored.to_dict(), status_code=201 if created else 200)

    @app.get("/v1/models/active", tags=["models"], responses=error_responses(*ADMIN_ERRORS))
    def active_model(authorization: str | None = Header(None)) -> JSONResponse:
        """Show the model this replica serves, with its card, checksum and store generation.

        ``generation`` is the model store's generation this replica has applied;
        replicas showing the same one serve the same model.
        """
        service.check_admin(authorization)
        # The generation first: a sync swaps the model before it marks the generation
        # applied, so this order never pairs a generation with an older model.
        generation = registry.applied_generation
        policy = core.policy
        if policy is None:
            return JSONResponse({"active": None, "reason": core.not_ready_reason,
                                 "generation": generation}, status_code=404)
        return JSONResponse({"model_id": policy.card.model_id, "version": policy.card.version,
                             "sha256": policy.sha256, "size_bytes": policy.size_bytes,
                             "origin": policy.origin, "card": policy.card.to_dict(),
                             "generation": generation})


def _add_switching_routes(app: FastAPI, service: Service) -> None:
    """Roll back, activate and delete."""
    registry = service.registry

    @app.post("/v1/models/rollback", tags=["models"],
              responses=error_responses(*ADMIN_ERRORS, 409, 503))
    async def rollback(authorization: str | None = Header(None)) -> dict[str, Any]:
        """Re-activate the previously active model.

        ``active`` is the registry's key of what now serves: ``model_id@version``,
        or ``default`` for the embedded default model.
        """
        service.check_admin(authorization)
        return _activation(await run_in_threadpool(registry.rollback))

    @app.post("/v1/models/{model_id}/{version}/activate", tags=["models"],
              responses=error_responses(*ADMIN_ERRORS, 404, 503))
    async def activate(model_id: str, version: str,
                       authorization: str | None = Header(None)) -> dict[str, Any]:
        """Make a stored model the serving one (atomic swap; requests in flight finish)."""
        service.check_admin(authorization)
        return _activation(await run_in_threadpool(registry.activate, f"{model_id}@{version}"))

    @app.delete("/v1/models/{model_id}/{version}", status_code=204, tags=["models"],
                responses=error_responses(*ADMIN_ERRORS, 404, 409, 503))
    def delete(model_id: str, version: str, authorization: str | None = Header(None)) -> Response:
        """Delete a stored model that is not active."""
        service.check_admin(authorization)
        registry.delete(f"{model_id}@{version}")
        return Response(status_code=204)
