"""The site check through the whole service: a site on loopback that an intervention
breaks (or not), the technician told first, the client's mail held or sent, and what
the client and the staff are shown."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from panel_addon.models import Intervention, Task, db

from .fake_whmcs import TEST_IDENTIFIER, TEST_SECRET, FakeWhmcs
from .flow import complete, path_of, run_due, send, start, task_rows
from .loopback_site import LoopbackSite
from .support import STAFF_TOKEN, mail_links, started_data

AUTH = {"Authorization": f"Bearer {STAFF_TOKEN}", "X-Staff-Name": "Sam"}
TICKET = 100

HOME = """<html><head><title>Boutique de Camille</title></head><body>
<form role="search" action="/"><input name="s"></form><p>Bienvenue</p></body></html>"""
CHECKOUT = """<html><head><title>Commande</title></head><body>
<form name="checkout" method="post" action="/checkout/">
<input name="billing_first_name"><input name="billing_email"><input name="payment_method">
<button name="woocommerce_checkout_place_order">Commander</button></form></body></html>"""
CONTACT = """<html><head><title>Contact</title></head><body>
<form action="/contact/#wpcf7-f1" method="post" class="wpcf7-form"><input name="_wpcf7">
<input name="your-name"><input name="your-email"><textarea name="your-message"></textarea>
</form></body></html>"""
WP_CRITICAL = """<html><head><title>WordPress &rsaquo; Error</title></head><body id="error-page">
<div class="wp-die-message"><p>There has been a critical error on this website.</p></div>
</body></html>"""
PAGES = ("/", "/checkout/", "/contact/")


@pytest.fixture
def site() -> Iterator[LoopbackSite]:
    with LoopbackSite() as shop:
        shop.page("/", HOME)
        shop.page("/checkout/", CHECKOUT)
        shop.page("/contact/", CONTACT)
        yield shop


@pytest.fixture
def panel() -> Iterator[FakeWhmcs]:
    with FakeWhmcs() as fake:
        fake.add_client(7, notes="")
        fake.add_ticket(TICKET, status="Open", client_id=7)
        yield fake


@pytest.fixture
def checked_app(make_app: Any, panel: FakeWhmcs) -> Any:
    """Apps whose site checker may reach loopback (the tests' sites), with a panel."""

    def factory(**overrides: Any) -> Flask:
        settings = {
            "SITE_CHECK_ALLOW_PRIVATE": True,
            "SITE_CHECK_TIMEOUT": "5s",
            "WHMCS_URL": panel.url,
            "WHMCS_IDENTIFIER": TEST_IDENTIFIER,
            "WHMCS_SECRET": TEST_SECRET,
        }
        return make_app(**(settings | overrides))  # type: ignore[no-any-return]

    return factory


def start_checked(http: Any, site: LoopbackSite, panel_id: str = "iv-1", **data: Any) -> None:
    urls = [site.url(path) for path in PAGES]
    fields = started_data(panel_id, ticket_id=TICKET, check_urls=urls) | data
    answer = send(http, "intervention.started", fields)
    assert answer.status_code == 200, answer.json


def staff_view(client: Any, panel_id: str = "iv-1") -> dict[str, Any]:
    answer = client.get(f"/api/v1/interventions/{panel_id}", headers=AUTH)
    assert answer.status_code == 200
    return answer.json  # type: ignore[no-any-return]


def verdicts(body: dict[str, Any]) -> dict[str, str | None]:
    return {
        entry["url"].split(":", 2)[2].split("/", 1)[1]: entry["verdict"]
        for entry in body["site_check"]
    }


def text_of(message: Any) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[no-any-return]


def test_a_broken_checkout_holds_the_mail_and_tells_the_technician_first(
    backend: str, checked_app: Any, site: LoopbackSite, panel: FakeWhmcs, mailbox: Any, clock: Any
) -> None:
    app = checked_app()
    client = app.test_client()
    start_checked(client, site)
    run_due(app)
    assert len(site.hits("/checkout/")) == 1  # the before snapshot

    site.page("/checkout/", "<h1>Internal Server Error</h1>", status=500)
    completed = complete(client).json
    assert completed["deadline_at"] is None  # no deadline runs before the client is told
    run_due(app)

    # The technician knows, in the ticket; the client has not been mailed.
    assert mailbox.received() == []
    [note] = [n for n in panel.ticket_notes(TICKET) if "1 page en régression" in n]
    assert "Page de commande" in note and "500" in note
    assert "RETENU" in note  # STAFF_LANGUAGE defaults to DEFAULT_LANGUAGE (fr)
    body = staff_view(client)
    assert body["mail_held"] is True and body["mail_held_at"]
    assert body["deadline_at"] is None  # the client's clock stops while the mail is held
    assert body["backup"]["expires_at"] is None  # and the backup's with it
    assert verdicts(body) == {"": "unchanged", "checkout/": "regressed", "contact/": "unchanged"}
    checkout = body["site_check"][1]
    assert checkout["before"]["status"] == 200 and checkout["after"]["status"] == 500
    assert [c["code"] for c in checkout["changes"] if c["regression"]] == ["page_fails"]
    assert any(e["type"] == "mail_held" for e in body["events"])

    # Nothing runs against the client meanwhile: no reminder, no lapse.
    clock.advance(hours=30)
    run_due(app)
    assert mailbox.received() == []
    assert staff_view(client)["state"] == "awaiting_validation"

    # A technician fixes the page, checks again, then releases the mail.
    site.page("/checkout/", CHECKOUT)
    assert client.post("/api/v1/interventions/iv-1/site-check", headers=AUTH).status_code == 200
    run_due(app)
    assert verdicts(staff_view(client))["checkout/"] == "unchanged"
    assert mailbox.received() == []  # still held until someone says so

    released_at = clock.current
    answer = client.post("/api/v1/interventions/iv-1/mail/release", headers=AUTH)
    assert answer.status_code == 200, answer.json
    assert answer.json["mail_held"] is False
    assert answer.json["validation_mail"]["state"] == "sending"
    release = [e for e in answer.json["events"] if e["type"] == "mail_released"]
    assert release[0]["actor"] == "staff" and release[0]["actor_name"] == "Sam"
    run_due(app)
    # The window starts when the mail server accepts the released mail.
    body = staff_view(client)
    assert body["deadline_at"] == (released_at + timedelta(hours=24)).isoformat()
    assert body["backup"]["expires_at"] == (released_at + timedelta(hours=48)).isoformat()
    [mail] = mailbox.received()
    assert "Page de commande\u00a0: accessible, formulaire de commande présent" in text_of(mail)
    # The client's 24 hours start with this mail, and the mail says so.
    assert "Merci de vérifier votre site et de nous répondre avant le" in text_of(mail)
    assert "la fin de l'intervention, c'est-à-dire" not in text_of(mail)
    assert any("Sam" in n for n in panel.ticket_notes(TICKET))

    # A second release is refused: the mail is not held any more.
    again = client.post("/api/v1/interventions/iv-1/mail/release", headers=AUTH)
    assert again.status_code == 409


def test_with_holding_off_the_mail_goes_out_and_the_technician_is_still_told(
    checked_app: Any, site: LoopbackSite, panel: FakeWhmcs, mailbox: Any, clock: Any
) -> None:
    app = checked_app(HOLD_MAIL_ON_REGRESSION=False, STAFF_LANGUAGE="en")
    client = app.test_client()
    start_checked(client, site)
    run_due(app)
    site.page("/checkout/", "oops", status=500)
    complete(client)
    run_due(app)

    [mail] = mailbox.received()
    # Never a regression without what to do about it.
    assert (
        "Page de commande\u00a0: ne s’affiche pas (erreur 500) — cette page a changé après "
        "l’intervention\u00a0: vérifiez-la en premier et, si quelque chose ne va pas, "
        "dites-le-nous avec le bouton «\u00a0Signaler un problème\u00a0»"
    ) in " ".join(text_of(mail).split(" "))
    body = staff_view(client)
    assert body["mail_held"] is False
    assert body["deadline_at"] == (clock.current + timedelta(hours=24)).isoformat()
    assert verdicts(body)["checkout/"] == "regressed"
    [note] = [n for n in panel.ticket_notes(TICKET) if "got worse" in n]
    assert "Checkout page" in note and "now fails: 200 → 500" in note
    assert "sent as usual" in note


def test_a_healthy_site_sends_the_mail_listing_what_was_checked(
    backend: str, checked_app: Any, site: LoopbackSite, mailbox: Any
) -> None:
    app = checked_app()
    client = app.test_client()
    start_checked(client, site)
    run_due(app)
    complete(client)
    run_due(app)

    # The check's outcome first: a missing mail then says whether a page failed or the
    # mail's task did not run.
    body = staff_view(client)
    work = [(t.action, t.state, t.due_at, t.attempts, t.last_error) for t in task_rows(app)]
    assert verdicts(body) == {"": "unchanged", "checkout/": "unchanged", "contact/": "unchanged"}, (
        body,
        work,
    )
    assert body["mail_held"] is False
    received = mailbox.received()
    assert len(received) == 1, work
    [mail] = received
    text = text_of(mail)
    assert "Ce que nous avons vérifié automatiquement" in text
    assert "- Page d’accueil\u00a0: accessible" in text
    assert "- Page de commande\u00a0: accessible, formulaire de commande présent" in text
    assert "- Page de contact\u00a0: accessible, formulaire de contact présent" in text
    assert "ne remplacent pas votre propre vérification" in text
    assert "parcours d’achat" in text  # the client is still asked to check it all
    html = mail.get_body(preferencelist=("html",)).get_content()
    assert "formulaire de commande présent" in html

    # The link page lists the same checks, and still asks for the client's own check.
    page = client.get(path_of(mail_links(mail)[0])).get_data(as_text=True)
    assert "Page de commande\u00a0: accessible, formulaire de commande présent" in page
    assert "ne remplacent pas votre propre vérification" in page


def test_the_english_mail_speaks_plain_english(
    checked_app: Any, site: LoopbackSite, mailbox: Any
) -> None:
    app = checked_app()
    client = app.test_client()
    english = {"id": "8", "email": "jo@example.test", "name": "Jo", "language": "english"}
    start_checked(client, site, client=english)
    run_due(app)
    complete(client)
    run_due(app)
    text = text_of(mailbox.received()[0])
    assert "- Checkout page: reachable, order form present" in text
    assert "- Contact page: reachable, contact form present" in text
    assert "do not replace" in text


@pytest.mark.parametrize(
    ("path", "breakage", "code"),
    [
        (
            "/contact/",
            {"body": "<html><title>Contact</title><p>Écrivez-nous</p></html>"},
            "form_missing",
        ),
        ("/", {"body": WP_CRITICAL}, "sign_appeared"),
        ("/", {"body": WP_CRITICAL, "status": 500}, "page_fails"),
        ("/checkout/", {"body": CHECKOUT, "delay": 0.5}, "slower"),
        ("/checkout/", {"body": "Error establishing a database connection"}, "sign_appeared"),
        ("/", {"body": ""}, "sign_appeared"),
        (
            "/",
            {"body": "<title>Maintenance</title>Briefly unavailable for scheduled maintenance."},
            "sign_appeared",
        ),
    ],
    ids=[
        "form-removed",
        "wp-critical-200",
        "wp-critical-500",
        "slow",
        "database",
        "empty",
        "maintenance",
    ],
)
def test_each_kind_of_breakage_is_a_regression(
    checked_app: Any,
    site: LoopbackSite,
    mailbox: Any,
    path: str,
    breakage: dict[str, Any],
    code: str,
) -> None:
    app = checked_app()
    client = app.test_client()
    site.page("/checkout/", CHECKOUT, delay=0.05)
    start_checked(client, site)
    run_due(app)
    site.page(path, **breakage)
    complete(client)
    run_due(app)

    body = staff_view(client)
    entry = next(e for e in body["site_check"] if e["url"] == site.url(path))
    assert entry["verdict"] == "regressed", entry
    assert code in [c["code"] for c in entry["changes"] if c["regression"]]
    assert body["mail_held"] is True
    assert mailbox.received() == []


def test_a_redirect_to_a_private_address_is_refused_and_counts_as_a_regression(
    checked_app: Any, site: LoopbackSite, mailbox: Any
) -> None:
    app = checked_app()
    client = app.test_client()
    start_checked(client, site)
    run_due(app)
    site.redirect("/checkout/", "http://10.0.0.1/checkout/")
    complete(client)
    run_due(app)

    entry = staff_view(client)["site_check"][1]
    assert entry["after"]["error"] == "refused"
    assert entry["after"]["redirects"] == [{"status": 302, "url": "http://10.0.0.1/checkout/"}]
    assert entry["verdict"] == "regressed"


def test_with_the_setting_off_the_checker_refuses_loopback_and_the_mail_still_goes(
    make_app: Any, site: LoopbackSite, mailbox: Any
) -> None:
    app = make_app()  # SITE_CHECK_ALLOW_PRIVATE defaults to false
    client = app.test_client()
    start_checked(client, site)
    run_due(app)
    complete(client)
    run_due(app)

    assert site.hits() == []
    body = staff_view(client)
    assert [e["after"]["error"] for e in body["site_check"]] == ["refused"] * 3
    assert {e["verdict"] for e in body["site_check"]} == {"unchanged"}
    assert "déjà en échec" in body["site_check"][0]["note"]  # refused is no regression either
    [mail] = mailbox.received()
    assert "Page de commande\u00a0: n’a pas pu être vérifiée" in text_of(mail)


def test_a_page_that_failed_before_cannot_regress(
    checked_app: Any, site: LoopbackSite, mailbox: Any
) -> None:
    app = checked_app()
    client = app.test_client()
    site.page("/checkout/", "<b>Fatal error</b>: Uncaught Error in checkout.php", status=500)
    start_checked(client, site)
    run_due(app)
    site.page("/checkout/", "Bad gateway", status=502)
    complete(client)
    run_due(app)

    entry = staff_view(client)["site_check"][1]
    assert entry["verdict"] == "changed"
    assert entry["note"] and "déjà" in entry["note"]
    assert not any(c["regression"] for c in entry["changes"])
    [mail] = mailbox.received()
    # It failed before too: that says nothing of the intervention, nor of the page now.
    assert "Page de commande\u00a0: n’a pas pu être vérifiée\r\n" in text_of(mail)


def test_without_a_before_snapshot_there_is_no_regression_and_it_says_so(
    checked_app: Any, site: LoopbackSite, mailbox: Any
) -> None:
    app = checked_app(STAFF_LANGUAGE="en")
    client = app.test_client()
    site.page("/checkout/", "down", status=500)
    data = started_data("iv-1", ticket_id=TICKET, check_urls=[site.url(p) for p in PAGES])
    answer = send(client, "intervention.completed", data | {"summary": "Updated plugins."})
    assert answer.status_code == 200
    run_due(app)

    body = staff_view(client)
    assert [e["verdict"] for e in body["site_check"]] == ["unchanged"] * 3
    assert all(e["compared"] is False and e["before"] is None for e in body["site_check"])
    assert body["site_check"][1]["note"].startswith("No before snapshot")
    assert body["mail_held"] is False
    [mail] = mailbox.received()
    # Nothing to compare with: the client is not told the page is broken by the intervention.
    assert "Page de commande\u00a0: n’a pas pu être vérifiée\r\n" in text_of(mail)
    assert "Page d’accueil\u00a0: accessible" in text_of(mail)


def test_a_before_snapshot_not_taken_before_completion_is_dropped(
    checked_app: Any, site: LoopbackSite, mailbox: Any
) -> None:
    app = checked_app()
    client = app.test_client()
    start_checked(client, site)
    complete(client)  # the worker never got to the before snapshot
    run_due(app)
    assert len(site.hits("/")) == 1  # the after snapshot only
    [before] = [t for t in task_rows(app, action="site_snapshot") if t.payload["phase"] == "before"]
    assert before.state == "cancelled"
    assert staff_view(client)["site_check"][0]["note"]
    assert len(mailbox.received()) == 1


def test_a_check_that_never_ends_does_not_keep_the_mail_forever(
    checked_app: Any, site: LoopbackSite, mailbox: Any, clock: Any
) -> None:
    app = checked_app(SITE_CHECK_MAIL_WAIT="15m")
    client = app.test_client()
    start_checked(client, site)
    run_due(app)
    completed_at = clock.current
    complete(client)
    with app.app_context():
        # A worker took the after snapshot and died with it (its lease is long).
        stuck = db.session.scalars(
            db.select(Task).filter_by(action="site_snapshot", state="pending")
        ).one()
        stuck.claimed_until = clock.current + timedelta(hours=1)
        db.session.commit()
    run_due(app)
    assert mailbox.received() == []

    mailed_at = clock.advance(minutes=15)
    run_due(app)
    [mail] = mailbox.received()
    assert "automatiquement" not in text_of(mail)  # nothing to list: no after snapshot
    body = staff_view(client)
    # The client's window counts from the mail, not from the end of the work.
    assert completed_at < mailed_at
    assert body["deadline_at"] == (mailed_at + timedelta(hours=24)).isoformat()
    assert any(e["type"] == "site_check_overdue" for e in body["events"])

    # The snapshot finishing late changes nothing for the client.
    clock.advance(hours=1, minutes=1)
    run_due(app)
    assert len(mailbox.received()) == 1
    assert verdicts(staff_view(client))["checkout/"] == "unchanged"


def test_site_check_is_an_empty_list_when_nothing_is_checked(make_app: Any, mailbox: Any) -> None:
    app = make_app()
    client = app.test_client()
    start(client, site="Boutique de Camille")  # not a host name: nothing to check
    complete(client)
    run_due(app)
    body = staff_view(client)
    assert body["site_check"] == []
    assert body["mail_held"] is False
    listing = client.get("/api/v1/interventions", headers=AUTH).json
    assert listing["interventions"][0]["site_check"] == []
    assert len(mailbox.received()) == 1
    assert "automatiquement" not in text_of(mailbox.received()[0])


def test_the_site_check_can_be_turned_off(make_app: Any, site: LoopbackSite, mailbox: Any) -> None:
    app = make_app(SITE_CHECK_ENABLED=False, SITE_CHECK_ALLOW_PRIVATE=True)
    client = app.test_client()
    start_checked(client, site)
    complete(client)
    run_due(app)
    assert site.hits() == []
    assert staff_view(client)["site_check"] == []
    assert len(mailbox.received()) == 1


def test_the_staff_list_shows_site_checks_and_held_mail(
    checked_app: Any, site: LoopbackSite, mailbox: Any
) -> None:
    app = checked_app()
    client = app.test_client()
    start_checked(client, site)
    run_due(app)
    site.page("/checkout/", "oops", status=500)
    complete(client)
    run_due(app)
    start(client, "iv-2", site="Boutique de Camille")
    listing = client.get("/api/v1/interventions", headers=AUTH).json["interventions"]
    by_id = {row["id"]: row for row in listing}
    assert by_id["iv-1"]["mail_held"] is True
    assert verdicts(by_id["iv-1"])["checkout/"] == "regressed"
    assert by_id["iv-2"]["site_check"] == [] and by_id["iv-2"]["mail_held"] is False


def test_a_held_mail_is_not_resent_and_cancel_drops_it(
    checked_app: Any, site: LoopbackSite, mailbox: Any
) -> None:
    app = checked_app()
    client = app.test_client()
    start_checked(client, site)
    run_due(app)
    site.page("/checkout/", "oops", status=500)
    complete(client)
    run_due(app)
    assert client.post("/api/v1/interventions/iv-1/resend", headers=AUTH).status_code == 409
    assert client.post("/api/v1/interventions/iv-1/cancel", headers=AUTH).status_code == 200
    body = staff_view(client)
    assert body["state"] == "cancelled" and body["mail_held"] is False
    assert client.post("/api/v1/interventions/iv-1/mail/release", headers=AUTH).status_code == 409
    run_due(app)
    assert mailbox.received() == []


def test_a_repeated_snapshot_replaces_the_previous_one(
    checked_app: Any, site: LoopbackSite, mailbox: Any
) -> None:
    app = checked_app()
    client = app.test_client()
    start_checked(client, site)
    run_due(app)
    complete(client)
    run_due(app)
    for _ in range(2):
        client.post("/api/v1/interventions/iv-1/site-check", headers=AUTH)
        run_due(app)
    with app.app_context():
        iv = db.session.scalars(db.select(Intervention)).one()
        from panel_addon.models import SiteSnapshot

        rows = db.session.scalars(db.select(SiteSnapshot).filter_by(intervention_id=iv.id)).all()
        assert sorted((r.phase, r.position) for r in rows) == [
            ("after", 0),
            ("after", 1),
            ("after", 2),
            ("before", 0),
            ("before", 1),
            ("before", 2),
        ]
    assert len(mailbox.received()) == 1


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("SITE_CHECK_TIMEOUT", "0s"),
        ("SITE_CHECK_TIMEOUT", "soon"),
        ("SITE_CHECK_CONCURRENCY", 0),
        ("SITE_CHECK_MAX_URLS", 21),
        ("HOLD_MAIL_ON_REGRESSION", "yes"),
        ("SITE_CHECK_ALLOW_PRIVATE", 1),
        ("SITE_CHECK_MAIL_WAIT", "30s"),
        ("SITE_CHECK_SNAPSHOT_TIMEOUT", "5s"),  # shorter than one page's SITE_CHECK_TIMEOUT
        ("SITE_CHECK_SNAPSHOT_TIMEOUT", "10m"),
        ("SITE_CHECK_ALLOWED_NETWORKS", "10.0.0.0/33"),
        ("SITE_CHECK_USER_AGENT", "Hébergeur"),
    ],
)
def test_a_bad_site_check_setting_stops_start_up_naming_its_key(
    tmp_path: Any, key: str, value: Any
) -> None:
    from panel_addon import create_app
    from panel_addon.settings import SettingsError

    with pytest.raises(SettingsError, match=f"PANEL_ADDON_{key}"):
        create_app(
            {"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/s.db", key: value}
        )


def test_networks_may_be_opened_on_purpose_but_never_metadata(tmp_path: Any) -> None:
    from panel_addon import create_app
    from panel_addon.site_check import policy
    from panel_addon.site_check_http import refusal

    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/s.db",
            "SITE_CHECK_ALLOWED_NETWORKS": "10.20.0.0/16, 169.254.0.0/16",
        }
    )
    with app.app_context():
        limits = policy()
    import ipaddress

    assert refusal(ipaddress.ip_address("10.20.3.4"), limits) is None
    assert refusal(ipaddress.ip_address("10.21.3.4"), limits) == "private"
    assert refusal(ipaddress.ip_address("169.254.169.254"), limits) == "a cloud metadata address"
    assert limits.allow_loopback is False
    assert limits.user_agent.startswith("Your host site check (intervention sign-off; +http")


def test_work_cut_short_waits_behind_fresh_work(
    checked_app: Any, site: LoopbackSite, mailbox: Any, clock: Any
) -> None:
    from panel_addon import outbox

    app = checked_app()
    client = app.test_client()
    for n in (1, 2, 3):
        start_checked(client, site, f"iv-{n}")
    with app.app_context():
        first, second, third = db.session.scalars(
            db.select(Task).filter_by(action="site_snapshot").order_by(Task.id)
        ).all()
        # A worker died holding the oldest (a site that kills it, say): its lease ran out.
        first.claimed_until = clock.current - timedelta(seconds=1)
        db.session.commit()
        ids = first.id, second.id, third.id
        assert [t.id for t in outbox.claim("site", clock.current, 2)] == [ids[1], ids[2]]
        [again] = outbox.claim("site", clock.current, 2)
        assert again.id == ids[0] and again.last_error == outbox.INTERRUPTED
