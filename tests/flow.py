"""Driving the service in tests: webhooks in, due work carried out in-process, links out."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from panel_addon import effects, queues
from panel_addon.models import Task, db

from .support import event_body, signed_headers, started_data


def send(client: FlaskClient, event_type: str, data: dict[str, Any], **kwargs: Any) -> TestResponse:
    body = event_body(event_type, data)
    return client.post("/webhooks/panel", data=body, headers=signed_headers(body, **kwargs))


def start(client: FlaskClient, panel_id: str = "iv-1", **overrides: Any) -> TestResponse:
    return send(client, "intervention.started", started_data(panel_id, **overrides))


def complete(
    client: FlaskClient, panel_id: str = "iv-1", summary: str = "Plugins updated."
) -> TestResponse:
    return send(client, "intervention.completed", {"id": panel_id, "summary": summary})


def run_due(app: Flask) -> int:
    """Carry out all work due at the app's clock time, as the worker would."""
    handled = 0
    with app.app_context():
        while True:
            round_ = sum(effects.drain(kind) for kind in queues.KINDS)
            handled += round_
            if not round_:
                return handled


def task_rows(app: Flask, **filters: Any) -> list[Task]:
    with app.app_context():
        rows = db.session.scalars(db.select(Task).filter_by(**filters).order_by(Task.id)).all()
        db.session.expunge_all()
        return list(rows)


def path_of(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]
