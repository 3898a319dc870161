"""The copy of every mail sent, kept compressed so the dispute dossier shows what it said."""

from __future__ import annotations

import zlib
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage

from sqlalchemy import select

from ..models import MailCopy, db
from ..tokens import mask_links


def keep(intervention_id: int, message_id: str, sha256: str, data: bytes, now: datetime) -> None:
    """Add the copy of a sent mail (`data`: the bytes given to `DATA`) to the session.

    Written in the transaction that records the `mail_sent` event; safe to call again for
    a second send of the same message (each send keeps its own copy).
    """
    db.session.add(
        MailCopy(
            intervention_id=intervention_id,
            message_id=message_id,
            sha256=sha256,
            sent_at=now,
            message=zlib.compress(data, 9),
        )
    )


def messages(intervention_id: int) -> dict[str, bytes]:
    """The intervention's sent mails by the SHA-256 of their bytes, as they were sent."""
    rows = db.session.execute(
        select(MailCopy.sha256, MailCopy.message)
        .where(MailCopy.intervention_id == intervention_id)
        .order_by(MailCopy.id)
    )
    return {sha256: zlib.decompress(message) for sha256, message in rows}


def text_of(data: bytes) -> str:
    """The plain-text part of a sent mail (what the client read), decoded, lines ending in LF."""
    mail = message_from_bytes(data, policy=policy.default)
    assert isinstance(mail, EmailMessage)  # what policy.default builds
    body = mail.get_body(("plain",))
    return str(body.get_content()).replace("\r\n", "\n") if body is not None else ""


def texts(intervention_id: int) -> dict[str, str]:
    """The text of each of the intervention's sent mails, by the SHA-256 of the message.

    As the dossier shows it: the client's links with their token masked (tokens.mask_links),
    since the dossier goes to people who must not decide in the client's name.
    """
    return {sha256: mask_links(text_of(data)) for sha256, data in messages(intervention_id).items()}
