"""The database briefly unreachable from the web process: webhooks answer 503 in the
contract's shape (the panel retries), pages answer a clear 503, and nothing is
half-written, even when the connection drops in the middle of requests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from .conftest import POSTGRES_URL
from .faultkit import completed, database, duplicates, record_figures, settings
from .processes import Service, wait_for
from .support import SmtpSink, event_body, mail_links, signed_headers
from .tcp_proxy import TcpProxy
from .test_end_to_end import http, webhook

FLAPPING = 20


@pytest.fixture
def db_proxy() -> Iterator[TcpProxy]:
    address = urlsplit(POSTGRES_URL.replace("postgresql+psycopg", "postgresql"))
    with TcpProxy(address.hostname or "127.0.0.1", address.port or 5432) as proxy:
        yield proxy


def _deliver(svc: Service, body: str, msg_id: str, deadline: float) -> tuple[int, list[int]]:
    """Deliver as the panel does: retry on 5xx or no answer, same webhook-id, until 2xx."""
    seen = []
    while time.monotonic() < deadline:
        try:
            status, raw, _ = http(
                "POST",
                f"{svc.url}/webhooks/panel",
                body.encode(),
                signed_headers(body, msg_id=msg_id),
            )
        except OSError:
            status, raw = 0, b""
        seen.append(status)
        if status >= 500:
            error = json.loads(raw)["error"]
            assert error["code"] == "database_unavailable" and error["message"], raw
        if 200 <= status < 300:
            return status, seen
        time.sleep(0.1)
    return 0, seen


def test_a_database_outage_answers_503_and_writes_nothing_half(
    tmp_path: Path, postgres_schema: str, mailbox: SmtpSink, db_proxy: TcpProxy
) -> None:
    base = settings(postgres_schema, (mailbox.host, mailbox.port))
    svc = Service(base, tmp_path)
    through_proxy = POSTGRES_URL.replace("127.0.0.1:5432", f"{db_proxy.host}:{db_proxy.port}")
    assert through_proxy != POSTGRES_URL
    try:
        assert svc.command("db", "upgrade").returncode == 0
        svc.start_web(SQLALCHEMY_DATABASE_URI=through_proxy)
        svc.start_worker()

        assert webhook(svc, "intervention.completed", completed(1))[0] == 200
        [message] = wait_for(mailbox.received, what="the first mail")
        link = mail_links(message)[0]

        # Down: the panel is told to retry; the client gets a page; nothing is written.
        db_proxy.cut()
        body = event_body("intervention.completed", completed(2))
        headers = signed_headers(body, msg_id="msg_during_outage")
        status, raw, answer_headers = http(
            "POST", f"{svc.url}/webhooks/panel", body.encode(), headers
        )
        assert status == 503 and int(answer_headers["Retry-After"]) > 0
        assert json.loads(raw)["error"]["code"] == "database_unavailable"
        status, page, page_headers = http("GET", link)
        assert status == 503 and page_headers["Content-Type"].startswith("text/html")
        assert b"Traceback" not in page and b"<h1>" in page
        assert http("GET", f"{svc.url}/healthz")[0] == 503
        db_proxy.restore()
        status, raw, _ = http("POST", f"{svc.url}/webhooks/panel", body.encode(), headers)
        assert status == 200 and "redelivered" not in json.loads(raw)

        # Flapping: the connection is cut every few hundred milliseconds, in the middle of
        # requests, while the panel delivers (and redelivers) 20 webhooks.
        stop = threading.Event()

        def flap() -> None:
            while not stop.is_set():
                db_proxy.cut()
                stop.wait(0.25)
                db_proxy.restore()
                stop.wait(0.35)

        flapper = threading.Thread(target=flap, daemon=True)
        flapper.start()
        deadline = time.monotonic() + 60
        outcomes = [
            _deliver(
                svc, event_body("intervention.completed", completed(n)), f"msg_flap_{n}", deadline
            )
            for n in range(3, FLAPPING + 3)
        ]
        stop.set()
        flapper.join(timeout=5)
        db_proxy.restore()
        refused = sum(1 for _, seen in outcomes for s in seen if s >= 500 or s == 0)

        with database(postgres_schema) as db:
            wait_for(lambda: len(mailbox.received()) == FLAPPING + 2, timeout=20, what="the mails")
            wait_for(db.settled, what="every effect done")
            rows = db.rows(
                "SELECT i.panel_id, i.state, "
                "(SELECT count(*) FROM intervention_events e WHERE e.intervention_id = i.id "
                " AND e.type = 'complete') AS completions, "
                "(SELECT count(*) FROM tasks t WHERE t.intervention_id = i.id) AS tasks "
                "FROM interventions i ORDER BY i.id"
            )
            deliveries = db.scalar("SELECT count(*) FROM webhook_deliveries")
        time.sleep(1.5)  # a sweep or two more: nothing else may come
    finally:
        svc.stop()

    mails = [m["To"] for m in mailbox.received()]
    # Each intervention whole: its state, its one completion event, its five tasks
    # (mail, reminder, lapse, backup expiry, ticket note) -- or not there at all.
    whole = [
        r for r in rows if r.state == "awaiting_validation" and r.completions == 1 and r.tasks == 5
    ]
    record_figures(
        "database_outage",
        load=f"{FLAPPING + 2} webhooks, each delivered until answered 2xx",
        faults=f"PostgreSQL unreachable from the web process, then cut every 0.6s "
        f"({refused} answers 503 or no answer)",
        lost=FLAPPING + 2 - len(set(mails)),
        duplicated=duplicates(mails) + sum(max(r.completions - 1, 0) for r in rows),
        half_written=len(rows) - len(whole),
    )
    assert all(status == 200 for status, _ in outcomes), outcomes
    assert refused > 0, "the flapping never hit a request"
    assert len(rows) == len(whole) == deliveries == FLAPPING + 2
    assert len(mails) == FLAPPING + 2 and duplicates(mails) == 0


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_pooled_connection_the_server_cut_while_idle_is_replaced_before_use(
    backend: str, make_app: Any
) -> None:
    """pool_pre_ping checks a pooled connection before a request uses it."""
    from sqlalchemy import create_engine, text

    from panel_addon.models import db

    app = make_app()
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_pre_ping"] is True
    with app.app_context():
        pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        db.session.remove()
    engine = create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    engine.dispose()

    answer = app.test_client().get("/healthz")
    assert answer.status_code == 200 and answer.json["database"] == "ok"
    with app.app_context():
        assert db.session.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
