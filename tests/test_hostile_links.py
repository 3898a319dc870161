"""Hostile links: tampered, truncated, expired, signed with a retired key, for another
purpose or another intervention. Each gets a clear page in the client's language and
changes nothing; a key in SECRET_KEY_FALLBACKS is still accepted. What a client or a
technician typed is escaped wherever it is shown: pages, mail, ticket notes."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from flask import Flask

from panel_addon.models import Intervention, db

from .fake_whmcs import TEST_IDENTIFIER, TEST_SECRET, FakeWhmcs
from .flow import complete, path_of, run_due, send
from .support import STAFF_TOKEN, mail_links, signed_token, started_data

AUTH = {"Authorization": f"Bearer {STAFF_TOKEN}"}
MARKUP = '<script>alert("x")</script><img src=x onerror=alert(1)>'
# The same for an intervention's id, which may hold no "/" (it is a path segment).
ID_MARKUP = '<script>alert("x")<img src=x onerror=alert(1)>'


def _links(message: EmailMessage) -> dict[str, str]:
    return {link.rsplit("/", 1)[1]: path_of(link) for link in mail_links(message)}


def _token(path: str) -> str:
    return path.split("/")[2]


def _completed(app: Flask, mailbox: Any, panel_id: str = "iv-1", **started: Any) -> dict[str, str]:
    """An intervention awaiting validation; returns the paths of its mailed links."""
    client = app.test_client()
    data = {**started_data(panel_id), **started}
    assert send(client, "intervention.started", data).status_code == 200
    assert (
        complete(client, panel_id, summary=started.get("summary", "Plugins updated.")).status_code
        == 200
    )
    run_due(app)
    return _links(mailbox.received()[-1])


def _state(app: Flask, panel_id: str = "iv-1") -> str:
    answer = app.test_client().get(f"/api/v1/interventions/{panel_id}", headers=AUTH)
    return str(answer.json["state"])


def _ids(app: Flask, panel_id: str = "iv-1") -> dict[str, Any]:
    with app.app_context():
        iv = db.session.scalars(db.select(Intervention).filter_by(panel_id=panel_id)).one()
        return {"i": iv.id, "n": iv.link_nonce}


def _assert_refused(app: Flask, path: str, status: int, title: str, language: str = "en") -> None:
    client = app.test_client()
    headers = {"Accept-Language": language}
    for method in ("GET", "HEAD", "POST"):
        answer = client.open(path, method=method, headers=headers, data={"message": "x"})
        assert answer.status_code == status, (method, path, answer.status_code)
        assert answer.headers["Cache-Control"] == "no-store"
        assert answer.headers["Referrer-Policy"] == "no-referrer"
        assert "script-src" not in answer.headers["Content-Security-Policy"]
        if method != "HEAD":
            page = answer.get_data(as_text=True)
            assert f"<h1>{title}</h1>" in page
            assert "Traceback" not in page and "itsdangerous" not in page
    assert _state(app) == "awaiting_validation"


@pytest.fixture
def links(backend: str, app: Flask, mailbox: Any) -> dict[str, str]:
    return _completed(app, mailbox)


def test_a_tampered_token_is_refused(app: Flask, links: dict[str, str]) -> None:
    token = _token(links["validate"])
    payload, rest = token.split(".", 1)
    flipped = payload[:-1] + ("A" if payload[-1] != "A" else "B")
    _assert_refused(app, f"/i/{flipped}.{rest}/validate", 404, "Invalid link")
    # Flip the signature's first character: its last one partly encodes padding bits,
    # which base64 decoding ignores.
    head, signature = token.rsplit(".", 1)
    forged = ("x" if signature[0] != "x" else "y") + signature[1:]
    _assert_refused(
        app,
        f"/i/{head}.{forged}/validate",
        404,
        "Lien non valide",
        language="fr",
    )


def test_a_truncated_token_is_refused(app: Flask, links: dict[str, str]) -> None:
    token = _token(links["report"])
    for cut in (token[: len(token) // 2], token.split(".")[0], "x"):
        _assert_refused(app, f"/i/{cut}/report", 404, "Invalid link")
    # Cut in its signature, as a mail program may: the payload still says whose link it
    # was, and the page speaks the client's language (French) rather than the browser's.
    _assert_refused(app, f"/i/{token[:-5]}/report", 404, "Lien non valide")


def test_an_expired_token_is_refused_in_the_clients_language(
    app: Flask, links: dict[str, str]
) -> None:
    max_age = int(app.config["LINK_MAX_AGE"].total_seconds())
    old = signed_token(app, _ids(app), "validate", age=max_age + 60)
    # The client's language (French) wins over the browser's: the intervention is known.
    _assert_refused(app, f"/i/{old}/validate", 410, "Lien expiré")


def test_a_token_signed_for_the_other_purpose_is_refused(app: Flask, links: dict[str, str]) -> None:
    # The client's own link, on the other page: refused, in the client's language.
    _assert_refused(app, f"/i/{_token(links['report'])}/validate", 404, "Lien non valide")
    _assert_refused(app, f"/i/{_token(links['validate'])}/report", 404, "Lien non valide")


def test_a_token_for_another_intervention_is_refused(
    app: Flask, links: dict[str, str], mailbox: Any
) -> None:
    other = _completed(
        app, mailbox, "iv-2", client={"id": "8", "email": "b@example.test", "name": "B"}
    )
    mine = _ids(app)
    # Signed with the right key, but naming another intervention with this one's nonce,
    # or this one with a made-up nonce (as after a resend that renewed the links).
    # Signed by the service, so the intervention it names tells the page's language
    # (the other client has none: the browser's is spoken).
    for payload, title in (
        ({"i": _ids(app, "iv-2")["i"], "n": mine["n"]}, "Intervention not found"),
        ({"i": mine["i"], "n": "0" * 16}, "Intervention introuvable"),
        ({"i": 10**9, "n": mine["n"]}, "Intervention not found"),
        ({"i": str(mine["i"]), "n": mine["n"]}, "Intervention not found"),
        (["x"], "Intervention not found"),
    ):
        _assert_refused(app, f"/i/{signed_token(app, payload, 'validate')}/validate", 404, title)
    assert _state(app, "iv-2") == "awaiting_validation"
    assert app.test_client().get(other["validate"]).status_code == 200


def test_a_retired_key_is_refused_and_a_fallback_key_accepted(
    make_app: Any, mailbox: Any, backend: str
) -> None:
    old_app = make_app(SECRET_KEY="the-key-of-last-year")
    links = _completed(old_app, mailbox)
    retired = make_app(SECRET_KEY="the-key-of-this-year")
    _assert_refused(retired, links["validate"], 404, "Lien non valide")

    rotated = make_app(
        SECRET_KEY="the-key-of-this-year", SECRET_KEY_FALLBACKS=["the-key-of-last-year"]
    )
    client = rotated.test_client()
    assert client.get(links["validate"]).status_code == 200
    assert client.post(links["validate"]).status_code == 303
    assert _state(rotated) == "validated"


def test_a_link_too_long_or_with_odd_characters_is_refused(
    app: Flask, links: dict[str, str]
) -> None:
    for token in ("A" * 600, "%00", "..", "a%0d%0aSet-Cookie:x=1", "%C3%28", "~!$&'()*+,;="):
        answer = app.test_client().get(f"/i/{token}/validate")
        assert answer.status_code == 404, token
        assert "Set-Cookie" not in answer.headers
    assert _state(app) == "awaiting_validation"


# --- what people typed, shown escaped ------------------------------------------------


@pytest.fixture
def panel() -> Iterator[FakeWhmcs]:
    with FakeWhmcs() as fake:
        fake.add_client(7, notes="")
        fake.add_ticket(100, client_id=7)
        yield fake


def test_markup_typed_by_technician_and_client_is_escaped_everywhere(
    backend: str, make_app: Any, mailbox: Any, panel: FakeWhmcs
) -> None:
    app = make_app(WHMCS_URL=panel.url, WHMCS_IDENTIFIER=TEST_IDENTIFIER, WHMCS_SECRET=TEST_SECRET)
    links = _completed(
        app,
        mailbox,
        ticket_id="100",
        technician=f"Alex {MARKUP}",
        site=f"shop{MARKUP}",
        summary=f"Updated {MARKUP}\nand more",
    )
    page = app.test_client().get(links["report"]).get_data(as_text=True)
    completion = mailbox.received()[-1]
    assert (
        app.test_client().post(links["report"], data={"message": f"Broken {MARKUP}"}).status_code
        == 303
    )
    run_due(app)
    confirmation = mailbox.received()[-1]

    for html in (page, _html(completion), _html(confirmation)):
        assert "<script>" not in html and "<img src=x" not in html
        assert "&lt;script&gt;" in html
    for text in (_text(completion), _text(confirmation)):
        # Plain text is shown as text: nothing to escape, nothing lost.
        assert MARKUP in text
    # The panel's admin area shows the stored note as HTML: there, markup is encoded
    # (WHMCS encodes what it is sent), and staff read the client's characters as typed.
    stored = [note["message"] for note in panel.ticket(100)["notes"]]
    assert all("<script>" not in note and "<img" not in note for note in stored)
    assert any("&lt;script&gt;" in note for note in stored)
    assert any(f"Broken {MARKUP}" in note for note in panel.ticket_notes(100))


def _html(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def _text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def test_ticket_notes_show_the_panels_id_as_text_and_keep_an_earlier_versions_text(
    backend: str, make_app: Any, mailbox: Any, panel: FakeWhmcs
) -> None:
    from panel_addon.models import Task

    app = make_app(
        WHMCS_URL=panel.url,
        WHMCS_IDENTIFIER=TEST_IDENTIFIER,
        WHMCS_SECRET=TEST_SECRET,
        STAFF_LANGUAGE="en",
    )
    links = _completed(app, mailbox, panel_id=f"iv{ID_MARKUP}", ticket_id="100")
    with app.app_context():
        iv = db.session.scalar(db.select(Intervention))
        # A note a version that wrote the text into the task scheduled before an upgrade.
        now = app.extensions["panel_addon.clock"].now()
        db.session.add(
            Task(
                intervention_id=iv.id,
                kind="panel",
                action="add_ticket_note",
                payload={"ticket_id": "100", "message": "Written by the version before."},
                state="pending",
                due_at=now,
                attempts=0,
                created_at=now,
            )
        )
        db.session.commit()
    assert app.test_client().post(links["validate"]).status_code == 303
    run_due(app)
    notes = panel.ticket_notes(100)
    assert "Written by the version before." in notes
    validated = [note for note in notes if note.startswith("The client validated")]
    assert len(validated) == 1 and f"iv{ID_MARKUP}" in validated[0], notes
    stored = [note["message"] for note in panel.ticket(100)["notes"]]
    assert all("<script>" not in note for note in stored)
