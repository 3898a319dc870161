"""Dates and durations in the reader's language and time zone; text fit to be stored."""

from __future__ import annotations

import functools
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_datetime as babel_format_datetime
from babel.dates import format_timedelta
from flask import current_app
from flask_babel import force_locale, gettext, ngettext

# An exact duration in whole units, largest first; a single day reads as 24 hours.
_UNITS = (
    (86400, lambda n: ngettext("%(num)d day", "%(num)d days", n)),
    (3600, lambda n: ngettext("%(num)d hour", "%(num)d hours", n)),
    (60, lambda n: ngettext("%(num)d minute", "%(num)d minutes", n)),
    (1, lambda n: ngettext("%(num)d second", "%(num)d seconds", n)),
)


def zone(name: str | None, default: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or default)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(default)


def format_datetime(
    moment: datetime, language: str, timezone: str | None, default_tz: str = "UTC"
) -> str:
    """A full date and time, e.g. `jeudi 26 novembre 2026 à 14:30 (heure de Paris)`.

    Needs an app context: the pattern comes from the language's catalog.
    """
    # Shown to the minute: every moment of a minute reads the same, and the deadlines of
    # a mass intervention fall within a few minutes, so Babel formats each minute once.
    minute = moment.replace(second=0, microsecond=0)
    catalogs = current_app.config["BABEL_TRANSLATION_DIRECTORIES"]
    return _format_minute(minute, language, timezone, default_tz, catalogs)


@functools.lru_cache(maxsize=4096)
def _format_minute(
    moment: datetime, language: str, timezone: str | None, default_tz: str, catalogs: str
) -> str:
    # `catalogs` (the app's translation folders) is part of the key: the pattern is theirs.
    with force_locale(language):
        # Translators: a Babel date pattern (https://babel.pocoo.org/en/latest/dates.html),
        # e.g. "jeudi 26 novembre 2026 à 14:30"; the time zone is added after it.
        pattern = gettext("EEEE d MMMM y 'at' h:mm a")
    tz = zone(timezone, default_tz)
    local = moment.astimezone(tz)
    text = babel_format_datetime(local, pattern, locale=language)
    return f"{text} ({local.tzname()})"


def format_duration(delta: timedelta, language: str) -> str:
    """An exact duration in words: `24 heures`, `2 days`, `90 seconds`."""
    seconds = int(delta.total_seconds())
    for size, words in _UNITS:
        count = seconds // size
        if seconds >= size and seconds % size == 0 and not (size == 86400 and count == 1):
            with force_locale(language):
                return str(words(count))
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
