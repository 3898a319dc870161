"""Processes killed at the worst moment. The worker SIGKILLed in the middle of a mail or
a panel call: the job is redone once its lease runs out, and the effect happens once.
The web process killed inside a request's transaction: nothing of it is written. Work
committed but never announced to Redis (the web died, or could not reach Redis, right
after its commit): the worker's sweep carries it out."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from http.client import HTTPException
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from .fake_whmcs import FakeWhmcs
from .faultkit import completed, database, panel_with_tickets, record_figures, settings
from .processes import Service, wait_for
from .support import SmtpSink, free_port, mail_links
from .tcp_proxy import TcpProxy
from .test_end_to_end import post_form, staff, webhook

LEASE = 3  # seconds; the default TASK_LEASE is 30 s (docs/reliability.md)
SWEEP = 1  # SWEEP_INTERVAL of these tests (faultkit.settings)


@pytest.fixture
def panel() -> Iterator[FakeWhmcs]:
    with FakeWhmcs(hang_seconds=2) as fake:
        yield panel_with_tickets(fake, 2)


def _lease_end(db: Any, action: str) -> float:
    """When the lease of the claimed task of `action` runs out, in seconds from now."""
    left = db.scalar(
        "SELECT EXTRACT(EPOCH FROM (max(claimed_until) - now() at time zone 'utc'))"
        " FROM tasks WHERE state = 'pending' AND action = :action",
        action=action,
    )
    return float("-inf") if left is None else float(left)


def _links(mailbox: SmtpSink, n: int) -> dict[str, str]:
    message = next(m for m in mailbox.received() if m["To"] == f"client{n}@example.test")
    return {u.rsplit("/", 1)[1]: u for u in mail_links(message)}


def test_a_worker_killed_mid_job_has_the_job_redone_once(
    tmp_path: Path, postgres_schema: str, mailbox: SmtpSink, panel: FakeWhmcs
) -> None:
    with TcpProxy(mailbox.host, mailbox.port) as smtp:
        svc = Service(
            settings(
                postgres_schema,
                (smtp.host, smtp.port),
                panel,
                TASK_LEASE=f"{LEASE}s",
                MAIL_TIMEOUT="30s",
                WHMCS_TIMEOUT="10s",
            ),
            tmp_path,
        )
        try:
            assert svc.command("db", "upgrade").returncode == 0
            svc.start_web()
            svc.start_worker()
            with database(postgres_schema) as db:
                # 1. Killed while the SMTP server has not answered: the mail is sent later, once.
                smtp.stall()
                assert webhook(svc, "intervention.completed", completed(1))[0] == 200
                wait_for(lambda: smtp.accepted, what="the worker to connect to SMTP")
                # It lives through more than a lease first, renewing it (its heartbeat).
                claimed_until = time.monotonic() + _lease_end(db, "send_mail")
                wait_for(
                    lambda: time.monotonic() + _lease_end(db, "send_mail") > claimed_until + LEASE,
                    timeout=3 * LEASE,
                    what="the worker to renew its lease past the first",
                )
                svc.crash("worker")
                killed = time.monotonic()
                mail_lease_left = _lease_end(db, "send_mail")
                smtp.restore()
                svc.start_worker()
                wait_for(lambda: mailbox.received(), timeout=LEASE + 10, what="the mail, redone")
                mail_redone_after = time.monotonic() - killed
                wait_for(lambda: len(panel.ticket_notes(101)) == 1, what="the completion note")

                # 2. Killed while the panel works on a note: the panel still adds it after we
                # died; the redo finds it there and adds nothing.
                panel.fail_next(1, "hang", action="AddTicketNote")
                before = panel.connections_accepted
                assert post_form(_links(mailbox, 1)["validate"], {}) == 303
                wait_for(
                    lambda: (
                        panel.connections_accepted > before
                        and db.tasks(action="add_ticket_note", state="pending")
                    ),
                    what="the worker inside AddTicketNote",
                )
                time.sleep(0.3)
                svc.crash("worker")
                killed = time.monotonic()
                note_lease_left = _lease_end(db, "add_ticket_note")
                svc.start_worker()
                wait_for(
                    lambda: db.settled() and not db.tasks(state="pending", kind="panel"),
                    timeout=LEASE + 15,
                    what="the note's task redone",
                )
                note_redone_after = time.monotonic() - killed
                redone = db.tasks(action="add_ticket_note")[-1]
            time.sleep(1.5)  # a sweep or two more: nothing else may come
            mails = mailbox.received()
            notes = panel.ticket_notes(101)
        finally:
            svc.stop()

    validated_notes = [n for n in notes if "validated" in n]
    record_figures(
        "worker_killed",
        load="1 completion mail and 1 ticket note in flight",
        faults="worker SIGKILLed (with its work horse) inside an SMTP exchange, then inside "
        "AddTicketNote (the panel applied it anyway)",
        lost=(len(mails) < 2) + (not validated_notes),
        duplicated=max(len(mails) - 2, 0) + max(len(validated_notes) - 1, 0),
        lease_s=LEASE,
        mail_lease_left_at_kill_s=round(mail_lease_left, 1),
        mail_redone_after_s=round(mail_redone_after, 1),
        note_lease_left_at_kill_s=round(note_lease_left, 1),
        note_redone_after_s=round(note_redone_after, 1),
    )
    # The completion and the confirmation of the validation: each once.
    assert sorted(m["To"] for m in mails) == ["client1@example.test"] * 2
    assert len(validated_notes) == 1 and len(notes) == 2
    assert redone.result == {"result": "already_there"}
    # The dead worker's lease was renewed while it lived, never more than a lease ahead,
    # and its work resumed once the lease ran out: within the lease, a sweep and the
    # work's own time (the note's redo reads the ticket first).
    assert 0 < mail_lease_left <= LEASE and 0 < note_lease_left <= LEASE
    assert mail_redone_after < mail_lease_left + SWEEP + 2
    assert note_redone_after < note_lease_left + SWEEP + 3
    assert mail_redone_after < LEASE + 5 and note_redone_after < LEASE + 8


def test_a_web_process_killed_mid_request_writes_all_or_nothing_and_unannounced_work_is_done(
    tmp_path: Path, postgres_schema: str, mailbox: SmtpSink, panel: FakeWhmcs
) -> None:
    svc = Service(settings(postgres_schema, (mailbox.host, mailbox.port), panel), tmp_path)
    # The web process cannot reach Redis: every commit is followed by a kick that fails,
    # as if the process had died right after the commit. The worker's Redis is fine.
    nowhere = {"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    try:
        assert svc.command("db", "upgrade").returncode == 0
        svc.start_web(**nowhere)
        svc.start_worker()
        sent = time.monotonic()
        for n in (1, 2):
            assert webhook(svc, "intervention.completed", completed(n))[0] == 200
        wait_for(lambda: len(mailbox.received()) == 2, what="mails nobody announced")
        unannounced_delay = time.monotonic() - sent

        with database(postgres_schema) as db, db.engine.connect() as blocker:
            # Hold the intervention's row: the validation blocks on it when it moves the
            # intervention to validated, before its events and tasks are written and
            # before any of it is committed.
            blocker.execute(text("SELECT id FROM interventions WHERE panel_id = 'iv-1' FOR UPDATE"))
            attempt = threading.Thread(
                target=lambda: _quietly(post_form, _links(mailbox, 1)["validate"], {}), daemon=True
            )
            attempt.start()
            wait_for(
                lambda: db.scalar(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query ILIKE '%UPDATE interventions SET%'"
                ),
                what="the validation to wait inside its transaction",
            )
            svc.crash("web")
            blocker.rollback()
            attempt.join(timeout=10)
            # The statement outlives the process that sent it: PostgreSQL runs it to its
            # end once the row is free. The decision is then there whole (its state, its
            # event and its work), or not at all; never a part of it.
            wait_for(
                lambda: (
                    not db.scalar(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE query ILIKE '%UPDATE interventions SET%' AND state = 'active'"
                        " AND pid <> pg_backend_pid()"
                    )
                ),
                what="the killed request's statement to end",
            )
            written = (
                db.scalar("SELECT count(*) FROM interventions WHERE state = 'validated'"),
                db.scalar(
                    "SELECT count(*) FROM intervention_events e JOIN interventions i "
                    "ON i.id = e.intervention_id WHERE i.panel_id = 'iv-1' AND e.type = 'validate'"
                ),
                db.scalar(
                    "SELECT count(*) FROM tasks t JOIN interventions i ON i.id = t.intervention_id"
                    " WHERE i.panel_id = 'iv-1' AND t.action = 'send_mail'"
                    " AND t.payload->>'template' = 'validated'"
                ),
                db.scalar(
                    "SELECT count(*) FROM tasks t JOIN interventions i ON i.id = t.intervention_id"
                    " WHERE i.panel_id = 'iv-1' AND t.action = 'add_ticket_note'"
                    " AND t.payload->>'note' = 'note.validated'"
                ),
                # Its cancel: the lapse still pending, or cancelled with the decision.
                db.scalar(
                    "SELECT count(*) FROM tasks t JOIN interventions i ON i.id = t.intervention_id"
                    " WHERE i.panel_id = 'iv-1' AND t.action = 'lapse' AND t.state = 'cancelled'"
                ),
            )
            half_written = int(written not in ((0, 0, 0, 0, 0), (1, 1, 1, 1, 1)))
            assert half_written == 0, written

            # The client tries again: one decision, one confirmation, one note.
            svc.start_web(**nowhere)
            decided = time.monotonic()
            assert post_form(_links(mailbox, 1)["validate"], {}) == 303
            wait_for(lambda: len(mailbox.received()) == 3, what="the confirmation, by the sweep")
            confirmation_delay = time.monotonic() - decided
            wait_for(
                lambda: any("validated" in n for n in panel.ticket_notes(101)),
                what="the decision's note",
            )
            wait_for(db.settled, what="nothing left due")
        detail = staff(svc, "/interventions/iv-1")
        logs = svc.logs()
    finally:
        svc.stop()

    decisions = [e for e in detail["events"] if e["type"] == "validate"]
    record_figures(
        "web_killed",
        load="2 webhooks and 1 decision whose kicks never reach Redis; 1 decision in flight",
        faults="web SIGKILLed inside the decision's transaction; web unable to reach Redis "
        "after every commit",
        lost=0 if len(mailbox.received()) == 3 else 3 - len(mailbox.received()),
        duplicated=max(len(decisions) - 1, 0) + max(len(mailbox.received()) - 3, 0),
        half_written=half_written,
        unannounced_work_done_after_s=round(unannounced_delay, 1),
        confirmation_after_s=round(confirmation_delay, 1),
    )
    assert detail["state"] == "validated" and len(decisions) == 1
    assert len([n for n in panel.ticket_notes(101) if "validated" in n]) == 1
    assert "could not reach Redis to start work" in logs
    assert unannounced_delay < 5 and confirmation_delay < 5


def _quietly(fn: Callable[..., object], *args: object) -> None:
    with contextlib.suppress(OSError, HTTPException):  # the server is killed under it
        fn(*args)
