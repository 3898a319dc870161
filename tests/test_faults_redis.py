"""Redis killed (its data gone) and restarted after reminders, lapses and expiries fell
due: the database is the record of due work, so all of it still happens, within seconds
of Redis coming back. Real processes, a redis-server of the test's own."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .fake_whmcs import FakeWhmcs
from .faultkit import (
    RedisServer,
    completed,
    database,
    duplicates,
    panel_with_tickets,
    record_figures,
    settings,
)
from .processes import Service, wait_for
from .support import SmtpSink, mail_links
from .test_end_to_end import post_form, staff, webhook

WINDOW, REMINDER, RETENTION = 6, 3, 7
COUNT = 4


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    # No persistence: a kill loses everything, as `--save "" --appendonly no` does.
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


def test_due_work_survives_redis_losing_everything(
    tmp_path: Path, postgres_schema: str, mailbox: SmtpSink, redis_server: RedisServer
) -> None:
    with FakeWhmcs() as panel:
        panel_with_tickets(panel, COUNT)
        svc = Service(
            settings(
                postgres_schema,
                (mailbox.host, mailbox.port),
                panel,
                REDIS_URL=redis_server.url,
                VALIDATION_WINDOW=f"{WINDOW}s",
                REMINDERS=f"{REMINDER}s",
                BACKUP_RETENTION=f"{RETENTION}s",
            ),
            tmp_path,
        )
        try:
            assert svc.command("db", "upgrade").returncode == 0
            svc.start_web()
            svc.start_worker()
            started_at = time.monotonic()
            for n in range(1, COUNT + 1):
                assert webhook(svc, "intervention.completed", completed(n))[0] == 200
            wait_for(lambda: len(mailbox.received()) == COUNT, what="the completion mails")

            redis_server.kill()
            killed_at = time.monotonic()
            # A decision while Redis is down: its kick is lost with Redis.
            message = next(m for m in mailbox.received() if m["To"] == "client1@example.test")
            validate = next(u for u in mail_links(message) if u.endswith("/validate"))
            assert post_form(validate, {}) == 303
            # Down until the reminders, the lapses and the backup expiries are all due.
            wait_for(
                lambda: time.monotonic() - started_at > RETENTION + 1.5,
                timeout=RETENTION + 5,
                what="all the due work to fall due",
            )
            redis_server.start()
            back_at = time.monotonic()

            def lapsed() -> bool:
                return all(
                    staff(svc, f"/interventions/iv-{n}")["state"] == "lapsed"
                    for n in range(2, COUNT + 1)
                )

            def expired() -> bool:
                return all(
                    staff(svc, f"/interventions/iv-{n}")["backup"]["state"] == "expired"
                    for n in range(1, COUNT + 1)
                )

            wait_for(lambda: len(mailbox.received()) == 2 * COUNT, what="reminders, confirmation")
            mails_at = time.monotonic()
            wait_for(lapsed, what="the lapses")
            lapsed_at = time.monotonic()
            wait_for(expired, what="the backup expiries")
            expired_at = time.monotonic()
            with database(postgres_schema) as db:
                wait_for(db.settled, what="every due task done")
                undone = db.scalar(
                    "SELECT count(*) FROM tasks WHERE state NOT IN ('done', 'skipped', 'cancelled')"
                )
            notes = [(100 + n, m) for n in range(1, COUNT + 1) for m in panel.ticket_notes(100 + n)]
            logs = svc.logs()
        finally:
            svc.stop()

    mails = [(m["To"], m["Subject"]) for m in mailbox.received()]
    record_figures(
        "redis_killed",
        load=f"{COUNT} interventions: {COUNT - 1} reminders, lapses and {COUNT} backup expiries "
        "due, 1 decision taken, while Redis is down",
        faults=f"Redis SIGKILLed, no persistence, down {back_at - killed_at:.1f}s, restarted empty",
        lost=2 * COUNT - len(set(mails)) + 3 * COUNT - len(set(notes)),
        duplicated=duplicates(mails) + duplicates(notes),
        mails_after_restart_s=round(mails_at - back_at, 1),
        lapses_after_restart_s=round(lapsed_at - back_at, 1),
        expiries_after_restart_s=round(expired_at - back_at, 1),
    )
    # client 1: completion and confirmation; the others: completion and reminder.
    assert len(mails) == 2 * COUNT and duplicates(mails) == 0
    # completed, validated or lapsed, backup expired: three notes per ticket, none twice.
    assert len(notes) == 3 * COUNT and duplicates(notes) == 0
    assert undone == 0
    # On time once Redis is back: a sweep or two, not a backoff of minutes.
    assert max(mails_at, lapsed_at, expired_at) - back_at < 5
    # Both processes said the Redis in use would lose queued work.
    assert logs.count("Redis keeps nothing on disk") >= 2
