"""SMTP refusing connections, hanging past the timeout, then answering 4xx: every mail
goes out once it is back, and none twice. Real processes; the SMTP server is reached
through a proxy the test cuts and stalls. In-process: the copies of a mail sent twice
share their Message-ID, and a mail that can never be sent holds up no other."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

from panel_addon.models import Client, Task, db

from .faultkit import completed, database, duplicates, record_figures, settings
from .flow import complete, run_due, send, start, task_rows
from .processes import Service, wait_for
from .support import SmtpSink, mail_links, started_data
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


def _drain(app: Any, effects: Any) -> None:
    with app.app_context():
        effects.drain("mail")
        db.session.remove()
