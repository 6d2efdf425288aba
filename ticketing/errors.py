"""Domain errors. Each carries its HTTP status and a stable error code; one handler renders them."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of the errors a service raises on purpose."""

    status_code: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"


class Unauthorized(DomainError):
    status_code = 401
    code = "unauthorized"


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "payload_too_large"


class ValidationFailed(DomainError):
    """A value broke a domain rule; ``field`` names it the way the client sent it."""

    status_code = 422
    code = "validation_failed"

    def __init__(self, message: str, *, field: str, code: str | None = None) -> None:
        super().__init__(message, code=code, details=[{"field": field, "message": message}])
        self.field = field
