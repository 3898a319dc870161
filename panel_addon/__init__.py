"""Intervention sign-off: clients validate a host's free interventions, inside the panel."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from . import settings
from .clock import EXTENSION_KEY as CLOCK_KEY
from .clock import Clock

__all__ = ["create_app"]

_engines: list[Any] = []


def _dispose_engines_after_fork() -> None:
    # A forked worker must not share the parent's pooled database connections.
    for engine in _engines:
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_dispose_engines_after_fork)


class _App(Flask):
    """Flask, with each view's and hook's sync check made once, not at every request."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._synced: dict[Callable[..., Any], Callable[..., Any]] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        try:
            return self._synced[func]
        except KeyError:
            synced = self._synced[func] = super().ensure_sync(func)
            return synced
        except TypeError:  # a callable that cannot be a key
            return super().ensure_sync(func)


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the service: settings (fail fast), database, blueprints, CLI."""
    app = _App(__name__, instance_relative_config=True)
    settings.load(app.config, test_config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = (
            f"sqlite:///{Path(app.instance_path) / 'panel_addon.sqlite'}"
        )
    app.config["MAX_CONTENT_LENGTH"] = app.config["WEBHOOK_MAX_BYTES"]
    app.extensions.setdefault(CLOCK_KEY, app.config.get("CLOCK") or Clock())

    _configure_logging(app)
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Client IPs in the event trail come from X-Forwarded-For, set by our own proxies.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)  # type: ignore[method-assign]

    from . import database

    database.init_app(app)
    with app.app_context():
        from .models import db

        _engines.append(db.engine)

    from . import client_pages, errors, openapi, ratelimit, staff_api, web, webhooks

    errors.init_app(app)
    ratelimit.init_app(app)
    web.init_app(app)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(client_pages.bp)
    app.register_blueprint(staff_api.bp)
    from . import staff_view

    staff_view.init_app(app)
    app.register_blueprint(openapi.bp)
    if app.config["MAIL_BACKEND"] == "outbox":
        from . import dev_outbox

        app.register_blueprint(dev_outbox.bp)

    from . import cli

    cli.init_app(app)
    return app


def _configure_logging(app: Flask) -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    # Alembic (imported by Flask-Migrate) announces each of its plugins at INFO.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # Werkzeug logs request lines with their path: link tokens live in paths.
    from .logfilter import RedactTokens

    for name in ("werkzeug", "gunicorn.access", ""):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactTokens) for f in handler.filters):
            handler.addFilter(RedactTokens())
