"""The lifecycle end to end inside one process: webhook, mail, click, deadlines."""

from __future__ import annotations

from typing import Any

from panel_addon.domain.trail import ticket_note_text
from panel_addon.models import Client, Event, Intervention, db

from .flow import complete, path_of, run_due, send, start, task_rows
from .support import STAFF_TOKEN, mail_links, started_data

AUTH = {"Authorization": f"Bearer {STAFF_TOKEN}"}


def _links(mailbox: Any) -> dict[str, str]:
    links = mail_links(mailbox.received()[-1])
    return {link.rsplit("/", 1)[1]: path_of(link) for link in links}


def test_completion_mails_the_client_two_links(
    backend: str, app: Any, client: Any, mailbox: Any
) -> None:
    assert start(client).status_code == 200
    answer = complete(client)
    assert answer.status_code == 200
    assert answer.json["state"] == "awaiting_validation"
    assert answer.json["eligible"] is True
    run_due(app)
    [message] = mailbox.received()
    assert message["To"] == "client@example.test"
    links = mail_links(message)
    assert len(links) == 2
    assert {link.rsplit("/", 1)[1] for link in links} == {"validate", "report"}
    assert all(link.startswith("https://signoff.host.example/i/") for link in links)
    # The client's time counts from this message, which the window waited for.
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "répondre avant le" in text


def test_get_and_head_on_a_link_change_nothing(
    backend: str, app: Any, client: Any, mailbox: Any
) -> None:
    start(client)
    complete(client)
    run_due(app)
    links = _links(mailbox)
    for path in links.values():
        assert client.get(path).status_code == 200
        assert client.head(path).status_code == 200
    body = client.get("/api/v1/interventions/iv-1", headers=AUTH).json
    assert body["state"] == "awaiting_validation"
    page = client.get(links["validate"])
    assert b'<form method="post">' in page.data
    assert page.headers["Referrer-Policy"] == "no-referrer"


def test_validation_confirms_and_notes_once(
    backend: str, app: Any, client: Any, mailbox: Any
) -> None:
    start(client)
    complete(client)
    run_due(app)
    validate = _links(mailbox)["validate"]
    first = client.post(validate, headers={"User-Agent": "phone"})
    assert first.status_code == 303
    again = client.post(validate)
    assert again.status_code == 303
    conflicting = client.post(_links(mailbox)["report"], data={"message": "late idea"})
    assert conflicting.status_code == 409
    run_due(app)
    subjects = [m["Subject"] for m in mailbox.received()]
    assert len(subjects) == 2
    body = client.get("/api/v1/interventions/iv-1", headers=AUTH).json
    assert body["state"] == "validated"
    assert body["decided_at"]
    decisions = [e for e in body["events"] if e["type"] == "validate"]
    assert len(decisions) == 1
    assert decisions[0]["actor"] == "client"
    assert decisions[0]["user_agent"] == "phone"
    assert decisions[0]["ip"] == "127.0.0.1"
    page = client.get(validate)
    assert "validé".encode() in page.data


def test_report_holds_backup_and_reopens_ticket(
    backend: str, app: Any, client: Any, mailbox: Any
) -> None:
    start(client)
    complete(client)
    run_due(app)
    report = _links(mailbox)["report"]
    answer = client.post(report, data={"message": "Checkout <b>broken</b>", "restore": "on"})
    assert answer.status_code == 303
    run_due(app)
    body = client.get("/api/v1/interventions/iv-1", headers=AUTH).json
    assert body["state"] == "reported"
    assert body["backup"]["state"] == "held"
    assert body["restore_requested"] is True
    assert body["late_report"] is False
    actions = [(e["action"], e["state"]) for e in body["effects"] if e["kind"] == "panel"]
    assert ("update_ticket", "skipped") in actions
    assert len(mailbox.received()) == 2


def test_silence_reminds_then_lapses_and_backup_expires(
    backend: str, app: Any, client: Any, mailbox: Any, clock: Any
) -> None:
    start(client)
    complete(client)
    run_due(app)
    assert len(mailbox.received()) == 1
    clock.advance(hours=12)
    run_due(app)
    assert len(mailbox.received()) == 2
    clock.advance(hours=10)
    run_due(app)
    assert len(mailbox.received()) == 3
    clock.advance(hours=2)
    run_due(app)
    body = client.get("/api/v1/interventions/iv-1", headers=AUTH).json
    assert body["state"] == "lapsed"
    assert body["backup"]["state"] == "kept"
    clock.advance(hours=24)
    run_due(app)
    body = client.get("/api/v1/interventions/iv-1", headers=AUTH).json
    assert body["backup"]["state"] == "expired"
    assert len(mailbox.received()) == 3


def test_a_reminder_delayed_past_the_deadline_goes_out_before_the_lapse(
    app: Any, client: Any, mailbox: Any, clock: Any
) -> None:
    """After an outage the deadlines' drain may run before the mail's: the lapse waits."""
    from panel_addon import effects

    start(client)
    complete(client)
    run_due(app)
    clock.advance(hours=25)  # both reminders and the deadline passed while nothing ran
    with app.app_context():
        effects.drain("due")
    assert {t.state for t in task_rows(app, action="lapse")} == {"pending"}
    assert client.get("/api/v1/interventions/iv-1", headers=AUTH).json["state"] == (
        "awaiting_validation"
    )
    clock.advance(seconds=5)
    run_due(app)  # the mail's drain first: the reminders, then the lapse
    assert len(mailbox.received()) == 3
    # Sent after the deadline, they count no time down ("plus qu’une minute" would lie).
    for reminder in mailbox.received()[1:]:
        assert reminder["Subject"].startswith("Rappel"), reminder["Subject"]
        body = reminder.get_body(preferencelist=("plain",)).get_content()
        assert "Il vous reste" not in body and "Il ne vous reste" not in body
    assert client.get("/api/v1/interventions/iv-1", headers=AUTH).json["state"] == "lapsed"


def test_held_backup_is_never_expired(
    backend: str, app: Any, client: Any, mailbox: Any, clock: Any
) -> None:
    start(client)
    complete(client)
    run_due(app)
    client.post(_links(mailbox)["report"], data={})
    clock.advance(days=5)
    run_due(app)
    body = client.get("/api/v1/interventions/iv-1", headers=AUTH).json
    assert body["backup"]["state"] == "held"
    resolved = client.post(
        "/api/v1/interventions/iv-1/resolve", json={"resolution": "fixed"}, headers=AUTH
    )
    assert resolved.status_code == 200
    run_due(app)
    body = client.get("/api/v1/interventions/iv-1", headers=AUTH).json
    assert body["state"] == "resolved"
    assert body["backup"]["state"] == "expired"


def test_late_report_with_auto_policy_makes_client_ineligible(
    make_app: Any, mailbox: Any, clock: Any
) -> None:
    app = make_app(LATE_REPORT_POLICY="auto")
    client = app.test_client()
    start(client)
    complete(client)
    run_due(app)
    report = _links(mailbox)["report"]
    clock.advance(hours=25)
    run_due(app)
    answer = client.post(report, data={"message": "shop down since yesterday"})
    assert answer.status_code == 303
    eligibility = client.get("/api/v1/clients/7/eligibility", headers=AUTH).json
    assert eligibility["eligible"] is False
    assert eligibility["intervention"] == "iv-1"
    body = client.get("/api/v1/interventions/iv-1", headers=AUTH).json
    assert body["late_report"] is True
    assert body["late_report_review"] == "flagged"


def test_late_report_with_review_policy_waits_for_staff(
    app: Any, client: Any, mailbox: Any, clock: Any
) -> None:
    start(client)
    complete(client)
    run_due(app)
    report = _links(mailbox)["report"]
    clock.advance(hours=30)
    client.post(report, data={"message": "broken"})
    assert client.get("/api/v1/clients/7/eligibility", headers=AUTH).json["eligible"] is True
    listed = client.get("/api/v1/interventions?review=pending", headers=AUTH).json
    assert [iv["id"] for iv in listed["interventions"]] == ["iv-1"]
    flagged = client.post(
        "/api/v1/clients/7/ineligibility", json={"intervention": "iv-1"}, headers=AUTH
    )
    assert flagged.json["eligible"] is False
    lifted = client.delete("/api/v1/clients/7/ineligibility", headers=AUTH)
    assert lifted.json["eligible"] is True


def test_validation_after_the_deadline_lapses_instead(
    app: Any, client: Any, mailbox: Any, clock: Any
) -> None:
    start(client)
    complete(client)
    run_due(app)
    clock.advance(hours=24, seconds=1)
    answer = client.post(_links(mailbox)["validate"])
    assert answer.status_code == 409
    with app.app_context():
        iv = db.session.scalar(db.select(Intervention))
        assert iv.state == "lapsed"


def test_redelivered_webhook_sends_no_second_mail(app: Any, client: Any, mailbox: Any) -> None:
    from .flow import send

    start(client)
    first = send(
        client, "intervention.completed", {"id": "iv-1", "summary": "x"}, msg_id="msg_same"
    )
    second = send(
        client, "intervention.completed", {"id": "iv-1", "summary": "x"}, msg_id="msg_same"
    )
    assert first.status_code == second.status_code == 200
    assert second.json["redelivered"] is True
    run_due(app)
    assert len(mailbox.received()) == 1
    assert len(task_rows(app, action="lapse")) == 1


def test_cancel_drops_pending_mail(app: Any, client: Any, mailbox: Any) -> None:
    from .flow import send

    start(client)
    complete(client)
    answer = send(client, "intervention.cancelled", {"id": "iv-1", "reason": "client asked"})
    assert answer.json["state"] == "cancelled"
    run_due(app)
    assert mailbox.received() == []


def test_events_record_every_change(app: Any, client: Any, mailbox: Any) -> None:
    start(client)
    complete(client)
    run_due(app)
    with app.app_context():
        types = [e.type for e in db.session.scalars(db.select(Event).order_by(Event.id))]
        assert types[:2] == ["start", "complete"]
        assert "mail_sent" in types
        assert db.session.get(Client, "7").language == "fr"


def test_a_client_with_the_longest_address_the_schema_allows_can_decide(
    backend: str, app: Any, client: Any, mailbox: Any
) -> None:
    email = "c" * 300 + "@example.test"  # 313 characters: the schema allows 320
    who = {"id": "8", "email": email, "name": "Dominique", "language": "english"}
    assert send(client, "intervention.started", started_data(client=who)).status_code == 200
    assert complete(client).status_code == 200
    run_due(app)
    links = _links(mailbox)
    assert client.post(links["validate"]).status_code == 303
    with app.app_context():
        decided = db.session.scalars(db.select(Event).filter_by(type="validate")).one()
        assert decided.actor_name == email


def test_a_validation_by_link_schedules_its_work_from_the_intervention(
    backend: str, make_app: Any, mailbox: Any
) -> None:
    # On PostgreSQL the click is one UPDATE returning only what the work needs: the
    # note still names the ticket and the intervention, the trail the client.
    app = make_app(STAFF_LANGUAGE="en", SITE_CHECK_ENABLED=False)
    client = app.test_client()
    start(client)
    complete(client)
    run_due(app)
    answer = client.post(_links(mailbox)["validate"], environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert answer.status_code == 303
    with app.app_context():
        decided = db.session.scalars(db.select(Event).filter_by(type="validate")).one()
        assert (decided.actor, decided.actor_name, decided.ip) == (
            "client",
            "client@example.test",
            "192.0.2.7",
        )
        assert (decided.from_state, decided.to_state) == ("awaiting_validation", "validated")
        iv = db.session.scalar(db.select(Intervention))
        assert iv.state == "validated" and iv.decided_at is not None
        pending = {(t.action, t.payload.get("template")) for t in task_rows(app, state="pending")}
        assert ("send_mail", "validated") in pending
        assert not {("send_mail", "reminder"), ("lapse", None)} & pending
        notes = task_rows(app, action="add_ticket_note", state="pending")
        assert len(notes) == 1
        # The note ends with the trail's head as the decision left it (the outside witness).
        assert iv.trail_head == decided.hash
        assert ticket_note_text(notes[0].payload, iv) == (
            "The client validated intervention iv-1 (from 192.0.2.7)."
            f"\n\nTrail: {decided.hash[:16]}"
        )


def test_a_validation_by_link_of_an_intervention_without_a_ticket_notes_nothing(
    backend: str, app: Any, client: Any, mailbox: Any
) -> None:
    start(client)
    complete(client)
    run_due(app)
    with app.app_context():
        db.session.execute(db.update(Intervention).values(ticket_id=None))
        db.session.commit()
    assert client.post(_links(mailbox)["validate"]).status_code == 303
    with app.app_context():
        assert db.session.scalar(db.select(Intervention.state)) == "validated"
        pending = [t.action for t in task_rows(app, state="pending")]
        assert "send_mail" in pending and "add_ticket_note" not in pending


def test_the_trail_records_what_the_mail_server_received_and_answered(
    app: Any, client: Any, mailbox: Any
) -> None:
    import hashlib

    start(client)
    complete(client)
    run_due(app)
    (delivery,) = mailbox.deliveries
    with app.app_context():
        (sent,) = db.session.scalars(db.select(Event).filter_by(type="mail_sent")).all()
        assert sent.data["sha256"] == hashlib.sha256(delivery.raw).hexdigest()
        assert sent.data["smtp_reply"] == delivery.reply
        assert sent.data["to"] == "client@example.test"
