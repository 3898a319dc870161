"""The client's mails and pages on a phone: what matters is on the first screen.

Headless Chromium (Debian's) through Playwright, JavaScript off, at 375×667 (a small
phone) and at desktop width, in French and in English. Each mail is the real one the
worker would send for a real intervention; each page is served over loopback. Set
SCREENSHOTS_DIR=docs/screenshots (or run `make screenshots`) to refresh the pictures.
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
from panel_addon.effects.mail import build_message
from panel_addon.models import db
from panel_addon.tokens import link_url

from .browser_support import CHROMIUM, chromium, screenshots_folder, serve
from .conftest import REDIS_URL
from .flow import run_due, send
from .support import (
    STAFF_TOKEN,
    WEBHOOK_SECRET,
    ManualClock,
    free_port,
    signed_token,
    start_smtp,
    started_data,
)
from .typography import problems

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (CI installs it)"
)

pytest.importorskip("playwright.sync_api")

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
PHONE = (375, 667)
DESKTOP = (1280, 800)
LANGUAGES = ("fr", "en")
SUMMARY = (
    "WooCommerce 9.4 and 6 extensions updated.\n"
    "PHP 8.3 compatibility fixed in the child theme (functions.php)."
)
CLIENTS = {
    "fr": ("french", "Camille Martin", "boutique-camille.fr", "Alex"),
    "en": ("english", "Sofia Rossi", "rossi-design.com", "Maya"),
}
# What a reader sees first: for each language, the words of the deadline's sentence.
DEADLINE_WORDS = {"fr": "avant le", "en": "before"}


def _seed(app: Flask, clock: ManualClock) -> None:
    """Per language: one intervention awaiting the client, one validated, one reported."""
    http = app.test_client()
    for language, (whmcs_language, name, site, technician) in CLIENTS.items():
        for n, outcome in enumerate(("awaiting", "validated", "reported")):
            panel_id = f"{language}-{outcome}"
            client = {
                "id": f"{language}-{n}",
                "email": f"{panel_id}@example.test",
                "name": name,
                "language": whmcs_language,
            }
            data = started_data(
                panel_id,
                ticket_id=f"48{n}1",
                client=client,
                site=site,
                technician=technician,
                backup={"reference": f"bk-{site}-20261124", "created_at": T0.isoformat()},
            )
            assert send(http, "intervention.started", data).status_code == 200
            completed = {"id": panel_id, "summary": SUMMARY}
            assert send(http, "intervention.completed", completed).status_code == 200
    # The mail server takes the requests at T0: each client's window runs from then.
    run_due(app)
    clock.current = T0 + timedelta(hours=2)
    with app.app_context():
        for language in LANGUAGES:
            actor = Actor("client", name="client", ip="203.0.113.9", user_agent="phone")
            iv = lifecycle.get_by_panel_id(f"{language}-validated")
            lifecycle.validate(iv, actor, clock.now())
            iv = lifecycle.get_by_panel_id(f"{language}-reported")
            message = "Le bouton Payer ne répond plus." if language == "fr" else "Pay is broken."
            lifecycle.report(iv, message, True, actor, clock.now())
        db.session.commit()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("client-screens")
    port = free_port()
    clock = ManualClock(T0)
    smtp, mailbox = start_smtp()
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": secrets.token_hex(16),
            "WEBHOOK_SECRET": WEBHOOK_SECRET,
            "STAFF_API_TOKEN": STAFF_TOKEN,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'screens.sqlite'}",
            "REDIS_URL": REDIS_URL,
            "QUEUE_PREFIX": f"test-{secrets.token_hex(4)}",
            "PUBLIC_URL": f"http://127.0.0.1:{port}",
            "COMPANY_NAME": "EasyHost",
            "SUPPORT_URL": "https://billing.easyhost.example/submitticket.php",
            "DEFAULT_TIMEZONE": "Europe/Paris",
            "CLOCK": clock,
            "SITE_CHECK_ENABLED": False,
            "MAIL_SERVER": mailbox.host,
            "MAIL_PORT": mailbox.port,
        }
    )
    with app.app_context():
        db.create_all()
    _seed(app, clock)
    with serve(app, port) as base:
        yield {"app": app, "base": base, "clock": clock}
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    smtp.stop()


@pytest.fixture(scope="module")
def browser(site: dict[str, Any]) -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return screenshots_folder(tmp_path_factory.mktemp("screenshots"))


def _page(browser: Any, size: tuple[int, int], language: str) -> Any:
    width, height = size
    context = browser.new_context(
        viewport={"width": width, "height": height},
        java_script_enabled=False,
        locale="fr-FR" if language == "fr" else "en-GB",
    )
    return context.new_page()


def _shoot(page: Any, shots: Path, name: str) -> None:
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True, animations="disabled")


def _mail(site: dict[str, Any], panel_id: str, template: str, at: datetime) -> Any:
    with site["app"].app_context():
        intervention = lifecycle.get_by_panel_id(panel_id)
        return build_message(intervention, template, at, f"<{panel_id}@test>")


def _bottom(page: Any, locator: Any) -> float:
    box = locator.bounding_box()
    assert box is not None, "not shown"
    return float(box["y"] + box["height"])


def _first_screen(page: Any, what: str, locator: Any, found: dict[str, float]) -> None:
    found[what] = _bottom(page, locator)
    assert found[what] <= PHONE[1], f"{what} ends at {found[what]:.0f} px"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", ["completion_request", "reminder"])
def test_the_asking_mails_show_who_what_the_deadline_and_both_answers_on_the_first_screen(
    browser: Any, site: dict[str, Any], shots: Path, template: str, language: str
) -> None:
    at = T0 if template == "completion_request" else T0 + timedelta(hours=22)
    mail = _mail(site, f"{language}-awaiting", template, at)
    _, name, website, technician = CLIENTS[language]
    page = _page(browser, PHONE, language)
    page.set_content(mail.html)
    found: dict[str, float] = {}

    _first_screen(page, "who and where", page.get_by_text(technician, exact=False).first, found)
    assert website in page.get_by_text(technician, exact=False).first.inner_text()
    _first_screen(page, "what", page.get_by_text("WooCommerce 9.4", exact=False), found)
    deadline = page.locator("p", has_text=DEADLINE_WORDS[language]).first
    _first_screen(page, "deadline", deadline, found)
    # The deadline in the client's time: 25 November, 09:00 in Paris (08:00 UTC + 24 h).
    assert "9:00" in deadline.inner_text() and "CET" in deadline.inner_text()
    _first_screen(page, "validate", page.locator("a[href$='/validate']"), found)
    _first_screen(page, "report", page.locator("a[href$='/report']"), found)
    _shoot(page, shots, f"mail-{template.replace('_', '-')}-{language}-phone")
    page.context.close()

    wide = _page(browser, DESKTOP, language)
    wide.set_content(mail.html)
    _shoot(wide, shots, f"mail-{template.replace('_', '-')}-{language}-desktop")
    wide.context.close()


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", ["validated", "reported"])
def test_the_confirmation_mails_read_on_a_phone(
    browser: Any, site: dict[str, Any], shots: Path, template: str, language: str
) -> None:
    mail = _mail(site, f"{language}-{template}", template, T0 + timedelta(hours=2))
    for size, width in ((PHONE, "phone"), (DESKTOP, "desktop")):
        page = _page(browser, size, language)
        page.set_content(mail.html)
        # Nothing wider than the phone: no sideways scrolling.
        assert _bottom(page, page.locator("body")) > 0
        assert page.locator("body").bounding_box()["width"] <= size[0]
        _shoot(page, shots, f"mail-{template}-{language}-{width}")
        page.context.close()


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(
    ("purpose", "button"),
    [
        ("validate", {"fr": "Je valide", "en": "I validate"}),
        ("report", {"fr": "Envoyer", "en": "Send my report"}),
    ],
)
def test_the_link_pages_show_the_action_on_the_first_screen(
    browser: Any,
    site: dict[str, Any],
    shots: Path,
    purpose: str,
    button: dict[str, str],
    language: str,
) -> None:
    with site["app"].app_context():
        url = link_url(lifecycle.get_by_panel_id(f"{language}-awaiting"), purpose)
    page = _page(browser, PHONE, language)
    assert page.goto(url).status == 200
    found: dict[str, float] = {}

    _first_screen(page, "who and where", page.locator("p.lead"), found)
    _first_screen(page, "deadline", page.locator("p.deadline"), found)
    _first_screen(page, "action", page.get_by_role("button", name=button[language]), found)
    _shoot(page, shots, f"page-{purpose}-{language}-phone")
    page.context.close()

    wide = _page(browser, DESKTOP, language)
    wide.goto(url)
    _shoot(wide, shots, f"page-{purpose}-{language}-desktop")
    wide.context.close()


def _error_links(site: dict[str, Any], language: str) -> dict[str, str]:
    """The three links a client may hold that the service refuses, each with its page."""
    app = site["app"]
    with app.app_context():
        awaiting = lifecycle.get_by_panel_id(f"{language}-awaiting")
        token = link_url(awaiting, "validate").split("/i/", 1)[1].split("/", 1)[0]
        ids = {"i": awaiting.id, "n": awaiting.link_nonce}
    max_age = int(app.config["LINK_MAX_AGE"].total_seconds())
    tokens = {
        # Signed a minute more than LINK_MAX_AGE ago: the token tells whose it was.
        "error-expired": signed_token(app, ids, "validate", age=max_age + 60),
        # Cut short in a mail: its signature is broken, its payload still says whose.
        "error-invalid": token[:-6],
        # Signed by the service for an intervention it does not have: the browser's language.
        "error-unknown": signed_token(app, {"i": 10**9, "n": "0" * 16}, "validate"),
    }
    return {name: f"{site['base']}/i/{value}/validate" for name, value in tokens.items()}


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_pages_after_an_answer_and_the_error_pages_read_on_a_phone(
    browser: Any, site: dict[str, Any], shots: Path, language: str
) -> None:
    with site["app"].app_context():
        done = {
            "validated": link_url(lifecycle.get_by_panel_id(f"{language}-validated"), "validate"),
            "reported": link_url(lifecycle.get_by_panel_id(f"{language}-reported"), "report"),
        }
    done |= _error_links(site, language)
    statuses = {"error-expired": 410, "error-invalid": 404, "error-unknown": 404}
    titles = {
        "error-expired": {"fr": "Lien expiré", "en": "Expired link"},
        "error-invalid": {"fr": "Lien non valide", "en": "Invalid link"},
        "error-unknown": {"fr": "Intervention introuvable", "en": "Intervention not found"},
    }
    for name, url in done.items():
        for size, width in ((PHONE, "phone"), (DESKTOP, "desktop")):
            page = _page(browser, size, language)
            answer = page.goto(url)
            assert answer.status == statuses.get(name, 200)
            assert page.locator("html").get_attribute("lang") == language
            if name.startswith("error"):
                assert page.locator("h1").inner_text() == titles[name][language]
                support = page.get_by_role("link", name="support", exact=False).first
                assert support.get_attribute("href") == site["app"].config["SUPPORT_URL"]
                _first_screen(page, "support", support, {})
            _shoot(page, shots, f"page-{name}-{language}-{width}")
            page.context.close()


def test_the_french_mails_and_pages_follow_french_typography(site: dict[str, Any]) -> None:
    """Every French sentence a client reads, as rendered: mails' text and HTML, pages."""
    found = []
    at = {"completion_request": T0, "reminder": T0 + timedelta(hours=23, minutes=59)}
    for template, moment in at.items():
        mail = _mail(site, "fr-awaiting", template, moment)
        found += [(template, p) for p in problems(mail.subject)]
        found += [(template, p) for p in problems(mail.text)]
        found += [(template, p) for p in problems(mail.html, markup=True)]
    for template in ("validated", "reported"):
        mail = _mail(site, f"fr-{template}", template, T0 + timedelta(hours=2))
        found += [(template, p) for p in problems(mail.text)]
        found += [(template, p) for p in problems(mail.html, markup=True)]
    http = site["app"].test_client()
    with site["app"].app_context():
        urls = [
            link_url(lifecycle.get_by_panel_id("fr-awaiting"), "validate"),
            link_url(lifecycle.get_by_panel_id("fr-awaiting"), "report"),
            link_url(lifecycle.get_by_panel_id("fr-validated"), "validate"),
            link_url(lifecycle.get_by_panel_id("fr-reported"), "report"),
        ]
    errors = _error_links(site, "fr")
    for url in [*urls, *errors.values(), f"{site['base']}/i/garbage/validate"]:
        page = http.get(url.removeprefix(site["base"]), headers={"Accept-Language": "fr"})
        body = page.get_data(as_text=True).split("<body>", 1)[1]
        found += [(url, p) for p in problems(body, markup=True)]

    assert found == []


def test_the_last_minute_reads_naturally(site: dict[str, Any]) -> None:
    one = _mail(site, "fr-awaiting", "reminder", T0 + timedelta(hours=23, minutes=59))
    two = _mail(site, "fr-awaiting", "reminder", T0 + timedelta(hours=22))
    english = _mail(site, "en-awaiting", "reminder", T0 + timedelta(hours=23, minutes=59))

    assert "Il ne vous reste plus qu’une minute." in one.text
    assert "Il vous reste 2 heures." in two.text
    assert "You have only one minute left." in english.text
