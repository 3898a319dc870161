"""App-wide HTTP behaviour: security headers on every answer, and the health check."""

from __future__ import annotations

import logging
from functools import cache

from flask import Blueprint, Flask, Response, current_app, jsonify
from sqlalchemy import text

from .. import queues
from ..models import db

log = logging.getLogger(__name__)
bp = Blueprint("web", __name__)

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors {ancestors}"
)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    redis_checked: list[bool] = []

    @app.before_request
    def warn_about_redis_once() -> None:
        # What the worker logs at its start, logged by each web process at its first request
        # (not in create_app: every CLI command and test builds an app).
        if redis_checked:
            return
        redis_checked.append(True)
        for warning in queues.redis_warnings(queues.connection()):
            log.warning(warning)

    @app.after_request
    def security_headers(response: Response) -> Response:
        headers = response.headers
        present = set(headers.keys(lower=True))
        for name, value in _security_headers(current_app.config.get("FRAME_ANCESTORS")):
            if name.lower() not in present:
                headers.add(name, value)
        return response


@cache
def _security_headers(frame_ancestors: str | None) -> tuple[tuple[str, str], ...]:
    # Those an answer carries unless its view set its own.
    ancestors = frame_ancestors or "'none'"
    headers = [
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("Content-Security-Policy", CSP.format(ancestors=ancestors)),
    ]
    if ancestors == "'none'":
        headers.append(("X-Frame-Options", "DENY"))
    return tuple(headers)


@bp.get("/healthz")
def health() -> tuple[Response, int]:
    """Liveness and readiness: the database answers; Redis is reported, not required."""
    status = {"database": "ok", "redis": "ok"}
    code = 200
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - reported as unavailable
        status["database"] = "unavailable"
        code = 503
    try:
        queues.connection().ping()
    except Exception:  # noqa: BLE001 - work is delayed, not lost, while Redis is down
        status["redis"] = "unavailable"
    return jsonify(status), code
