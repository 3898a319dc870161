"""RQ job functions. They take only a kind, reload everything from the database, and are
safe to run twice or concurrently (tasks are claimed with a lease)."""

from __future__ import annotations

import logging

from flask import Flask, current_app, has_app_context

from panel_addon import create_app, effects, queues
from panel_addon.models import db

log = logging.getLogger(__name__)

_app: Flask | None = None


def set_app(app: Flask) -> None:
    """The worker command hands its app to the jobs, so they run inside its context."""
    global _app
    _app = app


def _get_app() -> Flask:
    global _app
    if has_app_context():
        return current_app._get_current_object()  # type: ignore[attr-defined]
    if _app is None:
        _app = create_app()
    return _app


def drain(kind: str) -> int:
    """Carry out every due task of `kind` (mail, panel, due or site); return how many."""
    app = _get_app()
    with app.app_context():
        try:
            queues.connection().delete(queues.marker_key(kind))
        except Exception:  # noqa: BLE001 - the marker only saves duplicate jobs
            log.debug("could not clear the drain marker", exc_info=True)
        try:
            return effects.drain(kind)
        finally:
            db.session.remove()
