"""The dispute dossier as a PDF: read back with pypdf, in French and in English."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
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
from panel_addon.tokens import mask_links
from panel_addon.web import dossier_pdf

from .browser_support import screenshots_folder
from .dossier_example import MAIL_TEXT_FR, reported_dossier
from .fake_whmcs import TEST_IDENTIFIER, TEST_SECRET, FakeWhmcs
from .flow import complete, path_of, run_due, send, start
from .loopback_site import LoopbackSite
from .support import STAFF_TOKEN, mail_links, started_data

ROOT = Path(__file__).resolve().parent.parent


def pdf_text(pdf: bytes) -> str:
    """The PDF's text as a reader copies it, words hyphenated at a line's end joined again."""
    reader = PdfReader(BytesIO(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return re.sub(r"\u2010\n", "", text)


def lines(text: str) -> list[str]:
    """Each line with its runs of ordinary spaces as one (non-breaking ones are kept)."""
    return [re.sub(r"[ \t]+", " ", line).strip() for line in text.splitlines() if line.strip()]


def squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


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
    # The panel's note, as the help desk holds it, with the head it carried.
    assert "Le service a écrit une note sur le ticket T-100." in text
    assert "Trail: a6980bec6c226717" in text
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


# -- The dossier of a real intervention, through the API, the staff view and a login link --

API = {"Authorization": f"Bearer {STAFF_TOKEN}"}
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
SAFE_LINKS = "Mozilla/5.0 (compatible; SafeLinks/1.0; +https://aka.ms/safelinks)"


@pytest.fixture
def panel() -> Iterator[FakeWhmcs]:
    with FakeWhmcs() as fake:
        fake.add_client(7, notes="")
        fake.add_ticket(100, status="Open", client_id=7)
        yield fake


def reported(make_app: Any, mailbox: Any, clock: Any, panel: FakeWhmcs) -> tuple[Flask, Any]:
    """A French client's intervention: mailed, scanned, opened, reported; its ticket noted."""
    app = make_app(
        STAFF_LANGUAGE="en",
        SITE_CHECK_ENABLED=False,
        COMPANY_NAME="EasyHost",
        WHMCS_URL=panel.url,
        WHMCS_IDENTIFIER=TEST_IDENTIFIER,
        WHMCS_SECRET=TEST_SECRET,
    )
    client = app.test_client()
    start(client, ticket_id="100")
    complete(client, summary="Mise à jour de WooCommerce ; caches vidés.")
    run_due(app)
    links = {url.rsplit("/", 1)[1]: path_of(url) for url in mail_links(mailbox.received()[-1])}
    assert client.get(links["validate"], headers={"User-Agent": SAFE_LINKS}).status_code == 200
    clock.advance(minutes=30)
    assert client.get(links["report"], headers={"User-Agent": BROWSER}).status_code == 200
    answer = client.post(
        links["report"],
        data={"message": "La page de paiement affiche une erreur 500.", "restore": "on"},
        headers={"User-Agent": BROWSER},
    )
    assert answer.status_code == 303
    run_due(app)
    return app, client


def test_the_api_answers_a_real_dossier_as_a_pdf_in_the_client_s_language(
    backend: str, make_app: Any, mailbox: Any, clock: Any, panel: FakeWhmcs
) -> None:
    app, client = reported(make_app, mailbox, clock, panel)
    signed = client.get("/api/v1/interventions/iv-1/evidence", headers=API)
    dossier = signed.get_json()
    answer = client.get("/api/v1/interventions/iv-1/evidence?format=pdf", headers=API)
    assert answer.status_code == 200 and answer.mimetype == "application/pdf"
    assert answer.headers["Cache-Control"] == "no-store"
    assert 'filename="dossier-iv-1.pdf"' in answer.headers["Content-Disposition"]
    pdf = answer.get_data()
    # The PDF carries the very file the JSON answer is, signature and all.
    [attached] = PdfReader(BytesIO(pdf)).attachments["dossier.json"]
    assert attached == signed.get_data()
    text = pdf_text(pdf)
    joined = " ".join(lines(text))
    assert "Dossier de l’intervention iv-1" in text and "Chronologie" in text
    for sentence in (
        "Le technicien Alex a commencé l’intervention.",
        "Un filtre de messagerie ou un aperçu de lien a consulté la page «\u00a0valider",
        "Le client a ouvert la page «\u00a0signaler un problème\u00a0».",
        "Le client a signalé un problème.",
        "Le service a écrit une note sur le ticket 100.",
        "Ouvertes par le client\u00a0: 1 fois.",
    ):
        assert sentence in joined, sentence
    # Every mail's text, as the client read it, without the links' tokens.
    assert [mail["kind"] for mail in dossier["mails"]] == ["completion_request", "reported"]
    for mail, received in zip(dossier["mails"], mailbox.received(), strict=True):
        plain = received.get_body(preferencelist=("plain",)).get_content()
        assert mail["text"] == mask_links(plain.replace("\r\n", "\n"))
    for mail in dossier["mails"]:
        assert mail["text"] and mail["sha256"]
        for line in lines(mail["text"]):
            # Long lines wrap in the PDF: compared without their spaces.
            assert squeezed(line) in squeezed(text), line
    for link in mail_links(mailbox.received()[0]):
        assert link.split("/i/", 1)[1].split("/")[0] not in text.replace("\n", "")
    # The note the help desk holds, its head one of the trail's.
    note = re.search(r"Trail: ([0-9a-f]{16})", text)
    assert note and any(e["hash"].startswith(note.group(1)) for e in dossier["events"])
    last = pdf_text_of_page(pdf, -1).replace("\n", "")
    assert dossier["head"] in last and dossier["signature"]["key_id"] in last

    english = client.get("/api/v1/interventions/iv-1/evidence?format=pdf&lang=en", headers=API)
    assert "The client reported a problem." in " ".join(lines(pdf_text(english.get_data())))


def test_a_dossier_in_an_unknown_format_or_language_is_refused(app: Flask) -> None:
    client = app.test_client()
    assert start(client).status_code == 200
    for query, code in (
        ("format=xml", "invalid_format"),
        ("format=pdf&lang=xx", "invalid_language"),
    ):
        answer = client.get(f"/api/v1/interventions/iv-1/evidence?{query}", headers=API)
        assert answer.status_code == 400 and answer.get_json()["error"]["code"] == code
    assert client.get("/api/v1/interventions/iv-1/evidence?format=pdf").status_code == 401
    missing = client.get("/api/v1/interventions/nope/evidence?format=pdf", headers=API)
    assert missing.status_code == 404


def test_staff_open_the_dossier_from_the_detail_page_or_a_login_link(
    make_app: Any, mailbox: Any, clock: Any, panel: FakeWhmcs
) -> None:
    app, client = reported(make_app, mailbox, clock, panel)
    # The WHMCS banner's link: a login link that lands on the dossier.
    made = client.post(
        "/api/v1/staff/login-links",
        json={"admin": "Alex Martin", "intervention": "iv-1", "dossier": "pdf"},
        headers=API,
    )
    assert made.status_code == 201
    staff = app.test_client()
    landed = staff.post(path_of(made.get_json()["url"]))
    assert landed.status_code == 303
    assert landed.headers["Location"] == "/staff/interventions/iv-1/evidence?format=pdf"
    pdf = staff.get(landed.headers["Location"])
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert "Chronologie" in pdf_text(pdf.get_data())
    # The detail page links both forms; the JSON one is the signed file.
    page = staff.get("/staff/interventions/iv-1").get_data(as_text=True)
    assert 'href="/staff/interventions/iv-1/evidence?format=pdf"' in page
    assert 'href="/staff/interventions/iv-1/evidence"' in page
    signed = staff.get("/staff/interventions/iv-1/evidence")
    assert signed.mimetype == "application/json" and signed.get_json()["signature"]["value"]
    refused = staff.get("/staff/interventions/iv-1/evidence?format=doc")
    assert refused.status_code == 400 and "PDF or as JSON" in refused.get_data(as_text=True)
    # Without a session, no dossier.
    assert app.test_client().get("/staff/interventions/iv-1/evidence").status_code == 401
    for body in ({"intervention": "iv-1", "dossier": "doc"}, {"client": "7", "dossier": "pdf"}):
        wrong = client.post("/api/v1/staff/login-links", json={"admin": "A", **body}, headers=API)
        assert wrong.status_code == 422 and wrong.get_json()["error"]["field"] == "dossier"


# -- Pictures for the docs: SCREENSHOTS_DIR=docs/screenshots refreshes them -----------------

SHOP = {
    "/": "<html><head><title>Boutique de Camille</title></head><body><p>Bonjour</p></body></html>",
    "/checkout/": (
        '<html><head><title>Commande</title></head><body><form name="checkout" method="post"'
        ' action="/checkout/"><input name="billing_email"><input name="payment_method">'
        '<button name="woocommerce_checkout_place_order">Commander</button></form></body></html>'
    ),
}


def test_a_real_dossier_in_both_languages_as_pictures_of_its_first_pages(
    make_app: Any,
    mailbox: Any,
    clock: Any,
    panel: FakeWhmcs,
    tmp_path: Path,
) -> None:
    """The docs' pictures (docs/dossier-pdf.md): an intervention checked, mailed, reported."""
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        pytest.skip("needs pdftoppm (Debian's poppler-utils)")
    with LoopbackSite() as site:
        for path, body in SHOP.items():
            site.page(path, body)
        app = make_app(
            STAFF_LANGUAGE="en",
            COMPANY_NAME="EasyHost",
            SITE_CHECK_ALLOW_PRIVATE=True,
            SITE_CHECK_TIMEOUT="5s",
            WHMCS_URL=panel.url,
            WHMCS_IDENTIFIER=TEST_IDENTIFIER,
            WHMCS_SECRET=TEST_SECRET,
        )
        client = app.test_client()
        urls = [site.url(path) for path in SHOP]
        started = started_data("iv-1042", ticket_id="100", check_urls=urls)
        started["client"] |= {"name": "Camille Dupont", "email": "camille@boutique.example"}
        assert send(client, "intervention.started", started).status_code == 200
        run_due(app)
        clock.advance(minutes=50)
        summary = "WordPress 6.6 → 6.7 et WooCommerce 9.4 mis à jour ; caches vidés."
        complete(client, "iv-1042", summary=summary)
        run_due(app)
        clock.advance(seconds=2)
        links = {u.rsplit("/", 1)[1]: path_of(u) for u in mail_links(mailbox.received()[-1])}
        assert client.get(links["validate"], headers={"User-Agent": SAFE_LINKS}).status_code == 200
        clock.advance(hours=3, minutes=12)
        assert client.get(links["report"], headers={"User-Agent": BROWSER}).status_code == 200
        clock.advance(minutes=2)
        message = "Depuis la mise à jour, le formulaire de contact n’envoie plus rien."
        answer = client.post(
            links["report"],
            data={"message": message, "restore": "on"},
            headers={"User-Agent": BROWSER},
        )
        assert answer.status_code == 303
        run_due(app)
    folder = screenshots_folder(tmp_path)
    for language in ("fr", "en"):
        query = f"format=pdf&lang={language}"
        answer = client.get(f"/api/v1/interventions/iv-1042/evidence?{query}", headers=API)
        assert answer.status_code == 200
        pdf = tmp_path / f"dossier-{language}.pdf"
        pdf.write_bytes(answer.get_data())
        assert "Chronologie" in pdf_text(answer.get_data()) or language == "en"
        subprocess.run(
            [pdftoppm, "-png", "-r", "70", "-f", "1", "-l", "3", str(pdf), str(folder / pdf.stem)],
            check=True,
            timeout=60,
        )
        # And the last page: the head, the key, how to check.
        last = str(len(PdfReader(BytesIO(answer.get_data())).pages))
        subprocess.run(
            [pdftoppm, "-png", "-r", "70", "-f", last, "-l", last, "-singlefile", str(pdf)]
            + [str(folder / f"{pdf.stem}-last")],
            check=True,
            timeout=60,
        )
        for page in ("1", "2", "3", "last"):
            picture = folder / f"dossier-{language}-{page}.png"
            assert picture.read_bytes().startswith(b"\x89PNG"), picture
