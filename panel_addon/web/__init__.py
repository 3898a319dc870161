"""The web layer: the panel's webhooks, the client's pages, the staff API and staff pages.

A view parses and checks its input, calls one service of the domain, commits, answers.
`init_app` registers every blueprint, the error handlers and the rate limits.
"""

from __future__ import annotations

from flask import Flask

from . import (
    base,
    client_pages,
    dev_outbox,
    errors,
    evidence_keys,
    openapi,
    ratelimit,
    staff_api,
    staff_view,
    webhooks,
)


def init_app(app: Flask) -> None:
    errors.init_app(app)
    base.init_app(app)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(client_pages.bp)
    app.register_blueprint(staff_api.bp)
    app.register_blueprint(evidence_keys.bp)
    staff_view.init_app(app)
    # After the blueprints: each group of limited routes is one of them.
    ratelimit.init_app(app)
    app.register_blueprint(openapi.bp)
    if app.config["MAIL_BACKEND"] == "outbox":
        app.register_blueprint(dev_outbox.bp)
