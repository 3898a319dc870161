"""A logging filter that keeps client link tokens, bearer tokens and secrets out of every log."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

_LINK = re.compile(r"/i/[A-Za-z0-9_\-.]{8,}")
_STAFF = re.compile(r"/staff/login/[A-Za-z0-9_\-.]{8,}")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\"]+")
# A query parameter whose name says it carries a credential (`token`, `api_key`,
# `Authorization`, `password`, `signature`...): its value goes, its name stays.
_QUERY_SECRET = re.compile(
    r"(?i)([?&;][^=&;#\s'\"]*(?:token|key|secret|pass|auth|sig|credential|session)"
    r"[^=&;#\s'\"]*=)[^&;#\s'\"]*"
)
# The configured secrets themselves (staff token, webhook and panel secrets...), wherever
# they appear: a query parameter of any name, a header echoed in an error. Shorter values
# would redact ordinary words.
_MIN_SECRET = 8
_secrets: set[str] = set()


def remember_secrets(values: Iterable[object]) -> None:
    """Add configured secret values to those redacted from every log line."""
    _secrets.update(v for v in values if isinstance(v, str) and len(v) >= _MIN_SECRET)


def redact(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "[secret]")
    text = _LINK.sub("/i/[token]", text)
    text = _STAFF.sub("/staff/login/[token]", text)
    text = _QUERY_SECRET.sub(r"\1[redacted]", text)
    return _BEARER.sub(r"\1[token]", text)


class RedactTokens(logging.Filter):
    """Rewrites the record's message with tokens replaced; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is logged as it is
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True
