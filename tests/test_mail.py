"""The client mail on the wire, as a real SMTP server on loopback receives it: short lines
whatever was typed, no header added by what clients or technicians typed, the headers the
service promises, and for each message the digest of its bytes and the server's reply."""

from __future__ import annotations

import hashlib
import smtplib
import warnings
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import inspect, select, text, update

from panel_addon.domain import mail_copies
from panel_addon.mail import MailSession, Message
from panel_addon.models import Client, Event, Intervention, MailCopy, db
from panel_addon.tokens import mask_links

from .flow import complete, run_due, send, start
from .support import Delivery, SmtpSink, started_data

# Every way a string can break a line for Python's email package and for mail software.
LINE_BREAKS = ["\r\n", "\r", "\n", "\u2028", "\x85"]


@pytest.fixture
def sink(mailbox: SmtpSink) -> Iterator[SmtpSink]:
    with mailbox.lock:
        mailbox.deliveries.clear()
    yield mailbox


def header_block(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[0]


def header_names(raw: bytes) -> list[str]:
    """The name of every header line as a mail program reads it (continuations skipped)."""
    return [
        line.split(b":", 1)[0].decode("ascii").lower()
        for line in header_block(raw).split(b"\r\n")
        if line and line[:1] not in (b" ", b"\t")
    ]


def parsed(delivery: Delivery) -> EmailMessage:
    message = message_from_bytes(delivery.raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def text_of(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None
    assert part.get_content_charset() == "utf-8"
    # Decoded as it travelled: with the wire's CRLF line ends.
    return str(part.get_content()).replace("\r\n", "\n")


def a_message(**overrides: Any) -> Message:
    fields: dict[str, Any] = {
        "to": "client@example.test",
        "subject": "Intervention terminée sur boutique.example : merci de vérifier",
        "text": "Bonjour Camille,\n\nL'intervention est terminée.\n",
        "html": "<p>Bonjour Camille,</p>\n<p>L'intervention est terminée.</p>\n",
        "message_id": "<signoff.task-1.20261126090000000000@host.example>",
    }
    fields.update(overrides)
    return Message(**fields)


def test_a_summary_of_5000_characters_on_one_line_arrives_in_short_lines(
    app: Flask, client: Any, sink: SmtpSink
) -> None:
    # What a technician pastes: a log on one line, accents and all.
    summary = ("Extension « WooCommerce » mise à jour, caches vidés, index reconstruits ; " * 80)[
        :5000
    ]
    assert "\n" not in summary and len(summary) == 5000
    start(client)
    assert complete(client, summary=summary).status_code == 200
    run_due(app)
    [delivery] = sink.delivered()
    lines = delivery.raw.split(b"\r\n")
    assert max(len(line) for line in lines) <= 998
    # Quoted-printable everywhere: seven-bit lines a server without 8BITMIME takes too.
    assert delivery.raw.isascii()
    message = parsed(delivery)
    assert summary in [line.strip() for line in text_of(message, "plain").splitlines()]
    assert summary in text_of(message, "html")


def test_a_long_subject_without_spaces_is_folded_and_reads_back_whole(
    app: Flask, sink: SmtpSink
) -> None:
    subject = "Intervention-terminée-" + "x" * 2000
    with app.app_context(), MailSession() as session:
        session.send(a_message(subject=subject), name="long-subject")
    [delivery] = sink.delivered()
    assert max(len(line) for line in delivery.raw.split(b"\r\n")) <= 998
    assert parsed(delivery)["Subject"] == subject


@pytest.mark.parametrize("brk", LINE_BREAKS, ids=repr)
def test_line_breaks_in_a_clients_name_a_company_name_or_a_site_add_no_header(
    make_app: Any, sink: SmtpSink, tmp_path: Path, brk: str
) -> None:
    # A host's subject that shows typed values, as a translated subject may.
    override = tmp_path / "mail_templates"
    (override / "completion_request" / "fr").mkdir(parents=True)
    (override / "completion_request" / "fr" / "subject.txt").write_text(
        "{{ company_name }} : intervention terminée pour {{ client_name }} sur {{ site }}\n"
    )
    app = make_app(
        COMPANY_NAME=f"EasyHost{brk}X-Injected: company",
        MAIL_TEMPLATES_DIR=str(override),
    )
    client = app.test_client()
    start(client)
    with app.app_context():
        # Written before names were cleaned at the door, or by another tool.
        db.session.execute(
            update(Client).values(name=f"Camille{brk}Bcc: evil@attacker.test{brk}X-Injected: name")
        )
        db.session.execute(
            update(Intervention).values(site=f"boutique.example{brk}X-Injected: site")
        )
        db.session.commit()
    complete(client)
    run_due(app)
    [delivery] = sink.delivered()
    names = header_names(delivery.raw)
    assert "x-injected" not in names and "bcc" not in names
    assert names.count("subject") == 1
    assert delivery.rcpt_tos == ["client@example.test"]
    subject = parsed(delivery)["Subject"]
    assert "Camille Bcc: evil@attacker.test X-Injected: name" in subject
    assert subject.startswith("EasyHost X-Injected: company :")


@pytest.mark.parametrize("brk", LINE_BREAKS, ids=repr)
@pytest.mark.parametrize("field", ["subject", "to"])
def test_a_line_break_in_a_header_value_is_refused_before_anything_is_sent(
    app: Flask, sink: SmtpSink, brk: str, field: str
) -> None:
    value = {"subject": f"Bonjour{brk}Bcc: evil@attacker.test", "to": "client@example.test"}
    if field == "to":
        value["to"] = f"client@example.test{brk}Bcc: evil@attacker.test"
    with app.app_context(), MailSession() as session:
        with pytest.raises(ValueError):
            session.send(a_message(**value), name="refused")
        # The connection is still good for the next message.
        session.send(a_message(), name="next")
    [delivery] = sink.delivered()
    assert delivery.rcpt_tos == ["client@example.test"]
    assert "bcc" not in header_names(delivery.raw)


def test_each_send_gives_the_digest_of_the_bytes_and_the_servers_reply(
    app: Flask, sink: SmtpSink
) -> None:
    messages = [a_message(message_id=f"<signoff.task-{n}.1@host.example>") for n in (1, 2, 3)]
    with app.app_context(), MailSession() as session:
        results = [session.send(m, name=f"m{n}") for n, m in enumerate(messages)]
    deliveries = sink.delivered()
    assert len(deliveries) == 3
    for message, sent, delivery in zip(messages, results, deliveries, strict=True):
        assert sent.message_id == message.message_id
        assert sent.sha256 == hashlib.sha256(delivery.raw).hexdigest()
        assert sent.reply == delivery.reply
    assert len({sent.reply for sent in results}) == 3
    # One connection for the batch.
    assert len({delivery.peer for delivery in deliveries}) == 1


def test_the_mail_carries_the_promised_headers_and_both_alternatives(
    app: Flask, sink: SmtpSink
) -> None:
    message = a_message()
    with app.app_context(), MailSession() as session:
        session.send(message, name="headers")
    [delivery] = sink.delivered()
    assert delivery.mail_from == "support@host.example"
    received = parsed(delivery)
    [sender] = received["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Hébergeur", "support@host.example")
    assert received["To"] == "client@example.test"
    assert received["Subject"] == message.subject
    assert received["Message-ID"] == message.message_id
    assert received["Auto-Submitted"] == "auto-generated"
    assert received["Date"] is not None
    assert received["Reply-To"] is None
    assert received.get_content_type() == "multipart/alternative"
    assert text_of(received, "plain") == message.text
    assert text_of(received, "html") == message.html


def test_mail_reply_to_adds_a_reply_to_header(make_app: Any, sink: SmtpSink) -> None:
    app = make_app(MAIL_REPLY_TO="Support Hébergeur <help@host.example>")
    with app.app_context(), MailSession() as session:
        session.send(a_message(), name="reply-to")
    [delivery] = sink.delivered()
    [reply_to] = parsed(delivery)["Reply-To"].addresses
    assert (reply_to.display_name, reply_to.addr_spec) == ("Support Hébergeur", "help@host.example")
    assert delivery.mail_from == "support@host.example"


def test_an_address_with_an_international_domain_goes_out_in_its_ascii_form(
    app: Flask, sink: SmtpSink
) -> None:
    with app.app_context(), MailSession() as session:
        session.send(a_message(to="client@café.fr"), name="idn")
    [delivery] = sink.delivered()
    assert delivery.rcpt_tos == ["client@xn--caf-dma.fr"]
    assert parsed(delivery)["To"] == "client@xn--caf-dma.fr"


def test_an_address_the_email_package_cannot_write_is_refused(app: Flask, sink: SmtpSink) -> None:
    with app.app_context(), MailSession() as session:
        for to in ("jérôme@exemple.fr", "a@example.test, b@example.test", "not an address", ""):
            with pytest.raises(ValueError):
                session.send(a_message(to=to), name="bad")
    assert sink.delivered() == []


def test_a_refused_recipient_leaves_the_connection_ready_for_the_next(
    app: Flask, sink: SmtpSink
) -> None:
    with app.app_context(), MailSession() as session:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            session.send(a_message(to="unknown@example.test"), name="unknown")
        assert refused.value.recipients["unknown@example.test"][0] == 550
        session.send(a_message(), name="next")
    assert [d.rcpt_tos for d in sink.delivered()] == [["client@example.test"]]


def test_a_refused_data_raises_with_the_servers_answer(app: Flask, sink: SmtpSink) -> None:
    with sink.lock:
        sink.refuse = 1
    with app.app_context(), MailSession() as session:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            session.send(a_message(), name="refused")
        assert refused.value.smtp_code == 451
        session.send(a_message(), name="next")
    assert len(sink.delivered()) == 1


def test_the_dev_outbox_keeps_the_bytes_it_would_have_sent(
    make_app: Any, sink: SmtpSink, tmp_path: Path
) -> None:
    app = make_app(MAIL_BACKEND="outbox")
    app.instance_path = str(tmp_path / "instance")
    message = a_message(text="Bonjour Camille,\n\n" + "é" * 2000 + "\n")
    with app.app_context(), MailSession() as session:
        sent = session.send(message, name="20261126-090000-1-completion_request")
    path = Path(app.instance_path) / "outbox" / "20261126-090000-1-completion_request.eml"
    raw = path.read_bytes()
    assert sent.sha256 == hashlib.sha256(raw).hexdigest()
    assert path.name in sent.reply
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    assert sink.delivered() == []
    pages = app.test_client()
    listing = pages.get("/dev/outbox/")
    assert listing.status_code == 200 and path.name in listing.text
    shown = pages.get(f"/dev/outbox/{path.name}")
    assert shown.status_code == 200 and "é" * 2000 in shown.text
    html = pages.get(f"/dev/outbox/{path.name}/html")
    assert html.text.replace("\r\n", "\n") == message.html


def test_completion_mail_through_the_worker_path_keeps_its_headers(
    app: Flask, client: Any, sink: SmtpSink
) -> None:
    person = dict(started_data()["client"], name="Élodie")
    send(client, "intervention.started", started_data("iv-1", client=person))
    complete(client)
    run_due(app)
    [delivery] = sink.delivered()
    received = parsed(delivery)
    assert received["Message-ID"].startswith("<signoff.task-")
    assert received["Auto-Submitted"] == "auto-generated"
    assert received["From"].addresses[0].display_name == "Hébergeur"
    assert "Élodie" in text_of(received, "plain") and "Élodie" in text_of(received, "html")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_each_mail_sent_is_kept_as_the_server_received_it(
    backend: str, make_app: Any, sink: SmtpSink
) -> None:
    app = make_app()
    client = app.test_client()
    start(client)
    complete(client, summary="Extension « WooCommerce » mise à jour ; caches vidés.")
    run_due(app)
    [delivery] = sink.delivered()
    with app.app_context():
        iv = db.session.scalars(select(Intervention)).one()
        [copy] = db.session.scalars(select(MailCopy)).all()
        [sent] = [e for e in db.session.scalars(select(Event)) if e.type == "mail_sent"]
        kept = mail_copies.messages(iv.id)
        texts = mail_copies.texts(iv.id)
    assert copy.intervention_id == iv.id and copy.message_id == sent.data["message_id"]
    # Compressed, and given back byte for byte: the SHA-256 the trail holds checks it.
    assert len(copy.message) < len(delivery.raw) / 2
    assert kept == {sent.data["sha256"]: delivery.raw}
    assert hashlib.sha256(delivery.raw).hexdigest() == sent.data["sha256"]
    # The text as the client read it, the links' tokens masked: readable, not usable.
    received = text_of(parsed(delivery), "plain")
    [validate] = [line for line in received.splitlines() if "/validate" in line]
    assert "/i/…/validate" not in received and len(validate) > 60
    assert texts[sent.data["sha256"]] == mask_links(received)
    assert texts[sent.data["sha256"]].count("/i/…/") == 2
    assert "caches vidés" in texts[sent.data["sha256"]]


def test_a_refused_mail_keeps_no_copy(app: Flask, client: Any, sink: SmtpSink) -> None:
    person = dict(started_data()["client"], email="unknown@example.test")
    send(client, "intervention.started", started_data("iv-1", client=person))
    complete(client)
    run_due(app)
    with app.app_context():
        assert db.session.scalars(select(MailCopy)).all() == []


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_0009_creates_the_mail_copies_the_model_declares(
    backend: str, make_app: Any, tmp_path: Path
) -> None:
    app = (
        make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'migrated.sqlite'}")
        if backend == "sqlite"
        else make_app()
    )
    with app.app_context():
        db.drop_all()
        db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
    with warnings.catch_warnings():
        # Flask-Migrate's env.py template asks Flask-SQLAlchemy for get_engine() first.
        warnings.simplefilter("ignore", DeprecationWarning)
        result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        found = inspect(db.engine)
        columns = {c["name"]: c for c in found.get_columns("mail_copies")}
        assert set(columns) == set(MailCopy.__table__.columns.keys())
        assert not any(column["nullable"] for column in columns.values())
        assert {ix["name"] for ix in found.get_indexes("mail_copies")} == {
            ix.name for ix in MailCopy.__table__.indexes
        }
