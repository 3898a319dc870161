"""Database setup: Flask-SQLAlchemy, Alembic migrations (Flask-Migrate), SQLite pragmas."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask
from flask_migrate import Migrate
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite

from .models import db

MIGRATIONS_DIR = str(Path(__file__).parent / "migrations")

migrate = Migrate()
_engines: list[Any] = []


def init_app(app: Flask) -> None:
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    if uri.startswith("sqlite"):
        options.setdefault("connect_args", {"timeout": 30})
    else:
        # A connection the server or a firewall cut while it sat in the pool is
        # replaced before use, not handed to a request.
        options.setdefault("pool_pre_ping", True)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True)
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        _engines.append(engine)


def _dispose_engines_after_fork() -> None:
    # A forked worker must not share its parent's pooled connections (SQLAlchemy's
    # advice for multiprocessing: dispose without closing the parent's).
    for engine in _engines:
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_dispose_engines_after_fork)


def insert_for(entity: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT of the session's database dialect, for its ON CONFLICT clauses.

    The one place a statement depends on the database: PostgreSQL and SQLite each have
    their own `insert()` with `on_conflict_do_nothing()` and `on_conflict_do_update()`.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(entity)
    return sqlite.insert(entity)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the web process read while the worker writes; the busy timeout makes a
    # writer wait for the other instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
