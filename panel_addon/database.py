"""Database setup: Flask-SQLAlchemy, Alembic migrations (Flask-Migrate), SQLite pragmas."""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import psycopg
from flask import Flask
from flask_migrate import Migrate
from sqlalchemy import Engine, event
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


class _Kept(threading.local):
    """One thread's kept connection to one engine's database, once opened."""

    driver: psycopg.Connection[Any] | None = None
    used_at = 0.0


# Per engine: this thread's kept connection, and every thread's with the process that
# opened it (closed with the engine).
_kept: weakref.WeakKeyDictionary[Engine, tuple[_Kept, dict[Any, int]]] = weakref.WeakKeyDictionary()
_kept_lock = threading.Lock()
_IDLE = psycopg.pq.TransactionStatus.IDLE


def kept_connection(engine: Engine) -> psycopg.Connection[Any]:
    """This thread's own connection to the engine's database, in autocommit (PostgreSQL).

    For statements that are a transaction each (`writes.returning_one(..., alone=True)`):
    on the pool, such a statement also costs the checkout and check-in and the switches
    to autocommit and back, more than its own work in the driver. Each thread keeps one,
    out of the pool: taken from it (so opened with the engine's settings and events) at
    its first use, checked with a round trip when it sat idle more than PING_AFTER_IDLE
    (at every use with pool_pre_ping) and replaced if dead, closed with the engine
    (`dispose`). A forked child forgets its parent's connections, and never closes them.
    """
    with _kept_lock:
        entry = _kept.get(engine)
        if entry is None:
            entry = _kept[engine] = (_Kept(), {})
            if not event.contains(engine, "engine_disposed", _close_kept):
                event.listen(engine, "engine_disposed", _close_kept)
    kept, every = entry
    driver, now = kept.driver, time.monotonic()
    if driver is not None and driver.info.transaction_status != _IDLE:
        # Closed, broken, or left mid-statement by an interruption: not fit to use.
        drop_kept_connection(engine)
        driver = None
    # With pool_pre_ping, checked at every use, as the pool's connections are.
    trusted = 0.0 if getattr(engine.pool, "_pre_ping", False) else PING_AFTER_IDLE
    if driver is not None and now - kept.used_at >= trusted:
        try:
            alive = not driver.closed and engine.dialect.do_ping(driver)  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - whatever failed, it is replaced
            alive = False
        if not alive:
            drop_kept_connection(engine)
            driver = None
    if driver is None:
        pooled = engine.raw_connection()
        driver = pooled.driver_connection
        assert driver is not None
        pooled.detach()
        driver.autocommit = True
        kept.driver = driver
        with _kept_lock:
            every[driver] = os.getpid()
    kept.used_at = now
    return driver


def drop_kept_connection(engine: Engine) -> None:
    """Close and forget this thread's kept connection (one an error broke)."""
    entry = _kept.get(engine)
    driver = None if entry is None else entry[0].driver
    if entry is None or driver is None:
        return
    kept, every = entry
    kept.driver = None
    with _kept_lock:
        pid = every.pop(driver, None)
    _close(driver, pid)


def _close_kept(engine: Engine) -> None:
    with _kept_lock:
        entry = _kept.pop(engine, None)
    for driver, pid in (entry[1] if entry else {}).items():
        _close(driver, pid)


def _close(driver: psycopg.Connection[Any], pid: int | None) -> None:
    # Only in the process that opened it: in a forked child, closing it would end the
    # parent's session.
    if pid == os.getpid():
        with contextlib.suppress(Exception):  # it is dropped either way
            driver.close()


def _forget_kept() -> None:
    # In a forked child, without closing them; the lock may have been held by a thread
    # the child does not have.
    global _kept_lock
    _kept_lock = threading.Lock()
    _kept.clear()


os.register_at_fork(after_in_child=_forget_kept)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the web process read while the worker writes; the busy timeout makes a
    # writer wait for the other instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
