"""The one table of staff actions, walked: in every situation an intervention can be in,
each action is offered by the page exactly when the table says, and the JSON API and the
staff page accept or refuse it alike, with the same effect and the same trail."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from panel_addon.domain import lifecycle
from panel_addon.models import Client, Event, Task, db
from panel_addon.web.staff_actions import ACTIONS, StaffAction

from .flow import complete, run_due, send
from .loopback_site import LoopbackSite
from .support import STAFF_TOKEN, ManualClock, mail_links, started_data
from .test_staff_view import csrf_of, path, sign_in

STAFF = "Alex Martin"
API = {"Authorization": f"Bearer {STAFF_TOKEN}", "X-Staff-Name": STAFF}
# What each action is given, on both paths.
GIVEN = {
    "resolve": {"resolution": "fixed"},
    "flag": {"reason": "abusive"},
    "cancel": {"reason": "dup"},
}


@pytest.fixture
def site() -> Iterator[LoopbackSite]:
    with LoopbackSite() as shop:
        shop.page("/", "<html><head><title>Shop</title></head><body><p>Hello</p></body></html>")
        yield shop


@pytest.fixture
def staff_app(make_app: Any) -> Flask:
    app: Flask = make_app(
        PUBLIC_URL="http://signoff.test",
        STAFF_LANGUAGE="en",
        SITE_CHECK_ALLOW_PRIVATE=True,
        SITE_CHECK_TIMEOUT="5s",
    )
    return app


class World:
    """Interventions brought into one situation, two per action: one for each path."""

    def __init__(self, app: Flask, site: LoopbackSite, mailbox: Any, clock: ManualClock) -> None:
        self.app, self.site, self.mailbox, self.clock = app, site, mailbox, clock
        self.http = app.test_client()
        self.ids = [f"{action.name}-{way}" for action in ACTIONS for way in ("api", "page")]

    def start(self, checked: bool = False) -> None:
        for panel_id in self.ids:
            fields = {
                "client": {"id": f"c-{panel_id}", "email": f"{panel_id}@example.test"},
                # A site that is no address is not checked (docs/site-check.md).
                "site": "Boutique de Camille",
                **({"check_urls": [self.site.url("/")]} if checked else {}),
            }
            answer = send(self.http, "intervention.started", started_data(panel_id, **fields))
            assert answer.status_code == 200, answer.json

    def complete(self) -> None:
        for panel_id in self.ids:
            assert complete(self.http, panel_id).status_code == 200

    def click(self, link: str, **form: str) -> None:
        for panel_id in self.ids:
            mails = [m for m in self.mailbox.received() if m["To"] == f"{panel_id}@example.test"]
            url = next(u for u in mail_links(mails[0]) if u.endswith(f"/{link}"))
            self.http.post(path(url), data=form)

    def api(self, route: str, **body: str) -> None:
        for panel_id in self.ids:
            ids = {"panel_id": panel_id, "client_id": f"c-{panel_id}"}
            url = "/api/v1" + route.format(**ids)
            given = {key: value.format(**ids) for key, value in body.items()}
            answer = self.http.post(url, json=given, headers=API)
            assert answer.status_code == 200, answer.json


def _awaiting(world: World) -> None:
    world.start()
    world.complete()
    run_due(world.app)


def _checking(world: World) -> None:
    world.start(checked=True)
    world.complete()  # the after snapshot is not taken yet


def _held(world: World) -> None:
    world.start(checked=True)
    run_due(world.app)
    world.site.page("/", "broken", status=500)
    world.complete()
    run_due(world.app)


def _validated(world: World) -> None:
    _awaiting(world)
    world.click("validate")


def _reported(world: World) -> None:
    _awaiting(world)
    world.click("report", message="broken")


def _lapsed(world: World) -> None:
    _awaiting(world)
    world.clock.advance(hours=25)
    run_due(world.app)


def _reported_late(world: World) -> None:
    _lapsed(world)
    world.click("report", message="late")


def _cancelled(world: World) -> None:
    world.start()
    world.api("/interventions/{panel_id}/cancel")


def _backup_held(world: World) -> None:
    _awaiting(world)
    world.api("/interventions/{panel_id}/backup/hold")


def _backup_expired(world: World) -> None:
    _lapsed(world)
    world.clock.advance(hours=30)
    run_due(world.app)


def _not_eligible(world: World) -> None:
    _awaiting(world)
    world.api("/clients/{client_id}/ineligibility", intervention="{panel_id}")


# Each situation, and the actions the page offers in it (the table's `available`).
SITUATIONS: dict[str, tuple[Callable[[World], None], set[str]]] = {
    "in progress": (World.start, {"hold", "flag", "cancel"}),
    "awaiting the client": (_awaiting, {"resend", "hold", "flag", "cancel"}),
    "site check running": (_checking, {"recheck", "hold", "flag", "cancel"}),
    "mail held by a regression": (_held, {"release_mail", "recheck", "hold", "flag", "cancel"}),
    "validated": (_validated, {"resend", "hold", "flag"}),
    "reported": (_reported, {"resend", "resolve", "release", "flag"}),
    "lapsed": (_lapsed, {"hold", "flag"}),
    "reported late": (_reported_late, {"resend", "resolve", "dismiss", "release", "flag"}),
    "cancelled": (_cancelled, {"hold", "flag"}),
    "backup held": (_backup_held, {"resend", "release", "flag", "cancel"}),
    "backup expired": (_backup_expired, {"flag"}),
    "client not eligible": (_not_eligible, {"resend", "hold", "lift", "cancel"}),
}


def _offered(page: str) -> set[str]:
    return set(re.findall(r'class="action a-([a-z_]+)"', page))


def _flash(http: FlaskClient, url: str) -> tuple[str, str]:
    page = http.get(url).get_data(as_text=True)
    found = re.search(r'<p class="flash ([a-z]+)">([^<]+)</p>', page)
    assert found, "no message after the action"
    return found.group(1), found.group(2)


def _outcome(app: Flask, panel_id: str) -> dict[str, Any]:
    """What an action may change: the intervention, its client, its trail, its work."""
    with app.app_context():
        iv = lifecycle.get_by_panel_id(panel_id)
        assert iv is not None
        client = db.session.get(Client, iv.client_id)
        assert client is not None
        trail = db.session.scalars(select(Event).where(Event.intervention_id == iv.id))
        work = db.session.scalars(select(Task).where(Task.intervention_id == iv.id))
        return {
            "state": iv.state,
            "backup": iv.backup_state,
            "review": iv.late_report_review,
            "resolution": iv.resolution,
            "cancelled_reason": iv.cancelled_reason,
            "mail_held": iv.mail_held_at is not None,
            "eligible": client.eligible,
            "ineligible_reason": client.ineligible_reason,
            "by_staff": sorted((e.type, e.actor_name) for e in trail if e.actor == "staff"),
            "work": sorted((t.action, t.state) for t in work),
        }


def _by_api(http: FlaskClient, action: StaffAction, panel_id: str) -> Any:
    body = dict(GIVEN.get(action.name, {}))
    if "<client_id>" in action.route and action.method == "POST":
        body["intervention"] = panel_id
    url = "/api/v1" + action.route.replace("<panel_id>", panel_id).replace(
        "<client_id>", f"c-{panel_id}"
    )
    return http.open(url, method=action.method, json=body or None, headers=API)


@pytest.mark.parametrize("situation", SITUATIONS)
def test_the_api_and_the_page_accept_and_refuse_each_action_alike(
    situation: str, staff_app: Flask, site: LoopbackSite, mailbox: Any, clock: ManualClock
) -> None:
    build, expected = SITUATIONS[situation]
    world = World(staff_app, site, mailbox, clock)
    build(world)
    http = world.http
    token = sign_in(http, admin=STAFF)
    # The page offers what the table says.
    detail = http.get(f"/staff/interventions/{ACTIONS[0].name}-page").get_data(as_text=True)
    assert _offered(detail) == expected

    for action in ACTIONS:
        by_api, by_page = f"{action.name}-api", f"{action.name}-page"
        with staff_app.app_context():
            iv = lifecycle.get_by_panel_id(by_page)
            assert iv is not None
            available = action.available(iv)
        assert available == (action.name in expected), (situation, action.name)
        before = _outcome(staff_app, by_page)
        assert _outcome(staff_app, by_api) == before

        answer = _by_api(http, action, by_api)
        posted = http.post(
            f"/staff/interventions/{by_page}/{action.name}",
            data={"csrf": token, **GIVEN.get(action.name, {})},
        )
        assert posted.status_code == 303
        kind, message = _flash(http, posted.headers["Location"])

        what = (situation, action.name, answer.status_code, message)
        assert answer.status_code in (200, 409), what
        assert (answer.status_code == 200) == (kind in ("ok", "info")), what
        after = _outcome(staff_app, by_page)
        assert _outcome(staff_app, by_api) == after, what
        if available:
            assert kind == "ok", what
            if action.name != "lift" or before["by_staff"]:
                assert (action.records, STAFF) in after["by_staff"], what
        else:
            # Not offered: refused (409 with the lifecycle's word), or already so.
            assert after == before, what
            if answer.status_code == 409:
                error = answer.json["error"]
                assert error["code"] == "transition_forbidden" and error["state"] == iv.state
                assert error["message"].startswith("cannot "), what
                assert message.startswith("Not possible: "), what
            else:
                assert message == "Nothing to change: it was already so.", what
    assert csrf_of(http.get("/staff/").get_data(as_text=True)) == token


def test_every_action_is_offered_somewhere_and_refused_somewhere() -> None:
    names = {action.name for action in ACTIONS}
    for name in names:
        assert any(name in offered for _build, offered in SITUATIONS.values()), name
        assert any(name not in offered for _build, offered in SITUATIONS.values()), name


def test_parameters_are_checked_alike_with_the_same_clear_error(
    staff_app: Flask, site: LoopbackSite, mailbox: Any, clock: ManualClock
) -> None:
    world = World(staff_app, site, mailbox, clock)
    world.ids = ["iv-api", "iv-page"]
    _reported(world)
    http = world.http
    token = sign_in(http, admin=STAFF)
    before = _outcome(staff_app, "iv-page")

    wrong = "resolution must be one of restored, fixed, no_fault"
    for body in ({"resolution": "nonsense"}, {"resolution": 3}, None):
        answer = http.post("/api/v1/interventions/iv-api/resolve", json=body, headers=API)
        assert answer.status_code == 422, body
        assert answer.json["error"] == {
            "code": "invalid_payload",
            "message": wrong,
            "field": "resolution",
        }
    posted = http.post(
        "/staff/interventions/iv-page/resolve", data={"csrf": token, "resolution": "x"}
    )
    assert _flash(http, posted.headers["Location"]) == ("error", f"Not possible: {wrong}")
    answer = http.post(
        "/api/v1/clients/c-iv-api/ineligibility", json={"reason": ["x"]}, headers=API
    )
    assert answer.status_code == 422
    assert answer.json["error"]["message"] == "reason must be a string"
    assert answer.json["error"]["field"] == "reason"
    assert _outcome(staff_app, "iv-api") == _outcome(staff_app, "iv-page") == before

    # The same reason, cleaned the same way: no control character, one line, one length.
    reason = "abusive\x00 reports\r\n  again " + "x" * 300
    http.post("/api/v1/clients/c-iv-api/ineligibility", json={"reason": reason}, headers=API)
    http.post("/staff/interventions/iv-page/flag", data={"csrf": token, "reason": reason})
    with staff_app.app_context():
        reasons = [db.session.get(Client, f"c-{i}").ineligible_reason for i in world.ids]
    assert reasons[0] == reasons[1] == ("abusive reports again " + "x" * 300)[:200]
