"""Fixtures: the app on real SQLite or PostgreSQL, a real Redis, a real SMTP server."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from redis import Redis
from sqlalchemy import create_engine, text

from panel_addon import create_app
from panel_addon.models import db

from .support import STAFF_TOKEN, WEBHOOK_SECRET, ManualClock, SmtpSink, start_smtp

POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


@pytest.fixture(scope="session")
def smtp() -> Iterator[SmtpSink]:
    controller, sink = start_smtp()
    yield sink
    controller.stop()


@pytest.fixture
def mailbox(smtp: SmtpSink) -> SmtpSink:
    with smtp.lock:
        smtp.messages.clear()
        smtp.deliveries.clear()
        smtp.refuse = 0
        smtp.refuse_reply = "451 4.3.0 Try again later"
        smtp.delay = 0.0
    return smtp


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def postgres_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, dropped afterwards."""
    schema = f"t_{secrets.token_hex(6)}"
    engine = create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    yield schema
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


def postgres_config(schema: str) -> dict[str, Any]:
    return {
        "SQLALCHEMY_DATABASE_URI": POSTGRES_URL,
        # The pool as in production: connections idle a while are checked before use.
        "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"options": f"-csearch_path={schema}"}},
    }


def base_config(mailbox: SmtpSink, clock: ManualClock, tmp_path: Any) -> dict[str, Any]:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STAFF_API_TOKEN": STAFF_TOKEN,
        "MAIL_SERVER": mailbox.host,
        "MAIL_PORT": mailbox.port,
        "MAIL_TIMEOUT": "5s",
        "MAIL_DEFAULT_SENDER": "Hébergeur <support@host.example>",
        "REDIS_URL": REDIS_URL,
        "QUEUE_PREFIX": f"test-{secrets.token_hex(4)}",
        "PUBLIC_URL": "https://signoff.host.example",
        "COMPANY_NAME": "EasyHost",
        "CLOCK": clock,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'test.sqlite'}",
        # On only in the rate-limit tests (tests/test_hostile_http.py).
        "RATELIMIT_ENABLED": False,
    }


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_app(
    request: pytest.FixtureRequest, mailbox: SmtpSink, clock: ManualClock, tmp_path: Any
) -> Iterator[Any]:
    """Build apps with extra settings; the database is made fresh for each test."""
    made: list[Flask] = []
    backend_name = (
        request.getfixturevalue("backend") if "backend" in request.fixturenames else "sqlite"
    )
    schema = request.getfixturevalue("postgres_schema") if backend_name == "postgresql" else None

    def factory(**overrides: Any) -> Flask:
        config = base_config(mailbox, clock, tmp_path)
        if schema:
            config.update(postgres_config(schema))
        config.update(overrides)
        app = create_app(config)
        with app.app_context():
            db.create_all()
        made.append(app)
        return app

    yield factory
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app: Any) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> Any:
    return app.test_client()


@pytest.fixture
def redis() -> Iterator[Redis]:
    conn = Redis.from_url(REDIS_URL)
    yield conn
    conn.close()
