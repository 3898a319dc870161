"""Hostile webhooks: bad or missing signatures, stale or future timestamps, replays,
oversize bodies, wrong content types, deep or huge JSON, control characters. Each is
refused in the contract's error shape, or accepted and stored clean; none is a 5xx."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from panel_addon.models import Client, Event, Intervention, Task, WebhookDelivery, db

from .flow import run_due, send
from .support import (
    STAFF_TOKEN,
    WEBHOOK_SECRET,
    event_body,
    mail_links,
    signed_headers,
    started_data,
)

OTHER_SECRET = "whsec_" + "b3RoZXItc2VjcmV0LWZvci13ZWJob29rcy0xMjM0NTY3OA=="


def _post(app: Flask, body: str | bytes, headers: dict[str, str]) -> TestResponse:
    return app.test_client().post("/webhooks/panel", data=body, headers=headers)


def _error(answer: TestResponse, status: int, code: str | None = None) -> dict[str, Any]:
    assert answer.status_code == status, answer.data
    error: dict[str, Any] = answer.json["error"]
    assert isinstance(error["message"], str) and error["message"]
    if code:
        assert error["code"] == code
    assert b"Traceback" not in answer.data
    return error


def _counts(app: Flask) -> tuple[int, ...]:
    with app.app_context():
        return tuple(
            db.session.scalar(db.select(db.func.count()).select_from(model))
            for model in (Intervention, Event, Task, WebhookDelivery, Client)
        )


@pytest.fixture
def body() -> str:
    return event_body("intervention.started", started_data("iv-1"))


def test_missing_or_bad_signatures_are_refused(app: Flask, body: str) -> None:
    good = signed_headers(body)
    cases = [
        {"Content-Type": "application/json"},
        {k: v for k, v in good.items() if k != "webhook-signature"},
        {k: v for k, v in good.items() if k != "webhook-id"},
        {k: v for k, v in good.items() if k != "webhook-timestamp"},
        {**good, "webhook-signature": "v1,AAAA"},
        {**good, "webhook-signature": "v1,not base64 at all!"},
        {**good, "webhook-signature": "v2," + good["webhook-signature"].split(",", 1)[1]},
        {**good, "webhook-signature": ""},
        {**good, "webhook-timestamp": "yesterday"},
        {**good, "webhook-id": "a.b"},
        {**good, "webhook-id": "x" * 300},
        signed_headers(body, secret=OTHER_SECRET),
    ]
    for headers in cases:
        _error(_post(app, body, headers), 401, "invalid_signature")
    # A signature of another body, or of the same body under another id, proves nothing.
    _error(_post(app, body.replace("iv-1", "iv-2"), good), 401)
    _error(_post(app, body, {**good, "webhook-id": "msg_other"}), 401)
    assert _counts(app) == (0, 0, 0, 0, 0)


def test_stale_and_future_timestamps_are_refused(app: Flask, body: str) -> None:
    now = datetime.now(UTC)
    for moment in (
        now - timedelta(minutes=6),
        now + timedelta(minutes=6),
        now - timedelta(days=400),
    ):
        error = _error(_post(app, body, signed_headers(body, timestamp=moment)), 401)
        assert "5 minutes" in error["message"]
    # Within the tolerance, either way: accepted.
    for moment in (now - timedelta(minutes=4), now + timedelta(minutes=4)):
        assert _post(app, body, signed_headers(body, timestamp=moment)).status_code != 401


def test_a_replayed_delivery_has_no_second_effect(backend: str, app: Flask, mailbox: Any) -> None:
    body = event_body("intervention.completed", {**started_data("iv-1"), "summary": "Done"})
    headers = signed_headers(body, msg_id="msg_replayed")
    first = _post(app, body, headers)
    assert first.status_code == 200 and "redelivered" not in first.json
    counts = _counts(app)
    for _ in range(5):
        again = _post(app, body, headers)
        assert again.status_code == 200 and again.json["redelivered"] is True
        assert again.json["state"] == first.json["state"]
    assert _counts(app) == counts
    run_due(app)
    assert len(mailbox.received()) == 1
    # Replayed after the 5 minutes, the capture no longer verifies at all.
    stale = signed_headers(
        body, msg_id="msg_replayed", timestamp=datetime.now(UTC) - timedelta(minutes=10)
    )
    _error(_post(app, body, stale), 401)


def test_a_webhook_id_reused_for_another_event_is_refused(
    backend: str, app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    first = event_body("intervention.completed", {**started_data("iv-1"), "summary": "Done"})
    assert _post(app, first, signed_headers(first, msg_id="msg_reused")).status_code == 200
    counts = _counts(app)
    other = event_body("intervention.completed", {**started_data("iv-2"), "summary": "Done"})
    error = _error(_post(app, other, signed_headers(other, msg_id="msg_reused")), 409)
    assert error["code"] == "webhook_id_reused" and "webhook-id" in error["message"]
    warned = [r for r in caplog.records if r.levelname == "WARNING" and "msg_reused" in r.message]
    assert warned and "iv-2" in warned[0].message
    # Nothing applied; recorded for staff on the intervention the id was first used for,
    # once however often the panel retries the refused delivery.
    for _ in range(2):
        _error(_post(app, other, signed_headers(other, msg_id="msg_reused")), 409)
    intervention, events, tasks, deliveries, clients = _counts(app)
    assert (intervention, events - 1, tasks, deliveries, clients) == counts
    staff = app.test_client()
    auth = {"Authorization": f"Bearer {STAFF_TOKEN}"}
    trail = staff.get("/api/v1/interventions/iv-1", headers=auth).json["events"]
    [refused] = [e for e in trail if e["type"] == "webhook_refused"]
    assert refused["actor"] == "panel"
    assert refused["data"]["webhook_id"] == "msg_reused"
    assert refused["data"]["refused_event"] == "intervention.completed"
    assert refused["data"]["refused_intervention"] == "iv-2"
    link = staff.post("/api/v1/staff/login-links", json={"admin": "Sam"}, headers=auth)
    assert staff.post("/" + link.json["url"].split("/", 3)[3]).status_code == 303
    page = staff.get("/staff/interventions/iv-1").get_data(as_text=True)
    assert "msg_reused" in page and ("webhook-id" in page or "identifiant" in page)
    counts = _counts(app)
    # The same event sent again (re-encoded, with a new envelope timestamp) is a redelivery.
    again = json.dumps(json.loads(first) | {"timestamp": "2026-11-26T10:00:00Z"}, indent=1)
    answer = _post(app, again, signed_headers(again, msg_id="msg_reused"))
    assert answer.status_code == 200 and answer.json["redelivered"] is True
    # A delivery recorded before the digest existed keeps being answered as a redelivery.
    with app.app_context():
        db.session.get(WebhookDelivery, "msg_reused").event_sha256 = None
        db.session.commit()
    answer = _post(app, other, signed_headers(other, msg_id="msg_reused"))
    assert answer.status_code == 200 and answer.json["redelivered"] is True
    assert _counts(app) == counts


def test_an_oversize_body_is_refused_before_it_is_read(app: Flask) -> None:
    big = json.dumps({"type": "intervention.started", "data": {"id": "x", "pad": "a" * 70000}})
    _error(_post(app, big, signed_headers(big)), 413, "payload_too_large")
    # Without a Content-Length (chunked, as a server hands it on), the limit holds too.
    answer = app.test_client().post(
        "/webhooks/panel",
        input_stream=io.BytesIO(big.encode()),
        headers={**signed_headers(big), "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    _error(answer, 413, "payload_too_large")
    assert _counts(app) == (0, 0, 0, 0, 0)


def test_wrong_content_types_are_refused(app: Flask, body: str) -> None:
    for content_type in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "application/xml",
        "",
        "application/json-patch+json",
    ):
        headers = {**signed_headers(body), "Content-Type": content_type}
        _error(_post(app, body, headers), 415, "unsupported_media_type")
    assert _counts(app) == (0, 0, 0, 0, 0)


@pytest.mark.parametrize(
    "raw",
    [
        "[" * 20000 + "]" * 20000,
        '{"a":' * 10000 + "1" + "}" * 10000,
        "not json",
        '{"type": "intervention.started", "data": ',
        "\ufeff{}",
        "NaN",
        '{"type": "intervention.started", "data": {"id": 1e999999}}',
    ],
    ids=["deep-array", "deep-object", "text", "truncated", "bom", "nan", "huge-number"],
)
def test_deep_or_broken_json_is_refused(app: Flask, raw: str) -> None:
    answer = _post(app, raw, signed_headers(raw))
    assert answer.status_code in (400, 422), answer.data
    assert answer.json["error"]["code"] in ("invalid_json", "invalid_payload")
    assert _counts(app) == (0, 0, 0, 0, 0)


def test_a_signed_body_that_is_not_utf8_is_not_json(app: Flask) -> None:
    raw = b'{"type": "intervention.started", "data": {"id": "iv-\xe9"}}'
    error = _error(_post(app, raw, signed_headers(raw)), 400, "invalid_json")
    assert "UTF-8" in error["message"]
    # Unsigned, or signed with another key or over other bytes: still refused as unsigned.
    good = signed_headers(raw)
    for headers in (
        {"Content-Type": "application/json"},
        signed_headers(raw, secret=OTHER_SECRET),
        signed_headers(raw.replace(b"\xe9", b"\xe8")),
        {**good, "webhook-signature": "v1,AAAA"},
    ):
        _error(_post(app, raw, headers), 401, "invalid_signature")
    assert _counts(app) == (0, 0, 0, 0, 0)


def test_an_intervention_id_with_a_slash_is_refused(app: Flask) -> None:
    body = event_body("intervention.started", started_data("a/b"))
    error = _error(_post(app, body, signed_headers(body)), 422, "invalid_payload")
    assert error["field"] == "data.id"
    assert _counts(app) == (0, 0, 0, 0, 0)


def test_json_nested_deep_inside_a_field_is_refused(app: Flask) -> None:
    # Parsed by `json` (under its own limit) but too deep for the cleaner or the schema.
    nested: Any = "x"
    for _ in range(500):
        nested = {"n": nested}
    client = {**started_data("iv-1")["client"], "extra": nested}
    body = event_body("intervention.started", {**started_data("iv-1"), "client": client})
    error = _error(_post(app, body, signed_headers(body)), 422, "invalid_payload")
    assert "nested" in error["message"]
    assert _counts(app) == (0, 0, 0, 0, 0)


def test_huge_json_within_the_size_limit_is_answered(app: Flask) -> None:
    data = started_data("iv-1")
    data["extra"] = {f"k{i}": [i] * 3 for i in range(2000)}
    body = event_body("intervention.started", data)
    assert len(body) < app.config["WEBHOOK_MAX_BYTES"]
    assert _post(app, body, signed_headers(body)).status_code == 200
    many = event_body("intervention.started", {**started_data("iv-2"), "check_urls": ["u"] * 5000})
    _error(_post(app, many, signed_headers(many)), 422, "invalid_payload")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", "iv\x001"),
        ("id", "iv\n1"),
        ("id", 10**30),
        ("id", "iv/1"),
        ("id", "/"),
        ("ticket_id", "T\r\n100"),
        ("client", {"id": "7", "email": "a@b.example\r\nBcc: evil@example.test"}),
        ("client", {"id": "7", "email": "a b@example.test"}),
        ("client", {"id": "7\x00", "email": "a@b.example"}),
        ("backup", {"reference": "bk", "created_at": "yesterday"}),
        ("completed_at", "0"),
    ],
)
def test_malformed_fields_are_refused_with_their_name(
    backend: str, app: Flask, field: str, value: Any
) -> None:
    data = {**started_data("iv-1"), "summary": "Done", field: value}
    body = event_body("intervention.completed", data)
    error = _error(_post(app, body, signed_headers(body)), 422, "invalid_payload")
    assert error["message"].startswith("data.")
    assert _counts(app) == (0, 0, 0, 0, 0)


def test_control_characters_in_free_text_are_stored_clean(
    backend: str, app: Flask, mailbox: Any
) -> None:
    data = {
        **started_data("iv-1"),
        "site": "shop\x00.example\r\nX-Injected: 1",
        "technician": "Alex\x1b[31m\x07",
        "summary": "Line one\x00\r\nLine two\tand \ud800 a lone surrogate",
    }
    data["client"] = {**data["client"], "name": "Camille\x00\nMartin"}
    body = event_body("intervention.completed", data)
    answer = _post(app, body, signed_headers(body))
    assert answer.status_code == 200, answer.data
    run_due(app)
    with app.app_context():
        iv = db.session.scalars(db.select(Intervention)).one()
        assert iv.site == "shop.example X-Injected: 1"
        assert iv.technician == "Alex[31m"
        assert iv.summary == "Line one\r\nLine two\tand ? a lone surrogate"
        assert iv.client.name == "Camille Martin"
    [mail] = mailbox.received()
    assert mail["X-Injected"] is None
    assert "\x00" not in mail.as_string()


def test_a_report_message_with_control_characters_is_stored_clean(
    backend: str, app: Flask, mailbox: Any
) -> None:
    client = app.test_client()
    send(client, "intervention.completed", {**started_data("iv-1"), "summary": "Done"})
    run_due(app)
    report = "/" + mail_links(mailbox.received()[0])[1].split("/", 3)[3]
    answer = client.post(report, data={"message": "It\x00 broke\r\nagain\x1b", "restore": "on"})
    assert answer.status_code == 303
    state = client.get(
        "/api/v1/interventions/iv-1", headers={"Authorization": f"Bearer {STAFF_TOKEN}"}
    )
    assert state.json["report_message"] == "It broke\r\nagain"


def test_nul_in_a_staff_api_path_or_filter_is_a_client_error(backend: str, app: Flask) -> None:
    auth = {"Authorization": f"Bearer {STAFF_TOKEN}"}
    client = app.test_client()
    for path in (
        "/api/v1/interventions/a%00b",
        "/api/v1/clients/a%00b/eligibility",
        "/api/v1/interventions?client=a%00b",
        "/api/v1/interventions?technician=%00",
    ):
        answer = client.get(path, headers=auth)
        assert answer.status_code in (200, 400, 404), (path, answer.data)
        if answer.status_code >= 400:
            assert answer.json["error"]["code"]
    answer = client.post("/api/v1/clients/7/ineligibility", json={"reason": "x\x00y"}, headers=auth)
    assert answer.status_code in (200, 400, 404)


def test_no_secret_no_webhooks(make_app: Any, body: str) -> None:
    app = make_app(WEBHOOK_SECRET=None)
    _error(_post(app, body, signed_headers(body, secret=WEBHOOK_SECRET)), 503, "webhooks_disabled")
