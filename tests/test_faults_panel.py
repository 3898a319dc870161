"""The panel (WHMCS API) answering HTTP 500, `"result": "error"`, hanging past the
timeout, or down: every effect is applied once it answers, none twice, and the staff
see the pending and failed ones meanwhile. Real processes and a fake panel."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from .fake_whmcs import FakeWhmcs
from .faultkit import completed, database, duplicates, panel_with_tickets, record_figures, settings
from .processes import Service, wait_for
from .support import STAFF_TOKEN, SmtpSink, mail_links
from .test_end_to_end import http, post_form, staff, webhook

COUNT = 6  # tickets 101..106; intervention 7 names a ticket the panel does not have
HANG = 2.0


def _effects(svc: Service, n: int) -> list[dict[str, object]]:
    return [e for e in staff(svc, f"/interventions/iv-{n}")["effects"] if e["kind"] == "panel"]


def test_every_panel_effect_is_applied_once_the_panel_answers(
    tmp_path: Path, postgres_schema: str, mailbox: SmtpSink
) -> None:
    # The hang outlasts our timeout (1s) but not the first retry (3s): the panel applies
    # the call after we gave up, and the retry must find it done.
    with FakeWhmcs(hang_seconds=HANG) as panel:
        panel_with_tickets(panel, COUNT)
        svc = Service(
            settings(
                postgres_schema,
                (mailbox.host, mailbox.port),
                panel,
                WHMCS_TIMEOUT="1s",
                TASK_RETRY_BACKOFF="3s,1s",
            ),
            tmp_path,
        )
        try:
            assert svc.command("db", "upgrade").returncode == 0
            svc.start_web()
            svc.start_worker()
            panel.fail_next(3, "http500")
            panel.fail_next(3, "result_error")
            panel.fail_next(3, "hang", action="AddTicketNote")
            for n in range(1, COUNT + 2):
                data = completed(n, ticket_id=999) if n == COUNT + 1 else completed(n)
                assert webhook(svc, "intervention.completed", data)[0] == 200

            # The staff see what is pending and why, then what failed for good.
            pending = wait_for(
                lambda: [
                    e
                    for n in range(1, COUNT + 1)
                    for e in _effects(svc, n)
                    if e["state"] == "pending" and e["attempts"]
                ],
                what="a pending effect with its error",
            )
            assert any(
                "HTTP 500" in str(e["last_error"]) or "Simulated" in str(e["last_error"])
                for e in pending
            )
            failed = wait_for(
                lambda: [e for e in _effects(svc, COUNT + 1) if e["state"] == "failed"],
                what="the effect that cannot succeed",
            )
            assert "ticket id not found" in str(failed[0]["last_error"]).lower()
            wait_for(
                lambda: all(panel.ticket_notes(100 + n) for n in range(1, COUNT + 1)),
                timeout=30,
                what="the completion notes",
            )

            # Down altogether while the clients decide and the staff flag a client.
            panel.down()
            for n in range(1, COUNT + 1):
                message = next(
                    m for m in mailbox.received() if m["To"] == f"client{n}@example.test"
                )
                links = {u.rsplit("/", 1)[1]: u for u in mail_links(message)}
                if n % 2:
                    assert post_form(links["validate"], {}) == 303
                else:
                    assert post_form(links["report"], {"message": f"Broken page {n}"}) == 303
            status, _, _ = http(
                "POST",
                f"{svc.url}/api/v1/clients/1/ineligibility",
                b'{"reason": "abuse"}',
                {"Authorization": f"Bearer {STAFF_TOKEN}", "Content-Type": "application/json"},
            )
            assert status == 200
            wait_for(
                lambda: any("connection failed" in str(e["last_error"]) for e in _effects(svc, 2)),
                what="the staff to see the panel unreachable",
            )
            panel.up()

            with database(postgres_schema) as db:
                wait_for(
                    lambda: (
                        all(len(panel.ticket_notes(100 + n)) >= 2 for n in range(1, COUNT + 1))
                        and db.settled()
                    ),
                    timeout=40,
                    what="every effect applied",
                )
                outcomes = Counter(row.state for row in db.tasks(kind="panel"))
            notes = [
                (100 + n, note) for n in range(1, COUNT + 1) for note in panel.ticket_notes(100 + n)
            ]
            client_notes = panel.client(1)["notes"]
            statuses = {n: panel.ticket(100 + n)["status"] for n in range(1, COUNT + 1)}
            faults = Counter(
                c.outcome for c in panel.calls() if c.outcome not in ("success", "error")
            )
        finally:
            svc.stop()

    # completion note + decision note per ticket; a report also reopens the ticket.
    expected = 2 * COUNT + COUNT // 2 + 1
    applied = (
        len(set(notes))
        + sum(s == "Customer-Reply" for s in statuses.values())
        + ("[intervention-signoff]" in client_notes)
    )
    record_figures(
        "panel_faults",
        load=f"{expected} panel effects: {2 * COUNT} ticket notes, {COUNT // 2} reopenings, "
        "1 internal note (+1 note on a ticket the panel lacks)",
        faults=f"HTTP 500 x{faults['http500']}, result error x{faults['result_error']}, "
        f"hang past the 1s timeout x{faults['hang']}, panel down during the decisions",
        lost=expected - applied,
        duplicated=duplicates(notes) + max(client_notes.count("[intervention-signoff]") - 1, 0),
    )
    assert duplicates(notes) == 0 and len(notes) == 2 * COUNT
    assert {n: s for n, s in statuses.items() if n % 2 == 0} == {
        2: "Customer-Reply",
        4: "Customer-Reply",
        6: "Customer-Reply",
    }
    assert client_notes.startswith("VIP since 2019\r\nClient #1")
    assert client_notes.count("[intervention-signoff]") == 1
    assert faults["hang"] == 3 and faults["http500"] == 3 and faults["result_error"] == 3
    assert outcomes["failed"] == 1 and set(outcomes) <= {"done", "failed", "skipped"}
