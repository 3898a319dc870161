"""Client mail: built by the standard library's email package, sent over SMTP or to the dev outbox.

Every message is built under `email.policy.SMTP` (CRLF line ends, headers folded, non-ASCII
header text as RFC 2047 encoded words) with quoted-printable bodies, so no line on the wire
comes near RFC 5322's 998 characters, however long a line a technician typed. Header values
go through the email package's parser, which refuses a line break in any of them: nothing
a client or a technician typed can add a header.
"""

from __future__ import annotations

import contextlib
import hashlib
import smtplib
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any

from flask import Flask, current_app

from .clock import now as clock_now


@dataclass(frozen=True)
class Message:
    """One mail to one client: a subject, and the same content as text and as HTML."""

    to: str
    subject: str
    text: str
    html: str
    # Given by the caller, the same for every attempt at one piece of work: should a mail
    # go out twice, the copies share it, and mail services show only one.
    message_id: str


@dataclass(frozen=True)
class Sent:
    """A message the server accepted.

    `data` is the message exactly as given to SMTP `DATA` (CRLF line ends, before
    dot-stuffing) and `sha256` its hex SHA-256; `reply` is the server's final reply to it,
    code first (`250 2.0.0 Ok: queued as 4Bq...`), or where the dev outbox wrote it.
    """

    message_id: str
    sha256: str
    reply: str
    data: bytes


def recipient(value: str) -> Address:
    """`value` as the one address an SMTP server can take; ValueError for anything else.

    A domain name in Unicode (`café.fr`) is given in its IDNA form, in the header as in the
    envelope; a local part in Unicode would need SMTPUTF8 and is refused.
    """
    if len(value.splitlines()) != 1:
        raise ValueError("a mail address must be one line")
    header = policy.SMTP.header_factory("To", value)
    if header.defects or len(header.addresses) != 1:
        raise ValueError("not one mail address")
    address = header.addresses[0]
    if not address.domain:
        raise ValueError("a mail address needs a domain")
    domain = address.domain
    if not domain.isascii():
        domain = domain.encode("idna").decode("ascii")
    return Address(address.display_name, address.username, domain)


def build(
    message: Message, sender: str, date: datetime, reply_to: str | None = None
) -> EmailMessage:
    """The message as the email package writes it: text and HTML alternatives, UTF-8.

    Raises ValueError when a header value holds a line break or the recipient is not one
    usable address.
    """
    mail = EmailMessage(policy=policy.SMTP)
    mail["Subject"] = message.subject
    mail["From"] = sender
    mail["To"] = recipient(message.to)
    if reply_to:
        mail["Reply-To"] = reply_to
    mail["Date"] = date
    mail["Message-ID"] = message.message_id
    # RFC 3834: out-of-office and other auto-responders do not answer it.
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(message.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    mail.add_alternative(message.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return mail


def send_data(
    smtp: smtplib.SMTP, sender: str, recipients: list[str], data: bytes
) -> tuple[int, str]:
    """Send one message on an open connection; the server's final reply to its `DATA`.

    `smtplib.SMTP.sendmail` does the same but keeps that reply to itself. Raises as
    `sendmail` does: SMTPSenderRefused, SMTPRecipientsRefused (every recipient refused),
    SMTPDataError; the connection is ready for the next message after a refusal.
    """
    smtp.ehlo_or_helo_if_needed()
    code, reply = smtp.mail(sender)
    if code != 250:
        _reset(smtp, code)
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    refused: dict[str, tuple[int, bytes]] = {}
    for address in recipients:
        code, reply = smtp.rcpt(address)
        if code not in (250, 251):
            refused[address] = (code, reply)
        if code == 421:
            smtp.close()
            raise smtplib.SMTPRecipientsRefused(refused)
    if len(refused) == len(recipients):
        _reset(smtp, code)
        raise smtplib.SMTPRecipientsRefused(refused)
    try:
        code, reply = smtp.data(data)
    except smtplib.SMTPDataError as exc:
        # `DATA` itself refused (no 354): the recipients are still pending, clear them.
        _reset(smtp, exc.smtp_code)
        raise
    if code != 250:
        _reset(smtp, code)
        raise smtplib.SMTPDataError(code, reply)
    return code, reply.decode("utf-8", "replace")


def _reset(smtp: smtplib.SMTP, code: int) -> None:
    # 421: the server is closing the connection; otherwise clear the transaction.
    if code == 421:
        smtp.close()
        return
    with contextlib.suppress(smtplib.SMTPServerDisconnected):
        smtp.rset()


def connect(config: Any) -> smtplib.SMTP:
    """An SMTP connection as the MAIL_* settings describe, with MAIL_TIMEOUT on every wait."""
    timeout = config["MAIL_TIMEOUT"].total_seconds()
    smtp: smtplib.SMTP
    if config["MAIL_USE_SSL"]:
        smtp = smtplib.SMTP_SSL(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=timeout)
    else:
        smtp = smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=timeout)
    try:
        if config["MAIL_USE_TLS"]:
            smtp.starttls()
        if config["MAIL_USERNAME"] and config["MAIL_PASSWORD"]:
            smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
    except BaseException:
        smtp.close()
        raise
    return smtp


def outbox_dir(app: Flask | None = None) -> Path:
    return Path((app or current_app).instance_path) / "outbox"


class MailSession:
    """One connection for a batch of messages: SMTP, or files in the dev outbox."""

    def __init__(self) -> None:
        config = current_app.config
        self.backend: str = config["MAIL_BACKEND"]
        self.sender: str = config["MAIL_DEFAULT_SENDER"]
        self.reply_to: str | None = config.get("MAIL_REPLY_TO")
        self.smtp: smtplib.SMTP | None = None

    def __enter__(self) -> MailSession:
        if self.backend == "smtp":
            self.smtp = connect(current_app.config)
        else:
            outbox_dir().mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                self.smtp.close()
            self.smtp = None

    def send(self, message: Message, name: str) -> Sent:
        """Build and send one message; `name` names its file in the dev outbox.

        Raises ValueError for a message that cannot be written (a line break in a header
        value, no usable recipient), smtplib's errors for one the server refused.
        """
        mail = build(message, self.sender, clock_now(), self.reply_to)
        data = mail.as_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if self.smtp is not None:
            sender = mail["From"].addresses[0].addr_spec
            code, reply = send_data(self.smtp, sender, [mail["To"].addresses[0].addr_spec], data)
            return Sent(message.message_id, digest, f"{code} {reply}", data)
        path = outbox_dir() / f"{name}.eml"
        path.write_bytes(data)
        current_app.logger.info(
            "mail to %s written to the dev outbox: %s (see /dev/outbox)",
            message.to,
            message.subject,
        )
        reply = f"written to the dev outbox as {path.name}"
        return Sent(message.message_id, digest, reply, data)
