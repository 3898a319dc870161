"""Sending mail: Flask-Mail over SMTP with a timeout, or a readable outbox in development."""

from __future__ import annotations

import smtplib
from pathlib import Path
from types import TracebackType
from typing import Any

from flask import Flask, current_app
from flask_mail import Connection, Mail, Message

mail = Mail()


def init_app(app: Flask) -> None:
    # Flask-Mail suppresses sending under TESTING; our tests talk to a real SMTP server.
    app.config.setdefault("MAIL_SUPPRESS_SEND", False)
    mail.init_app(app)


def outbox_dir(app: Flask | None = None) -> Path:
    return Path((app or current_app).instance_path) / "outbox"


class _TimeoutConnection(Connection):
    """Flask-Mail's connection, with the socket timeout Flask-Mail itself lacks."""

    def __init__(self, state: Any, timeout: float) -> None:
        super().__init__(state)
        self.timeout = timeout

    def configure_host(self) -> smtplib.SMTP | smtplib.SMTP_SSL:
        host: smtplib.SMTP | smtplib.SMTP_SSL
        if self.mail.use_ssl:
            host = smtplib.SMTP_SSL(self.mail.server, self.mail.port, timeout=self.timeout)
        else:
            host = smtplib.SMTP(self.mail.server, self.mail.port, timeout=self.timeout)
        if self.mail.use_tls:
            host.starttls()
        if self.mail.username and self.mail.password:
            host.login(self.mail.username, self.mail.password)
        return host


class MailSession:
    """One connection for a batch of messages: SMTP, or files in the dev outbox."""

    def __init__(self) -> None:
        self.backend = current_app.config["MAIL_BACKEND"]
        self._connection: _TimeoutConnection | None = None

    def __enter__(self) -> MailSession:
        if self.backend == "smtp":
            timeout = current_app.config["MAIL_TIMEOUT"].total_seconds()
            self._connection = _TimeoutConnection(current_app.extensions["mail"], timeout)
            self._connection.__enter__()
        else:
            outbox_dir().mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._connection is not None and self._connection.host is not None:
            try:
                self._connection.host.quit()
            except (smtplib.SMTPException, OSError):
                self._connection.host.close()
            self._connection.host = None

    def send(self, message: Message, name: str) -> None:
        """Send one message; `name` names the outbox file in development."""
        if self._connection is not None:
            self._connection.send(message)
            return
        path = outbox_dir() / f"{name}.eml"
        path.write_bytes(message.as_bytes())
        current_app.logger.info(
            "mail to %s written to the dev outbox: %s (see /dev/outbox)",
            ", ".join(str(r) for r in message.recipients),
            message.subject,
        )
