"""`POST /webhooks/panel` answers as the contract says."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from panel_addon.domain.trail import ticket_note_text
from panel_addon.models import Client, Intervention, db

from .flow import complete, run_due, send, start
from .support import event_body, signed_headers, started_data


def _error(answer: Any) -> dict[str, Any]:
    body = answer.get_json()
    assert set(body) == {"error"}, body
    assert {"code", "message"} <= set(body["error"])
    return dict(body["error"])


def test_started_creates_the_intervention_in_progress(backend: str, app: Any, client: Any) -> None:
    answer = start(client)
    assert answer.status_code == 200
    assert answer.json == {
        "id": "iv-1",
        "state": "in_progress",
        "eligible": True,
        "deadline_at": None,
    }
    with app.app_context():
        iv = db.session.scalar(db.select(Intervention))
        assert iv.backup_state == "kept"
        assert iv.client.language == "fr"


def test_completed_without_started_carries_the_start_fields(app: Any, client: Any) -> None:
    data = {**started_data("iv-9"), "summary": "Fixed", "completed_at": "2026-11-26T08:30:00Z"}
    answer = send(client, "intervention.completed", data)
    assert answer.status_code == 200
    assert answer.json["state"] == "awaiting_validation"
    # No deadline until the client is told; then it counts from the mail server's
    # acceptance (09:00 on the test clock), not from the panel's earlier `completed_at`.
    assert answer.json["deadline_at"] is None
    run_due(app)
    assert _stored(app, "iv-9").deadline_at.isoformat().startswith("2026-11-27T09:00:00")


def _stored(app: Any, panel_id: str) -> Intervention:
    with app.app_context():
        iv = db.session.scalar(db.select(Intervention).filter_by(panel_id=panel_id))
        db.session.expunge(iv)
        return iv


def test_an_implausible_completed_at_never_shortens_the_window(
    backend: str, app: Any, client: Any, clock: Any
) -> None:
    start(client, "iv-1")
    started = clock.current
    received = clock.advance(hours=3)
    data = {"id": "iv-1", "summary": "Done", "completed_at": "1970-01-01T00:00:00Z"}
    answer = send(client, "intervention.completed", data)
    assert answer.status_code == 200
    assert answer.json["state"] == "awaiting_validation"
    run_due(app)  # the mail server accepts the validation request: the window opens
    stored = _stored(app, "iv-1")
    assert stored.deadline_at == received + timedelta(hours=24)
    # Shown to the client and staff: never before the start, never after the receipt.
    assert stored.completed_at == started
    assert stored.backup_expires_at == received + timedelta(hours=48)
    # Without a start, and from the future: the receipt is the completion.
    for panel_id, when in (("iv-2", "1970-01-01T00:00:00Z"), ("iv-3", "2099-01-01T00:00:00Z")):
        data = {**started_data(panel_id), "summary": "Done", "completed_at": when}
        assert send(client, "intervention.completed", data).status_code == 200
        run_due(app)
        assert _stored(app, panel_id).deadline_at == received + timedelta(hours=24)
        assert _stored(app, panel_id).completed_at == received
    # Within the window's first day the client is not lapsed.
    clock.advance(hours=23)
    run_due(app)
    assert _stored(app, "iv-1").state == "awaiting_validation"


def test_completed_for_an_unknown_id_without_start_fields_is_refused(app: Any, client: Any) -> None:
    answer = complete(client, "nobody")
    assert answer.status_code == 422
    assert "data.ticket_id" in _error(answer)["message"]


def test_a_second_completion_is_a_conflict(app: Any, client: Any) -> None:
    start(client)
    complete(client)
    answer = complete(client)
    assert answer.status_code == 409
    assert _error(answer)["code"] == "transition_forbidden"


def test_language_names_and_codes_are_both_understood(app: Any, client: Any) -> None:
    english = {"id": "8", "email": "a@example.test", "name": "A", "language": "English"}
    send(client, "intervention.started", started_data("iv-en", client=english))
    german = {"id": "9", "email": "b@example.test", "name": "B", "language": "de"}
    send(client, "intervention.started", started_data("iv-de", client=german))
    with app.app_context():
        assert db.session.get(Client, "8").language == "en"
        assert db.session.get(Client, "9").language is None


def test_bad_signature_is_401(app: Any, client: Any) -> None:
    body = event_body("intervention.started", started_data())
    headers = signed_headers(body, secret="whsec_" + "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldC0xMjM0")
    answer = client.post("/webhooks/panel", data=body, headers=headers)
    assert answer.status_code == 401
    assert _error(answer)["code"] == "invalid_signature"


def test_missing_signature_is_401(app: Any, client: Any) -> None:
    body = event_body("intervention.started", started_data())
    answer = client.post("/webhooks/panel", data=body, content_type="application/json")
    assert answer.status_code == 401


def test_stale_and_future_timestamps_are_401(app: Any, client: Any) -> None:
    body = event_body("intervention.started", started_data())
    for shift in (-6, 6):
        stamp = datetime.now(UTC) + timedelta(minutes=shift)
        answer = client.post(
            "/webhooks/panel", data=body, headers=signed_headers(body, timestamp=stamp)
        )
        assert answer.status_code == 401
        assert "5 minutes" in _error(answer)["message"]


def test_body_that_is_not_json_is_400(app: Any, client: Any) -> None:
    body = "{not json"
    answer = client.post("/webhooks/panel", data=body, headers=signed_headers(body))
    assert answer.status_code == 400
    assert _error(answer)["code"] == "invalid_json"


def test_schema_errors_name_the_field(app: Any, client: Any) -> None:
    data = started_data()
    data["client"]["email"] = 12
    answer = send(client, "intervention.started", data)
    assert answer.status_code == 422
    error = _error(answer)
    assert error["field"] == "data.client.email"
    del data["client"]
    answer = send(client, "intervention.started", data)
    assert _error(answer)["field"] == "data.client"
    body = json.dumps({"type": "intervention.exploded", "data": {}})
    answer = client.post("/webhooks/panel", data=body, headers=signed_headers(body))
    assert answer.status_code == 422
    assert _error(answer)["field"] == "body.type"


def test_wrong_content_type_is_415(app: Any, client: Any) -> None:
    body = event_body("intervention.started", started_data())
    headers = signed_headers(body)
    headers["Content-Type"] = "text/plain"
    answer = client.post("/webhooks/panel", data=body, headers=headers)
    assert answer.status_code == 415


def test_oversize_body_is_413(app: Any, client: Any) -> None:
    data = started_data()
    data["padding"] = "x" * 70000
    answer = send(client, "intervention.started", data)
    assert answer.status_code == 413
    assert _error(answer)["code"] == "payload_too_large"


def test_webhooks_are_refused_without_a_secret(make_app: Any) -> None:
    app = make_app(WEBHOOK_SECRET=None)
    answer = start(app.test_client())
    assert answer.status_code == 503
    assert _error(answer)["code"] == "webhooks_disabled"


def test_cancel_of_an_unknown_intervention_is_404(app: Any, client: Any) -> None:
    answer = send(client, "intervention.cancelled", {"id": "ghost"})
    assert answer.status_code == 404


def test_a_retired_webhook_secret_is_accepted_while_in_fallbacks(make_app: Any) -> None:
    old = "whsec_" + "b2xkLXNlY3JldC1vbGQtc2VjcmV0LW9sZC0xMjM0NTY="
    app = make_app(WEBHOOK_SECRET_FALLBACKS=[old])
    body = event_body("intervention.started", started_data())
    answer = app.test_client().post(
        "/webhooks/panel", data=body, headers=signed_headers(body, secret=old)
    )
    assert answer.status_code == 200
    other = "whsec_" + "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldC0xMjM0"
    answer = app.test_client().post(
        "/webhooks/panel", data=body, headers=signed_headers(body, secret=other)
    )
    assert answer.status_code == 401


def test_staff_token_rotation_accepts_both_tokens(make_app: Any) -> None:
    app = make_app(STAFF_API_TOKEN="new-token", STAFF_API_TOKEN_FALLBACKS=["old-token"])
    client = app.test_client()
    for token, status in (("new-token", 200), ("old-token", 200), ("wrong", 401)):
        answer = client.get(
            "/api/v1/clients/1/eligibility", headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == status


def _trail_and_work(app: Any, panel_id: str) -> tuple[Any, list[Any], list[Any]]:
    from panel_addon.models import Event, Task

    with app.app_context():
        iv = db.session.scalar(db.select(Intervention).filter_by(panel_id=panel_id))
        events = db.session.scalars(
            db.select(Event).filter_by(intervention_id=iv.id).order_by(Event.id)
        )
        tasks = db.session.scalars(
            db.select(Task).filter_by(intervention_id=iv.id).order_by(Task.id)
        )
        trail = [(e.type, e.from_state, e.to_state, e.actor, e.data) for e in events]
        work = [(t.kind, t.action, t.payload, t.state, t.due_at) for t in tasks]
        return (iv.state, iv.window_opened_at, iv.deadline_at, iv.backup_expires_at), trail, work


def test_a_completion_that_creates_its_intervention_sends_the_request_at_once(
    backend: str, make_app: Any, clock: Any
) -> None:
    # Without check URLs the request is scheduled in the same request: on PostgreSQL in
    # the INSERT that creates the intervention, elsewhere by its UPDATE afterwards. The
    # window opens when the mail server accepts the mail.
    app = make_app(SITE_CHECK_ENABLED=False, STAFF_LANGUAGE="en")
    client = app.test_client()
    data = {**started_data("iv-new"), "summary": "Fixed"}
    answer = send(client, "intervention.completed", data)
    assert answer.status_code == 200, answer.json
    now = clock.now()
    (state, opened, deadline, expires), trail, work = _trail_and_work(app, "iv-new")
    assert (state, opened, deadline, expires) == ("awaiting_validation", None, None, None)
    assert answer.json == {
        "id": "iv-new",
        "state": "awaiting_validation",
        "eligible": True,
        "deadline_at": None,
    }
    backup = {"implicit": True, "backup_reference": "bk-iv-new"}
    assert trail == [
        ("start", None, "in_progress", "panel", backup),
        ("complete", "in_progress", "awaiting_validation", "panel", {}),
    ]
    assert [(kind, action, payload["template"]) for kind, action, payload, _, _ in work] == [
        ("mail", "send_mail", "completion_request")
    ]

    accepted = clock.advance(seconds=3)
    run_due(app)
    (state, opened, deadline, expires), trail, work = _trail_and_work(app, "iv-new")
    assert (state, opened) == ("awaiting_validation", accepted)
    assert (deadline, expires) == (accepted + timedelta(hours=24), accepted + timedelta(hours=48))
    assert [row[0] for row in trail][2:] == ["mail_sent"]
    template = [(kind, action, payload.get("template")) for kind, action, payload, _, _ in work]
    assert template == [
        ("mail", "send_mail", "completion_request"),
        *[("mail", "send_mail", "reminder")] * (len(work) - 4),
        ("due", "lapse", None),
        ("due", "expire_backup", None),
        ("panel", "add_ticket_note", None),
    ]
    assert [row[3] for row in work][0] == "done" and now < accepted
    assert [row[4] for row in work if row[1] in ("lapse", "expire_backup")] == [deadline, expires]
    with app.app_context():
        iv = db.session.scalar(db.select(Intervention))
        text = ticket_note_text(work[-1][2], iv)
    assert text.startswith("Intervention iv-new completed"), text


def test_a_creating_webhook_answers_a_known_clients_eligibility(
    backend: str, app: Any, client: Any
) -> None:
    assert start(client, "iv-1").json["eligible"] is True
    with app.app_context():
        known = db.session.get(Client, "7")
        known.eligible = False
        db.session.commit()
    renamed = {**started_data("iv-2")["client"], "name": "Camille B."}
    answer = send(client, "intervention.started", started_data("iv-2", client=renamed))
    assert answer.status_code == 200
    assert answer.json["eligible"] is False
    with app.app_context():
        assert db.session.get(Client, "7").name == "Camille B."
        assert db.session.scalar(db.select(db.func.count()).select_from(Intervention)) == 2


def test_a_start_of_a_known_id_writes_nothing_and_is_a_conflict(
    backend: str, app: Any, client: Any
) -> None:
    from panel_addon.models import WebhookDelivery

    assert start(client, "iv-1").status_code == 200
    answer = start(client, "iv-1", technician="Someone else")
    assert answer.status_code == 409
    assert _error(answer)["code"] == "transition_forbidden"
    with app.app_context():
        assert db.session.scalar(db.select(Intervention.technician)) == "Alex"
        deliveries = db.session.scalar(db.select(db.func.count()).select_from(WebhookDelivery))
        assert deliveries == 1
