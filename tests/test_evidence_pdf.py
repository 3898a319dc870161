"""The dispute dossier as a PDF: read back with pypdf, in French and in English."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from flask import Flask
from pypdf import PdfReader

from panel_addon.i18n import CATALOGS
from panel_addon.web import dossier_pdf

from .dossier_example import MAIL_TEXT_FR, reported_dossier

ROOT = Path(__file__).resolve().parent.parent


def pdf_text(pdf: bytes) -> str:
    """The PDF's text as a reader copies it, words hyphenated at a line's end joined again."""
    reader = PdfReader(BytesIO(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return re.sub(r"\u2010\n", "", text)


def lines(text: str) -> list[str]:
    """Each line with its runs of ordinary spaces as one (non-breaking ones are kept)."""
    return [re.sub(r"[ \t]+", " ", line).strip() for line in text.splitlines() if line.strip()]


def render(app: Flask, dossier: dict[str, Any], language: str) -> bytes:
    with app.app_context():
        return dossier_pdf.render(dossier, language, "Europe/Paris")


@pytest.fixture
def pdf_app(make_app: Any) -> Flask:
    return make_app(COMPANY_NAME="EasyHost")  # type: ignore[no-any-return]


def test_the_french_pdf_has_the_timeline_the_mails_text_and_the_head(pdf_app: Flask) -> None:
    dossier = reported_dossier("fr")
    pdf = render(pdf_app, dossier, "fr")
    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    # The intervention, the decision and the backup's fate, in plain French.
    assert "Dossier de l’intervention iv-1" in text
    assert "Le client a signalé un problème le 26 nov. 2026, 15:15:02 CET." in " ".join(lines(text))
    assert "La sauvegarde bk-iv-1 est retenue" in text
    # The timeline, every event in words at its local time (Paris: UTC+1 in November).
    assert "Chronologie" in text
    for sentence in (
        "Le technicien Alex a commencé l’intervention.",
        "Le site a été vérifié (avant l’intervention).",
        "Le client a ouvert la page «\u00a0signaler un problème\u00a0».",
        "Le client a signalé un problème.",
    ):
        assert sentence in " ".join(lines(text)), sentence
    assert "09:00:00 CET" in text and "15:15:02 CET" in text
    # Each event's hash begins on its line, to match the ticket notes' "Trail: …".
    for event in dossier["events"]:
        assert event["hash"][:16] in text
    # The mail's text as the client read it, line by line.
    for line in lines(MAIL_TEXT_FR):
        assert line in lines(text), line
    assert "Le texte de cet e-mail n’a pas été conservé." in text
    # The site check, before and after, in the client's words.
    assert "accessible, formulaire de commande" in text and "erreur 500" in text
    # The last page: the head, the key id, how to verify.
    last = pdf_text_of_page(pdf, -1)
    assert dossier["head"] in last.replace("\n", "")
    assert "k-2026-11" in last and "panel-addon evidence verify dossier.json" in last
    assert "https://signoff.host.example/api/v1/evidence/keys" in last.replace("\n", "")


def pdf_text_of_page(pdf: bytes, index: int) -> str:
    return PdfReader(BytesIO(pdf)).pages[index].extract_text()


def test_the_english_pdf_says_the_same_in_english(pdf_app: Flask) -> None:
    dossier = reported_dossier("en")
    text = pdf_text(render(pdf_app, dossier, "en"))
    joined = " ".join(lines(text))
    assert "Intervention record iv-1" in text and "Timeline" in text
    assert "The client reported a problem." in joined
    assert "They asked for the site to be restored from the backup." in joined
    assert "Mail “Validation request” sent to camille@example.test." in joined
    # CLDR's English puts a narrow no-break space before AM and PM.
    assert "Nov 26, 2026" in text and "3:15:02\u202fPM CET" in text
    assert "Chronologie" not in text
    for line in lines(MAIL_TEXT_FR):
        assert line in lines(text), line
    assert dossier["head"] in text.replace("\n", "")
    assert "Checking this record" in text


def test_views_by_the_client_are_told_apart_from_a_scanner_s(pdf_app: Flask) -> None:
    text = " ".join(lines(pdf_text(render(pdf_app, reported_dossier("en"), "en"))))
    assert "Opened by the client: 1 time." in text
    assert "Fetched by a mail scanner or link preview: 1 time." in text
    assert "A mail scanner or link preview fetched the page “validate the intervention”." in text
    assert "Microsoft Safe Links" in text


def test_the_pdf_carries_the_signed_dossier_as_its_attachment(pdf_app: Flask) -> None:
    dossier = reported_dossier("fr")
    reader = PdfReader(BytesIO(render(pdf_app, dossier, "fr")))
    [attached] = reader.attachments["dossier.json"]
    assert json.loads(attached) == dossier


def test_a_lapsed_intervention_shows_the_silence(pdf_app: Flask) -> None:
    dossier = reported_dossier("en")
    dossier["intervention"].update(
        state="lapsed", decided_at=None, report_message=None, restore_requested=False
    )
    dossier["intervention"]["backup"]["state"] = "expired"
    dossier["events"] = dossier["events"][:6]
    text = " ".join(lines(pdf_text(render(pdf_app, dossier, "en"))))
    assert (
        "The client did not answer before the deadline, Nov 27, 2026, 10:00:00\u202fAM CET:"
        " the intervention is taken as accepted." in text
    )
    expired = "The retention of the backup bk-iv-1 ended on Nov 28, 2026, 10:00:00\u202fAM CET."
    assert expired in text
    assert "Opened by the client: 0 times." in text


def test_a_sparse_or_newer_dossier_still_renders(pdf_app: Flask) -> None:
    dossier: dict[str, Any] = {
        "intervention": {"id": "iv-9", "state": "in_progress", "client": {"language": "fr"}},
        "events": [
            {"seq": 1, "at": "2026-11-26T08:00:00Z", "type": "some.future_event", "data": None},
            "not an event",
        ],
        "mails": [],
        "head": "ab" * 32,
        "generated_at": "2026-11-26T08:00:01Z",
    }
    text = pdf_text(render(pdf_app, dossier, "fr"))
    assert "Some.future event" in text or "some.future_event" in text
    assert "Aucun e-mail n’a été envoyé au client." in text
    assert "ab" * 32 in text.replace("\n", "")


class _Recorder(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        self.hits.append(self.path)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def listener() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Recorder.hits = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_typed_markup_is_printed_as_text_and_nothing_is_fetched(
    pdf_app: Flask, listener: str
) -> None:
    dossier = reported_dossier("en")
    markup = f'<img src="{listener}/pixel.png"><link rel="stylesheet" href="{listener}/x.css">'
    dossier["intervention"]["summary"] = markup
    dossier["intervention"]["site_check"][0]["url"] = f"{listener}/"
    text = pdf_text(render(pdf_app, dossier, "en"))
    assert "<img src=" in text
    assert _Recorder.hits == []


def test_the_dossier_s_french_follows_french_typography() -> None:
    """Non-breaking spaces before : ; ? ! and inside « », the typographic apostrophe."""
    with (CATALOGS / "fr" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale="fr")
    ours = [
        message
        for message in catalog
        if message.id
        and any("evidence/" in path or "dossier_pdf" in path for path, _ in message.locations)
    ]
    assert len(ours) > 40
    for message in ours:
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for text in strings:
            assert text, message.id
            assert not re.search(r" [:;?!»]|« ", text), text
            assert "'" not in text and "“" not in text, text
            assert not re.search(r"\S[:;?!]", text.replace("https:", "").replace("0:", "")), text
