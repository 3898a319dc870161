"""Dates and durations in the reader's language and time zone; text fit to be stored."""

from __future__ import annotations

import functools
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_datetime as babel_format_datetime
from babel.dates import format_timedelta

_UNITS = {
    "fr": {
        "day": ("jour", "jours"),
        "hour": ("heure", "heures"),
        "minute": ("minute", "minutes"),
        "second": ("seconde", "secondes"),
    },
    "en": {
        "day": ("day", "days"),
        "hour": ("hour", "hours"),
        "minute": ("minute", "minutes"),
        "second": ("second", "seconds"),
    },
}


def zone(name: str | None, default: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or default)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(default)


def format_datetime(
    moment: datetime, language: str, timezone: str | None, default_tz: str = "UTC"
) -> str:
    """A full date and time, e.g. `jeudi 26 novembre 2026 à 14:30 (heure de Paris)`."""
    # Shown to the minute: every moment of a minute reads the same, and the deadlines of
    # a mass intervention fall within a few minutes, so Babel formats each minute once.
    return _format_minute(moment.replace(second=0, microsecond=0), language, timezone, default_tz)


@functools.lru_cache(maxsize=4096)
def _format_minute(moment: datetime, language: str, timezone: str | None, default_tz: str) -> str:
    tz = zone(timezone, default_tz)
    local = moment.astimezone(tz)
    pattern = "EEEE d MMMM y 'à' HH:mm" if language == "fr" else "EEEE d MMMM y 'at' h:mm a"
    text = babel_format_datetime(local, pattern, locale=language)
    return f"{text} ({local.tzname()})"


def format_duration(delta: timedelta, language: str) -> str:
    """An exact duration in words: `24 heures`, `2 days`, `90 seconds`."""
    seconds = int(delta.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= size and seconds % size == 0 and not (unit == "day" and seconds // size == 1):
            count = seconds // size
            words = _UNITS.get(language, _UNITS["en"])[unit]
            return f"{count} {words[0] if count == 1 else words[1]}"
    return format_timedelta(delta, locale=language)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_BREAKS = re.compile(r"[\t\r\n]+")


def clean_text(text: str, multiline: bool = False) -> str:
    """`text` without control characters (PostgreSQL refuses NUL) or lone surrogates.

    Tabs and line breaks are kept in multi-line text and become one space otherwise.
    """
    if text.isprintable():
        # Most text: no control character, line break or surrogate, nothing to change.
        return text
    text = _CONTROL.sub("", text.encode("utf-8", "replace").decode("utf-8"))
    return text if multiline else _LINE_BREAKS.sub(" ", text)
