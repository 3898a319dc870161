"""`POST /webhooks/panel`: the panel's signed events (Standard Webhooks), applied once each."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any

import jsonschema_rs
from flask import Blueprint, Response, current_app, request
from jsonschema import Draft202012Validator, FormatChecker
from sqlalchemy import bindparam, select, true
from sqlalchemy.exc import IntegrityError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from . import lifecycle, writes
from .clock import now as clock_now
from .database import begin_with_first_statement
from .errors import ApiError
from .formatting import clean_text
from .i18n import normalise_language
from .models import Intervention, WebhookDelivery, db
from .tasks import commit_and_kick, discard_kicks, kick_scheduled

log = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__)

# Ids end up in URLs, log lines and notes: no control characters in them.
_ID = {
    "type": ["string", "integer"],
    "minLength": 1,
    "maxLength": 64,
    "pattern": "^[^\\x00-\\x1f\\x7f]+$",
    "minimum": -(2**63),
    "maximum": 2**63 - 1,
}
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
    "id": _ID,
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
def _fast_validator(name: str) -> Any:
    # What it accepts, the Python validator accepts too: it is stricter on formats, and
    # the patterns spell out the control characters, on which the two regex engines'
    # `\s` differ (tests/test_hostile_webhooks.py). It only says yes or no; the Python
    # validator words the error.
    return jsonschema_rs.validator_for(_SCHEMAS[name], validate_formats=True)


@cache
def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(_SCHEMAS[name], format_checker=_FORMATS)


def _check(name: str, document: Any, prefix: str) -> None:
    """Check `document` against the schema `name`; a 422 names the first field in error."""
    try:
        if _fast_validator(name).is_valid(document):
            return
    except Exception:  # noqa: BLE001, S110 - values it cannot take (huge integers, say)
        pass
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
    environ = request.environ
    headers = {name: environ[key] for name, key in _SIGNED_HEADERS if key in environ}
    webhook_id = headers.get("webhook-id", "")
    if not webhook_id or len(webhook_id) > 200 or "." in webhook_id:
        raise ApiError(401, "invalid_signature", "missing or malformed webhook-id header")
    # The current secret first, then older ones still accepted while the panel's copy
    # is being rotated.
    secrets = [secret, *current_app.config["WEBHOOK_SECRET_FALLBACKS"]]
    failure = "the signature does not match the body"
    for candidate in secrets:
        try:
            _signer(candidate).verify(body.decode("utf-8"), headers, json_parse=False)
            return webhook_id
        except WebhookVerificationError as exc:
            failure = _verification_message(str(exc))
            if "signature" not in failure:
                break
        except (ValueError, UnicodeDecodeError):
            failure = "malformed webhook-signature header"
            break
    raise ApiError(401, "invalid_signature", failure)


# The Standard Webhooks headers, as the WSGI environ names them.
_SIGNED_HEADERS = tuple(
    (name, "HTTP_" + name.upper().replace("-", "_"))
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
)


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
    # As jsonify writes it, without its per-call set-up: the panel reads this answer.
    return Response(_json_answer(body) + "\n", status=status, mimetype="application/json")


_json_answer = json.JSONEncoder(separators=(",", ":"), sort_keys=True).encode


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
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise ApiError(400, "invalid_json", "the body is not valid JSON") from None
    _check("envelope", payload, "body")
    event_type = payload["type"]
    _check(event_type, payload["data"], "data")
    declared = DATA_SCHEMAS[event_type]["properties"]
    # Only what the schema checked goes on: an undeclared field may hold anything.
    data = _normalise({k: v for k, v in payload["data"].items() if k in declared})

    now = clock_now()
    created = _create_if_new(webhook_id, event_type, data, now)
    if created is not None:
        kick_scheduled()
        _log_applied(webhook_id, event_type, data["id"], created.state)
        return _answer(created)
    begin_with_first_statement()
    try:
        # The delivery is recorded first, in the same transaction as its effects: a
        # redelivery finds it (or waits for the first delivery to commit or roll back).
        delivered, found = _record(webhook_id, event_type, data["id"], now)
        if not delivered:
            db.session.rollback()
            return _answer(lifecycle.get_by_panel_id(data["id"]), redelivered=True)
        intervention = _apply(event_type, data, now, found)
        # Answered from the rows as they are now: the commit expires them, and reading
        # them back afterwards costs one more query.
        answer, state = _answer(intervention), intervention.state
        commit_and_kick()
    except IntegrityError:
        # A concurrent delivery of the same webhook-id (or intervention) won the race.
        db.session.rollback()
        if db.session.get(WebhookDelivery, webhook_id) is not None:
            return _answer(lifecycle.get_by_panel_id(data["id"]), redelivered=True)
        raise ApiError(409, "conflict", "a concurrent event changed this intervention") from None
    except lifecycle.TransitionError as exc:
        db.session.rollback()
        if db.session.get(WebhookDelivery, webhook_id) is not None:
            # A concurrent delivery of this same webhook-id moved the intervention first.
            return _answer(lifecycle.get_by_panel_id(data["id"]), redelivered=True)
        raise ApiError(409, exc.code, str(exc), state=exc.state, id=data["id"]) from None
    except lifecycle.NotFoundError as exc:
        db.session.rollback()
        raise ApiError(404, exc.code, str(exc)) from None
    except lifecycle.InvalidRequestError as exc:
        db.session.rollback()
        raise ApiError(422, "invalid_payload", str(exc)) from None
    _log_applied(webhook_id, event_type, data["id"], state)
    return answer


def _log_applied(webhook_id: str, event_type: str, panel_id: str, state: str) -> None:
    log.info("webhook %s applied: %s %s -> %s", webhook_id, event_type, panel_id, state)


# The delivery, recorded unless the panel's id is known already (or the webhook-id is).
_GUARD = (
    "INSERT INTO webhook_deliveries (webhook_id, event_type, intervention_panel_id, received_at)"
    " SELECT CAST(:d_webhook_id AS VARCHAR), CAST(:d_event_type AS VARCHAR),"
    " CAST(:d_panel_id AS VARCHAR), CAST(:d_received_at AS TIMESTAMP WITHOUT TIME ZONE)"
    " WHERE NOT EXISTS"
    " (SELECT 1 FROM interventions WHERE panel_id = CAST(:d_panel_id AS VARCHAR))"
    " ON CONFLICT (webhook_id) DO NOTHING RETURNING webhook_id"
)


_UNIQUE_VIOLATION = "23505"


def _create_if_new(
    webhook_id: str, event_type: str, data: dict[str, Any], now: datetime
) -> Intervention | None:
    """On PostgreSQL, the webhook that creates its intervention, as one statement; or None.

    A start, or a completion that carries the start's fields, most often creates its
    intervention. The lifecycle then builds every row without a query
    (`writes.deferring`), and one statement, a transaction of its own outside the
    session, records the delivery and inserts them. Where the panel's id is known
    already, the webhook-id was delivered before, a concurrent webhook won, or the
    lifecycle needed a query or refused, nothing was written: None, and the webhook
    takes the general path (the session is as it was).
    """
    if event_type == "intervention.cancelled" or not (data.get("client") and data.get("ticket_id")):
        return None
    if db.session.get_bind().dialect.name != "postgresql":
        return None
    params = {
        "d_webhook_id": webhook_id,
        "d_event_type": event_type,
        "d_panel_id": data["id"],
        "d_received_at": writes.naive_utc(now),
    }
    try:
        with writes.deferring() as held:
            intervention = _apply(event_type, data, now, None)
        if held.row is not None and lifecycle.insert_deferred(held, intervention, _GUARD, params):
            return intervention
    except (lifecycle.LifecycleError, writes.NotDeferrable):
        pass
    except IntegrityError as exc:
        # Only a concurrent creation of the same panel id is expected here.
        if getattr(exc.orig, "sqlstate", None) != _UNIQUE_VIOLATION:
            raise
    db.session.rollback()
    discard_kicks()
    return None


def _record(webhook_id: str, event_type: str, panel_id: str, now: datetime) -> tuple[bool, Any]:
    """Insert the delivery: (False, ...) when this `webhook-id` was delivered before.

    Else (True, found): on PostgreSQL the same statement reads the intervention the
    panel knows by `panel_id` (found: it with its client, or None); on SQLite found is
    LOOK_UP, for the lifecycle to read it.
    """
    params = {
        "webhook_id": webhook_id,
        "event_type": event_type,
        "intervention_panel_id": panel_id,
        "received_at": now,
    }
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        row = writes.select_one(_record_and_find(), {**params, "key": panel_id})
        if row is None:
            return False, None
        return True, lifecycle.adopt_with_client(row[1:])
    found = db.session.execute(_record_statement(dialect), params).first()
    return found is not None, lifecycle.LOOK_UP


@cache
def _record_statement(dialect: str) -> Any:
    table = WebhookDelivery.__table__
    return (
        writes.insert_for(table, dialect)
        .values({c.key: bindparam(c.key) for c in table.c})
        .on_conflict_do_nothing(index_elements=[table.c.webhook_id])
        .returning(table.c.webhook_id)
    )


@cache
def _record_and_find() -> Any:
    # One row when the delivery is new: its id, then the intervention and its client
    # (NULLs when the panel's id is new too); none when it was delivered before.
    delivery = _record_statement("postgresql").cte("delivery")
    found = lifecycle.with_client_by_panel_id().subquery("found")
    joined = delivery.outerjoin(found, true())
    return select(delivery.c.webhook_id, *found.c).select_from(joined)


def _apply(event_type: str, data: dict[str, Any], now: datetime, found: Any) -> Intervention:
    if event_type == "intervention.started":
        return lifecycle.start(data, now, found)
    if event_type == "intervention.completed":
        return lifecycle.complete(data, now, found)
    return lifecycle.cancel(data["id"], data.get("reason"), lifecycle.PANEL, now, found)
