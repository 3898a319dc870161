"""The staff view (`/staff`): every intervention, its trail, and the staff's actions.

Staff arrive from the WHMCS addon through a single-use login link (staff_login.py), so
there is no second password; a signed session cookie (HttpOnly, SameSite=Lax, Secure on
HTTPS, path /staff) carries them afterwards, with a CSRF token checked on every POST.
Pages are server-rendered, need no JavaScript, and read the same data as the staff API
(`intervention_json`, `staff_queries`); the actions are the table in staff_actions.py,
shared with the API, done in the staff member's name.
"""

from __future__ import annotations

import hmac
import re
import secrets
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    flash,
    g,
    get_flashed_messages,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask.typing import ResponseReturnValue
from flask.wrappers import Request
from flask_babel import gettext

from ..clock import now as clock_now
from ..domain import lifecycle
from ..domain.errors import LifecycleError
from ..domain.states import RESOLUTIONS, State
from ..domain.trail import Actor
from ..formatting import zone
from ..i18n import staff_language, template_gettext
from ..models import Intervention, db
from . import staff_actions, staff_login, staff_queries
from .errors import ApiError
from .staff_actions import Target
from .staff_api import (
    dossier_request,
    dossier_response,
    intervention_json,
    intervention_list_json,
    signed_dossier,
)
from .staff_labels import ACTIONS as ACTION_WORDS
from .staff_labels import LABELS, LOGIN_REFUSED

bp = Blueprint("staff_view", __name__, url_prefix="/staff")

PUBLIC_ENDPOINTS = ("staff_view.login", "staff_view.login_post")
FILTER_KEYS = (
    "state",
    "client",
    "technician",
    "ticket",
    "from",
    "to",
    "late_report",
    "backup",
    "mail",
)


def init_app(app: Flask) -> None:
    """Register the view and set the session cookie it relies on."""
    public = urlsplit(app.config["PUBLIC_URL"])
    app.config["SESSION_COOKIE_NAME"] = "signoff_staff"
    app.config["SESSION_COOKIE_PATH"] = f"{public.path.rstrip('/')}/staff"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = public.scheme == "https"
    app.config["PERMANENT_SESSION_LIFETIME"] = app.config["STAFF_SESSION_LIFETIME"]
    app.session_interface = StaffSessions()
    app.register_blueprint(bp)


class StaffSessions(SecureCookieSessionInterface):
    """The signed session cookie, opened only for the staff view: no other page has one."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        # Opened before the URL is matched: known by its path.
        prefix = bp.url_prefix or "/staff"
        if request.path != prefix and not request.path.startswith(prefix + "/"):
            return None  # Flask's null session: nothing to read, sign or save
        return super().open_session(app, request)


# -- Helpers for templates ---------------------------------------------------------------


def _language() -> str:
    return staff_language()


NONE = "—"


def detail(key: str, value: Any) -> str | None:
    """One value of an event's data, as staff read it; None for an empty one."""
    if value is None or value == "" or value == [] or value == {}:
        return None
    if key == "template":
        return label("mail", value)
    if key == "action":
        return label("panel", value)
    if key in ("page", "signal"):
        return label(key, value)
    if key == "token":
        return None  # a time-stamp token: base64 for tools, in the dossier
    if key == "phase":
        return label("phase", value)
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    return str(value)


def event_label(event: dict[str, Any]) -> str:
    """What an event was, in words; a view of a link page says whether a person or a machine."""
    kind = event.get("type")
    if kind == "link.viewed":
        automated = (event.get("data") or {}).get("automated")
        kind = "link.viewed.automated" if automated else "link.viewed"
    return label("event", kind)


def label(prefix: str, value: Any) -> str:
    """The word for a state, actor, event type...; the code in words when there is none."""
    if value is None or value == "":
        return NONE
    words = LABELS.get(prefix, {}).get(str(value))
    if words is not None:
        return str(words)
    text = str(value)
    return text.replace("_", " ").capitalize() if re.fullmatch(r"[a-z_]+", text) else text


def _moment(value: datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def when(value: datetime | str | None, short: bool = False) -> str:
    """A date and time in DEFAULT_TIMEZONE, in the staff's language."""
    from babel.dates import format_datetime

    moment = _moment(value)
    if moment is None:
        return NONE
    local = moment.astimezone(zone(None, current_app.config["DEFAULT_TIMEZONE"]))
    if short:
        return str(format_datetime(local, "d MMM y, HH:mm", locale=_language()))
    return f"{format_datetime(local, 'd MMM y, HH:mm:ss', locale=_language())} {local.tzname()}"


def left(deadline: datetime | str | None) -> str | None:
    """Time left before `deadline` in words (`5 h 12 min`); None when there is no deadline."""
    moment = _moment(deadline)
    if moment is None:
        return None
    remaining = moment - clock_now()
    if remaining <= timedelta(0):
        return gettext("deadline passed")
    minutes = int(remaining.total_seconds() // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        text = gettext("%(days)d d %(hours)d h", days=days, hours=hours)
    elif hours:
        text = gettext("%(hours)d h %(minutes)02d min", hours=hours, minutes=mins)
    else:
        text = gettext("%(minutes)d min", minutes=max(mins, 1))
    return gettext("%(left)s left", left=text)


def _page_url(**changes: Any) -> str:
    """The list's URL with the current filters and `changes` (None removes a key)."""
    args = {k: v for k, v in request.args.items() if k in FILTER_KEYS and v}
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = str(value)
    query = urlencode(args)
    return url_for("staff_view.index") + (f"?{query}" if query else "")


@bp.context_processor
def _template_helpers() -> dict[str, Any]:
    return {
        "label": label,
        "event_label": event_label,
        "detail": detail,
        "action_words": ACTION_WORDS,
        "when": when,
        "left": left,
        "lang": _language(),
        "company": current_app.config["COMPANY_NAME"],
        "staff": session.get("staff"),
        "csrf": session.get("csrf", ""),
        "page_url": _page_url,
        "admin_url": current_app.config.get("WHMCS_ADMIN_URL"),
        "states": [s.value for s in State],
        **template_gettext(_language()),
    }


def _message(status: int, message: str, again: bool = False) -> Response:
    page = render_template(
        "staff/message.html",
        title=gettext("This page cannot be shown"),
        message=message,
        again=again,
    )
    return make_response(page, status)


# -- Session and CSRF --------------------------------------------------------------------


@bp.before_request
def _require_staff() -> Response | None:
    if session.get("language") in current_app.config["LANGUAGES"]:
        g.staff_language = session["language"]
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    staff = session.get("staff")
    if not isinstance(staff, str) or staff_login.session_expired(session.get("since")):
        session.clear()
        return _message(401, gettext("Your session has ended."), again=True)
    if request.method == "POST":
        sent = request.form.get("csrf", "")
        expected = session.get("csrf", "")
        if not expected or not hmac.compare_digest(sent.encode(), str(expected).encode()):
            return _message(400, gettext("This form has expired. Reload the page and try again."))
    g.staff = staff
    return None


@bp.after_request
def _private(response: Response) -> Response:
    # Client data and one-time links: never cached, never indexed.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


@bp.get("/login/<token>")
def login(token: str) -> Response:
    """Ask to continue: a GET never uses the link (previews and scanners fetch links)."""
    try:
        grant = staff_login.check(token)
    except staff_login.LoginError as exc:
        return _login_refused(exc)
    g.staff_language = grant.language
    return make_response(render_template("staff/login.html", admin=grant.admin))


@bp.post("/login/<token>")
def login_post(token: str) -> ResponseReturnValue:
    """Use the link once, open a staff session, and land on the page it names."""
    try:
        grant = staff_login.use(token, request.remote_addr)
        db.session.commit()
    except staff_login.LoginError as exc:
        db.session.rollback()
        return _login_refused(exc)
    # A fresh session on every sign-in: nothing from before survives it.
    session.clear()
    session.permanent = True
    session["staff"] = grant.admin
    session["since"] = clock_now().timestamp()
    session["csrf"] = secrets.token_urlsafe(32)
    if grant.language:
        session["language"] = grant.language
    target = url_for("staff_view.index")
    if grant.target:
        kind, _, value = grant.target.partition(":")
        if kind == "intervention":
            target = url_for("staff_view.show", panel_id=value)
        elif kind in ("dossier-pdf", "dossier-json"):
            fmt = kind.removeprefix("dossier-")
            target = url_for("staff_view.evidence", panel_id=value, format=fmt)
        elif kind == "client":
            target = url_for("staff_view.index", client=value)
    return redirect(target, code=303)


def _login_refused(exc: staff_login.LoginError) -> Response:
    status = 400 if exc.reason == "invalid" else 410
    return _message(status, str(LOGIN_REFUSED[exc.reason]), again=True)


@bp.post("/logout")
def logout() -> Response:
    session.clear()
    page = render_template(
        "staff/message.html",
        title=gettext("Intervention sign-off"),
        message=gettext("You are signed out."),
        again=True,
    )
    return make_response(page)


# -- The list ------------------------------------------------------------------------------


@bp.get("/")
def index() -> Response:
    """Interventions newest first, filtered, with counts per state and keyset paging."""
    args = {k: v.strip() for k, v in request.args.items() if v.strip()}
    error = None
    try:
        found = staff_queries.page(args)
    except staff_queries.FilterError as exc:
        error = gettext("Invalid filter: %(detail)s", detail=str(exc))
        found = staff_queries.Page([], None, None)
    rows = intervention_list_json(found.items)
    page = render_template(
        "staff/list.html",
        rows=rows,
        found=found,
        counts=staff_queries.state_counts(clock_now()),
        failed_mails=staff_queries.failed_mail_count(),
        filters=args,
        filtering=any(args.get(k) for k in FILTER_KEYS),
        error=error,
        messages=get_flashed_messages(with_categories=True),
    )
    return make_response(page, 400 if error else 200)


# -- One intervention ----------------------------------------------------------------------


def _site_check_rows(value: Any) -> list[dict[str, Any]]:
    """URL and verdict per checked page (docs/site-check.md), tolerant of other shapes."""
    items: Any = value
    if isinstance(value, dict):
        keys = ("pages", "urls", "results", "checks")
        items = next((value[k] for k in keys if isinstance(value.get(k), list)), [])
    if not isinstance(items, list):
        return []
    rows = []
    for item in items:
        if isinstance(item, str):
            item = {"url": item}
        if not isinstance(item, dict):
            continue
        keys = ("verdict", "status", "result", "outcome")
        verdict = next((item[k] for k in keys if item.get(k) is not None), None)
        changes = [
            {
                "text": str(c.get("text") or c.get("code") or ""),
                "regression": bool(c.get("regression")),
            }
            for c in item.get("changes") or []
            if isinstance(c, dict)
        ]
        rows.append(
            {
                "url": item.get("url"),
                "label": item.get("label"),
                "verdict": verdict,
                "detail": item.get("note") or item.get("detail"),
                "changes": changes,
            }
        )
    return rows


def _get_or_404(panel_id: str) -> Intervention | Response:
    iv = lifecycle.get_by_panel_id(panel_id)
    if iv is None:
        return _message(404, gettext("No intervention has this id."))
    return iv


@bp.get("/interventions/<panel_id>")
def show(panel_id: str) -> Response:
    """Everything about one intervention: dates, report, backup, trail, mails, panel effects."""
    found = _get_or_404(panel_id)
    if isinstance(found, Response):
        return found
    iv = found
    data = intervention_json(iv, detail=True)
    effects = data.get("effects", [])
    page = render_template(
        "staff/detail.html",
        iv=data,
        client=iv.client,
        ineligible_because=_ineligible_because(iv),
        mails=[e for e in effects if e["kind"] == "mail"],
        panel_effects=[e for e in effects if e["kind"] == "panel"],
        scheduled=[e for e in effects if e["kind"] not in ("mail", "panel")],
        site_check=_site_check_rows(data.get("site_check")),
        site_check_verdict=(data.get("site_check") or {}).get("verdict")
        if isinstance(data.get("site_check"), dict)
        else None,
        actions=[action.name for action in staff_actions.offered(iv)],
        resolutions=RESOLUTIONS,
        messages=get_flashed_messages(with_categories=True),
    )
    return make_response(page)


@bp.get("/interventions/<panel_id>/evidence")
def evidence(panel_id: str) -> Response:
    """The dispute dossier for a signed-in staff member: as the API answers it (JSON or PDF)."""
    found = _get_or_404(panel_id)
    if isinstance(found, Response):
        return found
    try:
        wanted, language = dossier_request(request.args)
        return dossier_response(signed_dossier(panel_id), wanted, language, found.client.timezone)
    except ApiError as exc:
        if exc.code == "evidence_key_missing":
            message = gettext("No dossier can be signed: the service has no signing key.")
        elif exc.code == "pdf_unavailable":
            message = gettext("No PDF can be drawn on this server: open the JSON dossier.")
        else:
            message = gettext(
                "A dossier is made as a PDF or as JSON, in a language the service speaks."
            )
        return _message(exc.status, message)


def _ineligible_because(iv: Intervention) -> str | None:
    ident = iv.client.ineligible_intervention_id
    if not ident:
        return None
    other = db.session.get(Intervention, ident)
    return other.panel_id if other else None


# -- Actions -------------------------------------------------------------------------------


@bp.post("/interventions/<panel_id>/<action>")
def act(panel_id: str, action: str) -> ResponseReturnValue:
    """Carry out one staff action (staff_actions.py) in the staff member's name, and go back."""
    row = staff_actions.BY_NAME.get(action)
    if row is None:
        return _message(404, gettext("No intervention has this id."))
    found = _get_or_404(panel_id)
    if isinstance(found, Response):
        return found
    iv = found
    actor = Actor(
        "staff", name=g.staff, ip=request.remote_addr, user_agent=request.user_agent.string
    )
    try:
        changed = staff_actions.perform(
            row, Target(iv.client, iv), request.form, actor, clock_now()
        )
    except staff_actions.ParamError as exc:
        flash(gettext("Not possible: %(detail)s", detail=str(exc)), "error")
    except LifecycleError:
        db.session.refresh(iv)
        flash(gettext("Not possible: %(detail)s", detail=label("state", iv.state)), "error")
    else:
        if not changed:
            flash(gettext("Nothing to change: it was already so."), "info")
        else:
            flash(str(ACTION_WORDS[action].done), "ok")
    return redirect(url_for("staff_view.show", panel_id=panel_id), code=303)
