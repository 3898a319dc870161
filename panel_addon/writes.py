"""Cheaper writes for the busy paths: buffered trail and task rows, rows adopted from SQL.

A webhook or a decision appends events and schedules tasks; written one ORM object at a
time, they cost a unit-of-work flush each and a statement per table. Here they wait in
the session until something needs them, then go in as one INSERT per table (an
executemany), and on PostgreSQL as a single statement for both tables: each table's rows
as one JSON parameter, the events' INSERT a data-modifying CTE of the tasks' one. They are
written before any other statement of the session runs and before it commits, so every
query in the transaction, and the commit, sees them; a rollback drops them with the rest.
Inside a savepoint nothing is buffered, and a savepoint cannot begin while rows wait
(write them first with `write()`): a rollback to it takes exactly its own rows.

`commit` sends the last buffered rows with the COMMIT, in one round trip on PostgreSQL.
`select_one` reads one row of a hot lookup straight through PostgreSQL's driver, a
prepared statement with none of SQLAlchemy's result machinery; with `alone`, it (or
`returning_one`) runs outside the session, a transaction of its own on the connection
its thread keeps for such statements (`database.kept_connection`). `adopt` turns a row
that a Core statement returned (an UPDATE ... RETURNING, an upsert) into the session's
object for it, without the SELECT a refresh would cost.

Inside `deferring()` nothing goes to the database: the lifecycle builds a new
intervention's rows (the intervention, its client, its events and tasks) for its caller
to send in one statement of its own (`take_rows`), and a service that needs a query
raises NotDeferrable instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any, TypeVar

from flask_sqlalchemy.session import Session
from sqlalchemy import JSON, Table, bindparam, event, insert, inspect, or_, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import ORMExecuteState, configure_mappers, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from . import models
from .database import drop_kept_connection, kept_connection, needs_begin
from .models import Event, Task, UTCDateTime, db

T = TypeVar("T")

_KEY = "panel_addon.rows"
_DEFER = "panel_addon.deferred"
_CONNECTED = "panel_addon.connected"
_CANCEL = "cancel"
_DONE = "done"
EVENTS: Table = Event.__table__
TASKS: Table = Task.__table__


def _buffer(session: Any, *write_first_if: Any) -> dict[Any, Any]:
    """The session's transaction's buffer (beginning the transaction if none is open).

    What it already holds under any of `write_first_if` is written out first, so the
    writes keep their order. Inside `deferring()`, the rows it holds instead (nothing
    begun, nothing written).
    """
    held: Deferred | None = session.info.get(_DEFER)
    if held is not None:
        # Built for the caller of `deferring()` to send: nothing is written here.
        if any(held.rows.get(key) for key in write_first_if):
            raise NotDeferrable("rows to write before these")
        return held.rows
    if not session.in_transaction():
        # Tied to a transaction, the rows go wherever it goes: committed or rolled back.
        session.begin()
    pending: dict[Any, Any] = session.info.get(_KEY) or {}
    if any(pending.get(key) for key in write_first_if):
        write(session)
    buffer: dict[Any, Any] = session.info.setdefault(_KEY, {})
    return buffer


def add(table: Table, row: dict[str, Any]) -> None:
    """Buffer one row for `table` (events or tasks) in the current transaction."""
    session = db.session()
    _buffer(session).setdefault(table, []).append(row)
    _inside_savepoint(session)


def _inside_savepoint(session: Any) -> None:
    # Inside a savepoint nothing waits: a rollback to it must take exactly its own rows.
    if session.in_nested_transaction():
        write(session)


def cancel_tasks(intervention_id: int, actions: tuple[str, ...], now: datetime) -> None:
    """Buffer the cancel of the intervention's pending tasks of these actions.

    It applies to the tasks written before it, never to those buffered after it: a
    decision cancels the reminders and schedules its own mail in the same statement.
    """
    session = db.session()
    _buffer(session, TASKS, _CANCEL, _DONE)[_CANCEL] = {
        "intervention_id": intervention_id,
        "actions": list(actions),
        "now": now,
    }
    _inside_savepoint(session)


def task_done(task: Any, now: datetime, result: dict[str, Any] | None) -> None:
    """Buffer the UPDATE that marks a claimed task done; the object shows it at once."""
    # Read first: on an expired task it is a query, which writes out (and empties) the
    # buffer taken before it.
    ident = task.id
    session = db.session()
    buffer = _buffer(session, _DONE, _CANCEL)
    values = {"state": "done", "done_at": now, "result": result}
    for name, value in {**values, "claimed_until": None, "last_error": None}.items():
        set_committed_value(task, name, value)
    buffer[_DONE] = {"id": ident, **values}
    _inside_savepoint(session)


def write(session: Any = None) -> None:
    """Write the buffered rows now (a no-op when there are none)."""
    session = session if session is not None else db.session()
    if _DEFER in session.info and session.info.get(_KEY):
        raise NotDeferrable("buffered rows")
    pending: dict[Any, Any] | None = session.info.pop(_KEY, None)
    if not pending:
        return
    connection = session.connection()
    cancel, done = pending.get(_CANCEL), pending.get(_DONE)
    if connection.dialect.name == "postgresql":
        connection.execute(*_postgresql_write(pending))
        return
    if cancel is not None:
        connection.execute(_cancel_statement(), {"c_" + k: v for k, v in cancel.items()})
    if done is not None:
        connection.execute(_done_statement(), {"d_" + k: v for k, v in done.items()})
    for table in (EVENTS, TASKS):
        if pending.get(table):
            connection.execute(insert(table), pending[table])


def _postgresql_write(pending: dict[Any, Any]) -> tuple[Any, dict[str, Any]]:
    """The buffered rows as one statement and its parameters.

    One round trip, whatever the number of rows: the rows of each table go as one JSON
    parameter, and the task updates and the events' INSERT are CTEs of the tasks' INSERT.
    """
    cancel, done = pending.get(_CANCEL), pending.get(_DONE)
    params: dict[str, Any] = {
        "e_rows": _json_rows(pending.get(EVENTS, [])),
        "t_rows": _json_rows(pending.get(TASKS, [])),
    }
    if cancel is not None:
        params.update(
            c_intervention_id=cancel["intervention_id"],
            c_actions=cancel["actions"],
            c_now=naive_utc(cancel["now"]),
        )
    if done is not None:
        params.update(
            d_id=done["id"],
            d_done_at=naive_utc(done["done_at"]),
            d_result=None if done["result"] is None else json.dumps(done["result"]),
        )
    return _postgresql_statement(cancel is not None, done is not None), params


def commit() -> None:
    """Commit the session; on PostgreSQL its buffered rows go with the COMMIT.

    The rows' statement and the COMMIT are pipelined: one round trip where a write then
    a commit took two. The ORM's own pending objects are flushed first, as a commit
    would; the session then commits as usual, with nothing left to send. A transaction
    that sent nothing before (a worker's mail marked sent, with its event) is its rows
    alone: they go as one statement of its own, outside the session (see
    `returning_one`), without the session's connection, BEGIN and COMMIT.
    """
    session = db.session()
    if session.info.get(_KEY) and not session.in_nested_transaction():
        session.flush()
        bind: Any = session.get_bind()  # the engine
        if bind.dialect.name == "postgresql":
            statement, params = _postgresql_write(session.info.pop(_KEY))
            if not session.info.get(_CONNECTED):
                _alone(statement, params, bind, fetch=False)
            else:
                _with_commit(session.connection(), statement, params)
    session.commit()


def _with_commit(connection: Any, statement: Any, params: dict[str, Any]) -> None:
    # The rows' statement and the COMMIT, sent together at the pipeline's one Sync.
    # (The driver's commit() would sync twice: a round trip more.)
    sql = _driven(statement, connection.dialect).sql
    driver = connection.connection.driver_connection
    assert driver is not None
    with (
        _driver_errors(connection.dialect, driver, connection.invalidate, sql, params),
        driver.pipeline(),
    ):
        if needs_begin(connection, driver):
            driver.execute("BEGIN", prepare=False)
        driver.execute(sql, params, prepare=True)
        driver.execute("COMMIT", prepare=False)


@contextmanager
def _driver_errors(
    dialect: Any, driver: Any, invalidate: Callable[[BaseException], None], sql: str, params: Any
) -> Iterator[None]:
    """Raise the driver's errors as SQLAlchemy's, as if SQLAlchemy had run `sql`.

    The app's error handlers know SQLAlchemy's exceptions (a lost database is a 503),
    and a connection the error broke (`driver`) is dropped (`invalidate`).
    """
    base = dialect.loaded_dbapi.Error
    try:
        yield
    except base as exc:
        lost = dialect.is_disconnect(exc, driver, None)
        if lost:
            invalidate(exc)
        raise DBAPIError.instance(
            sql,
            params,
            exc,
            base,
            hide_parameters=True,
            connection_invalidated=lost,
            dialect=dialect,
        ) from exc


@cache
def _cancel_statement() -> Any:
    return (
        update(TASKS)
        .where(
            TASKS.c.intervention_id == bindparam("c_intervention_id"),
            TASKS.c.state == "pending",
            TASKS.c.action.in_(bindparam("c_actions", expanding=True)),
            or_(TASKS.c.claimed_until.is_(None), TASKS.c.claimed_until < bindparam("c_now")),
        )
        .values(state="cancelled", done_at=bindparam("c_now"))
    )


@cache
def _done_statement() -> Any:
    return (
        update(TASKS)
        .where(TASKS.c.id == bindparam("d_id"))
        .values(
            state=bindparam("d_state"),
            done_at=bindparam("d_done_at"),
            # None is SQL NULL, as on PostgreSQL (not the JSON text 'null').
            result=bindparam("d_result", type_=JSON(none_as_null=True)),
            claimed_until=None,
            last_error=None,
        )
    )


# The columns a buffered row carries, in order.
_COLUMNS: dict[Table, list[str]] = {
    EVENTS: [
        "intervention_id",
        "at",
        "actor",
        "actor_name",
        "type",
        "from_state",
        "to_state",
        "ip",
        "user_agent",
        "data",
    ],
    TASKS: [
        "intervention_id",
        "kind",
        "action",
        "payload",
        "state",
        "due_at",
        "attempts",
        "created_at",
    ],
}


def naive_utc(value: datetime | None) -> datetime | None:
    # What the models' UTCDateTime stores, and refuses.
    return None if value is None else models.naive_utc(value)


# The time columns of the buffered rows (of either table).
_TIMES = tuple(
    {
        name: None
        for table, names in _COLUMNS.items()
        for name in names
        if isinstance(table.c[name].type, UTCDateTime)
    }
)


def _json_rows(rows: list[dict[str, Any]]) -> str:
    """The rows as one JSON array; times as naive UTC ISO 8601, JSON columns nested.

    A value the JSON columns cannot hold (a datetime inside `data`, say) raises
    TypeError, as the models' JSON type does on SQLite.
    """
    out = []
    # The rows of one change mostly share their times: each UTC one is formatted once.
    # Only UTC ones: two times of another zone an hour apart in its repeated hour (fold)
    # compare equal, and must not share a key.
    iso: dict[datetime, str] = {}
    for row in rows:
        row = dict(row)
        for key in _TIMES:
            value = row.get(key)
            if isinstance(value, datetime):
                if value.tzinfo is not UTC:
                    row[key] = models.naive_utc(value).isoformat()
                    continue
                stamp = iso.get(value)
                if stamp is None:
                    stamp = iso[value] = models.naive_utc(value).isoformat()
                row[key] = stamp
        out.append(row)
    return json.dumps(out)


def _insert_rows(
    table: Table,
    param: str,
    parent: str | None = None,
    taken: dict[str, str] | None = None,
    where: str = "true",
) -> str:
    # One JSON parameter for any number of rows, typed by the table's own row type, and
    # inserted in the order they were buffered (the trail is read in id order). With a
    # `parent` CTE, each row is for its intervention (see `insert_rows_for`).
    names = _COLUMNS[table]
    sources = {} if parent is None else {"intervention_id": f"{parent}.id", **(taken or {})}
    picked = ", ".join(sources.get(n, f"r.{n}") for n in names)
    joined = "" if parent is None else f"{parent}, "
    return (
        f"INSERT INTO {table.name} ({', '.join(names)}) SELECT {picked}"  # noqa: S608 - names from the models
        f" FROM {joined}json_populate_recordset(NULL::{table.name}, CAST(:{param} AS json))"
        f" WITH ORDINALITY AS r WHERE {where} ORDER BY r.ordinality"
    )


def insert_rows_for(
    parent: str,
    name: str,
    table: Table,
    param: str,
    taken: dict[str, str] | None = None,
    where: str = "true",
) -> str:
    """A CTE `name` inserting `table`'s rows of the JSON `param`, each for `parent`'s id.

    For rows buffered before their intervention was written (`deferring()`): the
    intervention's INSERT or UPDATE is the CTE `parent`, with its id, and `taken` names
    the columns whose values come from it (column -> SQL), `where` the rows kept.
    """
    return f"{name} AS ({_insert_rows(table, param, parent, taken, where)})"


def _cancel_sql(intervention: str) -> str:
    # The same UPDATE as _cancel_statement (SQLite's), for PostgreSQL's single statement,
    # where it is a CTE beside the INSERTs; `intervention` is the SQL of its id.
    return (
        "UPDATE tasks SET state = 'cancelled', done_at = CAST(:c_now AS timestamp)"  # noqa: S608 - no value in it
        f" WHERE intervention_id = {intervention} AND state = 'pending'"
        " AND action = ANY(CAST(:c_actions AS text[]))"
        " AND (claimed_until IS NULL OR claimed_until < CAST(:c_now AS timestamp))"
    )


def cancel_for(parent: str) -> str:
    """A CTE `cancelled`: the buffered cancel (`take_rows(cancels=True)`) of `parent`'s tasks."""
    return f"cancelled AS ({_cancel_sql(f'(SELECT id FROM {parent})')})"  # noqa: S608


_INSERTS = f"new_events AS ({_insert_rows(EVENTS, 'e_rows')}) {_insert_rows(TASKS, 't_rows')}"
_CANCEL_SQL = _cancel_sql(":c_intervention_id")
# The same UPDATE as _done_statement (SQLite's), for PostgreSQL's single statement.
_DONE_SQL = (
    "UPDATE tasks SET state = 'done', done_at = CAST(:d_done_at AS timestamp),"
    " result = CAST(:d_result AS json), claimed_until = NULL, last_error = NULL"
    " WHERE id = :d_id"
)


@cache
def _postgresql_statement(cancel: bool, done: bool) -> Any:
    ctes = [f"cancelled AS ({_CANCEL_SQL})"] * cancel + [f"done AS ({_DONE_SQL})"] * done
    return text("WITH " + ", ".join([*ctes, _INSERTS]))


@event.listens_for(Session, "do_orm_execute")
def _before_statement(state: ORMExecuteState) -> None:
    # Any query of the session sees the rows buffered before it. The ORM's own pending
    # objects go first (the autoflush would come after this hook): a buffered row may
    # point at one of them.
    session = state.session
    if _DEFER in session.info:
        raise NotDeferrable(state.statement)
    if _KEY in session.info:
        session._autoflush()
        write(session)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Any) -> None:
    if _KEY in session.info:
        session.flush()
        write(session)


@event.listens_for(Session, "after_transaction_create")
def _at_savepoint(session: Any, transaction: Any) -> None:
    # The SAVEPOINT is already sent when this runs: rows buffered before it would be
    # written inside it, and lost with a rollback to it. Nothing in the service opens a
    # savepoint; code that does writes the buffer first.
    if transaction.nested and session.info.get(_KEY):
        raise RuntimeError("buffered rows: call writes.write() before begin_nested()")


@event.listens_for(Session, "after_transaction_end")
def _after_transaction(session: Any, transaction: Any) -> None:
    # Committed (the buffer was written), rolled back or closed: nothing of it remains.
    if transaction.parent is None:
        session.info.pop(_KEY, None)
        session.info.pop(_CONNECTED, None)


@event.listens_for(Session, "after_begin")
def _connected(session: Any, transaction: Any, connection: Any) -> None:
    # The transaction now holds a connection: its rows must commit with what it sent.
    session.info[_CONNECTED] = True


@dataclass(frozen=True)
class _Driven:
    sql: str  # in the driver's own parameter style
    names: tuple[str, ...]  # the keys of the columns it returns
    utc: tuple[int, ...]  # the positions of UTCDateTime columns among them
    times: tuple[str, ...]  # the parameters bound to UTCDateTime columns
    json: tuple[str, ...]  # the parameters bound to JSON columns
    fixed: dict[str, Any]  # the values the statement holds itself (`state == "x"`)


@cache
def _driven(statement: Any, dialect: Any) -> _Driven:
    compiled = statement.compile(dialect=dialect)
    columns = list(getattr(statement, "exported_columns", ()))
    utc = tuple(n for n, column in enumerate(columns) if isinstance(column.type, UTCDateTime))
    binds = compiled.binds.items()
    times = tuple(name for name, bind in binds if isinstance(bind.type, UTCDateTime))
    json_binds = tuple(name for name, bind in binds if isinstance(bind.type, JSON))
    fixed = {name: bind.value for name, bind in binds if not bind.required}
    names = tuple(c.key for c in columns)
    return _Driven(str(compiled), names, utc, times, json_binds, fixed)


def select_one(
    statement: Any, params: dict[str, Any], *, alone: bool = False
) -> Sequence[Any] | None:
    """The first row of a Core SELECT (built once and cached by the caller), or None.

    On PostgreSQL it goes straight to psycopg as a prepared statement: on a hot lookup of
    forty columns, SQLAlchemy's per-execution set-up and the cursor description it reads
    cost more than the round trip. The values are what the models' types give (times as
    aware UTC; given times must be aware; JSON columns take Python values). The ORM's
    pending changes and the buffered rows are written first, as before any query
    (`alone`, as for `returning_one`: before any of them).
    """
    return _one(statement, params, alone=alone)[1]


def returning_one(
    statement: Any, params: dict[str, Any], *, reads_buffered: bool = True, alone: bool = False
) -> dict[str, Any] | None:
    """The row a Core INSERT or UPDATE ... RETURNING gives, by column key, or None.

    Sent as `select_one` sends a SELECT: straight to psycopg on PostgreSQL. A statement
    that reads neither events nor tasks (`reads_buffered=False`: an UPDATE of the
    intervention, say) goes before the buffered rows, which wait for the next statement
    that needs them or the commit: a round trip less.

    A statement `alone` needs nothing of the session: it runs outside it, a transaction
    of its own (committed when it succeeds): on PostgreSQL on the connection its thread
    keeps in autocommit mode (`database.kept_connection`), elsewhere on a pooled one.
    It would see nothing the session has not committed, and could wait for the locks of
    the session's own transaction: it must come first, before the session has pending
    changes, buffered rows or a connection (RuntimeError otherwise). It saves the
    session's transaction and connection (their set-up, their commit), the costliest
    part of a one-statement request.
    """
    names, row = _one(statement, params, reads_buffered, alone)
    return None if row is None else dict(zip(names, row, strict=True))


def _one(
    statement: Any, params: dict[str, Any], reads_buffered: bool = True, alone: bool = False
) -> tuple[Sequence[str], Sequence[Any] | None]:
    session = db.session()
    if _DEFER in session.info:
        raise NotDeferrable(statement)
    if alone:
        if session.info.get(_KEY) or session.info.get(_CONNECTED) or not _is_clean(session):
            # It would not see the session's own work, and could wait for its locks.
            raise RuntimeError("a statement alone must come before the session's work")
        bind: Any = session.get_bind()  # the engine
        if bind.dialect.name == "postgresql":
            return _alone(statement, params, bind)
        with bind.begin() as connection:
            return _first(connection, statement, params)
    # As before any query of the session: the ORM's pending objects, then the rows.
    session._autoflush()
    if reads_buffered and _KEY in session.info:
        write(session)
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return _first(connection, statement, params)
    driven, params = _bound(statement, connection.dialect, params)
    driver = connection.connection.driver_connection
    assert driver is not None
    with (
        _driver_errors(connection.dialect, driver, connection.invalidate, driven.sql, params),
        driver.cursor() as cursor,
    ):
        if needs_begin(connection, driver):
            # The transaction's BEGIN and its first statement, in one round trip.
            with driver.pipeline():
                driver.execute("BEGIN", prepare=False)
                cursor.execute(driven.sql, params, prepare=True)
        else:
            cursor.execute(driven.sql, params, prepare=True)
        row = cursor.fetchone()
    return driven.names, _utc(driven, row)


def _is_clean(session: Any) -> bool:
    return not (session.new or session.dirty or session.deleted)


def _first(
    connection: Any, statement: Any, params: dict[str, Any]
) -> tuple[Sequence[str], Sequence[Any] | None]:
    found = connection.execute(statement, params).first()
    return (() if found is None else tuple(found._fields)), found


def _alone(
    statement: Any, params: dict[str, Any], engine: Any, fetch: bool = True
) -> tuple[Sequence[str], Sequence[Any] | None]:
    # On this thread's kept connection, in autocommit: a transaction of its own.
    driven, params = _bound(statement, engine.dialect, params)
    base = engine.dialect.loaded_dbapi.Error
    try:
        driver = kept_connection(engine)
    except base as exc:
        # As SQLAlchemy raises it when a session cannot connect.
        raise DBAPIError.instance(None, None, exc, base, dialect=engine.dialect) from exc

    def invalidate(_exc: BaseException) -> None:
        drop_kept_connection(engine)

    with (
        _driver_errors(engine.dialect, driver, invalidate, driven.sql, params),
        driver.cursor() as cursor,
    ):
        cursor.execute(driven.sql, params, prepare=True)
        row = cursor.fetchone() if fetch else None
    return driven.names, _utc(driven, row)


def _bound(statement: Any, dialect: Any, params: dict[str, Any]) -> tuple[_Driven, dict[str, Any]]:
    # The statement in psycopg's terms, and its parameters as the models' types bind them:
    # times as UTCDateTime stores them, naive UTC; JSON as its text.
    driven = _driven(statement, dialect)
    params = {**driven.fixed, **params}
    for name in driven.times:
        value = params.get(name)
        if isinstance(value, datetime):
            params[name] = naive_utc(value)
    for name in driven.json:
        value = params.get(name)
        if value is not None:
            params[name] = json.dumps(value)
    return driven, params


def _utc(driven: _Driven, row: Sequence[Any] | None) -> Sequence[Any] | None:
    # Times as the models' UTCDateTime gives them: aware UTC.
    if row is None or not driven.utc:
        return row
    values = list(row)
    for n in driven.utc:
        if values[n] is not None:
            values[n] = models.aware_utc(values[n])
    return values


def adopt(cls: type[T], row: Mapping[Any, Any]) -> T:
    """The session's object for a row a Core statement returned, as loaded.

    `row` holds the primary key and any other columns. An object the session already
    holds takes the row's values, except where it has a change not flushed yet. A new
    one enters the session as if a query had loaded it; a column the row lacks is loaded
    when first read.
    """
    session = db.session()
    mapper = inspect(cls)
    if not mapper.configured:
        configure_mappers()
    key = mapper.identity_key_from_primary_key([row[c.key] for c in mapper.primary_key])
    existing = session.identity_map.get(key)
    if existing is not None:
        changed = inspect(existing).committed_state
        for name, value in row.items():
            if name not in changed:
                set_committed_value(existing, name, value)
        return existing  # type: ignore[no-any-return]
    obj = mapper.class_manager.new_instance()
    # Straight into the instance's dict, as the ORM's own loader does; then the
    # attributes count as loaded (and any not given as expired).
    obj.__dict__.update(row)
    make_transient_to_detached(obj)
    session.add(obj)
    return obj


class NotDeferrable(Exception):
    """A service inside `deferring()` needed a query: its rows cannot wait."""


@dataclass
class Deferred:
    """What `deferring()` holds back: the new intervention's row, and its client's.

    And the events and tasks its services buffered (`take_rows`): they live and die
    with this object, outside the session and any transaction of it.
    """

    row: dict[str, Any] | None = None
    client: dict[str, Any] | None = None
    given: tuple[bool, ...] = ()
    rows: dict[Any, Any] = field(default_factory=dict)


@contextmanager
def deferring() -> Iterator[Deferred]:
    """Build rows without sending any: see the module's docstring."""
    session = db.session()
    held = session.info[_DEFER] = Deferred()
    try:
        yield held
    finally:
        session.info.pop(_DEFER, None)


def deferred() -> Deferred | None:
    """What `deferring()` holds back now, or None outside it."""
    held: Deferred | None = db.session().info.get(_DEFER)
    return held


def take_rows(held: Deferred, cancels: bool = False) -> dict[str, Any]:
    """The rows `held` buffered, taken out of it, as `_postgresql_write` binds them.

    The events and tasks as JSON (`e_rows`, `t_rows`), and with `cancels` the cancel's
    `c_actions` and `c_now` (or none) for `cancel_for`.
    """
    pending, held.rows = held.rows, {}
    cancel = pending.get(_CANCEL)
    if pending.get(_DONE) or (cancel is not None and not cancels):
        raise NotDeferrable("rows this statement cannot write")
    params = _postgresql_write(pending)[1]
    if cancels:
        params.setdefault("c_actions", [])
        params.setdefault("c_now", None)
    return params


def transient(cls: type[T], row: Mapping[str, Any]) -> T:
    """An object of `row`'s values outside the session, as `adopt` makes them."""
    mapper = inspect(cls)
    if not mapper.configured:
        configure_mappers()
    obj: T = mapper.class_manager.new_instance()
    obj.__dict__.update(row)
    return obj


def insert_for(table: Table, dialect: str) -> postgresql.Insert | sqlite.Insert:
    """An INSERT with ON CONFLICT support in this dialect (postgresql or sqlite)."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
