"""Errors as the outside world sees them: JSON for the panel and staff, pages for clients.

No stack trace ever leaves the service; an unexpected error is logged here and answered
with a short message.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from flask_limiter import RateLimitExceeded
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

from ..models import db
from . import ratelimit
from .client_pages import error_page

log = logging.getLogger(__name__)

JSON_PREFIXES = ("/webhooks/", "/api/")


class ApiError(Exception):
    """An error answered as `{"error": {"code": ..., "message": ...}}` with `status`."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


def error_response(status: int, code: str, message: str, **extra: Any) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    body.update(extra)
    response = jsonify({"error": body})
    response.status_code = status
    return response


def _wants_json() -> bool:
    return request.path.startswith(JSON_PREFIXES)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "too_many_requests",
    503: "unavailable",
}


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message, **exc.extra)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        status = exc.code or 500
        if _wants_json():
            message = exc.description or exc.name
            if status == 413:
                message = f"the body is larger than {app.config['WEBHOOK_MAX_BYTES']} bytes"
            elif status == 429:
                message = "too many requests from this client; retry after Retry-After seconds"
            response = error_response(status, _HTTP_CODES.get(status, "error"), message)
            _retry_after(exc, response)
            if status == 405 and exc.get_response().headers.get("Allow"):
                response.headers["Allow"] = exc.get_response().headers["Allow"]
            return response
        return _retry_after(exc, error_page(status))

    @app.errorhandler(DataError)
    def value_refused(exc: DataError) -> Any:
        # The database refused a value the request carried (a NUL character, a number out
        # of range): the request is at fault, not the database.
        log.warning("a request value was refused by the database: %s", type(exc.orig).__name__)
        _safe_rollback()
        if _wants_json():
            return error_response(400, "invalid_value", "a value in the request cannot be stored")
        return error_page(400)

    @app.errorhandler(OperationalError)
    @app.errorhandler(DBAPIError)
    def database_down(exc: Exception) -> Any:
        log.error("database unavailable: %s", type(exc).__name__)
        _safe_rollback()
        if _wants_json():
            response = error_response(
                503, "database_unavailable", "the database is unavailable; retry later"
            )
            response.headers["Retry-After"] = "5"
            return response
        return error_page(503)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        log.exception("unexpected error on %s %s", request.method, request.endpoint)
        _safe_rollback()
        if _wants_json():
            return error_response(500, "internal_error", "an unexpected error occurred")
        return error_page(500)


def _retry_after(exc: HTTPException, response: Response) -> Response:
    """On a 429, say when to come back: when the window of the limit gone over ends."""
    if isinstance(exc, RateLimitExceeded):
        response.headers["Retry-After"] = str(ratelimit.retry_after())
    return response


def _safe_rollback() -> None:
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - the connection may be the thing that failed
        log.debug("rollback failed after an error", exc_info=True)
