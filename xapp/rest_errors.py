"""Errors of the REST adapter: the error body, its OpenAPI entries, and the middleware.

Every refusal answers with :class:`ErrorBody` and the HTTP status of
:func:`xapp.errors.status_of`: the service's own errors, invalid reports,
FastAPI's validation errors (turned into one error naming the field and UE),
bodies over their size limit (:class:`BodyLimit`) and unexpected exceptions
(:class:`CatchAll`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from xapp.error_log import RefusalLog
from xapp.errors import (
    InvalidRequest,
    MalformedRequest,
    PayloadTooLarge,
    ServiceError,
    status_of,
)
from xapp.features import ReportError
from xapp.service import Service

# The REST adapter's logger, whichever of its modules logs.
log = logging.getLogger("xapp.rest")

UPLOAD_PATH: Final = "/v1/models"
"""The model upload route, whose body has its own (larger) limit."""


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


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, all with :class:`ErrorBody`.

    422 (FastAPI documents its own validation body for any route with parameters,
    which this service never sends) and 500 are always included.
    """
    return {status: {"model": ErrorBody, "description": _ERROR_MEANINGS.get(
        status, "An unexpected error; the service log has the details.")}
        for status in sorted({*statuses, 422, 500})}


ADMIN_ERRORS: Final = (401, 403)


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
        limit = self.max_upload_bytes if scope["path"] == UPLOAD_PATH else self.max_bytes
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


def install_error_handling(app: FastAPI, service: Service) -> None:
    """Answer, count and log every error of ``app`` with the error body.

    Adds :class:`CatchAll` (outside the middleware added before) and the handlers
    of the service's errors, invalid reports and FastAPI's own refusals.
    """
    metrics = service.metrics
    bugs = RefusalLog()  # a failure that repeats on every request must not flood the log

    def error_response(error: BaseException) -> JSONResponse:
        status = status_of(error).http_status
        metrics.errors.labels("rest", str(status)).inc()
        if status < 500:  # 5xx are logged where they happen, with their cause
            service.refusals.refused("rest", str(status), str(error))
        return JSONResponse(_error_body(error), status_code=status)

    def unexpected(scope: Scope, error: Exception) -> JSONResponse:
        if bugs.due("rest", type(error).__name__) is not None:
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
