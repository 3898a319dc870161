"""Cheaper writes for the busy paths: buffered trail and task rows, rows adopted from SQL.

A webhook or a decision appends events and schedules tasks; written one ORM object at a
time, they cost a unit-of-work flush each and a statement per table. Here they wait in
the session until something needs them, then go in as one INSERT per table (an
executemany), and on PostgreSQL as a single statement for both tables: each table's rows
as one JSON parameter, the events' INSERT a data-modifying CTE of the tasks' one. They are
written before any other statement of the session runs and before it commits, so every
query in the transaction, and the commit, sees them; a rollback drops them with the rest.

`adopt` turns a row that a Core statement returned (an UPDATE ... RETURNING, an upsert)
into the session's object for it, without the SELECT a refresh would cost.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any, TypeVar

from flask_sqlalchemy.session import Session
from sqlalchemy import Table, bindparam, event, insert, inspect, or_, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import ORMExecuteState, configure_mappers, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from .models import Event, Task, db

T = TypeVar("T")

_KEY = "panel_addon.rows"
_CANCEL = "cancel"
_DONE = "done"
EVENTS: Table = Event.__table__
TASKS: Table = Task.__table__


def add(table: Table, row: dict[str, Any]) -> None:
    """Buffer one row for `table` (events or tasks) in the current transaction."""
    pending: dict[Table, list[dict[str, Any]]] = db.session.info.setdefault(_KEY, {})
    pending.setdefault(table, []).append(row)


def cancel_tasks(intervention_id: int, actions: tuple[str, ...], now: datetime) -> None:
    """Buffer the cancel of the intervention's pending tasks of these actions.

    It applies to the tasks written before it, never to those buffered after it: a
    decision cancels the reminders and schedules its own mail in the same statement.
    """
    pending: dict[Any, Any] = db.session.info.get(_KEY) or {}
    if pending.get(TASKS) or pending.get(_CANCEL):
        write()
    db.session.info.setdefault(_KEY, {})[_CANCEL] = {
        "intervention_id": intervention_id,
        "actions": list(actions),
        "now": now,
    }


def task_done(task: Any, now: datetime, result: dict[str, Any] | None) -> None:
    """Buffer the UPDATE that marks a claimed task done; the object shows it at once."""
    pending: dict[Any, Any] = db.session.info.get(_KEY) or {}
    if pending.get(_DONE):
        write()
    values = {"state": "done", "done_at": now, "result": result}
    for name, value in {**values, "claimed_until": None, "last_error": None}.items():
        set_committed_value(task, name, value)
    db.session.info.setdefault(_KEY, {})[_DONE] = {"id": task.id, **values}


def write(session: Any = None) -> None:
    """Write the buffered rows now (a no-op when there are none)."""
    session = session if session is not None else db.session()
    pending: dict[Any, Any] | None = session.info.pop(_KEY, None)
    if not pending:
        return
    connection = session.connection()
    cancel, done = pending.get(_CANCEL), pending.get(_DONE)
    if connection.dialect.name == "postgresql":
        # One round trip, whatever the number of rows: the rows of each table go as one
        # JSON parameter, and the task updates and the events' INSERT are CTEs of the
        # tasks' INSERT.
        params: dict[str, Any] = {
            "e_rows": _json_rows(pending.get(EVENTS, [])),
            "t_rows": _json_rows(pending.get(TASKS, [])),
        }
        if cancel is not None:
            params.update(
                c_intervention_id=cancel["intervention_id"],
                c_actions=cancel["actions"],
                c_now=_naive_utc(cancel["now"]),
            )
        if done is not None:
            params.update(
                d_id=done["id"],
                d_done_at=_naive_utc(done["done_at"]),
                d_result=None if done["result"] is None else json.dumps(done["result"]),
            )
        connection.execute(_postgresql_statement(cancel is not None, done is not None), params)
        return
    if cancel is not None:
        connection.execute(_cancel_statement(), {"c_" + k: v for k, v in cancel.items()})
    if done is not None:
        connection.execute(_done_statement(), {"d_" + k: v for k, v in done.items()})
    for table in (EVENTS, TASKS):
        if pending.get(table):
            connection.execute(insert(table), pending[table])


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
            result=bindparam("d_result", type_=TASKS.c.result.type),
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


def _naive_utc(value: datetime | None) -> datetime | None:
    # What the models' UTCDateTime stores.
    return None if value is None else value.astimezone(UTC).replace(tzinfo=None)


def _json_rows(rows: list[dict[str, Any]]) -> str:
    """The rows as one JSON array; times as naive UTC ISO 8601, JSON columns nested."""
    return json.dumps(
        [{k: _naive_utc(v) if isinstance(v, datetime) else v for k, v in r.items()} for r in rows],
        default=datetime.isoformat,
    )


def _insert_rows(table: Table, param: str) -> str:
    # One JSON parameter for any number of rows, typed by the table's own row type.
    names = ", ".join(_COLUMNS[table])
    return (
        f"INSERT INTO {table.name} ({names}) SELECT {names}"  # noqa: S608 - names from the models
        f" FROM json_populate_recordset(NULL::{table.name}, CAST(:{param} AS json))"
    )


_INSERTS = f"new_events AS ({_insert_rows(EVENTS, 'e_rows')}) {_insert_rows(TASKS, 't_rows')}"
_CANCEL_SQL = (
    "UPDATE tasks SET state = 'cancelled', done_at = CAST(:c_now AS timestamp)"
    " WHERE intervention_id = :c_intervention_id AND state = 'pending'"
    " AND action = ANY(CAST(:c_actions AS text[]))"
    " AND (claimed_until IS NULL OR claimed_until < CAST(:c_now AS timestamp))"
)
_DONE_SQL = (
    "UPDATE tasks SET state = 'done', done_at = CAST(:d_done_at AS timestamp),"
    " result = CAST(:d_result AS json), claimed_until = NULL, last_error = NULL"
    " WHERE id = :d_id"
)


@cache
def _postgresql_statement(cancel: bool, done: bool) -> Any:
    ctes = [f"cancelled AS ({_CANCEL_SQL})"] * cancel + [f"done AS ({_DONE_SQL})"] * done
    return text("WITH " + ", ".join([*ctes, _INSERTS]))


def discard(session: Any) -> None:
    session.info.pop(_KEY, None)


@event.listens_for(Session, "do_orm_execute")
def _before_statement(state: ORMExecuteState) -> None:
    # Any query of the session sees the rows buffered before it.
    if _KEY in state.session.info:
        write(state.session)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Any) -> None:
    # The ORM's own objects first: a buffered row may point at one of them.
    if _KEY in session.info:
        session.flush()
        write(session)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Any, _previous: Any) -> None:
    discard(session)


def adopt(cls: type[T], row: Mapping[Any, Any]) -> T:
    """The session's object for a row a Core statement returned (every column), as loaded.

    An object the session already holds keeps any change not flushed yet; its other
    attributes take the row's values. A new one enters the session as if a query had
    loaded it.
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


def insert_for(table: Table, dialect: str) -> postgresql.Insert | sqlite.Insert:
    """An INSERT with ON CONFLICT support in this dialect (postgresql or sqlite)."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
