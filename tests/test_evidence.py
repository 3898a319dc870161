"""The dispute dossier (contract §8): the chained trail, the views, the signed dossier.

A real flow writes every kind of event; the dossier the API answers is checked as a
third party would, and tampering with the database or the file is caught by
`panel-addon evidence check` and `panel-addon evidence verify`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from flask import Flask
from sqlalchemy import select, update

from panel_addon import evidence_keys
from panel_addon.domain import chain, evidence
from panel_addon.domain.evidence import automated_signal
from panel_addon.domain.trail import SYSTEM, Actor, add_event
from panel_addon.models import Event, Intervention, Task, db
from panel_addon.settings import SettingsError

from .fake_whmcs import TEST_IDENTIFIER, TEST_SECRET, FakeWhmcs
from .faultkit import completed, database, panel_with_tickets, settings
from .flow import complete, path_of, run_due, start
from .loopback_tsa import LoopbackTsa
from .processes import Service, wait_for
from .support import STAFF_TOKEN, mail_links
from .test_end_to_end import http, post_form, staff, webhook
from .test_staff_view import sign_in

API = {"Authorization": f"Bearer {STAFF_TOKEN}"}
BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
SCANNERS = [
    "Mozilla/5.0 (compatible; SafeLinks/1.0; +https://aka.ms/safelinks)",
    "Proofpoint URL Defense",
    "Mimecast-URL-Protect/1.0",
    "Barracuda Sentinel (EE)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) BingPreview/1.0b",
    "python-requests/2.32.3",
    "",
]


@pytest.fixture
def panel() -> Iterator[FakeWhmcs]:
    with FakeWhmcs() as fake:
        fake.add_client(7, notes="")
        for ticket in (100, 200):
            fake.add_ticket(ticket, status="Open", client_id=7)
        yield fake


def _with_panel(panel: FakeWhmcs) -> dict[str, Any]:
    return {
        "WHMCS_URL": panel.url,
        "WHMCS_IDENTIFIER": TEST_IDENTIFIER,
        "WHMCS_SECRET": TEST_SECRET,
    }


def _links(mailbox: Any) -> dict[str, str]:
    links = mail_links(mailbox.received()[-1])
    return {url.rsplit("/", 1)[1]: path_of(url) for url in links}


def _view(client: Any, path: str, agent: str, ip: str = "198.51.100.4") -> None:
    answer = client.get(path, headers={"User-Agent": agent}, environ_base={"REMOTE_ADDR": ip})
    assert answer.status_code == 200


def _dossier(client: Any, panel_id: str = "iv-1") -> dict[str, Any]:
    answer = client.get(f"/api/v1/interventions/{panel_id}/evidence", headers=API)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.mimetype == "application/json"
    body: dict[str, Any] = answer.get_json()
    return body


def _published(client: Any) -> dict[str, Any]:
    answer = client.get("/api/v1/evidence/keys")
    assert answer.status_code == 200
    return {
        item["key_id"]: evidence_keys.public_key(item["public_key"])
        for item in answer.get_json()["keys"]
    }


def _cli(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["evidence", *args])


def _events(app: Flask, panel_id: str = "iv-1") -> list[Event]:
    with app.app_context():
        rows = db.session.scalars(
            select(Event)
            .join(Intervention)
            .where(Intervention.panel_id == panel_id)
            .order_by(Event.seq)
        ).all()
        db.session.expunge_all()
        return list(rows)


def _played(make_app: Any, mailbox: Any, clock: Any, panel: FakeWhmcs) -> tuple[Flask, Any]:
    """An intervention through every kind of event: mail, views, report, staff, expiry."""
    app = make_app(
        STAFF_LANGUAGE="en",
        SITE_CHECK_ENABLED=False,
        LATE_REPORT_POLICY="auto",
        **_with_panel(panel),
    )
    client = app.test_client()
    start(client, ticket_id="100")
    complete(client)
    run_due(app)
    links = _links(mailbox)
    _view(client, links["validate"], SCANNERS[0])
    clock.advance(minutes=30)
    _view(client, links["report"], BROWSER)
    answer = client.post(
        links["report"],
        data={"message": "Ma boutique affiche une erreur", "restore": "on"},
        headers={"User-Agent": BROWSER},
        environ_base={"REMOTE_ADDR": "198.51.100.4"},
    )
    assert answer.status_code == 303
    run_due(app)
    answer = client.post(
        "/api/v1/interventions/iv-1/resolve",
        json={"resolution": "restored", "staff": "Sam"},
        headers=API,
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    clock.advance(days=3)
    run_due(app)
    # A second intervention lapses, its client late to report (policy auto: ineligible).
    start(client, "iv-2", ticket_id="200")
    complete(client, "iv-2")
    run_due(app)
    late = _links(mailbox)
    clock.advance(days=2)
    run_due(app)
    assert client.post(late["report"], headers={"User-Agent": BROWSER}).status_code == 303
    run_due(app)
    return app, client


def test_every_kind_of_event_is_chained_and_the_dossier_holds(
    backend: str, make_app: Any, mailbox: Any, clock: Any, panel: FakeWhmcs
) -> None:
    app, client = _played(make_app, mailbox, clock, panel)
    dossier = _dossier(client)
    types = [event["type"] for event in dossier["events"]]
    for kind in (
        "start",
        "complete",
        "mail_sent",
        "link.viewed",
        "report",
        "backup_held",
        "panel_updated",
        "resolve",
        "backup_released",
        "backup_expired",
    ):
        assert kind in types, kind
    late = {event["type"] for event in _dossier(client, "iv-2")["events"]}
    assert {"lapse", "report", "client_ineligible"} <= late
    # The contract's shape, each event chained on the one before.
    assert list(dossier) == ["intervention", "events", "mails", "head", "generated_at", "signature"]
    previous = chain.GENESIS
    for seq, event in enumerate(dossier["events"], start=1):
        assert set(event) == {"seq", "at", "type", "actor", "data", "prev_hash", "hash"}
        assert set(event["actor"]) == {"kind", "name", "ip", "user_agent"}
        assert event["seq"] == seq and event["prev_hash"] == previous
        assert event["at"].endswith("Z")
        unsigned = {k: v for k, v in event.items() if k != "hash"}
        digest = hashlib.sha256(previous.encode() + b"\n" + rfc8785.dumps(unsigned)).hexdigest()
        assert event["hash"] == digest
        previous = digest
    assert dossier["head"] == previous
    assert dossier["intervention"]["id"] == "iv-1"
    assert dossier["intervention"]["backup"]["state"] == "expired"
    assert chain.dossier_problem(dossier, _published(client)) is None
    result = _cli(app, "check")
    assert result.exit_code == 0, result.output


def test_the_mails_of_the_dossier_are_what_the_smtp_server_received(
    backend: str, make_app: Any, mailbox: Any
) -> None:
    app = make_app(SITE_CHECK_ENABLED=False)
    client = app.test_client()
    # A summary with a line starting with a dot: dot-stuffed on the wire, not in the hash.
    start(client)
    complete(client, summary="Updated.\n.htaccess fixed\n.")
    run_due(app)
    [mail] = _dossier(client)["mails"]
    [delivery] = mailbox.delivered()
    assert mail["sha256"] == hashlib.sha256(delivery.raw).hexdigest()
    assert mail["smtp_reply"] == delivery.reply
    assert mail["to"] == "client@example.test" and delivery.rcpt_tos == [mail["to"]]
    assert mail["message_id"] == mailbox.received()[0]["Message-ID"]
    assert mail["kind"] == "completion_request" and mail["sent_at"].endswith("Z")


def _tampered(app: Flask, how: str) -> None:
    with app.app_context():
        iv = db.session.scalar(select(Intervention).where(Intervention.panel_id == "iv-1"))
        assert iv is not None
        third = db.session.scalar(
            select(Event).where(Event.intervention_id == iv.id, Event.seq == 2)
        )
        fourth = db.session.scalar(
            select(Event).where(Event.intervention_id == iv.id, Event.seq == 3)
        )
        assert third is not None and fourth is not None
        if how == "changed":
            db.session.execute(update(Event).where(Event.id == third.id).values(ip="203.0.113.66"))
        elif how == "removed":
            db.session.delete(third)
        elif how == "reordered":
            db.session.execute(update(Event).where(Event.id == third.id).values(seq=-3))
            db.session.execute(update(Event).where(Event.id == fourth.id).values(seq=2))
            db.session.execute(update(Event).where(Event.id == third.id).values(seq=3))
        elif how == "last removed":
            last = db.session.scalar(
                select(Event).where(Event.intervention_id == iv.id).order_by(Event.seq.desc())
            )
            db.session.delete(last)
        db.session.commit()


@pytest.mark.parametrize("how", ["changed", "removed", "reordered", "last removed"])
def test_evidence_check_names_a_trail_changed_in_the_database(
    backend: str, make_app: Any, mailbox: Any, clock: Any, how: str
) -> None:
    app = make_app(SITE_CHECK_ENABLED=False)
    client = app.test_client()
    for panel_id in ("iv-1", "iv-2"):
        start(client, panel_id)
        complete(client, panel_id)
    run_due(app)
    assert _cli(app, "check").exit_code == 0
    _tampered(app, how)
    result = _cli(app, "check")
    assert result.exit_code == 1
    assert "broken: iv-1: " in result.output and "iv-2" not in result.output
    if how != "last removed":
        assert "event seq" in result.output


@pytest.mark.parametrize("how", ["changed", "removed", "reordered", "head"])
def test_evidence_verify_names_the_first_event_of_a_file_that_does_not_hold(
    make_app: Any, mailbox: Any, clock: Any, panel: FakeWhmcs, tmp_path: Path, how: str
) -> None:
    app, client = _played(make_app, mailbox, clock, panel)
    dossier = _dossier(client)
    keys = tmp_path / "keys.json"
    keys.write_text(client.get("/api/v1/evidence/keys").get_data(as_text=True))
    saved = tmp_path / "dossier.json"
    saved.write_text(json.dumps(dossier))
    result = _cli(app, "verify", str(saved), "--keys", str(keys))
    assert result.exit_code == 0, result.output
    assert "the dossier holds" in result.output
    events = dossier["events"]
    if how == "changed":
        # A third party's machine: the installed command, no settings of the service.
        bare = {k: v for k, v in os.environ.items() if not k.startswith("PANEL_ADDON_")}
        command = [str(Path(sys.executable).parent / "panel-addon"), "evidence", "verify"]

        def verify(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(  # noqa: S603 - the installed command, on the test's files
                [*command, *args],
                env=bare,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )

        done = verify(str(saved), "--keys", str(keys))
        assert done.returncode == 0, done.stderr
        assert "the dossier holds" in done.stdout
        # Without --keys it needs the service's settings: a usage problem (2), not a
        # dossier that does not hold (1), and the message says how to do without them.
        done = verify(str(saved))
        assert done.returncode == 2, done.stderr
        assert "--keys FILE" in done.stderr and "Traceback" not in done.stderr
    if how == "changed":
        events[4]["data"]["forged"] = True
    elif how == "removed":
        del events[4]
    elif how == "reordered":
        events[4], events[5] = events[5], events[4]
    else:
        del events[-1]
    saved.write_text(json.dumps(dossier))
    result = _cli(app, "verify", str(saved), "--keys", str(keys))
    assert result.exit_code == 1
    if how == "head":
        assert "is not the last event's hash" in result.output
    else:
        # The first event that does not hold: the changed one; the one after a gap; the
        # one moved up.
        named = {
            "changed": "event seq 5 (",
            "removed": "event seq 6 (",
            "reordered": "event seq 6 (",
        }[how]
        assert f"the dossier does not hold: {named}" in result.output
        if how == "changed":
            assert "hash does not match the event's content" in result.output
        else:
            assert "seq 6 where 5 was expected" in result.output


def test_the_signature_holds_with_the_published_key_and_not_another(
    make_app: Any, mailbox: Any, clock: Any, tmp_path: Path
) -> None:
    first = evidence_keys.new_private_key_text()
    app = make_app(SITE_CHECK_ENABLED=False, EVIDENCE_SIGNING_KEY=first)
    client = app.test_client()
    start(client)
    dossier = _dossier(client)
    assert chain.dossier_problem(dossier, _published(client)) is None
    # Another key of the same id cannot pass for it; nor can a changed dossier.
    stranger = evidence_keys.private_key(evidence_keys.new_private_key_text()).public_key()
    ident = dossier["signature"]["key_id"]
    assert "signature does not match" in str(chain.dossier_problem(dossier, {ident: stranger}))
    assert "not among the keys" in str(chain.dossier_problem(dossier, {"other": stranger}))
    changed = {**dossier, "generated_at": "2020-01-01T00:00:00.000000Z"}
    assert "signature does not match" in str(chain.dossier_problem(changed, _published(client)))
    # A rotation: the new key signs, the old one is still published and checks old files.
    old_public = evidence_keys.b64url(
        evidence_keys.raw_public(evidence_keys.private_key(first).public_key())
    )
    rotated = make_app(
        SITE_CHECK_ENABLED=False,
        EVIDENCE_SIGNING_KEY=evidence_keys.new_private_key_text(),
        EVIDENCE_PUBLIC_KEYS=[old_public],
    )
    keys = rotated.test_client().get("/api/v1/evidence/keys").get_json()["keys"]
    assert len(keys) == 2 and keys[1] == {
        "key_id": ident,
        "alg": "Ed25519",
        "public_key": old_public,
    }
    assert chain.dossier_problem(dossier, _published(rotated.test_client())) is None
    saved = tmp_path / "dossier.json"
    saved.write_text(json.dumps(dossier))
    assert _cli(rotated, "verify", str(saved)).exit_code == 0


def test_the_dossier_needs_the_staff_token_and_a_known_intervention(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/api/v1/interventions/iv-1/evidence").status_code == 401
    missing = client.get("/api/v1/interventions/nope/evidence", headers=API)
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
    # The public keys need no token.
    assert client.get("/api/v1/evidence/keys").status_code == 200


def test_without_a_signing_key_production_signs_no_dossier(make_app: Any, tmp_path: Path) -> None:
    app = make_app(TESTING=False, ENV="production")
    with app.app_context():
        assert evidence_keys.keys().signing is None
    answer = app.test_client().get("/api/v1/interventions/iv-1/evidence", headers=API)
    assert answer.status_code == 503
    assert "EVIDENCE_SIGNING_KEY" in answer.get_json()["error"]["message"]
    assert app.test_client().get("/api/v1/evidence/keys").get_json() == {"keys": []}


def test_development_generates_one_key_into_the_instance_folder(
    make_app: Any, tmp_path: Path
) -> None:
    first = make_app()
    second = make_app()
    key_file = Path(first.instance_path) / evidence_keys.DEV_KEY_FILE
    assert key_file.exists() and key_file.stat().st_mode & 0o077 == 0
    with first.app_context():
        one = evidence_keys.keys().published()
    with second.app_context():
        assert evidence_keys.keys().published() == one
    made = evidence_keys.private_key(key_file.read_text().strip()).public_key()
    assert one[0]["key_id"] == evidence_keys.key_id(made)
    # Made once, whole, readable by its owner only; read back the same afterwards.
    fresh = tmp_path / evidence_keys.DEV_KEY_FILE
    text = evidence_keys._development_key(fresh)
    assert fresh.stat().st_mode & 0o777 == 0o600
    assert evidence_keys._development_key(fresh) == text == fresh.read_text().strip()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".evidence")] == []


# --- the client's views ----------------------------------------------------------------


def _mailed(make_app: Any, **config: Any) -> tuple[Flask, Any]:
    """An app and its client with one intervention completed and its client mailed."""
    app = make_app(SITE_CHECK_ENABLED=False, **config)
    client = app.test_client()
    start(client)
    complete(client)
    run_due(app)
    return app, client


def _viewed(app: Flask) -> list[Event]:
    return [event for event in _events(app) if event.type == "link.viewed"]


def test_views_of_a_page_by_one_user_agent_fold_within_a_few_minutes(
    backend: str, make_app: Any, mailbox: Any, clock: Any
) -> None:
    app, client = _mailed(make_app)
    links = _links(mailbox)
    clock.advance(hours=1)
    for _ in range(3):
        _view(client, links["validate"], BROWSER)
        clock.advance(minutes=1)
    # Another page, another browser, and a HEAD (never recorded).
    _view(client, links["report"], BROWSER)
    _view(client, links["validate"], BROWSER + " Edg/131.0", ip="198.51.100.9")
    assert client.head(links["validate"], headers={"User-Agent": "curl/8"}).status_code == 200
    clock.advance(minutes=6)
    _view(client, links["validate"], BROWSER)
    viewed = _viewed(app)
    assert [(e.data["page"], e.user_agent[-6:], e.data["automated"]) for e in viewed] == [
        ("validate", "537.36", False),
        ("report", "537.36", False),
        ("validate", "/131.0", False),
        ("validate", "537.36", False),
    ]
    first = viewed[0]
    assert (first.actor, first.actor_name, first.ip) == (
        "client",
        "client@example.test",
        "198.51.100.4",
    )
    with app.app_context():
        assert db.session.scalar(select(Intervention.state)) == "awaiting_validation"


def test_a_holder_of_the_link_cannot_grow_the_trail_by_changing_user_agents(
    make_app: Any, mailbox: Any, clock: Any
) -> None:
    app, client = _mailed(make_app, RATE_LIMIT_LINKS="1000/minute")
    links = _links(mailbox)
    clock.advance(hours=1)
    for n in range(evidence.VIEWS_PER_HOUR + 15):
        _view(client, links["validate"], f"{BROWSER} build/{n}")
    assert len(_viewed(app)) == evidence.VIEWS_PER_HOUR
    # The hour over, views are recorded again.
    clock.advance(minutes=61)
    _view(client, links["validate"], BROWSER)
    assert len(_viewed(app)) == evidence.VIEWS_PER_HOUR + 1


@pytest.mark.parametrize("agent", SCANNERS)
def test_scanners_and_link_previews_are_marked_automated(
    make_app: Any, mailbox: Any, clock: Any, agent: str
) -> None:
    app, client = _mailed(make_app)
    clock.advance(hours=2)
    _view(client, _links(mailbox)["validate"], agent)
    [viewed] = _viewed(app)
    assert viewed.data == {"page": "validate", "automated": True, "signal": "user_agent"}


def test_a_view_seconds_after_the_mail_is_a_scanners(
    make_app: Any, mailbox: Any, clock: Any
) -> None:
    app, client = _mailed(make_app)
    clock.advance(seconds=3)
    _view(client, _links(mailbox)["validate"], BROWSER)
    clock.advance(minutes=10)
    _view(client, _links(mailbox)["validate"], BROWSER)
    assert [e.data for e in _viewed(app)] == [
        {"page": "validate", "automated": True, "signal": "soon_after_mail"},
        {"page": "validate", "automated": False},
    ]


# --- the outside witness ---------------------------------------------------------------


def test_notes_at_a_lapse_and_a_backup_expiry_end_with_the_head_at_that_moment(
    backend: str, make_app: Any, mailbox: Any, clock: Any, panel: FakeWhmcs
) -> None:
    app = make_app(STAFF_LANGUAGE="en", SITE_CHECK_ENABLED=False, **_with_panel(panel))
    client = app.test_client()
    start(client, ticket_id="100")
    complete(client)
    run_due(app)
    clock.advance(days=1)
    run_due(app)
    clock.advance(days=1)
    run_due(app)
    heads = {e.type: e.hash for e in _events(app)}
    notes = panel.ticket_notes(100)
    lapsed = next(t for t in notes if "lapsed" in t)
    expired = next(t for t in notes if "bk-iv-1" in t and "expired" in t.lower())
    assert lapsed.endswith(f"\n\nTrail: {heads['lapse'][:16]}")
    assert expired.endswith(f"\n\nTrail: {heads['backup_expired'][:16]}")
    # Every note the panel holds names a head the trail went through.
    hashes = {e.hash[:16] for e in _events(app)}
    assert all(note.rsplit("Trail: ", 1)[1] in hashes for note in notes)


# --- concurrent writers ----------------------------------------------------------------


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_events_written_at_once_are_chained_one_after_the_other(
    backend: str, make_app: Any, clock: Any
) -> None:
    app = make_app(SITE_CHECK_ENABLED=False)
    client = app.test_client()
    start(client)
    with app.app_context():
        ident = db.session.scalar(select(Intervention.id))
    writers, rounds = 8, 5
    barrier = threading.Barrier(writers)
    failures: list[BaseException] = []

    def write(n: int) -> None:
        try:
            with app.app_context():
                for r in range(rounds):
                    barrier.wait(timeout=30)
                    add_event(ident, SYSTEM, "panel_updated", clock.now(), writer=n, round=r)
                    db.session.commit()
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    events = _events(app)
    assert [e.seq for e in events] == list(range(1, writers * rounds + 2))
    assert _cli(app, "check").exit_code == 0
    with app.app_context():
        iv = db.session.get(Intervention, ident)
        assert iv is not None and iv.trail_head == events[-1].hash


def test_a_client_actor_is_recorded_as_the_contract_exports_it(app: Flask, clock: Any) -> None:
    client = app.test_client()
    start(client)
    with app.app_context():
        iv = db.session.scalar(select(Intervention))
        actor = Actor("client", name="c@example.test", ip="192.0.2.1", user_agent="x" * 900)
        event = add_event(iv, actor, "link.viewed", clock.now(), page="validate", automated=False)
        db.session.commit()
        assert event.user_agent == "x" * 500
        stored = db.session.get(Event, event.id)
        assert stored is not None and stored.prev_hash != chain.GENESIS
    assert chain.first_break(_dossier(client)["events"], None) is None


def test_a_dossier_ends_at_the_head_it_names(make_app: Any, clock: Any) -> None:
    app = make_app(SITE_CHECK_ENABLED=False)
    client = app.test_client()
    start(client)
    clock.advance(seconds=1)
    complete(client)
    dossier = _dossier(client)
    assert dossier["head"] == dossier["events"][-1]["hash"]
    assert dossier["generated_at"] == chain.rfc3339(clock.now())


@pytest.mark.parametrize(
    ("language", "person", "machine"),
    [
        ("fr", "Page ouverte par le client", "Page récupérée par un scanner"),
        ("en", "Page opened by the client", "Page fetched by a scanner"),
    ],
)
def test_the_staff_view_tells_the_client_from_a_scanner(
    make_app: Any, mailbox: Any, clock: Any, language: str, person: str, machine: str
) -> None:
    app, client = _mailed(make_app, STAFF_LANGUAGE=language)
    links = _links(mailbox)
    _view(client, links["validate"], SCANNERS[0])
    clock.advance(hours=3)
    _view(client, links["validate"], BROWSER, ip="203.0.113.8")
    sign_in(client)
    page = client.get("/staff/interventions/iv-1").get_data(as_text=True)
    assert page.count(machine) == 1 and page.count(person) == 1
    assert "203.0.113.8" in page


# --- the time-stamping authority -------------------------------------------------------


@pytest.fixture
def tsa() -> Iterator[LoopbackTsa]:
    with LoopbackTsa() as authority:
        yield authority


def test_a_decision_and_a_lapse_have_the_head_time_stamped_by_the_authority(
    backend: str, make_app: Any, mailbox: Any, clock: Any, tsa: LoopbackTsa
) -> None:
    app = make_app(SITE_CHECK_ENABLED=False, EVIDENCE_TSA_URL=tsa.url)
    client = app.test_client()
    for panel_id in ("iv-1", "iv-2"):
        start(client, panel_id)
        complete(client, panel_id)
    run_due(app)
    validate = [u for u in mail_links(mailbox.received()[0]) if u.endswith("/validate")][0]
    assert client.post(path_of(validate)).status_code == 303
    decided = _events(app)[-1]
    assert decided.type == "validate"
    clock.advance(days=1, minutes=1)
    run_due(app)  # iv-2 lapses
    lapsed = [e for e in _events(app, "iv-2") if e.type == "lapse"][0]
    assert tsa.requests == 2
    for panel_id, stamped in (("iv-1", decided), ("iv-2", lapsed)):
        dossier = _dossier(client, panel_id)
        [event] = [e for e in dossier["events"] if e["type"] == "trail_timestamped"]
        assert event["data"]["head"] == stamped.hash and event["data"]["seq"] == stamped.seq
        assert event["data"]["tsa"] == tsa.url
        # A third party checks the token with OpenSSL alone, against the head.
        token = base64.b64decode(event["data"]["token"])
        assert "Verification: OK" in tsa.verify(token, stamped.hash)
        assert chain.dossier_problem(dossier, _published(client)) is None
    # A token over another digest does not pass.
    with pytest.raises(RuntimeError):
        tsa.verify(token, "ab" * 32)


def test_an_authority_that_is_down_is_asked_again_later(
    make_app: Any, mailbox: Any, clock: Any, tsa: LoopbackTsa
) -> None:
    # An authority behind a password: the password stays out of the trail.
    with_password = tsa.url.replace("http://", "http://signoff:s3cret-pass@")
    app, client = _mailed(make_app, EVIDENCE_TSA_URL=with_password)
    tsa.refuse_with = 503
    validate = [u for u in mail_links(mailbox.received()[0]) if u.endswith("/validate")][0]
    assert client.post(path_of(validate)).status_code == 303
    run_due(app)
    with app.app_context():
        [task] = db.session.scalars(select(Task).filter_by(action="timestamp_trail")).all()
        assert task.state == "pending" and "HTTP 503" in (task.last_error or "")
    tsa.refuse_with = None
    clock.advance(minutes=1)
    run_due(app)
    stamped = _events(app)[-1]
    assert stamped.type == "trail_timestamped" and stamped.data["tsa"] == tsa.url
    assert "s3cret" not in json.dumps(_dossier(client))


# --- the third party's check, as docs/evidence.md gives it --------------------------------


def _documented_check() -> str:
    text = (Path(__file__).resolve().parents[1] / "docs" / "evidence.md").read_text()
    marker = "<!-- the lines below are run by tests/test_evidence.py against a real dossier -->"
    after = text.split(marker, 1)[1]
    match = re.match(r"\s*```python\n(.*?)```", after, re.DOTALL)
    assert match, "docs/evidence.md lost its Python check"
    return match.group(1)


def test_the_lines_of_docs_evidence_check_a_real_dossier(
    make_app: Any, mailbox: Any, clock: Any, panel: FakeWhmcs, tmp_path: Path
) -> None:
    app, client = _played(make_app, mailbox, clock, panel)
    (tmp_path / "keys.json").write_bytes(client.get("/api/v1/evidence/keys").get_data())
    answer = client.get("/api/v1/interventions/iv-1/evidence", headers=API)
    (tmp_path / "dossier.json").write_bytes(answer.get_data())
    script = tmp_path / "check.py"
    script.write_text(_documented_check())

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - the documented lines, on the test's files
            [sys.executable, str(script)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    done = run()
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"the dossier holds; head {answer.get_json()['head']}"
    # A changed event, and a changed dossier under the same signature, are caught.
    dossier = json.loads(answer.get_data())
    dossier["events"][2]["actor"]["ip"] = "203.0.113.99"
    (tmp_path / "dossier.json").write_text(json.dumps(dossier))
    done = run()
    assert done.returncode != 0 and "event 3 (mail_sent) does not hold" in done.stderr
    dossier = json.loads(answer.get_data())
    dossier["intervention"]["state"] = "validated"
    (tmp_path / "dossier.json").write_text(json.dumps(dossier))
    done = run()
    assert done.returncode != 0 and "InvalidSignature" in done.stderr


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("EVIDENCE_SIGNING_KEY", "not-a-key"),
        ("EVIDENCE_PUBLIC_KEYS", ["AAAA"]),
        ("EVIDENCE_TSA_URL", "tsa.example"),
    ],
)
def test_a_bad_evidence_setting_stops_the_start_naming_its_key(
    make_app: Any, key: str, value: Any
) -> None:
    with pytest.raises(SettingsError, match=f"PANEL_ADDON_{key}"):
        make_app(**{key: value})


@pytest.mark.parametrize(
    "agent",
    [
        BROWSER,
        "Mozilla/5.0 (Linux; Android 10; CUBOT X30) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0 Mobile Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    ],
)
def test_browsers_are_people(agent: str, clock: Any) -> None:
    assert automated_signal(agent, None, clock.now()) is None
    # The same browser seconds after the mail left is taken for a scanner.
    assert automated_signal(agent, clock.now(), clock.now()) == "soon_after_mail"


# --- real processes --------------------------------------------------------------------


def test_views_and_clicks_at_once_under_gunicorn_keep_one_chain(
    tmp_path: Path, postgres_schema: str, mailbox: Any, panel: FakeWhmcs
) -> None:
    panel_with_tickets(panel, 1)
    key = evidence_keys.new_private_key_text()
    config = settings(postgres_schema, (mailbox.host, mailbox.port), panel)
    svc = Service({**config, "EVIDENCE_SIGNING_KEY": key}, tmp_path)
    try:
        assert svc.command("db", "upgrade").returncode == 0
        svc.start_gunicorn(workers=4, threads=4)
        svc.start_worker()
        assert webhook(svc, "intervention.completed", completed(1))[0] == 200
        [message] = wait_for(mailbox.received, what="the completion mail")
        links = {u.rsplit("/", 1)[1]: u for u in mail_links(message)}
        wait_for(lambda: staff(svc, "/interventions/iv-1")["events"], what="the trail")

        def hit(i: int) -> int:
            if i % 4 == 0:
                return post_form(links["validate"], {})
            agent = {"User-Agent": f"Mozilla/5.0 Browser/{i % 12}"}
            return http("GET", links["report" if i % 2 else "validate"], headers=agent)[0]

        gate = threading.Barrier(40)

        def at_once(i: int) -> int:
            gate.wait(timeout=10)
            return hit(i)

        with ThreadPoolExecutor(max_workers=40) as pool:
            statuses = set(pool.map(at_once, range(40)))
        assert statuses <= {200, 303, 409}
        with database(postgres_schema) as db:
            wait_for(db.settled, what="every effect done")
        checked = svc.command("evidence", "check", check=False)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        status, raw, _ = http(
            "GET",
            f"{svc.url}/api/v1/interventions/iv-1/evidence",
            headers={"Authorization": f"Bearer {STAFF_TOKEN}"},
        )
        assert status == 200
        dossier = json.loads(raw)
        views = [e for e in dossier["events"] if e["type"] == "link.viewed"]
        # One view per page and user agent (9 pairs among the 30 GETs), however many came.
        pairs = {(e["data"]["page"], e["actor"]["user_agent"]) for e in views}
        assert len(views) == len(pairs) == 9
        keys = {"keys": json.loads(http("GET", f"{svc.url}/api/v1/evidence/keys")[1])["keys"]}
        saved, key_file = tmp_path / "dossier.json", tmp_path / "keys.json"
        saved.write_bytes(raw)
        key_file.write_text(json.dumps(keys))
        verified = svc.command("evidence", "verify", str(saved), "--keys", str(key_file))
        assert "the dossier holds" in verified.stdout
    finally:
        svc.stop()


def test_a_change_to_any_stored_column_of_an_event_is_caught(
    make_app: Any, mailbox: Any, clock: Any
) -> None:
    app, client = _mailed(make_app)
    changes: dict[str, Any] = {
        "at": clock.now() + timedelta(microseconds=1),
        "actor": "staff",
        "actor_name": "someone",
        "type": "validate",
        "from_state": "reported",
        "to_state": "validated",
        "ip": "203.0.113.1",
        "user_agent": "forged",
        "data": {"forged": True},
        "prev_hash": "1" * 64,
        "hash": "2" * 64,
        "seq": 7,
    }
    with app.app_context():
        event = db.session.scalars(select(Event).where(Event.seq == 2)).one()
        original = {name: getattr(event, name) for name in changes}
    assert all(original[name] != value for name, value in changes.items())
    for name, value in changes.items():
        with app.app_context():
            db.session.execute(update(Event).where(Event.seq == 2).values({name: value}))
            db.session.commit()
        result = _cli(app, "check")
        assert result.exit_code == 1 and "broken: iv-1: " in result.output, name
        with app.app_context():
            db.session.execute(
                update(Event)
                .where(Event.seq == changes["seq"] if name == "seq" else Event.seq == 2)
                .values({name: original[name]})
            )
            db.session.commit()
        assert _cli(app, "check").exit_code == 0, name
