"""Intervention sign-off: clients validate a host's free interventions, inside the panel."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from . import settings
from .clock import EXTENSION_KEY as CLOCK_KEY
from .clock import Clock

__all__ = ["create_app"]


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the service: settings (fail fast), database, outbox, translations, web, CLI."""
    app = Flask(__name__, instance_relative_config=True)
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

    from . import database, evidence_keys, i18n, outbox

    evidence_keys.init_app(app)
    database.init_app(app)
    outbox.init_app(app)
    i18n.init_app(app)

    from . import web

    web.init_app(app)

    from . import cli

    cli.init_app(app)
    return app


_SECRETS = (
    "SECRET_KEY",
    "WEBHOOK_SECRET",
    "STAFF_API_TOKEN",
    "WHMCS_SECRET",
    "WHMCS_ACCESS_KEY",
    "EVIDENCE_SIGNING_KEY",
)
_SECRET_LISTS = ("SECRET_KEY_FALLBACKS", "WEBHOOK_SECRET_FALLBACKS", "STAFF_API_TOKEN_FALLBACKS")


def _configure_logging(app: Flask) -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    # Alembic (imported by Flask-Migrate) announces each of its plugins at INFO.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # WeasyPrint announces each step of every PDF (the dossier) at INFO.
    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)
    # Werkzeug logs request lines with their path and query: link tokens live in paths,
    # and a staff token may be sent as a query parameter.
    from .logfilter import RedactTokens, remember_secrets

    config = app.config
    remember_secrets(
        [
            *(config.get(key) for key in _SECRETS),
            *(v for key in _SECRET_LISTS for v in config.get(key) or []),
        ]
    )
    # A webhook secret's key part (after `whsec_`) is the secret too.
    remember_secrets(
        str(v).removeprefix("whsec_")
        for v in [config.get("WEBHOOK_SECRET"), *(config.get("WEBHOOK_SECRET_FALLBACKS") or [])]
        if v
    )

    for name in ("werkzeug", "gunicorn.access", ""):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactTokens) for f in handler.filters):
            handler.addFilter(RedactTokens())
