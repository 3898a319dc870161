"""The service against WHMCS as it really behaves: encoded input, API roles, hooks.

The fake panel (tests/fake_whmcs.py) HTML-encodes every field it is sent, refuses the
actions its API role does not list, answers ids as strings and fires hooks, as a real
WHMCS 8 does. The service runs in-process (`run_due` does what the worker does).
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from panel_addon.panels.notes import INELIGIBLE_MARKER, remove_ineligible_line
from panel_addon.panels.whmcs import REQUIRED_ACTIONS, WhmcsClient

from .fake_whmcs import TEST_IDENTIFIER, TEST_SECRET, FakeWhmcs, htmlspecialchars
from .flow import path_of, run_due, send, start, task_rows
from .support import STAFF_TOKEN, mail_links
from .test_staff_view import sign_in

AUTH = {"Authorization": f"Bearer {STAFF_TOKEN}"}

# What a member of staff may well type in the admin notes, in the admin area.
HOSTILE_NOTES = (
    'O\'Brien & Co <b>VIP</b> "gold" since 2019\r\n'
    "Already encoded by hand: &amp; &#039; &lt;x&gt; &eacute;\r\n"
    "Déjà vu — naïve café 🙂 日本語\r\n"
    "\ttabbed  trailing spaces   \r\n"
    "a < b > c && d || 'e'\r\n"
)


@pytest.fixture
def panel() -> Iterator[FakeWhmcs]:
    with FakeWhmcs() as fake:
        fake.add_client(7, notes=HOSTILE_NOTES, email="client@example.test")
        fake.add_ticket(100, status="Open", client_id=7)
        yield fake


@pytest.fixture
def panel_app(make_app: Any, panel: FakeWhmcs) -> Flask:
    app: Flask = make_app(
        WHMCS_URL=panel.url,
        WHMCS_IDENTIFIER=TEST_IDENTIFIER,
        WHMCS_SECRET=TEST_SECRET,
        WHMCS_TIMEOUT="2s",
    )
    return app


def test_the_fake_encodes_every_field_as_whmcs_does(panel: FakeWhmcs) -> None:
    # Why a client must decode what it reads: written back raw, the text is encoded again.
    with WhmcsClient(panel.url, TEST_IDENTIFIER, TEST_SECRET) as whmcs:
        whmcs.call("UpdateClient", clientid=7, notes="O'Brien & Co <b>")
        stored = whmcs.call("GetClientsDetails", clientid=7)["client"]["notes"]
        assert stored == "O&#039;Brien &amp; Co &lt;b&gt;"
        whmcs.call("UpdateClient", clientid=7, notes=stored)
        assert panel.staff_notes(7) == "O&#039;Brien &amp; Co &lt;b&gt;"  # corrupted
        details = whmcs.call("GetClientsDetails", clientid=7)
    assert details["client"]["id"] == "7" and details["warning"]  # string ids, a warning
    assert panel.activity_log[-1] == "Client Profile Modified - User ID: 7"
    assert [h.name for h in panel.hooks()] == ["ClientEdit", "ClientEdit"]


def test_a_hundred_flag_and_lift_cycles_keep_every_other_character_of_the_notes(
    panel_app: Flask, panel: FakeWhmcs
) -> None:
    http = panel_app.test_client()
    assert start(http, ticket_id="100").status_code == 200
    original = panel.client(7)["notes"]
    assert original == htmlspecialchars(HOSTILE_NOTES)
    expected = HOSTILE_NOTES
    for cycle in range(100):
        flagged = http.post(
            "/api/v1/clients/7/ineligibility", json={"intervention": "iv-1"}, headers=AUTH
        )
        assert flagged.status_code == 200
        run_due(panel_app)
        seen = panel.staff_notes(7)
        assert seen.count(INELIGIBLE_MARKER) == 1, cycle
        assert remove_ineligible_line(seen) == expected, cycle
        if cycle == 50:
            # Staff edit the field in the admin area meanwhile, around our line.
            expected = HOSTILE_NOTES + 'Called on 12/03: "won\'t renew" <ask Sam>\r\n'
            panel.set_staff_notes(7, seen + 'Called on 12/03: "won\'t renew" <ask Sam>\r\n')
        assert http.delete("/api/v1/clients/7/ineligibility", headers=AUTH).status_code == 200
        run_due(panel_app)
        assert panel.staff_notes(7) == expected, cycle
    assert panel.client(7)["notes"] == htmlspecialchars(expected)  # stored byte for byte
    assert len(panel.calls("UpdateClient")) == 200


def test_a_retried_ticket_note_is_recognised_despite_the_encoding(
    panel_app: Flask, panel: FakeWhmcs, mailbox: Any, clock: Any
) -> None:
    http = panel_app.test_client()
    start(http, ticket_id="100")
    send(http, "intervention.completed", {"id": "iv-1", "summary": "Plugins updated."})
    run_due(panel_app)
    report = next(link for link in mail_links(mailbox.received()[-1]) if "report" in link)
    # The note lands after the service gave up waiting (2 s): a retry must find it.
    panel.hang_seconds = 2.5
    panel.fail_next(1, "hang", action="AddTicketNote")
    message = "It's broken <again> & \"now\" — l'accueil affiche &lt;rien&gt;"
    assert http.post(path_of(report), data={"message": message}).status_code == 303
    run_due(panel_app)
    panel.wait_for_calls("AddTicketNote", count=2, timeout=10)  # completion, then the report
    clock.advance(minutes=5)
    run_due(panel_app)

    reported = [n for n in panel.ticket_notes(100) if message in n]
    assert len(reported) == 1
    (task,) = [t for t in task_rows(panel_app, action="add_ticket_note") if t.attempts]
    assert task.state == "done" and task.result == {"result": "already_there"}
    # The reopen is an API call: WHMCS fires TicketStatusChange with no admin.
    (hook,) = panel.hooks("TicketStatusChange")
    assert hook.vars == {"ticketid": 100, "status": "Customer-Reply"}


def test_a_missing_permission_parks_the_task_until_check_finds_it_allowed(
    panel_app: Flask, panel: FakeWhmcs, clock: Any
) -> None:
    panel.restrict_role("AddTicketNote", "GetTicket", "UpdateTicket", "GetClientsDetails")
    http = panel_app.test_client()
    start(http, ticket_id="100")
    http.post("/api/v1/clients/7/ineligibility", json={"intervention": "iv-1"}, headers=AUTH)
    run_due(panel_app)

    effects = http.get("/api/v1/interventions/iv-1", headers=AUTH).json["effects"]
    (effect,) = [e for e in effects if e["action"] == "set_ineligible_note"]
    assert effect["state"] == "parked"
    assert 'Invalid Permissions: API action "updateclient" is not allowed' in effect["last_error"]
    assert "must allow UpdateClient" in effect["last_error"]
    assert "API Roles" in effect["last_error"] and "panel-addon check" in effect["last_error"]

    # Parked, not retried: hours later the panel has seen one attempt only.
    clock.advance(hours=3)
    run_due(panel_app)
    assert len(panel.calls("UpdateClient")) == 1
    assert panel.staff_notes(7) == HOSTILE_NOTES

    # The operator allows UpdateClient; `panel-addon check` confirms and resumes the task.
    panel.restrict_role(*REQUIRED_ACTIONS)
    result = panel_app.test_cli_runner().invoke(args=["check"])
    assert "panel: 1 parked panel tasks resumed" in result.output, result.output
    run_due(panel_app)
    (task,) = task_rows(panel_app, action="set_ineligible_note")
    assert task.state == "done"
    assert remove_ineligible_line(panel.staff_notes(7)) == HOSTILE_NOTES
    assert INELIGIBLE_MARKER in panel.staff_notes(7)


def test_the_staff_view_says_why_a_task_is_parked(make_app: Any, panel: FakeWhmcs) -> None:
    app = make_app(
        WHMCS_URL=panel.url,
        WHMCS_IDENTIFIER=TEST_IDENTIFIER,
        WHMCS_SECRET=TEST_SECRET,
        STAFF_LANGUAGE="en",
    )
    panel.restrict_role("GetTicket")
    http = app.test_client()
    start(http, ticket_id="100")
    send(http, "intervention.completed", {"id": "iv-1", "summary": "x"})
    run_due(app)
    sign_in(http)
    page = html.unescape(http.get("/staff/interventions/iv-1").get_data(as_text=True))
    assert "parked: waits for the panel" in page
    assert "must allow AddTicketNote" in page


def test_check_names_every_permission_the_api_role_lacks_and_changes_nothing(
    panel_app: Flask, panel: FakeWhmcs
) -> None:
    panel.restrict_role("GetTicket", "AddTicketNote")
    runner = panel_app.test_cli_runner()

    result = runner.invoke(args=["check"])

    assert result.exit_code == 1
    line = next(x for x in result.output.splitlines() if "does not allow" in x)
    assert "UpdateTicket, GetClientsDetails, UpdateClient" in line
    assert "AddTicketNote" not in line and "GetTicket," not in line
    assert {c.action for c in panel.calls()} == set(REQUIRED_ACTIONS)
    assert panel.ticket_notes(100) == [] and panel.activity_log == [] and panel.hooks() == []
    assert panel.staff_notes(7) == HOSTILE_NOTES

    panel.restrict_role(*REQUIRED_ACTIONS)
    result = runner.invoke(args=["check"])
    assert "panel: ok" in result.output and result.exit_code == 0


def test_check_says_when_the_panel_refuses_the_credentials(make_app: Any, panel: FakeWhmcs) -> None:
    app = make_app(WHMCS_URL=panel.url, WHMCS_IDENTIFIER="someone", WHMCS_SECRET="wrong")

    result = app.test_cli_runner().invoke(args=["check"])

    assert result.exit_code == 1
    assert "Authentication Failed" in result.output and "wrong" not in result.output


def test_ids_as_strings_and_warnings_do_not_disturb_the_panel_calls(
    panel_app: Flask, panel: FakeWhmcs
) -> None:
    http = panel_app.test_client()
    start(http, ticket_id="100")
    send(http, "intervention.completed", {"id": "iv-1", "summary": "x"})
    run_due(panel_app)
    assert [t.state for t in task_rows(panel_app, kind="panel")] == ["done"]
    assert len(panel.ticket_notes(100)) == 1


def test_a_note_an_earlier_version_escaped_is_sent_as_the_text_it_meant(
    panel_app: Flask, panel: FakeWhmcs
) -> None:
    from panel_addon.models import Intervention, Task, db

    http = panel_app.test_client()
    start(http, ticket_id="100")
    with panel_app.app_context():
        iv = db.session.scalar(db.select(Intervention))
        now = panel_app.extensions["panel_addon.clock"].now()
        db.session.add(
            Task(
                intervention_id=iv.id,
                kind="panel",
                action="add_ticket_note",
                # Scheduled before the upgrade: the values escaped by the service itself.
                payload={
                    "note": "note.cancelled",
                    "language": "en",
                    "values": {"reason": "client&#x27;s &lt;b&gt; &amp; co"},
                },
                state="pending",
                due_at=now,
                attempts=0,
                created_at=now,
            )
        )
        db.session.commit()
    run_due(panel_app)
    assert panel.ticket_notes(100) == ["Intervention iv-1 cancelled (client's <b> & co)."]


# --- the client area's links ---------------------------------------------------------


def test_the_client_area_gets_fresh_links_for_its_own_interventions_only(
    app: Flask, mailbox: Any, clock: Any
) -> None:
    http = app.test_client()
    start(http)
    assert http.get("/api/v1/interventions/iv-1/links?client=7", headers=AUTH).json["links"] == {}
    send(http, "intervention.completed", {"id": "iv-1", "summary": "x"})
    run_due(app)

    answer = http.get("/api/v1/interventions/iv-1/links?client=7", headers=AUTH)
    assert answer.status_code == 200
    links = answer.json["links"]
    assert set(links) == {"validate", "report"} and answer.json["state"] == "awaiting_validation"
    page = http.get(path_of(links["validate"]))
    assert page.status_code == 200  # the same page as the mail's link

    other = http.get("/api/v1/interventions/iv-1/links?client=8", headers=AUTH)
    unknown = http.get("/api/v1/interventions/iv-9/links?client=7", headers=AUTH)
    assert other.status_code == unknown.status_code == 404
    assert "validate" not in other.get_data(as_text=True)
    assert http.get("/api/v1/interventions/iv-1/links", headers=AUTH).status_code == 400
    assert http.get("/api/v1/interventions/iv-1/links?client=7").status_code == 401

    listed = http.get("/api/v1/clients/7/interventions", headers=AUTH).json["interventions"]
    assert [(iv["id"], iv["summary"], set(iv["links"])) for iv in listed] == [
        ("iv-1", "x", {"validate", "report"})
    ]
    assert listed[0]["backup"]["reference"] == "bk-iv-1" and listed[0]["deadline_at"]
    assert http.get("/api/v1/clients/8/interventions", headers=AUTH).json["interventions"] == []

    assert http.post(path_of(links["validate"])).status_code == 303
    assert http.get("/api/v1/interventions/iv-1/links?client=7", headers=AUTH).json["links"] == {}
    start(http, "iv-2")
    send(http, "intervention.cancelled", {"id": "iv-2", "reason": "duplicate"})
    listed = http.get("/api/v1/clients/7/interventions", headers=AUTH).json["interventions"]
    assert [iv["id"] for iv in listed] == ["iv-1"]  # the cancelled one is not the client's
    assert http.get("/api/v1/clients/7/interventions?limit=x", headers=AUTH).status_code == 400
