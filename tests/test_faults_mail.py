"""SMTP refusing connections, hanging past the timeout, then answering 4xx: every mail
goes out once it is back, and none twice. Real processes; the SMTP server is reached
through a proxy the test cuts and stalls. In-process: the copies of a mail sent twice
share their Message-ID, and a mail that can never be sent holds up no other."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

from panel_addon.models import Client, Task, db

from .fake_whmcs import TEST_IDENTIFIER, TEST_SECRET, FakeWhmcs
from .faultkit import completed, database, duplicates, record_figures, settings
from .flow import complete, run_due, send, start, task_rows
from .processes import Service, wait_for
from .support import STAFF_TOKEN, SmtpSink, mail_links, started_data
from .tcp_proxy import TcpProxy
from .test_end_to_end import post_form, webhook

COUNT = 10


@pytest.fixture
def smtp_proxy(mailbox: SmtpSink) -> Iterator[TcpProxy]:
    with TcpProxy(mailbox.host, mailbox.port) as proxy:
        yield proxy


def test_every_mail_goes_out_once_smtp_is_back(
    tmp_path: Path, postgres_schema: str, mailbox: SmtpSink, smtp_proxy: TcpProxy
) -> None:
    svc = Service(
        settings(postgres_schema, (smtp_proxy.host, smtp_proxy.port), TASK_RETRY_BACKOFF="1s"),
        tmp_path,
    )
    refusals = 0
    try:
        assert svc.command("db", "upgrade").returncode == 0
        svc.start_web()
        svc.start_worker()
        with database(postgres_schema) as db:

            def errors(text: str) -> list[object]:
                return db.rows(
                    "SELECT id FROM tasks WHERE kind = 'mail' AND last_error ILIKE :t",
                    t=f"%{text}%",
                )

            # Down: every connection refused.
            smtp_proxy.cut()
            for n in range(1, COUNT + 1):
                assert webhook(svc, "intervention.completed", completed(n))[0] == 200
            wait_for(lambda: len(errors("Connection refused")) == COUNT, what="refused sends")
            # Hanging: connections accepted, never answered, until MAIL_TIMEOUT.
            smtp_proxy.stall()
            wait_for(lambda: errors("timed out"), timeout=15, what="a timed-out send")
            # Back, but answering 4xx (try again later) to the first messages.
            with mailbox.lock:
                mailbox.refuse = 3
            smtp_proxy.restore()
            wait_for(
                lambda: len(mailbox.received()) == COUNT, timeout=30, what="the completion mails"
            )
            refusals += 3 - mailbox.refuse

            # Decisions while the server refuses again: their confirmations too.
            with mailbox.lock:
                mailbox.refuse = 2
            for message in mailbox.received():
                validate = next(u for u in mail_links(message) if u.endswith("/validate"))
                assert post_form(validate, {}) == 303
            wait_for(
                lambda: len(mailbox.received()) == 2 * COUNT, timeout=30, what="the confirmations"
            )
            refusals += 2 - mailbox.refuse
            wait_for(db.settled, what="no mail left to send")
            states = {row.state for row in db.tasks(kind="mail")}
    finally:
        svc.stop()

    mails = [(m["To"], m["Subject"]) for m in mailbox.received()]
    record_figures(
        "smtp_faults",
        load=f"{2 * COUNT} mails ({COUNT} completions, {COUNT} confirmations)",
        faults=f"SMTP refused, then hanging past a 2s timeout, then {refusals} answers 451",
        lost=2 * COUNT - len(set(mails)),
        duplicated=duplicates(mails),
    )
    assert refusals == 5
    assert len(mails) == 2 * COUNT and duplicates(mails) == 0
    assert {to for to, _ in mails} == {f"client{n}@example.test" for n in range(1, COUNT + 1)}
    assert states <= {"done", "cancelled"}


# In-process: what is left of the window, and a mail that can never be sent.


def test_a_mail_sent_twice_keeps_its_message_id(
    backend: str, app: Flask, client: Any, mailbox: SmtpSink
) -> None:
    start(client)
    complete(client)
    run_due(app)
    # The server took the mail but its answer was lost: the task is tried again.
    with app.app_context():
        db.session.execute(
            update(Task).where(Task.kind == "mail").values(state="pending", claimed_until=None)
        )
        db.session.commit()
    run_due(app)
    first, again = mailbox.received()
    assert first["Message-ID"] == again["Message-ID"]
    assert first["Message-ID"].startswith("<signoff.task-")


def test_a_mail_that_cannot_be_sent_does_not_hold_up_the_others(
    backend: str, app: Flask, client: Any, mailbox: SmtpSink
) -> None:
    start(client, "iv-1")
    send(
        client,
        "intervention.started",
        started_data("iv-2", client={"id": "8", "email": "b@example.test"}),
    )
    with app.app_context():
        # Written before addresses were checked at the door: a line break in it.
        db.session.execute(
            update(Client)
            .where(Client.id == "7")
            .values(email="a@example.test\r\nBcc: x@evil.test")
        )
        db.session.commit()
    complete(client, "iv-1")
    complete(client, "iv-2")
    run_due(app)
    assert [m["To"] for m in mailbox.received()] == ["b@example.test"]
    [refused] = [t for t in task_rows(app, kind="mail") if t.state == "failed"]
    assert "message refused before sending" in str(refused.last_error)


def test_a_living_worker_keeps_its_mail_past_the_lease_however_slow_the_relay(
    make_app: Any, mailbox: Any
) -> None:
    """The lease is renewed while the worker works (a heartbeat): no second worker takes
    the mail over and sends it again, though the relay takes longer than TASK_LEASE."""
    import threading

    from panel_addon import effects, outbox
    from panel_addon.clock import Clock

    app = make_app(CLOCK=Clock(), TASK_LEASE="1s", MAIL_TIMEOUT="10s", SITE_CHECK_ENABLED=False)
    client = app.test_client()
    start(client)
    complete(client)
    mailbox.delay = 2.5  # the relay answers DATA after two and a half leases
    sending = threading.Thread(target=lambda: _drain(app, effects))
    sending.start()
    try:
        wait_for(lambda: _claimed(app), timeout=5, what="the first worker's claim")
        deadline = time.monotonic() + 10
        while not mailbox.deliveries and time.monotonic() < deadline:
            # A second worker, all along: it must find nothing it may claim.
            with app.app_context():
                assert outbox.claim("mail", Clock().now(), 10) == []
                db.session.remove()
            time.sleep(0.2)
    finally:
        sending.join(timeout=20)
    assert len(mailbox.received()) == 1
    with app.app_context():
        mails = db.session.scalars(select(Task).filter_by(action="send_mail")).all()
        assert {t.payload["template"]: t.state for t in mails if t.state != "pending"} == {
            "completion_request": "done"
        }


def _claimed(app: Any) -> bool:
    with app.app_context():
        claims = db.session.scalars(select(Task.claim_token).filter_by(kind="mail")).all()
        db.session.remove()
    return any(claims)


def _drain(app: Any, effects: Any) -> None:
    with app.app_context():
        effects.drain("mail")
        db.session.remove()


# A client is never held to a window they were not told about.

AUTH = {"Authorization": f"Bearer {STAFF_TOKEN}"}


@pytest.fixture
def panel() -> Iterator[FakeWhmcs]:
    with FakeWhmcs() as fake:
        fake.add_client(7, notes="")
        fake.add_ticket(100, client_id=7)
        yield fake


def _staff_json(client: Any, panel_id: str = "iv-1") -> dict[str, Any]:
    answer = client.get(f"/api/v1/interventions/{panel_id}", headers=AUTH)
    assert answer.status_code == 200
    return dict(answer.json)


def test_a_refused_validation_mail_stops_the_clients_clock_until_a_resend_is_accepted(
    backend: str, make_app: Any, mailbox: SmtpSink, clock: Any, panel: FakeWhmcs
) -> None:
    app = make_app(
        WHMCS_URL=panel.url,
        WHMCS_IDENTIFIER=TEST_IDENTIFIER,
        WHMCS_SECRET=TEST_SECRET,
        LATE_REPORT_POLICY="auto",
        STAFF_LANGUAGE="en",
        PUBLIC_URL="http://signoff.test",
        SITE_CHECK_ENABLED=False,
    )
    http = app.test_client()
    start(http, ticket_id="100")
    # A real server's answer to a message it will never take.
    with mailbox.lock:
        mailbox.refuse, mailbox.refuse_reply = 1, "500 5.5.2 Line too long"
    assert complete(http).status_code == 200
    run_due(app)
    assert mailbox.received() == []

    # The staff see it at once: in the API, on the page, and as a ticket note.
    body = _staff_json(http)
    assert body["deadline_at"] is None and body["backup"]["expires_at"] is None
    mail = body["validation_mail"]
    assert mail["state"] == "failed" and mail["failed_at"] == clock.now().isoformat()
    assert "500 5.5.2 Line too long" in mail["error"]
    [note] = [n for n in panel.ticket_notes(100) if "could not be delivered" in n]
    assert "client@example.test" in note and "500 5.5.2" in note
    sign_in_and_see = _staff_page(http, "/staff/interventions/iv-1")
    assert "could not be delivered" in sign_in_and_see and "500 5.5.2" in sign_in_and_see
    assert "Resend the mail" in sign_in_and_see
    listing = _staff_page(http, "/staff/")
    assert "Mail failed" in listing and "1 client was not told" in listing
    assert "/staff/interventions/iv-1" in _staff_page(http, "/staff/?mail=failed")
    found = http.get("/api/v1/interventions?mail=failed", headers=AUTH).json["interventions"]
    assert [iv["id"] for iv in found] == ["iv-1"]

    # Weeks pass: the client, never told, neither lapses nor becomes ineligible.
    for _ in range(3):
        clock.advance(days=10)
        run_due(app)
    body = _staff_json(http)
    assert body["state"] == "awaiting_validation" and body["client"]["eligible"] is True
    # Nor does the backup's retention run: held then released, it is kept, with no expiry.
    for step in ("hold", "release"):
        answer = http.post(f"/api/v1/interventions/iv-1/backup/{step}", headers=AUTH)
        assert answer.status_code == 200, answer.json
    run_due(app)
    assert _staff_json(http)["backup"] == {**body["backup"], "state": "kept", "expires_at": None}

    # Staff resend it; the window starts when the server accepts it.
    assert http.post("/api/v1/interventions/iv-1/resend", headers=AUTH).status_code == 200
    assert _staff_json(http)["validation_mail"]["state"] == "sending"
    accepted = clock.advance(minutes=5)
    run_due(app)
    assert len(mailbox.received()) == 1
    body = _staff_json(http)
    assert body["validation_mail"]["state"] == "accepted"
    assert body["validation_mail"]["accepted_at"] == accepted.isoformat()
    assert "not told" not in _staff_page(http, "/staff/")
    assert body["deadline_at"] == (accepted + timedelta(hours=24)).isoformat()
    assert body["backup"]["expires_at"] == (accepted + timedelta(hours=48)).isoformat()
    clock.advance(hours=23)
    run_due(app)
    assert _staff_json(http)["state"] == "awaiting_validation"
    clock.advance(hours=2)
    run_due(app)
    assert _staff_json(http)["state"] == "lapsed"


def test_a_mailbox_that_does_not_exist_waits_for_the_corrected_address(
    backend: str, make_app: Any, mailbox: SmtpSink, clock: Any
) -> None:
    app = make_app(SITE_CHECK_ENABLED=False, LATE_REPORT_POLICY="auto")
    http = app.test_client()
    camille = {"id": "7", "email": "unknown.camille@example.test", "name": "Camille"}
    send(http, "intervention.started", started_data("iv-1", client=camille))
    complete(http)
    run_due(app)  # the server answers 550 5.1.1 No such user
    mail = _staff_json(http)["validation_mail"]
    assert mail["state"] == "failed" and "550" in mail["error"]
    clock.advance(days=3)
    run_due(app)
    assert _staff_json(http)["state"] == "awaiting_validation"

    # The panel's next webhook for this client carries the corrected address.
    corrected = {**camille, "email": "camille@example.test"}
    send(http, "intervention.started", started_data("iv-2", client=corrected))
    assert http.post("/api/v1/interventions/iv-1/resend", headers=AUTH).status_code == 200
    run_due(app)
    assert [m["To"] for m in mailbox.received()] == ["camille@example.test"]
    body = _staff_json(http)
    assert body["validation_mail"]["state"] == "accepted" and body["client"]["eligible"]
    assert body["deadline_at"] == (clock.now() + timedelta(hours=24)).isoformat()


def test_the_window_waits_while_the_mail_server_answers_later(
    backend: str, make_app: Any, mailbox: SmtpSink, clock: Any
) -> None:
    app = make_app(SITE_CHECK_ENABLED=False, TASK_RETRY_BACKOFF="1h")
    http = app.test_client()
    start(http)
    with mailbox.lock:
        mailbox.refuse = 1000  # 451: try again later, for two days
    complete(http)
    for _ in range(48):
        run_due(app)
        clock.advance(hours=1)
    body = _staff_json(http)
    assert body["state"] == "awaiting_validation" and body["deadline_at"] is None
    assert body["validation_mail"]["state"] == "sending"
    with mailbox.lock:
        mailbox.refuse = 0
    accepted = clock.advance(hours=1)
    run_due(app)
    assert len(mailbox.received()) == 1
    assert _staff_json(http)["deadline_at"] == (accepted + timedelta(hours=24)).isoformat()


def _staff_page(http: Any, url: str) -> str:
    answer = http.post("/api/v1/staff/login-links", json={"admin": "Alex"}, headers=AUTH)
    link = "/" + answer.json["url"].split("://", 1)[1].split("/", 1)[1]
    assert http.post(link).status_code == 303
    page = http.get(url)
    assert page.status_code == 200
    return str(page.get_data(as_text=True))


def test_a_summary_of_1600_characters_on_one_line_reaches_the_client_and_opens_the_window(
    backend: str, app: Flask, client: Any, mailbox: SmtpSink, clock: Any
) -> None:
    """As the independent test found it: a real SMTP server refuses lines over its limit
    ("500 Line too long"); the mail must reach it in short lines, and the window open."""
    summary = ("Mise à jour de WooCommerce, des extensions et du thème ; caches vidés. " * 30)[
        :1600
    ]
    assert "\n" not in summary and len(summary) == 1600
    start(client)
    assert complete(client, summary=summary).status_code == 200
    run_due(app)
    [message] = mailbox.received()
    text = message.get_body(preferencelist=("plain",))
    assert text is not None and summary in text.get_content()
    body = _staff_json(client)
    assert body["validation_mail"]["state"] == "accepted"
    assert body["deadline_at"] == (clock.now() + timedelta(hours=24)).isoformat()
