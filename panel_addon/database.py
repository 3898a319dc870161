"""Database setup: Flask-SQLAlchemy, Alembic migrations (Flask-Migrate), SQLite pragmas."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psycopg
from flask import Flask
from flask_migrate import Migrate
from sqlalchemy import event
from sqlalchemy.exc import InvalidatePoolError

from .models import db

MIGRATIONS_DIR = str(Path(__file__).parent / "migrations")

migrate = Migrate()


# A pooled connection idle longer than this is checked before use (one round trip);
# one used more recently is trusted, so a busy process pays no check per request.
PING_AFTER_IDLE = 2.0


def init_app(app: Flask) -> None:
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    if uri.startswith("sqlite"):
        options.setdefault("connect_args", {"timeout": 30})
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True)
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            event.listen(engine, "before_cursor_execute", _begin_if_idle)
        if engine.dialect.name != "sqlite" and not options.get("pool_pre_ping"):
            # pool_pre_ping checks every connection at every checkout; this checks only
            # those that sat idle, where a restart or a firewall may have cut them.
            event.listen(engine, "checkin", _checked_in)
            event.listen(engine, "checkout", _ping_if_idle(engine.dialect))


def outside_transaction() -> None:
    """Run the rest of this request's statements each on its own, outside a transaction.

    For a request that only reads: on PostgreSQL a query then costs one round trip, not
    three (no BEGIN, no ROLLBACK at the end), and the statements the driver prepared
    stay prepared (a ROLLBACK deallocates them all). Call it before the first query.
    """
    db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


# The execution option of a connection whose transaction the service begins itself.
BEGIN_WITH_FIRST = "panel_addon_begin_with_first"


def begin_with_first_statement() -> None:
    """Begin this transaction with its first statement, in the same round trip.

    psycopg sends a transaction's BEGIN on its own and waits for the answer before the
    first statement: on a busy write path, a round trip in four. Here, on PostgreSQL,
    the driver is left in autocommit mode and the service sends the BEGIN itself,
    pipelined with the first statement where the service sends that one straight
    to the driver (`writes.select_one`, `writes.commit`), else just before it. The
    transaction is the same one: every statement is inside it, and commit and rollback
    end it (the driver sends them whenever a transaction is open). Call it before the
    transaction's first query (in a transaction already begun it does nothing); it
    lasts until the transaction ends. SQLite ignores it.
    """
    session = db.session
    if not session().in_transaction() and session.get_bind().dialect.name == "postgresql":
        session.connection(
            execution_options={"isolation_level": "AUTOCOMMIT", BEGIN_WITH_FIRST: True}
        )


def needs_begin(connection: Any, driver: Any) -> bool:
    """Whether the service must send BEGIN before this connection's next statement."""
    return bool(
        connection.get_execution_options().get(BEGIN_WITH_FIRST)
        and driver.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    )


def _begin_if_idle(
    connection: Any, cursor: Any, _statement: Any, _params: Any, _context: Any, _many: Any
) -> None:
    # A statement SQLAlchemy sends on such a connection, with no transaction open yet.
    if needs_begin(connection, cursor.connection):
        cursor.connection.execute("BEGIN", prepare=False)


def _checked_in(_dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info["checked_in_at"] = time.monotonic()


def _ping_if_idle(dialect: Any) -> Any:
    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("checked_in_at")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE:
            return
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # Whatever failed, the connection is not fit to use. The server most likely
            # restarted: the pool drops every connection it holds and opens a new one.
            raise InvalidatePoolError() from exc
        if not alive:
            raise InvalidatePoolError()

    return checkout


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the web process read while the worker writes; the busy timeout makes a
    # writer wait for the other instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
