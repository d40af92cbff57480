"""Domain errors of the service and the one place that maps them to gRPC and HTTP.

The core and the registry raise these; the transports only look them up in
:func:`status_of` and never choose a status code themselves.
"""

from __future__ import annotations

from typing import Final, NamedTuple

import grpc

from xapp.report_batch import ReportError


class ServiceError(Exception):
    """Base of the errors a client can cause; ``str()`` is the reason shown to it."""

    field: str = ""
    ue_index: int = -1


class InvalidRequest(ServiceError):
    """A request (or one UE report in it) is malformed or out of range."""

    def __init__(self, reason: str, field: str = "", ue_index: int = -1) -> None:
        super().__init__(reason)
        self.field = field
        self.ue_index = ue_index

    @classmethod
    def from_report_error(cls, error: ReportError) -> InvalidRequest:
        """Wrap a :class:`xapp.features.ReportError`, keeping its field and UE index."""
        return cls(str(error), error.field, error.ue_index)


class BatchTooLarge(ServiceError):
    """More UE reports in one request than the configured maximum."""


class Unauthenticated(ServiceError):
    """No bearer token, or the wrong one."""


class AdminDisabled(ServiceError):
    """Model management is off because no admin token is configured."""


class ClientNotAllowed(ServiceError):
    """The verified client certificate names no client allowed to ask for decisions."""


class ModelRejected(ServiceError):
    """An uploaded model failed validation; nothing was stored."""


class ModelTooLarge(ModelRejected):
    """An uploaded model exceeds the configured size limit."""


class ModelNotFound(ServiceError):
    """No stored model with that id and version."""


class ModelConflict(ServiceError):
    """The operation contradicts the store's state (delete the active model, ...)."""


class PayloadTooLarge(ServiceError):
    """A request body exceeds the configured limit."""


class MalformedRequest(ServiceError):
    """A request body that is not the expected JSON object at all (not JSON, a list ...)."""


class StoreUnavailable(ServiceError):
    """The model store could not be written; the operation changed nothing."""


class Status(NamedTuple):
    """How one error class is reported on each transport."""

    grpc_code: grpc.StatusCode
    http_status: int


_STATUS: Final[dict[type[ServiceError], Status]] = {
    InvalidRequest: Status(grpc.StatusCode.INVALID_ARGUMENT, 422),
    BatchTooLarge: Status(grpc.StatusCode.RESOURCE_EXHAUSTED, 413),
    Unauthenticated: Status(grpc.StatusCode.UNAUTHENTICATED, 401),
    AdminDisabled: Status(grpc.StatusCode.PERMISSION_DENIED, 403),
    ClientNotAllowed: Status(grpc.StatusCode.PERMISSION_DENIED, 403),
    ModelTooLarge: Status(grpc.StatusCode.RESOURCE_EXHAUSTED, 413),
    ModelRejected: Status(grpc.StatusCode.FAILED_PRECONDITION, 422),
    ModelNotFound: Status(grpc.StatusCode.NOT_FOUND, 404),
    ModelConflict: Status(grpc.StatusCode.FAILED_PRECONDITION, 409),
    PayloadTooLarge: Status(grpc.StatusCode.RESOURCE_EXHAUSTED, 413),
    MalformedRequest: Status(grpc.StatusCode.INVALID_ARGUMENT, 400),
    StoreUnavailable: Status(grpc.StatusCode.UNAVAILABLE, 503),
}
_INTERNAL: Final = Status(grpc.StatusCode.INTERNAL, 500)


def status_of(error: BaseException) -> Status:
    """Return the gRPC code and HTTP status of ``error`` (most specific class wins)."""
    if isinstance(error, ReportError):
        return _STATUS[InvalidRequest]
    for cls in type(error).__mro__:
        status = _STATUS.get(cls)  # type: ignore[arg-type]
        if status is not None:
            return status
    return _INTERNAL
