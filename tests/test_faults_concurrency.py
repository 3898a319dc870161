"""Races on PostgreSQL under gunicorn (4 processes of 4 threads): 50 clicks at once mixing
validate and report make one decision, one ticket note and one confirmation mail; the
same webhook delivered 20 times at once makes one intervention and one mail."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from .fake_whmcs import FakeWhmcs
from .faultkit import completed, database, panel_with_tickets, record_figures, settings, started
from .processes import Service, wait_for
from .support import SmtpSink, event_body, mail_links, signed_headers
from .test_end_to_end import http, post_form, staff, webhook


@pytest.fixture
def service(
    tmp_path: Path, postgres_schema: str, mailbox: SmtpSink
) -> Iterator[tuple[Service, FakeWhmcs]]:
    with FakeWhmcs() as panel:
        panel_with_tickets(panel, 3)
        svc = Service(settings(postgres_schema, (mailbox.host, mailbox.port), panel), tmp_path)
        try:
            assert svc.command("db", "upgrade").returncode == 0
            svc.start_gunicorn(workers=4, threads=4)
            svc.start_worker()
            yield svc, panel
        finally:
            svc.stop()


def _at_once(count: int, call: Callable[[int], Any]) -> list[Any]:
    """Run `call(i)` for i in range(count) from `count` threads released together."""
    gate = threading.Barrier(count)

    def run(i: int) -> Any:
        gate.wait(timeout=10)
        return call(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def test_fifty_racing_clicks_make_one_decision(
    service: tuple[Service, FakeWhmcs], mailbox: SmtpSink, postgres_schema: str
) -> None:
    svc, panel = service
    assert webhook(svc, "intervention.completed", completed(1))[0] == 200
    [message] = wait_for(mailbox.received, what="the completion mail")
    links = {u.rsplit("/", 1)[1]: u for u in mail_links(message)}

    def click(i: int) -> int:
        if i % 2:
            return post_form(links["validate"], {})
        return post_form(links["report"], {"message": f"click {i}", "restore": "on"})

    started_at = time.monotonic()
    statuses = Counter(_at_once(50, click))
    elapsed = time.monotonic() - started_at
    detail = staff(svc, "/interventions/iv-1")
    decision = detail["state"]
    wait_for(lambda: len(mailbox.received()) == 2, what="the confirmation")
    with database(postgres_schema) as db:
        wait_for(db.settled, what="every effect done")
    time.sleep(1.5)  # a sweep or two more: nothing else may come
    decisions = [
        e
        for e in staff(svc, "/interventions/iv-1")["events"]
        if e["type"] in ("validate", "report")
    ]
    # Every note but the completion's is the decision's.
    notes = [n for n in panel.ticket_notes(101) if "completed" not in n]
    mails = mailbox.received()

    record_figures(
        "racing_clicks",
        load=f"50 POSTs at once (25 validate, 25 report) in {elapsed:.1f}s, gunicorn 4x4",
        faults="concurrency only",
        lost=int(not decisions) + int(not notes) + int(len(mails) < 2),
        duplicated=max(len(decisions) - 1, 0) + max(len(notes) - 1, 0) + max(len(mails) - 2, 0),
        answers=dict(statuses),
    )
    assert decision in ("validated", "reported")
    assert set(statuses) <= {303, 409}, statuses
    # The winner and every repeat of the same decision: 303; the other decision: 409.
    assert statuses[409] == 25 and statuses[303] == 25
    assert len(decisions) == 1 and len(notes) == 1 and len(mails) == 2
    assert (decision == "reported") == (panel.ticket(101)["status"] == "Customer-Reply")
    # gunicorn's access log shows the 50 clicks, never their token.
    logs = svc.logs()
    assert logs.count("POST /i/[token]/") == 50
    assert links["validate"].split("/i/")[1].split("/")[0] not in logs


def test_the_same_webhook_twenty_times_at_once_makes_one_intervention(
    service: tuple[Service, FakeWhmcs], mailbox: SmtpSink, postgres_schema: str
) -> None:
    svc, _ = service
    # iv-2 is new to the service; iv-3 was started before (its completion is a transition).
    assert webhook(svc, "intervention.started", started(3))[0] == 200
    for n, case in ((2, "new"), (3, "known")):
        msg_id = f"msg_delivered_20_times_{n}"
        body = event_body("intervention.completed", completed(n))
        headers = signed_headers(body, msg_id=msg_id)
        url, raw, to = f"{svc.url}/webhooks/panel", body.encode(), f"client{n}@example.test"
        answers = _at_once(20, lambda _, u=url, b=raw, h=headers: http("POST", u, b, h))
        statuses = Counter(status for status, _, _ in answers)
        wait_for(lambda to=to: [m for m in mailbox.received() if m["To"] == to], what="the mail")
        with database(postgres_schema) as db:
            wait_for(db.settled, what="every effect done")
            interventions = db.scalar(
                "SELECT count(*) FROM interventions WHERE panel_id = :p", p=f"iv-{n}"
            )
            deliveries = db.scalar(
                "SELECT count(*) FROM webhook_deliveries WHERE webhook_id = :m", m=msg_id
            )
            completions = db.scalar(
                "SELECT count(*) FROM intervention_events e JOIN interventions i "
                "ON i.id = e.intervention_id WHERE i.panel_id = :p AND e.type = 'complete'",
                p=f"iv-{n}",
            )
        time.sleep(1.5)  # a sweep or two more: nothing else may come
        mails = [m for m in mailbox.received() if m["To"] == to]

        record_figures(
            f"webhook_x20_{case}",
            load="the same signed webhook (one webhook-id) 20 times at once, gunicorn 4x4",
            faults="concurrency only" + (" (intervention already started)" if n == 3 else ""),
            lost=int(interventions < 1) + int(not mails),
            duplicated=max(interventions - 1, 0) + max(completions - 1, 0) + max(len(mails) - 1, 0),
            answers=dict(statuses),
        )
        # Every delivery is answered 2xx: the panel must not retry a processed event.
        assert statuses == {200: 20}, [(s, b[:200]) for s, b, _ in answers if s != 200]
        assert interventions == 1 and deliveries == 1 and completions == 1
        assert len(mails) == 1


def test_ten_starts_of_one_new_id_at_once_make_one_intervention(
    service: tuple[Service, FakeWhmcs], postgres_schema: str
) -> None:
    # Each carries its own webhook-id: one creates the intervention (in the statement
    # that records its delivery), the others find it and are refused as a second start.
    svc, _ = service
    body = event_body("intervention.started", started(2))
    url = f"{svc.url}/webhooks/panel"

    def send(n: int) -> Any:
        return http("POST", url, body.encode(), signed_headers(body, msg_id=f"msg_start_{n}"))

    answers = _at_once(10, send)
    statuses = Counter(status for status, _, _ in answers)
    assert statuses == {200: 1, 409: 9}, [(s, b[:200]) for s, b, _ in answers]
    with database(postgres_schema) as db:
        assert db.scalar("SELECT count(*) FROM interventions WHERE panel_id = 'iv-2'") == 1
        starts = db.scalar(
            "SELECT count(*) FROM intervention_events e JOIN interventions i "
            "ON i.id = e.intervention_id WHERE i.panel_id = 'iv-2' AND e.type = 'start'"
        )
        assert starts == 1
        assert db.scalar("SELECT count(*) FROM webhook_deliveries") == 1
