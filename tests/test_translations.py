"""The gettext catalogs: current with the code, French complete, and a host's own on top."""

from __future__ import annotations

import re
import subprocess
import sys
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from babel.support import Translations

from panel_addon import create_app, mailer, notes
from panel_addon.i18n import CATALOGS, normalise_language
from panel_addon.settings import SettingsError

from .typography import problems

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = CATALOGS / "messages.pot"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as po:
        return read_po(po, locale=locale)


def _catalog(language: str) -> Catalog:
    return _read(CATALOGS / language / "LC_MESSAGES" / "messages.po", language)


def _entries(catalog: Catalog) -> dict[tuple[Any, str | None], Message]:
    return {(message.id, message.context): message for message in catalog if message.id}


def test_the_template_holds_every_text_of_the_code_and_templates(tmp_path: Path) -> None:
    """What `make translations` extracts now is what the catalogs were made from."""
    fresh = tmp_path / "messages.pot"
    pybabel = Path(sys.executable).with_name("pybabel")
    subprocess.run(
        [str(pybabel), "-q", "extract", "-F", "pyproject.toml", "-o", str(fresh)],
        cwd=ROOT,
        check=True,
        timeout=120,
    )
    extracted = _entries(_read(fresh))

    assert set(extracted) == set(_entries(_read(TEMPLATE))), "run `make translations`"
    # Every part of a mail is extracted: its text part and the shared parts too.
    sources = {path for message in extracted.values() for path, _ in message.locations}
    mails = ROOT / "mail_templates"
    for part in mails.rglob("*.*"):
        if part.suffix in (".txt", ".html") and part.name != "_layout.html":
            assert str(part.relative_to(ROOT)) in sources, f"no text extracted from {part}"


@pytest.mark.parametrize("language", ["fr", "en"])
def test_each_catalog_has_the_templates_messages_and_no_fuzzy_one(language: str) -> None:
    catalog = _catalog(language)

    assert set(_entries(catalog)) == set(_entries(_read(TEMPLATE)))
    assert not catalog.fuzzy
    assert not [message.id for message in catalog if message.id and message.fuzzy]
    assert not catalog.obsolete


def test_every_message_of_the_french_catalog_is_translated() -> None:
    untranslated = [
        message.id
        for message in _catalog("fr")
        if message.id
        and (not message.string or (isinstance(message.string, tuple) and not all(message.string)))
    ]

    assert untranslated == []


@pytest.mark.parametrize("language", ["fr", "en"])
def test_each_catalog_compiles_and_loads(language: str) -> None:
    catalog = _catalog(language)

    problems = [(message.id, errors) for message, errors in catalog.check()]
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    translations = Translations(compiled)

    assert problems == []
    expected = "Signaler un problème" if language == "fr" else "Report a problem"
    assert translations.gettext("Report a problem") == expected
    assert translations.ngettext("%(num)d hour", "%(num)d hours", 2) % {"num": 2} in (
        "2 heures",
        "2 hours",
    )


def test_french_placeholders_are_the_msgids() -> None:
    wrong = []
    for message in _catalog("fr"):
        if not message.id:
            continue
        if isinstance(message.id, tuple):
            pairs = list(zip((message.id[0], message.id[1]), message.string, strict=True))
        else:
            pairs = [(message.id, message.string)]
        for source, translated in pairs:
            if set(PLACEHOLDER.findall(source)) != set(PLACEHOLDER.findall(translated)):
                wrong.append((source, translated))

    assert wrong == []


# -- A host's catalogs ------------------------------------------------------------------


def _host_catalog(folder: Path, language: str, strings: dict[Any, Any]) -> None:
    """Write and compile a host's catalog, as `pybabel compile` would."""
    messages = folder / language / "LC_MESSAGES"
    messages.mkdir(parents=True)
    catalog = Catalog(locale=language)
    for msgid, msgstr in strings.items():
        catalog.add(msgid, msgstr)
    with (messages / "messages.po").open("wb") as po:
        write_po(po, catalog)
    with (messages / "messages.mo").open("wb") as mo:
        write_mo(mo, catalog)


def test_a_host_changes_a_string_and_adds_a_language_without_python(
    make_app: Any, tmp_path: Path
) -> None:
    host = tmp_path / "translations"
    _host_catalog(host, "fr", {"Report received": "Nous avons votre signalement"})
    _host_catalog(
        host,
        "de",
        {
            "Report received: intervention on %(site)s": "Meldung erhalten: Eingriff auf %(site)s",
            "Hello %(client_name)s,": "Hallo %(client_name)s,",
            ("%(num)d hour", "%(num)d hours"): ("%(num)d Stunde", "%(num)d Stunden"),
            "yes": "ja",
        },
    )
    app = make_app(TRANSLATIONS_DIR=str(host), STAFF_LANGUAGE="de")

    assert app.config["LANGUAGES"] == ["en", "de", "fr"]
    with app.app_context():
        # WHMCS names the language of the client's account in English.
        assert normalise_language("german") == normalise_language("de-DE") == "de"
        assert normalise_language("French") == "fr"
        assert normalise_language("spanish") is None
        german = mailer.render("reported", "de", {"site": "shop.example", "client_name": "Uwe"})
        french = mailer.render("reported", "fr", {"site": "shop.example"})
        assert german.subject == "Meldung erhalten: Eingriff auf shop.example"
        assert german.text.startswith("Hallo Uwe,")
        assert '<html lang="de"' in german.html
        # What the host did not translate reads in English.
        assert "We have received your report" in german.text
        # A host's string wins over the package's; the others stay.
        untitled = mailer.render("reported", "fr", {})
        assert "<title>Nous avons votre signalement</title>" in untitled.html
        assert french.subject == "Signalement reçu\u00a0: intervention sur shop.example"
        assert notes.note_text("de", "word.yes") == "ja"
        assert notes.note_text("fr", "word.yes") == "oui"


def test_a_host_language_can_be_the_default(make_app: Any, tmp_path: Path) -> None:
    host = tmp_path / "translations"
    _host_catalog(host, "pt_BR", {"Invalid link": "Link inválido"})
    app = make_app(TRANSLATIONS_DIR=str(host), DEFAULT_LANGUAGE="pt_BR")

    page = app.test_client().get("/i/garbage/validate")

    assert page.status_code == 404
    assert '<html lang="pt-BR">' in page.get_data(as_text=True)
    assert "Link inválido" in page.get_data(as_text=True)
    with app.app_context():
        assert normalise_language("portuguese-br") == "pt_BR"


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("missing", "is not a folder"),
        ("uncompiled", "is not compiled: run pybabel compile"),
        ("not-a-language", "is not a language code"),
    ],
)
def test_a_host_catalog_the_service_cannot_read_stops_start_up(
    tmp_path: Path, layout: str, message: str
) -> None:
    host = tmp_path / "translations"
    if layout == "uncompiled":
        _host_catalog(host, "de", {"yes": "ja"})
        (host / "de" / "LC_MESSAGES" / "messages.mo").unlink()
    elif layout == "not-a-language":
        _host_catalog(host, "klingon", {"yes": "HIja'"})

    with pytest.raises(SettingsError) as refused:
        create_app({"TESTING": True, "TRANSLATIONS_DIR": str(host)})

    assert "PANEL_ADDON_TRANSLATIONS_DIR" in str(refused.value)
    assert message in str(refused.value)


def test_the_default_languages_must_have_a_catalog() -> None:
    with pytest.raises(SettingsError, match="PANEL_ADDON_STAFF_LANGUAGE must be one of en, fr"):
        create_app({"TESTING": True, "STAFF_LANGUAGE": "de"})


# -- Ticket notes ----------------------------------------------------------------------

# The keys a pending `add_ticket_note` task (or a note's words) may hold in a database
# written by an earlier release: each must still render.
STORED_NOTE_KEYS = (
    "note.completed",
    "note.cancelled",
    "note.validated",
    "note.reported",
    "note.reported_late",
    "note.lapsed",
    "note.backup_expired",
    "note.backup_held",
    "note.resolved",
    "sitecheck.note.regression",
    "sitecheck.note.released",
    "sitecheck.note.timed_out",
    "internal_note.line",
)


def test_every_note_a_stored_task_may_hold_renders_in_each_language(app: Any) -> None:
    values = {
        name: f"<{name}>"
        for name in [
            "panel_id",
            "deadline",
            "reason",
            "ip",
            "restore",
            "backup",
            "message",
            "reference",
            "staff",
            "resolution",
            "pages",
            "mail",
            "since",
            "intervention",
            "email",
            "error",
        ]
    }
    with app.app_context():
        for key in (*STORED_NOTE_KEYS, *notes.NOTES):
            french = notes.note_text("fr", key, **values, count=2)
            english = notes.note_text("en", key, **values, count=2)
            assert french != english, key
            assert "%(" not in french + english, key
        plural = notes.note_text("fr", "sitecheck.note.regression", **values, count=2)
        assert "2 pages en régression" in plural
        assert "1 page got worse" in notes.note_text(
            "en", "sitecheck.note.regression", **values, count=1
        )


# -- French typography -----------------------------------------------------------------

# Not prose: a Babel date pattern, where quotes mark literal text.
NOT_PROSE = {"EEEE d MMMM y 'at' h:mm a"}


def test_every_french_string_follows_french_typography() -> None:
    """No-break space before `: ; ? !` and inside « », typographic apostrophes, no `((`."""
    found = []
    for message in _catalog("fr"):
        if not message.id or message.id in NOT_PROSE:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for string in strings:
            found += [(message.id, problem) for problem in problems(string, markup=True)]

    assert found == []


def test_the_typography_check_sees_each_fault() -> None:
    assert problems("Une question ? Oui") and problems("Rappel: demain") and problems("l'équipe")
    assert problems("« oui »") and problems("Alex (support) (ticket 12)")
    assert problems("Une question&nbsp;?", markup=True) == []
    assert problems("Rappel\u00a0: à 14:30, voir https://example.net\u202f!") == []


def test_every_detail_an_event_records_has_words_in_the_staff_view() -> None:
    # Each keyword given to add_event is a key of the event's data, shown to staff by
    # its label; the time-stamp's token alone is left to the dossier.
    import ast

    from panel_addon.web.staff_labels import LABELS

    recorded = set()
    for path in (ROOT / "panel_addon").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "add_event":
                recorded |= {k.arg for k in node.keywords if k.arg}
    assert len(recorded) > 20
    words = set(LABELS["data"])
    assert recorded - words - {"token", "from_state", "to_state"} == set()
