"""The client's pages behind the mailed links: GET shows, only a POST decides."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from flask import (
    Blueprint,
    Response,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
)
from sqlalchemy.exc import SQLAlchemyError

from ..clock import now as clock_now
from ..domain import evidence, lifecycle, states
from ..domain.errors import TransitionError, WindowClosedError
from ..domain.trail import Actor
from ..formatting import clean_text, format_datetime
from ..i18n import languages, template_gettext
from ..models import Intervention, db
from ..site_check import client_lines
from ..tokens import LinkError, link_url, resolve

if TYPE_CHECKING:
    from werkzeug.wrappers import Response as ResponseBase

bp = Blueprint("client_pages", __name__)
log = logging.getLogger(__name__)

MESSAGE_MAX = 5000


def _language_for(intervention: Intervention | None, known: str | None = None) -> str:
    spoken = languages()
    if intervention is not None:
        known = intervention.client.language
    if known and known in spoken:
        return known
    best = request.accept_languages.best_match(spoken) if request else None
    return best or current_app.config["DEFAULT_LANGUAGE"]


def _headers(response: ResponseBase) -> Response:
    # Tokens are in the URL: never leak them through Referer or a shared cache.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response  # type: ignore[return-value]


class _Moment:
    """A date for the page, formatted only if the template shows it (Babel is slow).

    The page shows two of its four dates at most, and formatting was a tenth of the time
    of a link page in the click-storm profile.
    """

    __slots__ = ("_args", "_text")

    def __init__(self, *args: Any) -> None:
        self._args = args
        self._text: str | None = None

    def __str__(self) -> str:
        if self._text is None:
            self._text = format_datetime(*self._args)
        return self._text


def _when(intervention: Intervention, moment: Any, language: str) -> _Moment | None:
    if moment is None:
        return None
    return _Moment(
        moment, language, intervention.client.timezone, current_app.config["DEFAULT_TIMEZONE"]
    )


def _render(
    link_purpose: str,
    intervention: Intervention,
    status: int = 200,
    notice: str | None = None,
) -> Response:
    language = _language_for(intervention)
    now = clock_now()

    state = intervention.state
    deadline = intervention.deadline_at
    late = states.is_late(state, deadline is not None and now >= deadline)
    context = {
        "lang": language,
        "purpose": link_purpose,
        "iv": intervention,
        "state": state,
        "late": late,
        "notice": notice,
        "deadline": _when(intervention, intervention.deadline_at, language),
        "completed": _when(intervention, intervention.completed_at, language),
        "decided": _when(intervention, intervention.decided_at, language),
        "expires": _when(intervention, intervention.backup_expires_at, language),
        "other_url": link_url(intervention, "report" if link_purpose == "validate" else "validate"),
        "company": current_app.config["COMPANY_NAME"],
        "support_url": current_app.config.get("SUPPORT_URL"),
        "message_max": MESSAGE_MAX,
        "site_checks": client_lines(intervention, language),
        **template_gettext(language),
    }
    response = make_response(render_template("link.html", **context), status)
    return _headers(response)


def error_page(status: int, reason: str | None = None, language: str | None = None) -> Response:
    """A short page in the client's language for a refused link or any other error."""
    language = _language_for(None, language)
    context = {
        "lang": language,
        "kind": reason if reason in ("invalid", "expired", "unknown") else "generic",
        "status": status,
        "company": current_app.config["COMPANY_NAME"],
        "support_url": current_app.config.get("SUPPORT_URL"),
        **template_gettext(language),
    }
    response = make_response(render_template("error.html", **context), status)
    return _headers(response)


def _link_or_error(token: str, purpose: str) -> Intervention | Response:
    try:
        return resolve(token, purpose).intervention
    except LinkError as exc:
        status = {"expired": 410, "unknown": 404}.get(exc.reason, 404)
        return error_page(status, exc.reason, exc.language)


@bp.get("/i/<token>/<any(validate, report):purpose>")
def show(token: str, purpose: str) -> Response:
    # GET (and HEAD) never change a decision: mail scanners fetch links. A GET is
    # recorded in the trail (a view, or a scanner's fetch); a HEAD shows nothing to anyone.
    found = _link_or_error(token, purpose)
    if isinstance(found, Response):
        return found
    if request.method == "GET":
        try:
            # A folded view wrote nothing: no commit, so the page's rows stay loaded.
            if evidence.record_view(found, purpose, _client_actor(found), clock_now()):
                db.session.commit()
        except SQLAlchemyError:
            # The page matters more than the record of its view: the client still sees it.
            db.session.rollback()
            log.warning("the view of a link page could not be recorded", exc_info=True)
    return _render(purpose, found)


@bp.post("/i/<token>/<any(validate, report):purpose>")
def act(token: str, purpose: str) -> Response:
    found = _link_or_error(token, purpose)
    if isinstance(found, Response):
        return found
    intervention = found
    actor = _client_actor(intervention)
    now = clock_now()
    try:
        if purpose == "validate":
            lifecycle.validate(intervention, actor, now)
        else:
            typed = clean_text(request.form.get("message") or "", multiline=True)
            message = typed.strip()[:MESSAGE_MAX] or None
            restore = request.form.get("restore") in ("on", "1", "true", "yes")
            lifecycle.report(intervention, message, restore, actor, now)
        db.session.commit()
    except WindowClosedError:
        # The intervention lapsed instead: that is committed, and the page says so.
        db.session.commit()
        return _render(purpose, intervention, 409, notice="window_closed")
    except TransitionError:
        db.session.rollback()
        if _same_decision(purpose, intervention.state):
            return _headers(redirect(request.path, code=303))
        return _render(purpose, intervention, 409, notice="already")
    return _headers(redirect(request.path, code=303))


def _client_actor(intervention: Intervention) -> Actor:
    return Actor(
        "client",
        name=intervention.client.email,
        ip=request.remote_addr,
        user_agent=request.user_agent.string,
    )


# The states in which the decision a link asks for has been taken: the move's target,
# and for a report what staff make of it afterwards.
_TAKEN = {
    "validate": {states.INTERVENTION["validate"].target},
    "report": {states.INTERVENTION["report"].target, states.INTERVENTION["resolve"].target},
}


def _same_decision(purpose: str, state: str) -> bool:
    return state in _TAKEN[purpose]
