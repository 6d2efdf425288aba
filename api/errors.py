"""One error format for every failure: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ticketing.errors import DomainError

logger = logging.getLogger(__name__)

_REQUEST_PARTS = {"body", "query", "path", "header", "cookie"}

_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    401: "unauthorized",
    403: "forbidden",
}


def error_response(
    status_code: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The JSON error envelope."""
    return JSONResponse(
        status_code=status_code,
        content={"error": {"code": code, "message": message, "details": details}},
        headers=headers,
    )


def _field_name(location: tuple[Any, ...] | list[Any]) -> str:
    parts = list(location)
    if parts and parts[0] in _REQUEST_PARTS:
        parts = parts[1:]
    return ".".join(str(part) for part in parts) or "body"


async def _domain_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, DomainError)
    headers = {"WWW-Authenticate": "Bearer"} if error.status_code == 401 else None
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        headers = {"Retry-After": str(retry_after)}
    return error_response(error.status_code, error.code, error.message, error.details, headers)


async def _validation_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = list(error.errors())
    if any(problem.get("type") == "json_invalid" for problem in problems):
        return error_response(422, "malformed_json", "The request body is not valid JSON.", [])
    # Never echo the offending input back: it may be a phone number or an e-mail.
    details = [
        {"field": _field_name(problem.get("loc", ())), "message": problem.get("msg", "invalid")}
        for problem in problems
    ]
    return error_response(422, "validation_failed", "The request is not valid.", details)


async def _http_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    code = _HTTP_CODES.get(error.status_code, "http_error")
    message = "No such resource." if error.status_code == 404 else str(error.detail)
    headers = dict(error.headers) if error.headers else None
    return error_response(error.status_code, code, message, None, headers)


async def _stale_write(_request: Request, error: Exception) -> JSONResponse:
    # A concurrent writer committed first; the client should re-read and try again.
    return error_response(
        409, "version_conflict", "Someone else changed this at the same time; reload and retry."
    )


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    # Method and path only: bodies and query strings may carry personal data.
    logger.error(
        "unhandled %s on %s %s",
        type(error).__name__,
        request.method,
        request.url.path,
        exc_info=error,
    )
    return error_response(500, "internal_error", "Something went wrong on our side.")


def install_error_handlers(app: FastAPI) -> None:
    """Render domain, validation, routing and unexpected errors in the one envelope."""
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(StaleDataError, _stale_write)
    app.add_exception_handler(Exception, _unexpected_error)
