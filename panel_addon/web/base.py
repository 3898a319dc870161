"""App-wide HTTP behaviour: security headers on every answer, the health check, the home page."""

from __future__ import annotations

import logging
from functools import cache
from importlib.metadata import PackageNotFoundError, version

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
)
from sqlalchemy import text

from .. import queues
from ..i18n import languages, template_gettext
from ..models import db
from . import staff_login

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


def _health() -> tuple[dict[str, str], int]:
    """The database must answer; Redis is reported, not required."""
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
    return status, code


@bp.get("/healthz")
def health() -> tuple[Response, int]:
    """Liveness and readiness: the database answers; Redis is reported, not required."""
    status, code = _health()
    return jsonify(status), code


def _version() -> str:
    try:
        return version("intervention-signoff")
    except PackageNotFoundError:
        return "?"


def _browser_language() -> str:
    return request.accept_languages.best_match(languages()) or str(
        current_app.config["DEFAULT_LANGUAGE"]
    )


@bp.get("/")
def home() -> tuple[str, int]:
    """What this service is, its version and health; in development, where to look next."""
    status, code = _health()
    language = _browser_language()
    page = render_template(
        "home.html",
        lang=language,
        company=current_app.config["COMPANY_NAME"],
        support_url=None,
        version=_version(),
        status=status,
        development=current_app.config["ENV"] == "development",
        outbox=current_app.config["MAIL_BACKEND"] == "outbox",
        **template_gettext(language),
    )
    return page, code


@bp.get("/dev/staff")
def dev_staff() -> Response:
    """Development only: straight to the staff view, through a fresh login link."""
    if current_app.config["ENV"] != "development":
        abort(404)
    url, _ = staff_login.make_link("Developer", None, _browser_language())
    return redirect(url, code=303)  # type: ignore[return-value]
