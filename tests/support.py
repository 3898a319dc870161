"""Test helpers: a clock tests move by hand, signed webhooks, an SMTP sink on loopback."""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from flask import Flask
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from standardwebhooks.webhooks import Webhook

from panel_addon.clock import Clock

WEBHOOK_SECRET = "whsec_" + "dGVzdC1zZWNyZXQtZm9yLXdlYmhvb2tzLTEyMzQ1Njc4"
STAFF_TOKEN = "staff-token-for-tests"


def signed_token(
    app: Flask, payload: Any, purpose: str, age: int = 0, key: str | None = None
) -> str:
    """A link token as the service makes them, optionally `age` seconds old or another key.

    Links expire on the wall clock (itsdangerous' timestamp), not on the app's CLOCK: an
    expired link is one signed LINK_MAX_AGE ago.
    """

    class Aged(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - age

    serializer = URLSafeTimedSerializer(
        key or app.config["SECRET_KEY"], salt=f"intervention-signoff.{purpose}", signer=Aged
    )
    return serializer.dumps(payload)


class ManualClock(Clock):
    """A clock that only moves when a test says so."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 26, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current


def signed_headers(
    body: str | bytes,
    secret: str = WEBHOOK_SECRET,
    msg_id: str | None = None,
    timestamp: datetime | None = None,
) -> dict[str, str]:
    msg_id = msg_id or f"msg_{secrets.token_hex(8)}"
    stamp = timestamp or datetime.now(UTC)
    return {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(stamp.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, stamp, body),
    }


def event_body(event_type: str, data: dict[str, Any]) -> str:
    return json.dumps(
        {"type": event_type, "timestamp": datetime.now(UTC).isoformat(), "data": data}
    )


def started_data(panel_id: str = "iv-1", **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": panel_id,
        "ticket_id": "T-100",
        "client": {
            "id": "7",
            "email": "client@example.test",
            "name": "Camille",
            "language": "french",
        },
        "site": "boutique.example",
        "technician": "Alex",
        "backup": {"reference": f"bk-{panel_id}", "created_at": "2026-11-26T08:00:00+00:00"},
    }
    data.update(overrides)
    return data


@dataclass
class Delivery:
    """One message as the server received it: the bytes, the envelope, the connection."""

    raw: bytes
    mail_from: str
    rcpt_tos: list[str]
    peer: Any
    reply: str


@dataclass
class SmtpSink:
    """What a real SMTP server on loopback received."""

    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    refuse: int = 0  # answer the next N DATA commands with `refuse_reply`
    refuse_reply: str = "451 4.3.0 Try again later"  # a 5xx refuses for good
    delay: float = 0.0  # seconds before answering each DATA (a slow relay)

    def received(self) -> list[EmailMessage]:
        with self.lock:
            return list(self.messages)

    def delivered(self) -> list[Delivery]:
        with self.lock:
            return list(self.deliveries)


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(
        self, server: SMTPServer, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        # A mailbox that does not exist, as a real server answers for one.
        if address.startswith("unknown"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Any, envelope: Any) -> str:
        if self.sink.delay:
            await asyncio.sleep(self.sink.delay)
        with self.sink.lock:
            if self.sink.refuse > 0:
                self.sink.refuse -= 1
                return self.sink.refuse_reply
            message = message_from_bytes(envelope.content, policy=policy.default)
            assert isinstance(message, EmailMessage)
            self.sink.messages.append(message)
            # As a real server answers: the queue id differs for every message.
            reply = f"250 2.0.0 Ok: queued as Q{len(self.sink.deliveries) + 1:05d}"
            self.sink.deliveries.append(
                Delivery(
                    envelope.original_content,
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    session.peer,
                    reply,
                )
            )
        return reply


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_smtp(port: int | None = None) -> tuple[Controller, SmtpSink]:
    sink = SmtpSink("127.0.0.1", port or free_port())
    controller = Controller(_Handler(sink), hostname="127.0.0.1", port=sink.port)
    controller.start()
    return controller, sink


def mail_links(message: EmailMessage) -> list[str]:
    import re

    body = message.get_body(preferencelist=("plain",))
    text = body.get_content() if body else ""
    return re.findall(r"https?://\S+/i/[A-Za-z0-9_\-.]+/(?:validate|report)", text)
