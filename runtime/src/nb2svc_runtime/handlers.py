"""Every error as the service's JSON envelope, and the error models OpenAPI shows."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from .errors import REQUEST_ID_HEADER, RequestError, error_body
from .log import logger
from .predict import JSON, MAX_ERROR_DETAILS


class ErrorDetail(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    code: str
    message: str
    request_id: str
    details: list[ErrorDetail] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


#: The error answers of the prediction routes, for OpenAPI.
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in (
        (401, "A valid API key is required"),
        (408, "The body was not received in time"),
        (413, "The body or the number of rows is over the limit"),
        (415, "The body's media type is not one this endpoint takes"),
        (422, "Invalid request body"),
        (500, "The notebook's code failed"),
        (503, "The model is not loaded yet, or the service is overloaded"),
        (504, "The prediction took too long"),
    )
}


def request_id_of(request: Request) -> str:
    request_id = getattr(request.state, "request_id", None)
    return request_id if isinstance(request_id, str) else ""


def _error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    details: list[dict[str, object]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(
        error_body(code, message, request_id_of(request), details),
        status_code=status,
        headers=headers,
        media_type=JSON,
    )


async def request_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestError)
    return _error_response(
        request, exc.status, exc.code, exc.message, exc.details, exc.headers
    )


async def invalid_request(request: Request, exc: Exception) -> Response:
    # Routes added in extensions.py may use FastAPI's own validation.
    assert isinstance(exc, RequestValidationError)
    details: list[dict[str, object]] = [
        {
            "loc": [p if isinstance(p, int) else str(p) for p in err["loc"]],
            "msg": str(err.get("msg", "")),
            "type": str(err.get("type", "")),
        }
        for err in exc.errors()[:MAX_ERROR_DETAILS]
    ]
    return _error_response(
        request, 422, "invalid_request", "The request is invalid.", details
    )


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 415: "unsupported_media_type"}
    return _error_response(
        request,
        exc.status_code,
        codes.get(exc.status_code, "http_error"),
        str(exc.detail),
        headers=dict(exc.headers) if exc.headers else None,
    )


async def internal_error(request: Request, exc: Exception) -> Response:
    # Last resort, outside the guard middleware: so the request id header is set here.
    logger.error(
        "unhandled error: %s (request_id=%s)",
        type(exc).__name__,
        request_id_of(request),
    )
    response = _error_response(request, 500, "internal_error", "Internal server error.")
    response.headers[REQUEST_ID_HEADER] = request_id_of(request)
    return response


def add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestError, request_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, internal_error)
