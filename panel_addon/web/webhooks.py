"""`POST /webhooks/panel`: the panel's signed events (Standard Webhooks), applied once each."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from jsonschema import Draft202012Validator, FormatChecker
from sqlalchemy.exc import IntegrityError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from ..clock import now as clock_now
from ..database import insert_for
from ..domain import lifecycle
from ..domain.errors import InvalidRequestError, NotFoundError, TransitionError
from ..domain.trail import PANEL
from ..formatting import clean_text
from ..i18n import normalise_language
from ..models import Intervention, WebhookDelivery, db
from .errors import ApiError

log = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__)
# Recorded as a plain row: no object of it is needed.
DELIVERIES = WebhookDelivery.__table__

# Ids end up in URLs, log lines and notes: no control characters in them.
_ID = {
    "type": ["string", "integer"],
    "minLength": 1,
    "maxLength": 64,
    "pattern": "^[^\\x00-\\x1f\\x7f]+$",
    "minimum": -(2**63),
    "maximum": 2**63 - 1,
}
# An intervention's id is a path segment of the staff API and view: no `/` in a new one.
# `cancelled` still takes any `_ID`, so one stored before this rule can be cancelled.
_INTERVENTION_ID = {**_ID, "pattern": "^[^\\x00-\\x1f\\x7f/]+$"}
_TEXT = {"type": "string", "maxLength": 500}
_CLIENT = {
    "type": "object",
    "required": ["id", "email"],
    "properties": {
        "id": _ID,
        # One address and nothing else: a line break in it would inject mail headers.
        "email": {
            "type": "string",
            "format": "email",
            "maxLength": 320,
            "pattern": "^[^\\s\\x00-\\x1f\\x7f@]+@[^\\s\\x00-\\x1f\\x7f@]+$",
        },
        "name": {"type": ["string", "null"], "maxLength": 200},
        "language": {"type": ["string", "null"], "maxLength": 32},
        "timezone": {"type": ["string", "null"], "maxLength": 64},
    },
}
_BACKUP = {
    "type": ["object", "null"],
    "required": ["reference"],
    "properties": {
        "reference": {"type": "string", "minLength": 1, "maxLength": 500},
        "created_at": {"type": ["string", "null"], "format": "date-time"},
    },
}
_STARTED_FIELDS = {
    "id": _INTERVENTION_ID,
    "ticket_id": _ID,
    "client": _CLIENT,
    "site": _TEXT,
    "technician": {"type": ["string", "null"], "maxLength": 200},
    "backup": _BACKUP,
    # The site check's pages: absolute http(s) URLs, or paths on the site (docs/site-check.md).
    "check_urls": {
        "type": "array",
        "maxItems": 20,
        "items": {
            "type": "string",
            "maxLength": 2000,
            "pattern": (
                "^(?:[hH][tT][tT][pP][sS]?://[^\\s\\x00-\\x1f\\x7f/?#]+|/(?!/))"
                "[^\\s\\x00-\\x1f\\x7f]*$"
            ),
        },
    },
}
DATA_SCHEMAS: dict[str, dict[str, Any]] = {
    "intervention.started": {
        "type": "object",
        "required": ["id", "ticket_id", "client", "site"],
        "properties": _STARTED_FIELDS,
    },
    "intervention.completed": {
        "type": "object",
        "required": ["id", "summary"],
        "properties": {
            **_STARTED_FIELDS,
            "summary": {"type": "string", "minLength": 1, "maxLength": 20000},
            "completed_at": {"type": ["string", "null"], "format": "date-time"},
        },
    },
    "intervention.cancelled": {
        "type": "object",
        "required": ["id"],
        "properties": {"id": _ID, "reason": {"type": ["string", "null"], "maxLength": 2000}},
    },
}
ENVELOPE_SCHEMA = {
    "type": "object",
    "required": ["type", "data"],
    "properties": {
        "type": {"type": "string", "enum": sorted(DATA_SCHEMAS)},
        "timestamp": {"type": "string", "format": "date-time"},
        "data": {"type": "object"},
    },
}
_FORMATS = FormatChecker()
_SCHEMAS: dict[str, dict[str, Any]] = {"envelope": ENVELOPE_SCHEMA, **DATA_SCHEMAS}


@cache
def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(_SCHEMAS[name], format_checker=_FORMATS)


def _check(name: str, document: Any, prefix: str) -> None:
    """Check `document` against the schema `name`; a 422 names the first field in error."""
    validator = _validator(name)
    error = next(iter(sorted(validator.iter_errors(document), key=lambda e: list(e.path))), None)
    if error is None:
        return
    field = ".".join([prefix, *(str(part) for part in error.absolute_path)])
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        field, message = f"{field}.{missing}", "is required"
    elif error.validator == "enum":
        message = f"must be one of {', '.join(map(str, error.validator_value))}"
    elif error.validator == "type":
        message = f"must be of type {error.validator_value}"
    elif error.validator == "format":
        message = f"must be a valid {error.validator_value}"
    elif error.validator in ("maxLength", "maxItems"):
        message = f"is too long (at most {error.validator_value})"
    elif error.validator == "minLength":
        message = "must not be empty"
    else:
        message = "is not valid"
    raise ApiError(422, "invalid_payload", f"{field}: {message}", field=field)


# No event nests deeper than a few levels: anything deeper is refused before it is
# cleaned or checked, both of which recurse.
MAX_DEPTH = 32


def _too_deep(document: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether `document` nests objects or arrays more than `limit` levels deep."""
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list):
            if depth > limit:
                return True
            children = value.values() if isinstance(value, dict) else value
            pending.extend((child, depth + 1) for child in children)
    return False


def _parse_time(value: str | None, field: str) -> datetime | None:
    if not value:
        return None
    # The schema's date-time format is only checked when rfc3339-validator is installed.
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(
            422, "invalid_payload", f"{field}: must be a valid date-time", field=field
        ) from None
    if moment.tzinfo is None:
        raise ApiError(422, "invalid_payload", "date-times must carry a UTC offset", field=field)
    return moment.astimezone(UTC)


# Free text that may keep its line breaks; every other string is made one line.
_MULTILINE = frozenset({"summary", "reason"})


def _clean(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _clean(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(item, key) for item in value]
    return clean_text(value, key in _MULTILINE) if isinstance(value, str) else value


def _normalise(data: dict[str, Any]) -> dict[str, Any]:
    data = _clean(data)
    data["id"] = str(data["id"])
    if data.get("ticket_id") is not None:
        data["ticket_id"] = str(data["ticket_id"])
    if isinstance(data.get("client"), dict):
        client = dict(data["client"])
        client["id"] = str(client["id"])
        raw = client.get("language")
        client["language"] = normalise_language(raw) if raw else None
        data["client"] = client
    if isinstance(data.get("backup"), dict):
        backup = dict(data["backup"])
        backup["created_at"] = _parse_time(backup.get("created_at"), "data.backup.created_at")
        data["backup"] = backup
    data["completed_at"] = _parse_time(data.get("completed_at"), "data.completed_at")
    return data


def _verify(body: bytes) -> str:
    """Check the delivery's Standard Webhooks signature; its `webhook-id`."""
    secret = current_app.config.get("WEBHOOK_SECRET")
    if not secret:
        raise ApiError(
            503, "webhooks_disabled", "webhooks are refused: WEBHOOK_SECRET is not configured"
        )
    headers = {name: request.headers[name] for name in _SIGNED_HEADERS if name in request.headers}
    webhook_id = headers.get("webhook-id", "")
    if not webhook_id or len(webhook_id) > 200 or "." in webhook_id:
        raise ApiError(401, "invalid_signature", "missing or malformed webhook-id header")
    # The current secret first, then older ones still accepted while the panel's copy
    # is being rotated.
    secrets = [secret, *current_app.config["WEBHOOK_SECRET_FALLBACKS"]]
    failure = "the signature does not match the body"
    for candidate in secrets:
        try:
            # Over the raw bytes: a body that is not UTF-8 is checked like any other.
            _signer(candidate).verify(body, headers, json_parse=False)
            return webhook_id
        except WebhookVerificationError as exc:
            failure = _verification_message(str(exc))
            if "signature" not in failure:
                break
        except ValueError:
            failure = "malformed webhook-signature header"
            break
    raise ApiError(401, "invalid_signature", failure)


_SIGNED_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


@lru_cache(maxsize=8)
def _signer(secret: str) -> Webhook:
    # The secret is decoded once, not at every delivery.
    return Webhook(secret)


def _verification_message(text: str) -> str:
    if "too old" in text or "too new" in text:
        return "webhook-timestamp is more than 5 minutes away from our clock"
    if "Missing" in text:
        return "webhook-id, webhook-timestamp and webhook-signature headers are required"
    return "the signature does not match the body"


def _answer(intervention: Intervention | None, status: int = 200, **extra: Any) -> Response:
    body: dict[str, Any] = dict(extra)
    if intervention is not None:
        body.update(
            id=intervention.panel_id,
            state=intervention.state,
            eligible=intervention.client.eligible,
            deadline_at=intervention.deadline_at.isoformat() if intervention.deadline_at else None,
        )
    response = jsonify(body)
    response.status_code = status
    return response


@bp.post("/webhooks/panel")
def receive() -> Response:
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "the body must be application/json")
    body = request.get_data(cache=True)
    limit = current_app.config["WEBHOOK_MAX_BYTES"]
    if request.content_length is None and len(body) >= limit:
        # A chunked body is cut at the limit without a word: refuse it as too large.
        raise ApiError(413, "payload_too_large", f"the body is larger than {limit} bytes")
    webhook_id = _verify(body)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_json", "the body is not UTF-8") from None
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):
        raise ApiError(400, "invalid_json", "the body is not valid JSON") from None
    if _too_deep(payload):
        raise ApiError(
            422, "invalid_payload", f"the body is nested more than {MAX_DEPTH} levels deep"
        )
    _check("envelope", payload, "body")
    event_type = payload["type"]
    _check(event_type, payload["data"], "data")
    declared = DATA_SCHEMAS[event_type]["properties"]
    # Only what the schema checked goes on: an undeclared field may hold anything.
    data = _normalise({k: v for k, v in payload["data"].items() if k in declared})

    digest = _event_digest(event_type, payload["data"])
    now = clock_now()
    try:
        # The delivery is recorded first, in the same transaction as its effects: a
        # redelivery finds it (or waits for the first delivery to commit or roll back).
        if not _record(webhook_id, event_type, data["id"], digest, now):
            db.session.rollback()
            return _redelivered(webhook_id, event_type, data["id"], digest)
        intervention = _apply(event_type, data, now)
        # Answered from the rows as the transaction leaves them: the commit expires them.
        answer, state = _answer(intervention), intervention.state
        db.session.commit()
    except IntegrityError:
        # A concurrent delivery of the same webhook-id (or intervention) won the race.
        db.session.rollback()
        if db.session.get(WebhookDelivery, webhook_id) is not None:
            return _redelivered(webhook_id, event_type, data["id"], digest)
        raise ApiError(409, "conflict", "a concurrent event changed this intervention") from None
    except TransitionError as exc:
        db.session.rollback()
        if db.session.get(WebhookDelivery, webhook_id) is not None:
            # A concurrent delivery of this same webhook-id moved the intervention first.
            return _redelivered(webhook_id, event_type, data["id"], digest)
        raise ApiError(409, exc.code, str(exc), state=exc.state, id=data["id"]) from None
    except NotFoundError as exc:
        db.session.rollback()
        raise ApiError(404, exc.code, str(exc)) from None
    except InvalidRequestError as exc:
        db.session.rollback()
        raise ApiError(422, "invalid_payload", str(exc)) from None
    _log_applied(webhook_id, event_type, data["id"], state)
    return answer


def _log_applied(webhook_id: str, event_type: str, panel_id: str, state: str) -> None:
    log.info("webhook %s applied: %s %s -> %s", webhook_id, event_type, panel_id, state)


def _event_digest(event_type: str, data: Any) -> str:
    """SHA-256 of the event as parsed (type and data, keys sorted): the same for a retry
    that re-encodes the body or stamps a new envelope `timestamp`."""
    canonical = json.dumps({"type": event_type, "data": data}, sort_keys=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _redelivered(webhook_id: str, event_type: str, panel_id: str, digest: str) -> Response:
    """Answer a `webhook-id` already recorded: a redelivery of the same event gets the
    intervention as it stands; another event under a used id is refused (409)."""
    delivery = db.session.get(WebhookDelivery, webhook_id)
    # A delivery recorded before migration 0006 has no digest: taken as a redelivery.
    if delivery is not None and delivery.event_sha256 not in (None, digest):
        # For staff, on the interventions concerned: an event of the panel never applied.
        first = delivery.intervention_panel_id
        concerned = [panel_id] if first is None else [first, panel_id]
        lifecycle.delivery_refused(concerned, webhook_id, event_type, panel_id, digest, clock_now())
        db.session.commit()
        log.warning(
            "webhook %s refused: its id was already used for another event"
            " (first %s %s, now %s %s)",
            webhook_id,
            delivery.event_type,
            delivery.intervention_panel_id,
            event_type,
            panel_id,
        )
        raise ApiError(
            409,
            "webhook_id_reused",
            "this webhook-id was already used for another event; a new event needs a new"
            " webhook-id",
        )
    return _answer(lifecycle.get_by_panel_id(panel_id), redelivered=True)


def _record(webhook_id: str, event_type: str, panel_id: str, digest: str, now: datetime) -> bool:
    """Record the delivery; False when this `webhook-id` was delivered before."""
    recorded = db.session.execute(
        insert_for(DELIVERIES)
        .values(
            webhook_id=webhook_id,
            event_type=event_type,
            intervention_panel_id=panel_id,
            event_sha256=digest,
            received_at=now,
        )
        .on_conflict_do_nothing(index_elements=[DELIVERIES.c.webhook_id])
        .returning(DELIVERIES.c.webhook_id)
    ).first()
    return recorded is not None


def _apply(event_type: str, data: dict[str, Any], now: datetime) -> Intervention:
    if event_type == "intervention.started":
        return lifecycle.start(data, now)
    if event_type == "intervention.completed":
        return lifecycle.complete(data, now)
    return lifecycle.cancel(data["id"], data.get("reason"), PANEL, now)
