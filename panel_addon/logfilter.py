"""A logging filter that keeps client link tokens and bearer tokens out of every log."""

from __future__ import annotations

import logging
import re

_LINK = re.compile(r"/i/[A-Za-z0-9_\-.]{8,}")
_STAFF = re.compile(r"/staff/login/[A-Za-z0-9_\-.]{8,}")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\"]+")


def redact(text: str) -> str:
    text = _LINK.sub("/i/[token]", text)
    text = _STAFF.sub("/staff/login/[token]", text)
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
