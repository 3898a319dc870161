"""The service's clock, injected so tests can move time instead of sleeping."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app

EXTENSION_KEY = "panel_addon.clock"


class Clock:
    """Wall-clock time in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


def now() -> datetime:
    """The current time of the running app's clock (aware, UTC)."""
    clock: Clock = current_app.extensions[EXTENSION_KEY]
    return clock.now()
