"""A slow or hostile site costs its own snapshot and nothing else.

Sites that drip their answer (one byte every second: the body, the status line or the
headers) are cut at SITE_CHECK_TIMEOUT, the whole fetch's time; the other clients'
snapshots are recorded and their mails sent meanwhile, in-process and with the real
worker.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from panel_addon.models import Event, Intervention, db

from .conftest import POSTGRES_URL, REDIS_URL
from .faultkit import record_figures
from .flow import complete, run_due, send
from .loopback_site import LoopbackSite
from .processes import Service, wait_for
from .support import STAFF_TOKEN, WEBHOOK_SECRET, SmtpSink, event_body, signed_headers

PAGES = {"/": "<title>Accueil</title>", "/panier/": "<title>Panier</title>"}
HOSTILE = {"/": "body", "/panier/": "status", "/contact/": "headers"}


def shop() -> LoopbackSite:
    site = LoopbackSite()
    for path, body in PAGES.items():
        site.page(path, body)
    site.page("/contact/", "<title>Contact</title>")
    return site


def turn_hostile(site: LoopbackSite) -> None:
    for path, part in HOSTILE.items():
        site.page(path, "<title>Lent</title>" + " " * 20, drip=1.0, drip_from=part)


def started(panel_id: str, n: int, site: LoopbackSite) -> dict[str, Any]:
    return {
        "id": panel_id,
        "ticket_id": f"T-{n}",
        "client": {"id": str(n), "email": f"client{n}@example.test", "name": f"Client {n}"},
        "site": f"boutique{n}.example",
        "technician": "Alex",
        "backup": {"reference": f"bk-{n}", "created_at": "2026-11-26T08:00:00+00:00"},
        "check_urls": [site.url(path) for path in HOSTILE],
    }


def mails_to(mailbox: SmtpSink, n: int) -> int:
    return sum(1 for m in mailbox.received() if m["To"] == f"client{n}@example.test")


@pytest.fixture
def sites() -> Iterator[list[LoopbackSite]]:
    with shop() as hostile, shop() as second, shop() as third:
        yield [hostile, second, third]


def test_a_dripping_site_is_cut_at_the_deadline_and_holds_up_no_one(
    make_app: Any, sites: list[LoopbackSite], mailbox: SmtpSink
) -> None:
    app = make_app(SITE_CHECK_ALLOW_PRIVATE=True, SITE_CHECK_TIMEOUT="2s")
    client = app.test_client()
    for n, site in enumerate(sites, start=1):
        assert send(client, "intervention.started", started(f"iv-{n}", n, site)).status_code == 200
    run_due(app)  # the before snapshots: every site healthy

    turn_hostile(sites[0])
    for n in (1, 2, 3):
        complete(client, f"iv-{n}")
    began = time.monotonic()
    run_due(app)
    took = time.monotonic() - began

    # Three pages dripping, each cut at 2 s, together: one deadline, not three.
    assert took < 4.5, took
    with app.app_context():
        hostile = db.session.scalars(select(Intervention).filter_by(panel_id="iv-1")).one()
        body = app.test_client().get(
            "/api/v1/interventions/iv-1", headers={"Authorization": f"Bearer {STAFF_TOKEN}"}
        )
        pages = body.json["site_check"]
        assert [p["after"]["error"] for p in pages] == ["timeout"] * 3
        assert all(1900 <= p["after"]["elapsed_ms"] <= 2800 for p in pages), pages
        # The others were recorded first, as soon as they were done, not after the drip.
        checked = db.session.execute(
            select(Event.intervention_id, Event.id)
            .where(Event.type == "site_checked")
            .order_by(Event.id)
        ).all()
        after = [ident for ident, _ in checked[3:]]
        assert after[-1] == hostile.id, checked
    # The others' clients are mailed once each; the hostile site's mail is held.
    assert (mails_to(mailbox, 1), mails_to(mailbox, 2), mails_to(mailbox, 3)) == (0, 1, 1)
    assert body.json["mail_held"] is True
    record_figures(
        "hostile site, in-process",
        drain_s=round(took, 2),
        cut_ms=[p["after"]["elapsed_ms"] for p in pages],
    )


@pytest.fixture
def service(tmp_path: Path, postgres_schema: str, mailbox: SmtpSink) -> Iterator[Service]:
    svc = Service(
        {
            "SECRET_KEY": secrets.token_hex(16),
            "SQLALCHEMY_DATABASE_URI": POSTGRES_URL,
            "SQLALCHEMY_ENGINE_OPTIONS": {
                "connect_args": {"options": f"-csearch_path={postgres_schema}"}
            },
            "REDIS_URL": REDIS_URL,
            "QUEUE_PREFIX": f"slow-{secrets.token_hex(4)}",
            "WEBHOOK_SECRET": WEBHOOK_SECRET,
            "STAFF_API_TOKEN": STAFF_TOKEN,
            "MAIL_SERVER": mailbox.host,
            "MAIL_PORT": mailbox.port,
            "SITE_CHECK_ALLOW_PRIVATE": True,
            "SITE_CHECK_TIMEOUT": "3s",
            "SWEEP_INTERVAL": "1s",
            "TASK_LEASE": "10s",
        },
        tmp_path,
    )
    assert svc.command("db", "upgrade").returncode == 0
    svc.start_web()
    svc.start_worker()
    yield svc
    svc.stop()


def webhook(svc: Service, event_type: str, data: dict[str, Any]) -> None:
    body = event_body(event_type, data)
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{svc.url}/webhooks/panel", body.encode(), signed_headers(body), method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        assert answer.status == 200


def staff(svc: Service, panel_id: str) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{svc.url}/api/v1/interventions/{panel_id}",
        headers={"Authorization": f"Bearer {STAFF_TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        return json.loads(answer.read())  # type: ignore[no-any-return]


def test_with_the_real_worker_a_dripping_site_delays_no_other_clients_mail(
    service: Service, sites: list[LoopbackSite], mailbox: SmtpSink
) -> None:
    hostile, healthy = sites[0], sites[1]
    turn_hostile(hostile)
    for n, site in ((1, hostile), (2, healthy)):
        webhook(service, "intervention.started", started(f"iv-{n}", n, site))
    for n in (1, 2):
        wait_for(
            lambda n=n: all(p["before"] for p in staff(service, f"iv-{n}")["site_check"]),
            timeout=30,
            what=f"the before snapshot of iv-{n}",
        )

    # The dripping site's after snapshot starts first; the healthy one comes while it runs.
    webhook(service, "intervention.completed", {"id": "iv-1", "summary": "Mis à jour."})
    began = time.monotonic()
    wait_for(lambda: len(hostile.hits()) == 6, timeout=10, what="the after snapshot's fetches")
    webhook(service, "intervention.completed", {"id": "iv-2", "summary": "Mis à jour."})
    wait_for(lambda: mails_to(mailbox, 2) == 1, timeout=10, what="the healthy client's mail")
    mailed = time.monotonic() - began
    assert mailed < 2.5, mailed  # before the dripping fetches' 3 s were up
    assert staff(service, "iv-1")["site_check"][0]["after"] is None  # still dripping

    # The dripping site's pages failed before as well: no regression, so its mail goes.
    wait_for(lambda: mails_to(mailbox, 1) == 1, timeout=15, what="the dripping site's mail")
    assert time.monotonic() - began >= 3.0
    pages = staff(service, "iv-1")["site_check"]
    assert [p["after"]["error"] for p in pages] == ["timeout"] * 3
    assert all(2900 <= p["after"]["elapsed_ms"] <= 3800 for p in pages), pages
    time.sleep(1)  # nothing doubled: one mail per client
    assert (mails_to(mailbox, 1), mails_to(mailbox, 2)) == (1, 1)
    record_figures(
        "hostile site, real worker",
        healthy_mailed_s=round(mailed, 2),
        cut_ms=[p["after"]["elapsed_ms"] for p in pages],
        lost=0,
        duplicated=0,
    )
