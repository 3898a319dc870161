"""The staff API (`/api/v1`, bearer token): interventions, eligibility, staff actions."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import select
from werkzeug.utils import secure_filename

from .. import evidence_keys, site_check
from ..clock import now as clock_now
from ..domain import evidence, lifecycle, records
from ..domain.errors import InvalidRequestError, NotFoundError, TransitionError
from ..domain.trail import Actor
from ..i18n import languages, normalise_language
from ..models import Client, Event, Intervention, SiteSnapshot, Task, db
from ..tokens import link_url
from . import dossier_pdf, staff_actions, staff_login, staff_queries
from .errors import ApiError
from .staff_actions import StaffAction, Target

bp = Blueprint("staff_api", __name__, url_prefix="/api/v1")
log = logging.getLogger(__name__)

PAGE_MAX = staff_queries.PAGE_MAX
DOSSIER_FORMATS = ("json", "pdf")


@bp.before_request
def require_token() -> None:
    expected = current_app.config.get("STAFF_API_TOKEN")
    if not expected:
        raise ApiError(503, "staff_api_disabled", "the staff API is refused: no STAFF_API_TOKEN")
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    accepted = [str(expected), *current_app.config["STAFF_API_TOKEN_FALLBACKS"]]
    matches = [hmac.compare_digest(given.strip().encode(), token.encode()) for token in accepted]
    if scheme.lower() != "bearer" or not any(matches):
        raise ApiError(401, "unauthorized", "a valid bearer token is required")


def intervention_json(
    iv: Intervention, detail: bool = False, site_rows: list[SiteSnapshot] | None = None
) -> dict[str, Any]:
    """The staff JSON of an intervention; `site_rows` saves a query per row in lists."""
    body = records.intervention_fields(iv, site_rows)
    if detail:
        body["summary"] = iv.summary
        body["report_message"] = iv.report_message
        body["cancelled_reason"] = iv.cancelled_reason
        events = db.session.scalars(
            select(Event).where(Event.intervention_id == iv.id).order_by(Event.seq)
        )
        body["events"] = [
            {
                "seq": e.seq,
                "at": records.iso(e.at),
                "actor": e.actor,
                "actor_name": e.actor_name,
                "type": e.type,
                "from_state": e.from_state,
                "to_state": e.to_state,
                "ip": e.ip,
                "user_agent": e.user_agent,
                "data": e.data,
                "hash": e.hash,
            }
            for e in events
        ]
        effects = db.session.scalars(
            select(Task).where(Task.intervention_id == iv.id).order_by(Task.id)
        )
        body["effects"] = [
            {
                "kind": t.kind,
                "action": t.action,
                "state": t.state,
                "due_at": records.iso(t.due_at),
                "done_at": records.iso(t.done_at),
                "attempts": t.attempts,
                "last_error": t.last_error,
                "template": (t.payload or {}).get("template"),
            }
            for t in effects
        ]
    return body


def intervention_list_json(items: list[Intervention]) -> list[dict[str, Any]]:
    """The staff JSON of a page of interventions (the API's list and the staff view's)."""
    site_rows = site_check.load_rows(iv.id for iv in items)
    return [intervention_json(iv, site_rows=site_rows[iv.id]) for iv in items]


def _get(panel_id: str) -> Intervention:
    iv = lifecycle.get_by_panel_id(panel_id)
    if iv is None:
        raise ApiError(404, "not_found", f"no intervention with id {panel_id!r}")
    return iv


def _staff_actor() -> Actor:
    body = request.get_json(silent=True) if request.is_json else None
    name = request.headers.get("X-Staff-Name") or (body or {}).get("staff") or "staff"
    return Actor("staff", name=str(name)[:200], ip=request.remote_addr)


def _json_body() -> dict[str, Any]:
    if not request.get_data():
        return {}
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "the body must be application/json")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return body


@bp.get("/interventions/<panel_id>")
def show(panel_id: str) -> Response:
    return jsonify(intervention_json(_get(panel_id), detail=True))


# The client links each state still takes: a validation while the window is open; a
# report then, and after a lapse (a late report).
_CLIENT_LINKS = {
    "awaiting_validation": ("validate", "report"),
    "lapsed": ("report",),
}


# What a client sees of their interventions: all but the cancelled ones (staff undid
# those, often before the client heard of them).
_CLIENT_STATES = "in_progress,awaiting_validation,validated,reported,lapsed,resolved"
CLIENT_LIST_MAX = 50


def client_view_json(iv: Intervention) -> dict[str, Any]:
    """What the panel's client area shows the intervention's client, with fresh links.

    The links are those the state still takes, freshly signed (minting them changes
    nothing); they open the same pages as the mail's.
    """
    return {
        "id": iv.panel_id,
        "state": iv.state,
        "site": iv.site,
        "summary": iv.summary,
        "started_at": records.iso(iv.started_at),
        "completed_at": records.iso(iv.completed_at),
        "deadline_at": records.iso(iv.deadline_at),
        "decided_at": records.iso(iv.decided_at),
        "backup": {
            "reference": iv.backup_reference,
            "state": iv.backup_state,
            "expires_at": records.iso(iv.backup_expires_at),
        },
        "links": {purpose: link_url(iv, purpose) for purpose in _CLIENT_LINKS.get(iv.state, ())},
    }


@bp.get("/interventions/<panel_id>/links")
def client_links(panel_id: str) -> Response:
    """One intervention as its client sees it, with fresh links to its pages.

    `client` (required) is the panel's id of the client who asks: an intervention of
    another client answers 404, as an unknown one does.
    """
    client_id = request.args.get("client", "")
    if not client_id:
        raise ApiError(400, "invalid_filter", "client is required", field="client")
    iv = lifecycle.get_by_panel_id(panel_id)
    if iv is None or iv.client_id != client_id:
        raise ApiError(404, "not_found", f"no intervention with id {panel_id!r} for this client")
    return jsonify(client_view_json(iv))


@bp.get("/clients/<client_id>/interventions")
def client_interventions(client_id: str) -> Response:
    """The client's interventions as they see them (cancelled ones left out), newest first."""
    args = {"client": client_id, "state": _CLIENT_STATES}
    if "limit" in request.args:
        args["limit"] = request.args["limit"]
    try:
        found = staff_queries.page(args, default_limit=20)
    except staff_queries.FilterError as exc:
        raise ApiError(400, "invalid_filter", str(exc), field=exc.field or "limit") from None
    items = found.items[:CLIENT_LIST_MAX]
    return jsonify({"client_id": client_id, "interventions": [client_view_json(i) for i in items]})


@bp.get("/interventions/<panel_id>/evidence")
def dossier(panel_id: str) -> Response:
    """The dispute dossier (contract §8): the chained trail, the mails, signed with Ed25519.

    `?format=pdf` answers it as a PDF for a person, in the client's language or `?lang=`.
    """
    wanted, language = dossier_request(request.args)
    signed = signed_dossier(panel_id)
    return dossier_response(signed, wanted, language, _get(panel_id).client.timezone)


def dossier_request(args: Mapping[str, str]) -> tuple[str, str | None]:
    """The format (`json`, `pdf`) and language (a spoken one, or None) a dossier is asked in."""
    wanted = args.get("format", "json")
    if wanted not in DOSSIER_FORMATS:
        raise ApiError(400, "invalid_format", "format must be json or pdf", field="format")
    language = args.get("lang") or None
    if language is not None and language not in languages():
        spoken = ", ".join(languages())
        raise ApiError(400, "invalid_language", f"lang must be one of {spoken}", field="lang")
    return wanted, language


def signed_dossier(panel_id: str) -> dict[str, Any]:
    """The intervention's dossier as of now, signed; ApiError when it cannot be."""
    signing = evidence_keys.keys().signing
    if signing is None:
        raise ApiError(
            503,
            "evidence_key_missing",
            "no dossier can be signed: PANEL_ADDON_EVIDENCE_SIGNING_KEY is not set",
        )
    try:
        unsigned = evidence.build_dossier(panel_id, now=clock_now())
    except NotFoundError as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    return evidence.sign_dossier(unsigned, signing)


def dossier_response(
    signed: dict[str, Any], wanted: str, language: str | None, timezone: str | None
) -> Response:
    """The signed dossier as its JSON file, or as the PDF that carries that file."""
    panel_id = str(signed["intervention"]["id"])
    if wanted == "pdf":
        try:
            pdf = dossier_pdf.render(signed, language or dossier_pdf.language_of(signed), timezone)
        except dossier_pdf.PdfUnavailableError as exc:
            log.error("no dossier PDF can be drawn: %s (docs/deployment.md)", exc)
            raise ApiError(
                503, "pdf_unavailable", "no PDF can be drawn here; the JSON dossier can"
            ) from None
        response = Response(pdf, mimetype="application/pdf")
        filename = secure_filename(f"dossier-{panel_id}.pdf") or "dossier.pdf"
    else:
        # In the contract's order, indented: a file a person may open and read.
        text = json.dumps(signed, ensure_ascii=False, indent=2) + "\n"
        response = Response(text, mimetype="application/json")
        filename = secure_filename(f"dossier-{panel_id}.json") or "dossier.json"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


@bp.get("/interventions")
def index() -> Response:
    try:
        found = staff_queries.page(request.args)
    except staff_queries.FilterError as exc:
        extra = {"field": exc.field} if exc.field else {}
        raise ApiError(400, "invalid_filter", str(exc), **extra) from None
    body: dict[str, Any] = {
        "interventions": intervention_list_json(found.items),
        "next_before": found.next_before,
    }
    # The panel's ticket banner asks for one row and no counts (a GROUP BY on every row).
    if request.args.get("counts", "true").lower() not in ("false", "0"):
        body["counts"] = staff_queries.state_counts(clock_now())
    return jsonify(body)


@bp.post("/staff/login-links")
def login_link() -> tuple[Response, int]:
    """A single-use link (about a minute) that signs a WHMCS admin into the staff view."""
    body = _json_body()
    target = None
    dossier = body.get("dossier")
    if dossier is not None and (dossier not in DOSSIER_FORMATS or not body.get("intervention")):
        raise ApiError(
            422, "invalid_payload", "dossier is pdf or json, with an intervention", field="dossier"
        )
    if body.get("intervention"):
        kind = f"dossier-{dossier}" if dossier else "intervention"
        target = f"{kind}:{body['intervention']}"
    elif body.get("client"):
        target = f"client:{body['client']}"
    try:
        admin = staff_login.clean_admin(body.get("admin"))
    except ValueError as exc:
        raise ApiError(422, "invalid_payload", str(exc), field="admin") from None
    # The WHMCS admin's language (`french`, `fr`...), when it is one the service speaks.
    language = normalise_language(str(body["language"])) if body.get("language") else None
    try:
        url, max_age = staff_login.make_link(admin, target, language)
    except ValueError as exc:
        field = "intervention" if body.get("intervention") else "client"
        raise ApiError(422, "invalid_payload", str(exc), field=field) from None
    return jsonify({"url": url, "expires_in": max_age}), 201


def _eligibility_json(client: Client | None, client_id: str) -> dict[str, Any]:
    if client is None:
        return {"client_id": client_id, "eligible": True, "known": False}
    intervention = (
        db.session.get(Intervention, client.ineligible_intervention_id)
        if client.ineligible_intervention_id
        else None
    )
    return {
        "client_id": client.id,
        "known": True,
        "eligible": client.eligible,
        "since": records.iso(client.ineligible_since),
        "reason": client.ineligible_reason,
        "intervention": intervention.panel_id if intervention else None,
    }


@bp.get("/clients/<client_id>/eligibility")
def eligibility(client_id: str) -> Response:
    return jsonify(_eligibility_json(db.session.get(Client, client_id), client_id))


def _target(action: StaffAction, body: dict[str, Any], **ids: str) -> Target:
    if "panel_id" in ids:
        iv = _get(ids["panel_id"])
        return Target(iv.client, iv)
    client = db.session.get(Client, ids["client_id"])
    if client is None:
        raise ApiError(404, "not_found", f"no client with id {ids['client_id']!r}")
    intervention = None
    if body.get("intervention"):
        intervention = _get(str(body["intervention"]))
        if intervention.client_id != client.id:
            raise ApiError(
                422,
                "invalid_payload",
                "that intervention is another client's",
                field="intervention",
            )
    return Target(client, intervention)


def _action_view(action: StaffAction) -> Callable[..., Response]:
    """The API's side of a staff action (staff_actions.py): JSON in, JSON out."""

    def view(**ids: str) -> Response:
        # A DELETE carries no body.
        body = _json_body() if action.method == "POST" else {}
        target = _target(action, body, **ids)
        try:
            staff_actions.perform(action, target, body, _staff_actor(), clock_now())
        except staff_actions.ParamError as exc:
            raise ApiError(422, "invalid_payload", str(exc), field=exc.field) from None
        except InvalidRequestError as exc:
            raise ApiError(422, "invalid_payload", str(exc)) from None
        except NotFoundError as exc:
            raise ApiError(404, "not_found", str(exc)) from None
        except TransitionError as exc:
            state = target.intervention.state if target.intervention else None
            raise ApiError(409, exc.code, str(exc), state=state) from None
        if "client_id" in ids:
            return jsonify(_eligibility_json(target.client, ids["client_id"]))
        iv = target.iv
        db.session.refresh(iv)
        return jsonify(intervention_json(iv, detail=True))

    view.__name__ = action.name
    return view


for _action in staff_actions.ACTIONS:
    bp.add_url_rule(_action.route, view_func=_action_view(_action), methods=[_action.method])
