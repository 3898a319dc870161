"""The staff view in-process: login links, the session, CSRF, the list, the detail, actions."""

from __future__ import annotations

import html
import re
import warnings
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, inspect, select

from panel_addon.domain import lifecycle
from panel_addon.models import Client, Event, Intervention, StaffLogin, Task, db
from panel_addon.web import staff_actions, staff_view

from .flow import complete, run_due, send, start
from .support import STAFF_TOKEN, ManualClock, mail_links, started_data

AUTH = {"Authorization": f"Bearer {STAFF_TOKEN}"}
# No automatic site check here: these tests look at the staff view, with no network.
HTTP = {"PUBLIC_URL": "http://signoff.test", "STAFF_LANGUAGE": "en", "SITE_CHECK_ENABLED": False}


def login_url(http: FlaskClient, admin: str = "Alex Martin", **target: str) -> str:
    answer = http.post("/api/v1/staff/login-links", json={"admin": admin, **target}, headers=AUTH)
    assert answer.status_code == 201, answer.json
    return str(answer.json["url"])


def begin(http: FlaskClient, panel_id: str, **overrides: Any) -> None:
    """Start an intervention with any field of the webhook overridden (the client too)."""
    answer = send(http, "intervention.started", started_data(panel_id, **overrides))
    assert answer.status_code == 200, answer.json


def path(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def sign_in(http: FlaskClient, **target: str) -> str:
    """Sign in through a login link; return the page's CSRF token."""
    answer = http.post(path(login_url(http, **target)))
    assert answer.status_code == 303
    page = http.get(answer.headers["Location"])
    assert page.status_code == 200
    return csrf_of(page.get_data(as_text=True))


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, "no CSRF field on the page"
    return match.group(1)


def flashes(page: str) -> list[str]:
    return re.findall(r'<p class="flash [a-z]+">([^<]+)</p>', page)


@pytest.fixture
def staff_app(make_app: Any) -> Flask:
    return make_app(**HTTP)  # type: ignore[no-any-return]


@pytest.fixture
def http(staff_app: Flask) -> FlaskClient:
    return staff_app.test_client()


# -- Login links -----------------------------------------------------------------------------


def test_login_links_need_the_staff_token_and_an_admin_name(http: FlaskClient) -> None:
    assert http.post("/api/v1/staff/login-links", json={"admin": "Alex"}).status_code == 401
    refused = http.post("/api/v1/staff/login-links", json={"admin": "  "}, headers=AUTH)
    assert refused.status_code == 422 and refused.json["error"]["field"] == "admin"
    too_long = {"admin": "Alex", "intervention": "x" * 65}
    refused = http.post("/api/v1/staff/login-links", json=too_long, headers=AUTH)
    assert refused.status_code == 422 and refused.json["error"]["field"] == "intervention"
    made = http.post("/api/v1/staff/login-links", json={"admin": "Alex"}, headers=AUTH)
    assert made.status_code == 201
    assert made.json["expires_in"] == 60
    assert made.json["url"].startswith("http://signoff.test/staff/login/")


def test_a_get_never_uses_the_link_and_the_post_uses_it_once(backend: str, make_app: Any) -> None:
    app = make_app(**HTTP)
    http = app.test_client()
    url = path(login_url(http))
    for _ in range(3):  # previews, scanners, a double click
        page = http.get(url)
        assert page.status_code == 200
        assert "Continue as Alex Martin" in page.get_data(as_text=True)
        assert "Set-Cookie" not in page.headers
    used = http.post(url)
    assert used.status_code == 303 and used.headers["Location"] == "/staff/"
    other = app.test_client()
    again = other.post(url)
    assert again.status_code == 410
    assert "already used" in again.get_data(as_text=True)
    assert other.get(url).status_code == 410
    with app.app_context():
        [row] = db.session.scalars(select(StaffLogin)).all()
        assert row.admin == "Alex Martin"


def test_an_old_tampered_or_foreign_link_is_refused(
    http: FlaskClient, clock: ManualClock, make_app: Any
) -> None:
    url = path(login_url(http))
    clock.advance(seconds=61)
    expired = http.post(url)
    assert expired.status_code == 410 and "expired" in expired.get_data(as_text=True)
    fresh = path(login_url(http))
    tampered = fresh[:-4] + ("AAAA" if not fresh.endswith("AAAA") else "BBBB")
    assert http.get(tampered).status_code == 400
    assert http.post(tampered).status_code == 400
    # A link signed with another service's key means nothing here.
    foreign_app = make_app(SECRET_KEY="another-service", **HTTP)
    foreign = path(login_url(foreign_app.test_client()))
    assert http.post(foreign).status_code == 400


def test_the_link_lands_on_the_intervention_or_the_client_it_names(http: FlaskClient) -> None:
    start(http, "iv-9")
    landed = http.post(path(login_url(http, intervention="iv-9")))
    assert landed.headers["Location"] == "/staff/interventions/iv-9"
    landed = http.post(path(login_url(http, client="7")))
    assert landed.headers["Location"] == "/staff/?client=7"


# -- The session -------------------------------------------------------------------------------


def test_the_session_cookie_is_httponly_lax_scoped_and_secure_on_https(make_app: Any) -> None:
    plain = make_app(**HTTP).test_client()
    cookie = plain.post(path(login_url(plain))).headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/staff" in cookie
    assert "Secure" not in cookie
    secure = make_app(PUBLIC_URL="https://signoff.example.com/panel").test_client()
    token = login_url(secure).rsplit("/", 1)[1]
    # Behind a proxy that mounts the service under /panel (SCRIPT_NAME).
    answer = secure.post(f"/staff/login/{token}", base_url="https://signoff.example.com/panel")
    assert answer.headers["Location"] == "/panel/staff/"
    cookie = answer.headers["Set-Cookie"]
    assert "Secure" in cookie and "Path=/panel/staff" in cookie


def test_pages_need_a_session_and_the_session_ends_after_its_lifetime(
    staff_app: Flask, http: FlaskClient, clock: ManualClock
) -> None:
    refused = http.get("/staff/")
    assert refused.status_code == 401
    assert "Open the staff view again from WHMCS" in refused.get_data(as_text=True)
    sign_in(http)
    assert http.get("/staff/").status_code == 200
    clock.advance(hours=7, minutes=59)
    assert http.get("/staff/").status_code == 200
    clock.advance(minutes=2)
    assert http.get("/staff/").status_code == 401
    assert http.get("/staff/").status_code == 401  # the cookie was cleared


def test_logout_ends_the_session(http: FlaskClient) -> None:
    token = sign_in(http)
    assert http.post("/staff/logout", data={"csrf": "wrong"}).status_code == 400
    out = http.post("/staff/logout", data={"csrf": token})
    assert out.status_code == 200 and "You are signed out." in out.get_data(as_text=True)
    assert http.get("/staff/").status_code == 401


def test_every_action_needs_the_session_s_csrf_token(staff_app: Flask, http: FlaskClient) -> None:
    start(http)
    complete(http)
    sign_in(http)
    for data in ({}, {"csrf": ""}, {"csrf": "guessed"}):
        answer = http.post("/staff/interventions/iv-1/hold", data=data)
        assert answer.status_code == 400
        assert "This form has expired" in answer.get_data(as_text=True)
    with staff_app.app_context():
        assert lifecycle.get_by_panel_id("iv-1").backup_state == "kept"


def test_staff_pages_are_private_and_follow_frame_ancestors(make_app: Any) -> None:
    http = make_app(FRAME_ANCESTORS="https://billing.example.com", **HTTP).test_client()
    sign_in(http)
    page = http.get("/staff/")
    assert page.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors https://billing.example.com" in page.headers["Content-Security-Policy"]
    assert "<script" not in page.get_data(as_text=True)


# -- The list -------------------------------------------------------------------------------


def _many(http: FlaskClient, clock: ManualClock, app: Flask | None = None) -> None:
    """Five interventions over two days: two technicians, two clients, five tickets."""
    start(http, "a1", technician="Maya", ticket_id="T-1")
    complete(http, "a1")
    if app is not None:
        run_due(app)  # a1's mail goes out
    clock.advance(days=2)
    start(http, "a2", ticket_id="T-2")
    complete(http, "a2")
    if app is not None:
        run_due(app)  # a2's mail goes out: its window opens
    begin(http, "a3", ticket_id="T-3", client={"id": "8", "email": "b@example.test", "name": "Bea"})
    clock.advance(hours=1)
    start(http, "a4", technician="Maya", ticket_id="T-4")
    start(http, "a5", ticket_id="T-5")


def _ids(page: str) -> list[str]:
    return re.findall(r'<th scope="row"[^>]*><a href="/staff/interventions/([^"]+)"', page)


def test_the_list_filters_counts_and_shows_time_left(
    backend: str, make_app: Any, clock: ManualClock, mailbox: Any
) -> None:
    app = make_app(**HTTP)
    http = app.test_client()
    _many(http, clock, app)
    run_due(app)  # a1 lapses
    report = [u for u in mail_links(mailbox.received()[0]) if u.endswith("/report")][0]
    assert http.post(path(report), data={"message": "late"}).status_code == 303
    sign_in(http)

    def ids(query: str = "") -> list[str]:
        page = http.get(f"/staff/{query}")
        assert page.status_code == 200, page.get_data(as_text=True)
        return _ids(page.get_data(as_text=True))

    assert ids() == ["a5", "a4", "a3", "a2", "a1"]
    page = http.get("/staff/").get_data(as_text=True)
    assert re.search(r"In progress <span class=\"n\">3</span>", page)
    assert re.search(r"Awaiting the client <span class=\"n\">1</span>", page)
    assert re.search(r"Problem reported <span class=\"n\">1</span>", page)
    assert "23 h 00 min left" in page  # a2, completed an hour ago
    assert ids("?state=in_progress") == ["a5", "a4", "a3"]
    assert ids("?state=reported") == ["a1"]
    assert ids("?technician=Maya") == ["a4", "a1"]
    assert ids("?client=8") == ["a3"]
    assert ids("?ticket=T-2") == ["a2"]
    assert ids("?late_report=true") == ["a1"]
    assert ids("?backup=held") == []  # a1's backup expired before the late report
    assert ids("?backup=expired") == ["a1"]
    day_one = clock.now() - timedelta(days=2)
    assert ids(f"?from={day_one:%Y-%m-%d}&to={day_one:%Y-%m-%d}") == ["a1"]
    assert ids(f"?from={clock.now():%Y-%m-%d}") == ["a5", "a4", "a3", "a2"]
    bad = http.get("/staff/?state=nonsense")
    assert bad.status_code == 400 and "Invalid filter" in bad.get_data(as_text=True)
    assert http.get("/staff/?from=yesterday").status_code == 400


def test_the_list_pages_by_id_without_offset(
    backend: str, make_app: Any, clock: ManualClock
) -> None:
    app = make_app(**HTTP)
    http = app.test_client()
    for n in range(7):
        start(http, f"p{n}", ticket_id=f"T-{n}")
    sign_in(http)
    statements: list[tuple[str, Any]] = []
    with app.app_context():
        engine = db.engine

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        first = http.get("/staff/?limit=3").get_data(as_text=True)
        assert _ids(first) == ["p6", "p5", "p4"]
        older = (
            re.search(r'rel="next" class="next" href="([^"]+)"', first)
            .group(1)
            .replace("&amp;", "&")
        )
        assert "before=" in older and "limit" not in older
        second = http.get(older + "&limit=3").get_data(as_text=True)
        assert _ids(second) == ["p3", "p2", "p1"]
        newer = re.search(r'rel="prev" href="([^"]+)"', second).group(1).replace("&amp;", "&")
        back = http.get(newer + "&limit=3").get_data(as_text=True)
        assert _ids(back) == ["p6", "p5", "p4"]
        assert 'rel="prev"' not in back
        oldest = (
            re.search(r'rel="next" class="next" href="([^"]+)"', second)
            .group(1)
            .replace("&amp;", "&")
        )
        last = http.get(oldest + "&limit=3").get_data(as_text=True)
        assert _ids(last) == ["p0"] and 'rel="next"' not in last and 'rel="prev"' in last
    finally:
        event.remove(engine, "before_cursor_execute", record)
    # SQLite spells every LIMIT "LIMIT ? OFFSET ?": the offset must always be 0.
    offsets = [p[-1] for s, p in statements if "OFFSET" in s.upper()]
    assert statements and all(o == 0 for o in offsets)


def test_the_api_shares_the_filters_and_can_skip_the_counts(
    http: FlaskClient, clock: ManualClock
) -> None:
    _many(http, clock)
    listed = http.get("/api/v1/interventions?ticket=T-4&limit=1&counts=false", headers=AUTH).json
    assert [iv["id"] for iv in listed["interventions"]] == ["a4"] and "counts" not in listed
    listed = http.get("/api/v1/interventions?technician=Maya", headers=AUTH).json
    assert [iv["id"] for iv in listed["interventions"]] == ["a4", "a1"]
    assert listed["counts"] == {"awaiting_validation": 2, "in_progress": 3}
    paged = http.get("/api/v1/interventions?limit=2", headers=AUTH).json
    assert [iv["id"] for iv in paged["interventions"]] == ["a5", "a4"]
    older = http.get(
        f"/api/v1/interventions?limit=2&before={paged['next_before']}", headers=AUTH
    ).json
    assert [iv["id"] for iv in older["interventions"]] == ["a3", "a2"]
    refused = http.get("/api/v1/interventions?backup=lost", headers=AUTH)
    assert refused.status_code == 400 and refused.json["error"]["field"] == "backup"


# -- The detail and the actions ------------------------------------------------------------------


def test_the_detail_shows_the_trail_mails_backup_and_panel_effects(
    staff_app: Flask, http: FlaskClient, mailbox: Any
) -> None:
    start(http)
    complete(http, summary="Cache plugin replaced.")
    run_due(staff_app)
    validate = [u for u in mail_links(mailbox.received()[0]) if u.endswith("/validate")][0]
    http.post(
        path(validate),
        headers={"User-Agent": "Phone/1.0"},
        environ_base={"REMOTE_ADDR": "203.0.113.5"},
    )
    run_due(staff_app)
    sign_in(http)
    page = http.get("/staff/interventions/iv-1").get_data(as_text=True)
    assert "Validated" in page and "Cache plugin replaced." in page
    assert "203.0.113.5" in page and "Phone/1.0" in page  # what they clicked, from where
    assert "Validation request" in page and "Validation confirmed" in page
    assert "Mail sent" in page and "client@example.test" in page
    assert "bk-iv-1" in page
    assert "Ticket note" in page  # panel effects (WHMCS not configured here: skipped)
    assert http.get("/staff/interventions/nobody").status_code == 404


def _act(http: FlaskClient, token: str, action: str, **form: str) -> str:
    answer = http.post(f"/staff/interventions/iv-1/{action}", data={"csrf": token, **form})
    assert answer.status_code == 303, answer.get_data(as_text=True)
    assert answer.headers["Location"] == "/staff/interventions/iv-1"
    page = http.get(answer.headers["Location"]).get_data(as_text=True)
    return " | ".join(flashes(page))


def test_each_action_calls_the_lifecycle_and_records_the_staff_member(
    staff_app: Flask, http: FlaskClient, mailbox: Any, clock: ManualClock
) -> None:
    start(http)
    complete(http)
    run_due(staff_app)
    token = sign_in(http, intervention="iv-1")
    assert _act(http, token, "resend") == "The mail will be sent again in a moment."
    run_due(staff_app)
    assert _act(http, token, "hold") == "The backup is held."
    assert _act(http, token, "hold") == "Nothing to change: it was already so."
    assert _act(http, token, "release") == "The backup is released."
    assert _act(http, token, "flag", reason="abusive\x00 reports").startswith(
        "The client is no longer eligible"
    )
    assert _act(http, token, "lift").startswith("The client is eligible again")
    assert _act(http, token, "resolve", resolution="fixed") == "Not possible: Awaiting the client"
    assert _act(http, token, "cancel", reason="duplicate") == "The intervention is cancelled."
    assert _act(http, token, "resend") == "Not possible: Cancelled"
    assert http.post("/staff/interventions/iv-1/explode", data={"csrf": token}).status_code == 404
    run_due(staff_app)
    with staff_app.app_context():
        iv = lifecycle.get_by_panel_id("iv-1")
        assert iv.state == "cancelled" and iv.cancelled_reason == "duplicate"
        trail = db.session.scalars(select(Event).where(Event.intervention_id == iv.id)).all()
        by_staff = [(e.type, e.actor_name) for e in trail if e.actor == "staff"]
        assert by_staff == [
            ("mail_resend_requested", "Alex Martin"),
            ("backup_held", "Alex Martin"),
            ("backup_released", "Alex Martin"),
            ("client_ineligible", "Alex Martin"),
            ("client_eligible_again", "Alex Martin"),
            ("cancel", "Alex Martin"),
        ]
        flagged = [e for e in trail if e.type == "client_ineligible"][0]
        assert flagged.data["reason"] == "abusive reports"
        notes = db.session.scalars(select(Task.action).where(Task.kind == "panel")).all()
        assert {"set_ineligible_note", "remove_ineligible_note"} <= set(notes)
    assert len([m for m in mailbox.received() if m["To"] == "client@example.test"]) == 2


def test_a_report_is_resolved_and_a_late_one_dismissed(
    staff_app: Flask, http: FlaskClient, mailbox: Any, clock: ManualClock
) -> None:
    start(http)
    complete(http)
    run_due(staff_app)
    report = [u for u in mail_links(mailbox.received()[0]) if u.endswith("/report")][0]
    clock.advance(hours=25)
    run_due(staff_app)
    http.post(path(report), data={"message": "it broke", "restore": "on"})
    token = sign_in(http)
    page = http.get("/staff/interventions/iv-1").get_data(as_text=True)
    assert "Dismiss the late report" in page and "Close the report" in page
    assert "to review" in page and "it broke" in page
    assert _act(http, token, "dismiss") == "The late report is dismissed."
    assert _act(http, token, "resolve", resolution="nonsense").startswith("Not possible")
    assert _act(http, token, "resolve", resolution="restored") == "The report is closed."
    page = http.get("/staff/interventions/iv-1").get_data(as_text=True)
    assert "site restored from the backup" in page and "Report closed" in page
    with staff_app.app_context():
        iv = lifecycle.get_by_panel_id("iv-1")
        assert iv.resolution == "restored" and iv.late_report_review == "dismissed"
        assert db.session.get(Client, "7").eligible is True


def test_the_actions_offered_fit_the_state(staff_app: Flask, http: FlaskClient) -> None:
    start(http)
    with staff_app.app_context():
        iv = lifecycle.get_by_panel_id("iv-1")
        assert [a.name for a in staff_actions.offered(iv)] == ["hold", "flag", "cancel"]


@pytest.mark.parametrize(
    ("value", "rows"),
    [
        (
            {"pages": [{"url": "https://a.example/", "verdict": "ok"}]},
            [("https://a.example/", "ok")],
        ),
        (
            [{"url": "https://b.example/", "status": "regressed"}],
            [("https://b.example/", "regressed")],
        ),
        ({"verdict": "unchanged", "urls": ["https://c.example/"]}, [("https://c.example/", None)]),
        ("garbage", []),
        (None, []),
    ],
)
def test_a_site_check_is_shown_url_by_url_whatever_its_shape(value: Any, rows: list[Any]) -> None:
    shown = staff_view._site_check_rows(value)
    assert [(r["url"], r["verdict"]) for r in shown] == rows


def test_the_view_speaks_french_when_staff_do(make_app: Any) -> None:
    http = make_app(**{**HTTP, "STAFF_LANGUAGE": "fr"}).test_client()
    start(http)
    sign_in(http)
    page = http.get("/staff/interventions/iv-1").get_data(as_text=True)
    assert 'lang="fr"' in page and "Retenir la sauvegarde" in page and "Historique" in page
    assert "En cours" in http.get("/staff/").get_data(as_text=True)


def test_names_and_texts_are_escaped(staff_app: Flask, http: FlaskClient) -> None:
    begin(
        http,
        "iv-x",
        technician="<script>alert(1)</script>",
        client={"id": "9", "email": "x@example.test", "name": "<b>Bob</b>"},
    )
    send(http, "intervention.completed", {"id": "iv-x", "summary": "<img src=x onerror=alert(1)>"})
    token = sign_in(http)
    assert token
    for url in ("/staff/", "/staff/interventions/iv-x"):
        page = http.get(url).get_data(as_text=True)
        assert "<script>alert" not in page and "<b>Bob</b>" not in page and "<img src=x" not in page
        assert "&lt;b&gt;Bob&lt;/b&gt;" in page


# -- The schema ------------------------------------------------------------------------------------


def _upgrade(app: Flask) -> Any:
    with warnings.catch_warnings():
        # Flask-Migrate's env.py template asks Flask-SQLAlchemy for get_engine() first.
        warnings.simplefilter("ignore", DeprecationWarning)
        return app.test_cli_runner().invoke(args=["db", "upgrade"])


def test_migration_0002_creates_the_table_and_indexes_the_model_declares(
    backend: str, make_app: Any, tmp_path: Any
) -> None:
    app = (
        make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'migrated.sqlite'}")
        if backend == "sqlite"
        else make_app()
    )
    with app.app_context():
        db.drop_all()
        from sqlalchemy import text

        db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
    result = _upgrade(app)
    assert result.exit_code == 0, result.output
    with app.app_context():
        found = inspect(db.engine)
        assert "staff_logins" in found.get_table_names()
        indexes = {ix["name"] for ix in found.get_indexes("interventions")}
        assert {
            "ix_interventions_ticket",
            "ix_interventions_technician",
            "ix_interventions_started",
        } <= indexes
        assert {ix["name"] for ix in found.get_indexes("staff_logins")} == {
            "ix_staff_logins_used_at"
        }
        # 0004: a client's e-mail address, the actor of their decision, fits.
        columns = {c["name"]: c["type"] for c in found.get_columns("intervention_events")}
        assert columns["actor_name"].length == 320
        declared = {ix.name for ix in Intervention.__table__.indexes}
        assert {
            "ix_interventions_ticket",
            "ix_interventions_technician",
            "ix_interventions_started",
        } <= declared
    again = _upgrade(app)
    assert again.exit_code == 0, again.output


def test_used_login_ids_are_forgotten_once_no_link_could_use_them(
    staff_app: Flask, http: FlaskClient, clock: ManualClock
) -> None:
    http.post(path(login_url(http)))
    clock.advance(minutes=5)
    http.post(path(login_url(http, admin="Maya")))
    with staff_app.app_context():
        assert db.session.scalars(select(StaffLogin.admin)).all() == ["Maya"]


def test_a_site_check_regression_is_shown_and_the_held_mail_released_from_the_page(
    make_app: Any, mailbox: Any
) -> None:
    from .loopback_site import LoopbackSite

    with LoopbackSite() as site:
        site.page("/", "<html><head><title>Shop</title></head><body>Welcome</body></html>")
        site.page("/checkout/", "<html><head><title>Checkout</title></head><body>Pay</body></html>")
        app = make_app(**{**HTTP, "SITE_CHECK_ENABLED": True, "SITE_CHECK_ALLOW_PRIVATE": True})
        http = app.test_client()
        begin(http, "iv-1", check_urls=[site.url("/"), site.url("/checkout/")])
        run_due(app)  # the before snapshots
        site.page("/checkout/", "<h1>Internal Server Error</h1>", status=500)
        complete(http)
        run_due(app)  # the after snapshots: the checkout regressed, the mail is held
    assert mailbox.received() == []
    token = sign_in(http, intervention="iv-1")
    assert "Mail held" in http.get("/staff/").get_data(as_text=True)
    page = http.get("/staff/interventions/iv-1").get_data(as_text=True)
    assert "The client's mail is held until someone decides." in html.unescape(page)
    assert "regressed" in page and "/checkout/" in page and "500" in page
    assert "Send the held mail" in page
    assert _act(http, token, "release_mail") == "The mail will be sent."
    run_due(app)
    assert [m["To"] for m in mailbox.received()] == ["client@example.test"]
    with app.app_context():
        iv = lifecycle.get_by_panel_id("iv-1")
        released = db.session.scalars(
            select(Event).where(Event.intervention_id == iv.id, Event.type == "mail_released")
        ).one()
        assert released.actor_name == "Alex Martin"
