"""The client mails: every mail renders in every language, safely, with the policy's facts."""

from __future__ import annotations

import html
import re
import tomllib
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import pytest
from flask import Flask

import mail_templates
from panel_addon import mailer
from panel_addon.mailer import MAIL_NAMES, RenderedMail, render, template_environment

LANGUAGES = ("fr", "en")
VALIDATE_URL = "https://signoff.example.net/i/tok.en-123/validate"
REPORT_URL = "https://signoff.example.net/i/tok.en-123/report"
SUPPORT_URL = "https://www.example.net/support"
HOSTILE = "<script>alert('x')</script>"

FULL = {
    "company_name": "EasyHoster",
    "support_url": SUPPORT_URL,
    "signature": None,
    "client_name": "Marie Dupont",
    "site": "boutique-exemple.fr",
    "technician": "Paul",
    "summary": "Mise à jour de WooCommerce.\nCorrection de l'erreur 500 du panier.",
    "ticket_id": "EZH-482913",
    "panel_id": "INT-42",
    "deadline": "jeudi 26 novembre 2026 à 14:30 (CET)",
    "window": "24 heures",
    "validate_url": VALIDATE_URL,
    "report_url": REPORT_URL,
    "backup_reference": "bk-20261125-1430",
    "backup_expires": "vendredi 27 novembre 2026 à 14:30 (CET)",
    "retention": "48 heures",
    "time_left": "2 heures",
    "left_minutes": 120,
    "report_message": "Le formulaire de contact\nne part plus.",
    "restore_requested": True,
    "late_report": False,
    "decided_at": "mercredi 25 novembre 2026 à 18:02 (CET)",
    "site_checks": [
        {"label": "Page d'accueil", "outcome": "répond (200)"},
        {"label": "Page panier", "outcome": "répond (200)"},
    ],
}
MINIMAL = {key: None for key in FULL} | {"company_name": "EasyHoster"}

EVERY_MAIL = [(name, language) for name in MAIL_NAMES for language in LANGUAGES]
ASKING_MAILS = [
    (name, language) for name in ("completion_request", "reminder") for language in LANGUAGES
]

CHECK_WORDS = {
    "fr": ("parcours d’achat", "formulaires de contact", "sauvegarde"),
    "en": ("purchase path", "contact forms", "backup"),
}


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.hrefs.extend(value or "" for key, value in attrs if key == "href")


def _parse(markup: str) -> _Links:
    parser = _Links()
    parser.feed(markup)
    return parser


def _visible_text(markup: str) -> str:
    """The HTML part as a reader sees it: tags dropped, entities decoded, spaces folded."""
    without_tags = re.sub(r"<[^>]+>", " ", markup)
    return " ".join(html.unescape(without_tags).split())


def _token_links(text: str) -> list[str]:
    return re.findall(r"https?://\S*/i/\S+", text)


@pytest.fixture(autouse=True)
def _catalogs(app: Flask) -> Iterator[None]:
    """Mails are rendered from the app's gettext catalogs, as the worker does."""
    with app.app_context():
        yield


@pytest.mark.parametrize(("name", "language"), EVERY_MAIL)
def test_every_mail_renders_with_a_full_context(name: str, language: str) -> None:
    mail = render(name, language, FULL)

    assert isinstance(mail, RenderedMail)
    assert mail.subject and "boutique-exemple.fr" in mail.subject
    assert "Marie Dupont" in mail.text and "Marie Dupont" in mail.html
    assert f'<html lang="{language}"' in mail.html
    for part in (mail.text, mail.html):
        assert "None" not in part
    assert "The EasyHoster team" in mail.text or "L’équipe EasyHoster" in mail.text


@pytest.mark.parametrize(("name", "language"), EVERY_MAIL)
@pytest.mark.parametrize("context", [MINIMAL, {}], ids=["all-none", "empty"])
def test_every_mail_renders_with_a_minimal_context(
    name: str, language: str, context: dict[str, object]
) -> None:
    mail = render(name, language, context)

    assert mail.subject
    assert mail.text.strip() and mail.html.strip()
    for part in (mail.subject, mail.text, mail.html):
        assert "None" not in part
    # With no signature nor company, the mail is still signed.
    if not context:
        assert "The support team" in mail.text or "L’équipe support" in mail.text


@pytest.mark.parametrize(("name", "language"), EVERY_MAIL)
def test_the_html_part_escapes_what_clients_and_technicians_typed(name: str, language: str) -> None:
    context = FULL | {
        "client_name": f"Marie {HOSTILE}",
        "summary": f"Ligne 1\n{HOSTILE}",
        "report_message": f"Ligne 1\n{HOSTILE}",
        "signature": f"Paul\n{HOSTILE}",
    }

    mail = render(name, language, context)

    assert "<script" not in mail.html
    assert "&lt;script&gt;" in mail.html


@pytest.mark.parametrize(("name", "language"), EVERY_MAIL)
def test_the_html_part_keeps_the_line_breaks_of_typed_text(name: str, language: str) -> None:
    mail = render(name, language, FULL)

    if name == "reported":
        assert "Le formulaire de contact<br>ne part plus." in mail.html
    else:
        assert "Mise à jour de WooCommerce.<br>Correction" in mail.html
        assert "  Mise à jour de WooCommerce.\n  Correction" in mail.text


@pytest.mark.parametrize(("name", "language"), EVERY_MAIL)
def test_html_is_self_contained_for_mail_clients(name: str, language: str) -> None:
    parsed = _parse(render(name, language, FULL).html)

    assert not parsed.tags & {"img", "link", "script", "style", "iframe"}
    assert all(href in (SUPPORT_URL, VALIDATE_URL, REPORT_URL) for href in parsed.hrefs)


@pytest.mark.parametrize(("name", "language"), ASKING_MAILS)
def test_asking_mails_carry_exactly_the_two_action_links(name: str, language: str) -> None:
    mail = render(name, language, FULL)

    html_tokens = [href for href in _parse(mail.html).hrefs if "/i/" in href]
    assert sorted(html_tokens) == sorted([VALIDATE_URL, REPORT_URL])
    assert _token_links(mail.text) == [VALIDATE_URL, REPORT_URL]
    # Links stand on their own lines in the text part, so every client makes them clickable.
    lines = mail.text.splitlines()
    assert VALIDATE_URL in lines and REPORT_URL in lines
    assert SUPPORT_URL in lines


@pytest.mark.parametrize(("name", "language"), ASKING_MAILS)
def test_asking_mails_say_the_policy(name: str, language: str) -> None:
    mail = render(name, language, FULL)

    for part in (mail.text, _visible_text(mail.html)):
        for fact in (
            FULL["deadline"],
            FULL["backup_expires"],
            FULL["backup_reference"],
            *CHECK_WORDS[language],
        ):
            assert fact in part, fact
        # What silence means, said once and calmly; no word of internal notes.
        silence = "tout fonctionne et clôturerons" if language == "fr" else "everything works and"
        assert part.count(silence) == 1
        eligible = "ne plus bénéficier" if language == "fr" else "no longer be eligible"
        assert part.count(eligible) == 1
        assert ("note interne" if language == "fr" else "internal note") not in part.lower()
        assert "confirmation" in part
    if name == "reminder":
        left = "Il vous reste 2 heures." if language == "fr" else "You have 2 hours left."
        assert left in mail.text and left in _visible_text(mail.html)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_completion_mail_names_the_validation_window(language: str) -> None:
    # Without a deadline (not known yet), the window is named instead.
    mail = render("completion_request", language, FULL | {"deadline": None})

    assert "24 heures" in mail.text
    assert "24 heures" in _visible_text(mail.html)


@pytest.mark.parametrize(("name", "language"), ASKING_MAILS)
def test_automatic_checks_are_listed_without_replacing_the_clients_own(
    name: str, language: str
) -> None:
    heading = "vérifié automatiquement" if language == "fr" else "checked automatically"
    with_checks = render(name, language, FULL)
    without_checks = render(name, language, FULL | {"site_checks": []})

    for part in (with_checks.text, _visible_text(with_checks.html)):
        assert heading in part
        assert "Page panier" in part
        assert ("ne remplacent pas" if language == "fr" else "do not replace") in part
    assert heading not in without_checks.text
    assert heading not in without_checks.html
    # Either way the client is asked to check the whole site.
    for mail in (with_checks, without_checks):
        assert CHECK_WORDS[language][0] in mail.text


@pytest.mark.parametrize("language", LANGUAGES)
def test_asking_mails_do_not_mention_a_backup_there_is_not(language: str) -> None:
    mail = render("completion_request", language, FULL | {"backup_expires": None})

    assert FULL["backup_reference"] not in mail.text
    assert ("VOTRE SAUVEGARDE" if language == "fr" else "YOUR BACKUP") not in mail.text


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_validated_mail_says_when_the_backup_is_deleted(language: str) -> None:
    mail = render("validated", language, FULL)

    for part in (mail.text, _visible_text(mail.html)):
        assert FULL["backup_expires"] in part
        assert ("supprimée" if language == "fr" else "deleted") in part
    assert not _token_links(mail.text)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_reported_mail_acknowledges_the_report(language: str) -> None:
    mail = render("reported", language, FULL)

    for part in (mail.text, _visible_text(mail.html)):
        assert ("rouvert" if language == "fr" else "reopened") in part
        assert ("restauration" if language == "fr" else "restored") in part
        assert ("tant que votre signalement" if language == "fr" else "as long as") in part
        assert ("tardif" if language == "fr" else "late report") not in part
    assert not _token_links(mail.text)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_late_report_is_said_plainly_and_without_threat(language: str) -> None:
    mail = render("reported", language, FULL | {"late_report": True})

    for part in (mail.text, _visible_text(mail.html)):
        assert ("signalement tardif" if language == "fr" else "late report") in part
        assert FULL["deadline"] in part
        assert ("éligible" if language == "fr" else "eligib") not in part


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_report_after_the_backup_expired_does_not_promise_a_restore(language: str) -> None:
    context = FULL | {"late_report": True, "backup_state": "expired"}

    mail = render("reported", language, context)

    assert ("n’est plus disponible" if language == "fr" else "no longer available") in mail.text
    assert ("tant que votre signalement" if language == "fr" else "as long as") not in mail.text


@pytest.mark.parametrize(("name", "language"), EVERY_MAIL)
def test_subjects_are_one_line_even_with_hostile_values(name: str, language: str) -> None:
    context = FULL | {"site": "example.org\r\nBcc: victim@example.com\n", "time_left": "2\nh"}

    subject = render(name, language, context).subject

    assert "\n" not in subject and "\r" not in subject
    assert subject == subject.strip()
    assert "example.org Bcc: victim@example.com" in subject


def test_a_hosts_override_directory_takes_precedence(tmp_path: Path) -> None:
    branded = tmp_path / "completion_request"
    branded.mkdir(parents=True)
    (branded / "subject.txt").write_text(
        "Example Hosting | {% trans %}Intervention completed on {{ site }}{% endtrans %}\n",
        encoding="utf-8",
    )

    french = render("completion_request", "fr", FULL, override_dir=str(tmp_path))
    english = render("completion_request", "en", FULL, override_dir=str(tmp_path))

    # The host's template, its sentence from the catalogs in each language.
    assert french.subject == "Example Hosting | Intervention terminée sur boutique-exemple.fr"
    assert english.subject == "Example Hosting | Intervention completed on boutique-exemple.fr"
    # The parts the host did not copy come from the package.
    assert VALIDATE_URL in french.text and "Bonjour Marie Dupont," in french.text
    assert render("completion_request", "fr", FULL).subject != french.subject


def test_an_override_layout_brands_every_html_mail(tmp_path: Path) -> None:
    layout = (Path(mail_templates.__file__).parent / "_layout.html").read_text(encoding="utf-8")
    (tmp_path / "_layout.html").write_text(
        layout.replace("<body ", '<body data-brand="exemple" '), encoding="utf-8"
    )

    mail = render("validated", "en", FULL, override_dir=str(tmp_path))

    assert 'data-brand="exemple"' in mail.html


def test_environments_are_cached_per_override_directory(tmp_path: Path) -> None:
    assert template_environment(None) is template_environment(None)
    assert template_environment(str(tmp_path)) is template_environment(str(tmp_path))
    assert template_environment(str(tmp_path)) is not template_environment(None)


def test_an_unknown_language_falls_back_to_english() -> None:
    mail = render("validated", "de", FULL)

    assert '<html lang="en"' in mail.html


def test_an_override_may_write_a_part_for_one_language(tmp_path: Path) -> None:
    only_french = tmp_path / "validated" / "fr"
    only_french.mkdir(parents=True)
    (only_french / "subject.txt").write_text("Merci, {{ client_name }} !", encoding="utf-8")

    french = render("validated", "fr", FULL, override_dir=str(tmp_path))
    english = render("validated", "en", FULL, override_dir=str(tmp_path))

    assert french.subject == "Merci, Marie Dupont !"
    assert english.subject == "Intervention on boutique-exemple.fr validated: thank you"
    assert "Bonjour Marie Dupont," in french.text


def test_a_mail_missing_a_part_raises(tmp_path: Path) -> None:
    custom = tmp_path / "custom"
    custom.mkdir()
    (custom / "subject.txt").write_text("Subject", encoding="utf-8")

    with pytest.raises(jinja2.TemplateNotFound):
        render("custom", "en", {}, override_dir=str(tmp_path))


def test_a_missing_template_raises() -> None:
    with pytest.raises(jinja2.TemplateNotFound):
        render("no_such_mail", "fr", FULL)


def test_names_that_are_not_path_segments_are_refused() -> None:
    with pytest.raises(ValueError):
        render("../secrets", "fr", FULL)


def test_templates_ship_inside_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """What `pip install .` needs: the files sit in the package and its package-data globs."""
    package_dir = Path(mail_templates.__file__).parent
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    globs = tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["setuptools"][
        "package-data"
    ]["mail_templates"]
    shipped = {path for pattern in globs for path in package_dir.glob(pattern)}

    for name in MAIL_NAMES:
        for part in ("subject.txt", "body.txt", "body.html"):
            path = package_dir / name / part
            assert path.is_file(), path
            assert path in shipped, f"{path} is not package data"
    for path in (package_dir / "_shared").iterdir():
        assert path in shipped, f"{path} is not package data"
    assert package_dir / "_layout.html" in shipped

    loader = template_environment(None).loader
    assert isinstance(loader, jinja2.ChoiceLoader)
    assert isinstance(loader.loaders[-1], jinja2.PackageLoader)
    # Found through the import system, not the working directory.
    monkeypatch.chdir(tmp_path)
    template_environment.cache_clear()
    try:
        assert render("completion_request", "fr", FULL).subject
    finally:
        template_environment.cache_clear()


def test_mail_names_are_the_four_mails() -> None:
    assert mailer.MAIL_NAMES == ("completion_request", "reminder", "validated", "reported")
