"""The staff view in a real browser: headless Chromium (Debian's) driven by Playwright.

JavaScript is switched off in the browser: every page and action works without it.
Each page is photographed at desktop (1280 px) and phone (390 px) widths; set
SCREENSHOTS_DIR=docs/screenshots to refresh the pictures the docs show.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from panel_addon import create_app
from panel_addon.domain import lifecycle
from panel_addon.domain.trail import Actor
from panel_addon.models import db

from .browser_support import CHROMIUM, chromium, screenshots_folder, serve
from .conftest import REDIS_URL
from .fake_whmcs import TEST_IDENTIFIER, TEST_SECRET, FakeWhmcs
from .flow import run_due, send
from .support import (
    STAFF_TOKEN,
    WEBHOOK_SECRET,
    ManualClock,
    free_port,
    start_smtp,
    started_data,
)

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (CI installs it)"
)

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
DESKTOP_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/135.0"
WIDTHS = {"desktop": (1280, 800), "phone": (390, 844)}


def _client(n: int, name: str, language: str = "french") -> dict[str, Any]:
    return {"id": str(n), "email": f"client{n}@example.test", "name": name, "language": language}


def _seed(app: Flask, clock: ManualClock) -> None:
    """Six interventions in every interesting state, as the panel and clients made them."""
    http = app.test_client()
    people = {
        "1041": (_client(7, "Camille Martin"), "boutique-camille.fr", "Alex"),
        "1042": (_client(8, "Jean Dupont"), "plomberie-dupont.fr", "Alex"),
        "1043": (_client(9, "Sofia Rossi", "english"), "rossi-design.com", "Maya"),
        "1044": (_client(10, "Luc Bernard"), "ferme-bernard.fr", "Maya"),
        "1045": (_client(11, "Emma Petit"), "atelier-emma.fr", "Alex"),
        "1046": (_client(12, "Noah Leroy"), "leroy-avocats.fr", "Maya"),
    }

    def begin(panel_id: str, done: bool = True, ticket: str | None = None) -> None:
        client, site, tech = people[panel_id]
        data = started_data(
            panel_id,
            ticket_id=ticket or f"2{panel_id[1:]}",
            client=client,
            site=site,
            technician=tech,
            backup={
                "reference": f"bk-{site}-{clock.now():%Y%m%d-%H%M}",
                "created_at": clock.now().isoformat(),
            },
        )
        assert send(http, "intervention.started", data).status_code == 200
        if done:
            summary = (
                "WooCommerce 9.4 and 6 extensions updated.\n"
                "PHP 8.3 compatibility fixed in the child theme (functions.php)."
            )
            assert (
                send(
                    http, "intervention.completed", {"id": panel_id, "summary": summary}
                ).status_code
                == 200
            )

    clock.current = T0
    begin("1041")
    begin("1042")
    # No such ticket in the panel: its notes fail, as a deleted ticket's would.
    begin("1043", ticket="9999")
    run_due(app)
    clock.current = T0 + timedelta(hours=2, minutes=14)
    with app.app_context():
        phone = Actor("client", name="client7@example.test", ip="203.0.113.24", user_agent=PHONE)
        lifecycle.validate(lifecycle.get_by_panel_id("1041"), phone, clock.now())
        desk = Actor(
            "client", name="client8@example.test", ip="198.51.100.7", user_agent=DESKTOP_UA
        )
        lifecycle.report(
            lifecycle.get_by_panel_id("1042"),
            "Depuis la mise à jour, le bouton « Payer » du panier ne répond plus.",
            True,
            desk,
            clock.now(),
        )
        db.session.commit()
    run_due(app)
    clock.current = T0 + timedelta(hours=25)
    run_due(app)  # 1043 lapses
    clock.current = T0 + timedelta(hours=26, minutes=3)
    with app.app_context():
        late = Actor("client", name="client9@example.test", ip="192.0.2.81", user_agent=DESKTOP_UA)
        lifecycle.report(
            lifecycle.get_by_panel_id("1043"),
            "The contact form sends nothing.",
            False,
            late,
            clock.now(),
        )
        db.session.commit()
    begin("1044")
    begin("1045", done=False)
    begin("1046", done=False)
    assert (
        send(
            http, "intervention.cancelled", {"id": "1046", "reason": "client withdrew"}
        ).status_code
        == 200
    )
    run_due(app)
    clock.current = T0 + timedelta(hours=31, minutes=20)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The service on loopback with the demo data, a fake panel and an SMTP sink."""
    tmp = tmp_path_factory.mktemp("staff-browser")
    port = free_port()
    clock = ManualClock(T0)
    controller, sink = start_smtp()
    with FakeWhmcs() as panel:
        for n in range(7, 13):
            panel.add_client(n, notes="VIP since 2019")
        for panel_id in ("1041", "1042", "1044", "1045", "1046"):
            panel.add_ticket(int(f"2{panel_id[1:]}"), status="Open")
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": secrets.token_hex(16),
                "WEBHOOK_SECRET": WEBHOOK_SECRET,
                "STAFF_API_TOKEN": STAFF_TOKEN,
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'browser.sqlite'}",
                "REDIS_URL": REDIS_URL,
                "QUEUE_PREFIX": f"test-{secrets.token_hex(4)}",
                "MAIL_SERVER": sink.host,
                "MAIL_PORT": sink.port,
                "PUBLIC_URL": f"http://127.0.0.1:{port}",
                "COMPANY_NAME": "EasyHost",
                "STAFF_LANGUAGE": "en",
                "DEFAULT_TIMEZONE": "Europe/Paris",
                "WHMCS_URL": panel.url,
                "WHMCS_IDENTIFIER": TEST_IDENTIFIER,
                "WHMCS_SECRET": TEST_SECRET,
                "WHMCS_ADMIN_URL": "https://billing.example.com/admin",
                "CLOCK": clock,
                # The sites above do not exist: no automatic site check, no network.
                "SITE_CHECK_ENABLED": False,
            }
        )
        with app.app_context():
            db.create_all()
        _seed(app, clock)
        with serve(app, port) as base:
            yield {"app": app, "base": base, "clock": clock, "panel": panel}
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    controller.stop()


@pytest.fixture(scope="module")
def browser(site: dict[str, Any]) -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return screenshots_folder(tmp_path_factory.mktemp("screenshots"))


def _login_url(site: dict[str, Any], **target: str) -> str:
    answer = (
        site["app"]
        .test_client()
        .post(
            "/api/v1/staff/login-links",
            json={"admin": "Alex Martin", **target},
            headers={"Authorization": f"Bearer {STAFF_TOKEN}"},
        )
    )
    assert answer.status_code == 201, answer.data
    return str(answer.json["url"])


def _page(browser: Any, width: str = "desktop") -> Any:
    w, h = WIDTHS[width]
    context = browser.new_context(
        viewport={"width": w, "height": h}, java_script_enabled=False, locale="en-GB"
    )
    return context.new_page()


def _click(page: Any, target: Any) -> None:
    """Click something that loads a new page, and wait until that page has loaded."""
    with page.expect_navigation():
        target.click()


# The button of the page a login link opens, in the language the link carries.
CONTINUE = {"en": "Continue as Alex Martin", "french": "Continuer en tant que Alex Martin"}


def _signed_in(browser: Any, site: dict[str, Any], width: str = "desktop", **target: str) -> Any:
    page = _page(browser, width)
    page.goto(_login_url(site, **target))
    _click(page, page.get_by_role("button", name=CONTINUE[target.get("language", "en")]))
    return page


def _shoot(page: Any, shots: Path, name: str) -> None:
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True, animations="disabled")


def test_the_login_link_asks_before_it_signs_in(
    browser: Any, site: dict[str, Any], shots: Path
) -> None:
    page = _page(browser)
    url = _login_url(site)
    answer = page.goto(url)
    assert answer.status == 200
    assert page.context.cookies() == []  # a GET changes nothing
    _shoot(page, shots, "staff-login-en-desktop")
    _click(page, page.get_by_role("button", name="Continue as Alex Martin"))
    assert page.url == f"{site['base']}/staff/"
    [cookie] = page.context.cookies()
    assert cookie["name"] == "signoff_staff"
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax" and cookie["path"] == "/staff"
    # The link is single use: in another browser it is refused.
    other = _page(browser)
    assert other.goto(url).status == 410
    assert "already used" in other.content()
    other.context.close()
    page.context.close()


@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_the_list_shows_counts_deadlines_and_filters(
    browser: Any, site: dict[str, Any], shots: Path, width: str
) -> None:
    page = _signed_in(browser, site, width)
    counts = page.get_by_role("navigation", name="Interventions by state")
    assert "Awaiting the client 1" in " ".join(counts.inner_text().split())
    rows = page.locator("table.list tbody tr")
    expect(rows).to_have_count(6)
    awaiting = rows.filter(has_text="1044")
    assert "18 h 43 min left" in awaiting.inner_text()
    late = rows.filter(has_text="1043")
    assert "Late" in late.inner_text() and "Problem reported" in late.inner_text()
    _shoot(page, shots, f"staff-list-en-{width}")

    page.get_by_label("Backups held").check()
    _click(page, page.get_by_role("button", name="Filter", exact=True))
    assert "backup=held" in page.url
    expect(rows).to_have_count(2)
    assert [r.split()[0] for r in rows.all_inner_texts()] == ["1043", "1042"]
    _click(page, page.get_by_role("link", name="Clear the filters"))
    page.get_by_label("Technician").fill("Maya")
    page.get_by_label("State", exact=True).select_option("in_progress")
    _click(page, page.get_by_role("button", name="Filter", exact=True))
    expect(rows).to_have_count(0)
    expect(page.get_by_text("No intervention matches these filters.")).to_be_visible()
    page.context.close()


@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_the_detail_shows_the_trail_the_backup_and_the_panel_effects(
    browser: Any, site: dict[str, Any], shots: Path, width: str
) -> None:
    page = _signed_in(browser, site, width, intervention="1042")
    assert page.url.endswith("/staff/interventions/1042")
    text = page.inner_text("main")
    assert "Problem reported" in text
    assert "le bouton « Payer » du panier ne répond plus" in text
    trail = page.locator("table.trail")
    assert "198.51.100.7" in trail.inner_text() and "Firefox/135.0" in trail.inner_text()
    assert "Mail sent" in trail.inner_text()
    assert "Validation request" in page.locator("#h-mails + table").inner_text()
    assert "Ticket status" in page.locator("#h-effects + table").inner_text()
    assert "held" in page.locator("#h-backup + dl").inner_text()
    _shoot(page, shots, f"staff-detail-en-{width}")
    page.context.close()

    failing = _signed_in(browser, site, width, intervention="1043")
    effects = failing.locator("#h-effects + table").inner_text()
    assert "failed" in effects and "Ticket ID not found" in effects
    failing.context.close()


@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_the_view_speaks_the_language_the_login_link_carries(
    browser: Any, site: dict[str, Any], shots: Path, width: str
) -> None:
    """A French admin's link (WHMCS says `french`) opens the view in French, whatever the
    browser's language (English here) and STAFF_LANGUAGE (English) say."""
    page = _signed_in(browser, site, width, language="french")
    assert page.locator("html").get_attribute("lang") == "fr"
    counts = page.get_by_role("navigation", name="Interventions par état")
    assert "En attente du client 1" in " ".join(counts.inner_text().split())
    rows = page.locator("table.list tbody tr")
    expect(rows).to_have_count(6)
    late = rows.filter(has_text="1043").inner_text()
    assert "Tardif" in late and "Problème signalé" in late
    _shoot(page, shots, f"staff-list-fr-{width}")

    _click(page, page.get_by_role("link", name="1042", exact=True))
    assert page.url.endswith("/staff/interventions/1042")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert "Problème signalé" in page.inner_text("main")
    assert "E-mail envoyé" in page.locator("table.trail").inner_text()
    assert "Demande de validation" in page.locator("#h-mails + table").inner_text()
    assert "Statut du ticket" in page.locator("#h-effects + table").inner_text()
    assert "retenue" in page.locator("#h-backup + dl").inner_text()
    _shoot(page, shots, f"staff-detail-fr-{width}")
    page.context.close()


@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_an_action_is_done_recorded_with_the_staff_name_and_shown(
    browser: Any, site: dict[str, Any], shots: Path, width: str
) -> None:
    panel_id = "1044" if width == "desktop" else "1041"
    page = _signed_in(browser, site, width, intervention=panel_id)
    _click(page, page.get_by_role("button", name="Hold the backup"))
    assert page.url.endswith(f"/staff/interventions/{panel_id}")
    expect(page.get_by_role("status")).to_have_text("The backup is held.")
    trail = page.locator("table.trail tbody tr").last.inner_text()
    assert "Backup held" in trail and "staff — Alex Martin" in trail
    assert page.get_by_role("button", name="Release the backup").is_visible()
    _shoot(page, shots, f"staff-action-en-{width}")
    page.context.close()


def test_a_report_is_resolved_and_the_client_flagged_from_the_page(
    browser: Any, site: dict[str, Any]
) -> None:
    page = _signed_in(browser, site, intervention="1043")
    page.get_by_label("Outcome").select_option("no_fault")
    _click(page, page.get_by_role("button", name="Close the report"))
    expect(page.get_by_role("status")).to_have_text("The report is closed.")
    page.get_by_label("Why the client is no longer eligible").fill(
        "late report, reviewed with the client"
    )
    _click(page, page.get_by_role("button", name="Mark the client not eligible"))
    expect(page.get_by_role("status")).to_contain_text("no longer eligible")
    assert "Not eligible for free interventions since" in page.inner_text("main")
    run_due(site["app"])
    assert "Not eligible for free interventions" in site["panel"].client(9)["notes"]
    _click(page, page.get_by_role("button", name="Make the client eligible again"))
    expect(page.get_by_role("status")).to_contain_text("eligible again")
    page.context.close()


def test_a_session_cookie_from_elsewhere_cannot_post_without_the_form_token(
    browser: Any, site: dict[str, Any]
) -> None:
    page = _signed_in(browser, site)
    answer = page.request.post(
        f"{site['base']}/staff/interventions/1044/release", form={"csrf": "guessed"}
    )
    assert answer.status == 400
    assert "This form has expired" in answer.text()
    page.context.close()
