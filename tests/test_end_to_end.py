"""The real processes (web, worker) against real PostgreSQL, Redis, SMTP and a fake panel.

Windows of a few seconds prove the real scheduling: reminders, lapses and backup
expiries happen on time with nothing but the worker running.
"""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import POSTGRES_URL, REDIS_URL
from .fake_whmcs import TEST_IDENTIFIER, TEST_SECRET, FakeWhmcs
from .processes import Service, wait_for
from .support import STAFF_TOKEN, WEBHOOK_SECRET, SmtpSink, event_body, mail_links, signed_headers

WINDOW, REMINDER, RETENTION = 8, 4, 12


@pytest.fixture
def panel() -> Iterator[FakeWhmcs]:
    with FakeWhmcs() as fake:
        for n in (1, 2, 3):
            fake.add_client(n, notes=f"VIP since 2019\r\nPays by card #{n}")
            fake.add_ticket(100 + n, status="Open", client_id=n)
        yield fake


@pytest.fixture
def service(
    tmp_path: Path, postgres_schema: str, mailbox: SmtpSink, panel: FakeWhmcs
) -> Iterator[Service]:
    svc = Service(
        {
            "SECRET_KEY": secrets.token_hex(16),
            "SQLALCHEMY_DATABASE_URI": POSTGRES_URL,
            "SQLALCHEMY_ENGINE_OPTIONS": {
                "connect_args": {"options": f"-csearch_path={postgres_schema}"}
            },
            "REDIS_URL": REDIS_URL,
            "QUEUE_PREFIX": f"e2e-{secrets.token_hex(4)}",
            "WEBHOOK_SECRET": WEBHOOK_SECRET,
            "STAFF_API_TOKEN": STAFF_TOKEN,
            "MAIL_SERVER": mailbox.host,
            "MAIL_PORT": mailbox.port,
            "WHMCS_URL": panel.url,
            "WHMCS_IDENTIFIER": TEST_IDENTIFIER,
            "WHMCS_SECRET": TEST_SECRET,
            "VALIDATION_WINDOW": f"{WINDOW}s",
            "REMINDERS": f"{REMINDER}s",
            "BACKUP_RETENTION": f"{RETENTION}s",
            "LATE_REPORT_POLICY": "auto",
            "SWEEP_INTERVAL": "1s",
            "TASK_LEASE": "10s",
            "DEFAULT_LANGUAGE": "en",
        },
        tmp_path,
    )
    upgrade = svc.command("db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    again = svc.command("db", "upgrade")
    assert again.returncode == 0, again.stderr
    svc.start_web()
    svc.start_worker()
    yield svc
    svc.stop()


def http(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})  # noqa: S310

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=10) as answer:
            return answer.status, answer.read(), dict(answer.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def webhook(
    svc: Service, event_type: str, data: dict[str, Any], msg_id: str | None = None
) -> tuple[int, Any]:
    body = event_body(event_type, data)
    status, raw, _ = http(
        "POST", f"{svc.url}/webhooks/panel", body.encode(), signed_headers(body, msg_id=msg_id)
    )
    return status, json.loads(raw)


def staff(svc: Service, path: str) -> Any:
    status, raw, _ = http(
        "GET", f"{svc.url}/api/v1{path}", headers={"Authorization": f"Bearer {STAFF_TOKEN}"}
    )
    assert status == 200, raw
    return json.loads(raw)


def mails_to(mailbox: SmtpSink, n: int) -> list[Any]:
    return [m for m in mailbox.received() if m["To"] == f"client{n}@example.test"]


def post_form(url: str, fields: dict[str, str]) -> int:
    status, _, _ = http(
        "POST",
        url,
        urllib.parse.urlencode(fields).encode(),
        {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "e2e-phone"},
    )
    return status


def test_three_interventions_through_their_whole_lifecycle(
    service: Service, mailbox: SmtpSink, panel: FakeWhmcs
) -> None:
    svc = service
    for n in (1, 2, 3):
        started = {
            "id": f"iv-{n}",
            "ticket_id": 100 + n,
            "client": {
                "id": n,
                "email": f"client{n}@example.test",
                "name": f"Client {n}",
                "language": "english",
            },
            "site": f"site{n}.example",
            "technician": "Alex",
            "backup": {"reference": f"backup-{n}", "created_at": "2026-11-26T08:00:00Z"},
        }
        assert webhook(svc, "intervention.started", started)[0] == 200
        status, body = webhook(
            svc,
            "intervention.completed",
            {"id": f"iv-{n}", "summary": "Updated plugins"},
            msg_id=f"done-{n}",
        )
        assert status == 200 and body["state"] == "awaiting_validation"

    # A redelivered webhook is answered the same and sends no second mail.
    status, body = webhook(
        svc, "intervention.completed", {"id": "iv-1", "summary": "Updated plugins"}, msg_id="done-1"
    )
    assert status == 200 and body["redelivered"] is True

    wait_for(lambda: all(mails_to(mailbox, n) for n in (1, 2, 3)), what="three completion mails")
    links = {
        n: {u.rsplit("/", 1)[1]: u for u in mail_links(mails_to(mailbox, n)[0])} for n in (1, 2, 3)
    }
    for n in (1, 2, 3):
        assert set(links[n]) == {"validate", "report"}
        links[n] = {
            k: v.replace("http://127.0.0.1", "http://127.0.0.1") for k, v in links[n].items()
        }

    # Mail scanners fetch links: GET and HEAD change nothing.
    for url in links[1].values():
        assert http("GET", url)[0] == 200
        assert http("HEAD", url)[0] == 200
    assert staff(svc, "/interventions/iv-1")["state"] == "awaiting_validation"

    # A tampered token gets a clear page, not a decision.
    url = links[1]["validate"]
    token = url.split("/i/")[1].split("/")[0]
    head, signature = token.rsplit(".", 1)
    tampered = url.replace(token, f"{head}.{'x' if signature[0] != 'x' else 'y'}{signature[1:]}")
    status, page, headers = http(
        "POST", tampered, b"", {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert status == 404
    assert b"Traceback" not in page
    assert headers.get("Referrer-Policy") == "no-referrer"

    # 1: validated.
    assert post_form(links[1]["validate"], {}) == 303
    # 2: reported, with a restore request.
    assert (
        post_form(links[2]["report"], {"message": "Checkout page shows an error", "restore": "on"})
        == 303
    )

    one = staff(svc, "/interventions/iv-1")
    assert one["state"] == "validated"
    decision = [e for e in one["events"] if e["type"] == "validate"][0]
    assert decision["user_agent"] == "e2e-phone" and decision["ip"] == "127.0.0.1"
    two = staff(svc, "/interventions/iv-2")
    assert two["state"] == "reported" and two["backup"]["state"] == "held"

    wait_for(lambda: panel.ticket(102)["status"] == "Customer-Reply", what="ticket 102 reopened")
    wait_for(
        lambda: any(
            "Checkout page shows an error" in m and "Restore requested: yes" in m
            for m in panel.ticket_notes(102)
        ),
        what="the report's ticket note",
    )
    wait_for(
        lambda: len(mails_to(mailbox, 1)) == 2 and len(mails_to(mailbox, 2)) == 2,
        what="confirmation mails",
    )

    # 3: silent: reminded, then lapsed at the deadline.
    wait_for(lambda: len(mails_to(mailbox, 3)) == 2, timeout=REMINDER + 10, what="the reminder")
    wait_for(
        lambda: staff(svc, "/interventions/iv-3")["state"] == "lapsed",
        timeout=WINDOW + 10,
        what="the lapse",
    )
    wait_for(
        lambda: any("lapsed" in m for m in panel.ticket_notes(103)), what="the lapse's ticket note"
    )

    # A late report makes client 3 ineligible (policy auto) and writes the internal note.
    assert post_form(links[3]["report"], {"message": "Shop broken since yesterday"}) == 303
    three = staff(svc, "/interventions/iv-3")
    assert three["state"] == "reported" and three["late_report"] is True
    assert staff(svc, "/clients/3/eligibility")["eligible"] is False
    notes = wait_for(
        lambda: "[intervention-signoff]" in panel.client(3)["notes"] and panel.client(3)["notes"],
        what="the internal note",
    )
    assert notes.startswith("VIP since 2019\r\nPays by card #3\r\n")
    assert "iv-3" in notes

    # Backups: 1's expires at the end of retention; 2's is held by the open report.
    wait_for(
        lambda: staff(svc, "/interventions/iv-1")["backup"]["state"] == "expired",
        timeout=RETENTION + 10,
        what="backup 1 expired",
    )
    wait_for(
        lambda: any("backup-1" in m for m in panel.ticket_notes(101)),
        what="the backup's ticket note",
    )
    assert staff(svc, "/interventions/iv-2")["backup"]["state"] == "held"

    # Nothing doubled: exactly the mails each client should have had.
    assert len(mails_to(mailbox, 1)) == 2
    assert len(mails_to(mailbox, 2)) == 2
    assert len(mails_to(mailbox, 3)) == 3
    assert len(panel.calls("UpdateClient")) == 1
    assert len([m for m in panel.ticket_notes(101) if "validated" in m]) == 1

    logs = svc.logs()
    assert token not in logs
    assert "Traceback" not in logs
