"""The intervention lifecycle: one state machine, and the services that move along it.

Every service here changes rows, appends events and schedules the work the change
causes (mail, panel calls, deadlines) in the caller's transaction. None of them commits:
the caller commits once, so a state change and its work land together or not at all.
A decision is a conditional UPDATE on the current state, so two racing requests cannot
both win.
"""

from __future__ import annotations

import html
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import Any

from flask import current_app
from sqlalchemy import (
    ARRAY,
    Boolean,
    Integer,
    String,
    any_,
    bindparam,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql import column as named_column

from . import tasks, writes
from .models import Client, Intervention, db
from .notes import note_text
from .site_check_http import check_urls_for

INTERVENTIONS = Intervention.__table__
CLIENTS = Client.__table__
_ID_AT = list(INTERVENTIONS.c.keys()).index("id")


class State(StrEnum):
    IN_PROGRESS = "in_progress"
    AWAITING_VALIDATION = "awaiting_validation"
    VALIDATED = "validated"
    REPORTED = "reported"
    LAPSED = "lapsed"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"


class BackupState(StrEnum):
    NONE = "none"
    KEPT = "kept"
    HELD = "held"
    EXPIRED = "expired"


# The whole lifecycle: action -> (states it may start from, state it leads to).
# None stands for "no intervention yet".
TRANSITIONS: dict[str, tuple[frozenset[State | None], State]] = {
    "start": (frozenset({None}), State.IN_PROGRESS),
    "complete": (frozenset({None, State.IN_PROGRESS}), State.AWAITING_VALIDATION),
    "cancel": (frozenset({State.IN_PROGRESS, State.AWAITING_VALIDATION}), State.CANCELLED),
    "validate": (frozenset({State.AWAITING_VALIDATION}), State.VALIDATED),
    "report": (frozenset({State.AWAITING_VALIDATION, State.LAPSED}), State.REPORTED),
    "lapse": (frozenset({State.AWAITING_VALIDATION}), State.LAPSED),
    "resolve": (frozenset({State.REPORTED}), State.RESOLVED),
}

RESOLUTIONS = ("restored", "fixed", "no_fault")


class LifecycleError(Exception):
    """Base of the domain errors the services raise."""

    code = "lifecycle_error"


class TransitionError(LifecycleError):
    """The lifecycle forbids this action from the intervention's current state."""

    code = "transition_forbidden"

    def __init__(self, action: str, state: str | None) -> None:
        self.action = action
        self.state = state
        super().__init__(f"cannot {action} an intervention that is {state or 'unknown'}")


class WindowClosedError(LifecycleError):
    """A validation arrived after the deadline: the intervention lapsed instead."""

    code = "window_closed"


class NotFoundError(LifecycleError):
    code = "not_found"


class InvalidRequestError(LifecycleError):
    code = "invalid"


@dataclass(frozen=True)
class Actor:
    """Who causes a change: panel, client, staff or system; with the client's address."""

    kind: str
    name: str | None = None
    ip: str | None = None
    user_agent: str | None = None


SYSTEM = Actor("system")
PANEL = Actor("panel")


def _setting(key: str) -> Any:
    return current_app.config[key]


def add_event(
    intervention: Intervention,
    actor: Actor,
    type_: str,
    now: datetime,
    *,
    from_state: str | None = None,
    to_state: str | None = None,
    **data: Any,
) -> None:
    """Append one event to the intervention's trail (never updated afterwards).

    Written with the transaction's other buffered rows (`writes`), before its next query
    or its commit.
    """
    writes.add(
        writes.EVENTS,
        {
            "intervention_id": intervention.id,
            "at": now,
            "actor": actor.kind,
            "actor_name": actor.name,
            "type": type_,
            "from_state": from_state,
            "to_state": to_state,
            "ip": actor.ip,
            "user_agent": (actor.user_agent or None) and actor.user_agent[:500],
            "data": data,
        },
    )


def _transition(
    intervention: Intervention, action: str, actor: Actor, now: datetime, **values: Any
) -> str:
    """Move the intervention by `action` with a conditional UPDATE; return the old state."""
    sources, target = TRANSITIONS[action]
    allowed = [s.value for s in sources if s is not None]
    values.update(state=target.value, updated_at=now)
    row = writes.returning_one(
        _conditional_update(tuple(sorted(values)), db.session.get_bind().dialect.name),
        {"_id": intervention.id, "_from": allowed, **{f"v_{k}": v for k, v in values.items()}},
        reads_buffered=False,
    )
    if row is None:
        db.session.refresh(intervention)
        raise TransitionError(action, intervention.state)
    previous = intervention.state
    writes.adopt(Intervention, row)
    add_event(intervention, actor, action, now, from_state=previous, to_state=target.value)
    return previous


@cache
def _conditional_update(keys: tuple[str, ...], dialect: str) -> Any:
    """UPDATE interventions SET <keys> WHERE id = :_id AND state IN :_from RETURNING them.

    Only what changed comes back (each column returned costs as much to describe as to
    read); the rest of the object stays as it was loaded. On PostgreSQL the states are
    one array parameter (`= ANY`), so the statement is the same whatever their number.
    """
    table = INTERVENTIONS
    if dialect == "postgresql":
        sources = table.c.state == any_(bindparam("_from", type_=ARRAY(String)))
    else:
        sources = table.c.state.in_(bindparam("_from", expanding=True))
    return (
        update(table)
        .where(table.c.id == bindparam("_id"), sources)
        .values({key: bindparam(f"v_{key}") for key in keys})
        .returning(table.c.id, *(table.c[key] for key in keys))
    )


@cache
def _with_client(key: str) -> Any:
    return (
        select(*INTERVENTIONS.c, *CLIENTS.c)
        .join_from(INTERVENTIONS, CLIENTS, INTERVENTIONS.c.client_id == CLIENTS.c.id)
        .where(INTERVENTIONS.c[key] == bindparam("key"))
    )


def _load(key: str, value: Any, attached: bool = True) -> Intervention | None:
    """The intervention whose `key` column is `value`, with its client, in one query.

    Not `attached`, the query runs outside the session too (`writes.select_one`, `alone`).
    """
    row = writes.select_one(_with_client(key), {"key": value}, alone=not attached)
    return None if row is None else adopt_with_client(row, attached)


def adopt_with_client(row: Sequence[Any], attached: bool = True) -> Intervention | None:
    """The intervention of a row of its columns then its client's (None if they are NULL).

    In the session, as if loaded; or, not `attached`, outside it (for a page that only
    shows them: every column is there, and nothing is written).
    """
    width = len(INTERVENTIONS.c)
    own, its_client = row[:width], row[width:]
    if own[_ID_AT] is None:
        return None
    make = writes.adopt if attached else writes.transient
    intervention = make(Intervention, dict(zip(INTERVENTIONS.c.keys(), own, strict=True)))
    client = make(Client, dict(zip(CLIENTS.c.keys(), its_client, strict=True)))
    set_committed_value(intervention, "client", client)
    return intervention


def get(ident: int, attached: bool = True) -> Intervention | None:
    """The intervention with this id (the one the session holds, if it holds it).

    Not `attached` (and not held): read outside the session and its transaction, for a
    request that only shows it (it sees what is committed).
    """
    key = inspect(Intervention).identity_key_from_primary_key([ident])
    held = db.session.identity_map.get(key)
    if held is not None:
        return held  # type: ignore[no-any-return]
    return _load("id", ident, attached)


class _LookUp:
    """Stands for "not looked up yet" where a caller may pass what it already found."""


LOOK_UP: Any = _LookUp()


def get_by_panel_id(panel_id: str, found: Any = LOOK_UP) -> Intervention | None:
    """The intervention the panel knows by this id, with its client (one query).

    `found` is that intervention (or None) when the caller has just read it.
    """
    if found is not LOOK_UP:
        return found  # type: ignore[no-any-return]
    return _load("panel_id", str(panel_id))


def with_client_by_panel_id() -> Any:
    """The SELECT of an intervention by `panel_id` with its client: what `_load` reads."""
    return _with_client("panel_id")


def _staff_note(key: str, **values: Any) -> str:
    return note_text(_setting("STAFF_LANGUAGE"), key, **values)


def _ticket_note(intervention: Intervention, key: str, now: datetime, **values: Any) -> None:
    """Schedule a note on the intervention's ticket (none without a ticket).

    The note is the translation `key` in STAFF_LANGUAGE (as it is now) of `values`,
    rendered when it is sent (`ticket_note_text`) with the intervention's id, on the
    intervention's ticket: what it says is fixed here, and the validation click can
    schedule it before it has read the intervention.
    """
    if not intervention.ticket_id:
        return
    # What a client, technician or staff typed is escaped: the panel's admin area must
    # show it as text, never run it as markup.
    values = {
        name: html.escape(value, quote=False) if isinstance(value, str) else value
        for name, value in values.items()
    }
    payload = {"note": key, "language": _setting("STAFF_LANGUAGE"), "values": values}
    tasks.schedule(intervention, "panel", "add_ticket_note", payload, now, now)


def ticket_note_text(payload: dict[str, Any], intervention: Intervention) -> str:
    """The text of a ticket note `_ticket_note` scheduled."""
    panel_id = html.escape(intervention.panel_id, quote=False)
    return note_text(payload["language"], payload["note"], panel_id=panel_id, **payload["values"])


# A client's details the panel may leave out: a known client keeps what it had.
_REFRESHED = ("name", "language", "timezone")


def _client_values(data: dict[str, Any], now: datetime) -> tuple[dict[str, Any], tuple[bool, ...]]:
    """The client's row as the panel sent it, and which of _REFRESHED it sent."""
    values = {
        "id": str(data["id"]),
        "email": data["email"],
        "name": data.get("name") or "",
        "language": data.get("language"),
        "timezone": data.get("timezone") or None,
        "eligible": True,
        "created_at": now,
        "updated_at": now,
    }
    given = (bool(data.get("name")), data.get("language") is not None, bool(values["timezone"]))
    return values, given


def _adopt_client(
    values: dict[str, Any],
    given: tuple[bool, ...],
    eligible: bool | None,
    adopt: Callable[[type[Client], dict[str, Any]], Client] = writes.adopt,
) -> Client:
    # What the row now holds for certain: what was just written, and the eligibility
    # it already had. Anything else is read if it is asked for.
    known = {"id": values["id"], "email": values["email"], "updated_at": values["updated_at"]}
    for column, sent in zip(_REFRESHED, given, strict=True):
        if sent:
            known[column] = values[column]
    return adopt(Client, {**known, "eligible": eligible})


# The client's columns a webhook writes.
_CLIENT_SENT = (
    "id",
    "email",
    "name",
    "language",
    "timezone",
    "eligible",
    "created_at",
    "updated_at",
)


@cache
def _client_upsert(dialect: str, given: tuple[bool, ...], prefix: str = "") -> Any:
    """Create the client, or refresh the details the panel sent; RETURNING eligible."""
    statement = writes.insert_for(CLIENTS, dialect).values(
        {key: bindparam(prefix + key, type_=CLIENTS.c[key].type) for key in _CLIENT_SENT}
    )
    new = statement.excluded
    update_ = {"email": new.email, "updated_at": new.updated_at}
    for column, sent in zip(_REFRESHED, given, strict=True):
        if sent:
            update_[column] = new[column]
    return statement.on_conflict_do_update(index_elements=[CLIENTS.c.id], set_=update_).returning(
        CLIENTS.c.eligible
    )


def _new_intervention(data: dict[str, Any], now: datetime, **values: Any) -> Intervention:
    """Insert the intervention (in progress, or as `values` say) and its client.

    On PostgreSQL the client's upsert and the intervention's INSERT are one statement.
    """
    client_row, given = _client_values(data["client"], now)
    backup = data.get("backup") or {}
    row: dict[str, Any] = {
        "panel_id": str(data["id"]),
        "ticket_id": None if data.get("ticket_id") is None else str(data["ticket_id"]),
        "client_id": client_row["id"],
        "site": data.get("site"),
        "technician": data.get("technician"),
        "summary": None,
        "state": State.IN_PROGRESS.value,
        "link_nonce": secrets.token_urlsafe(12),
        "backup_reference": backup.get("reference"),
        "backup_created_at": backup.get("created_at"),
        "backup_state": (BackupState.KEPT if backup.get("reference") else BackupState.NONE).value,
        "backup_expires_at": None,
        "started_at": now,
        "completed_at": None,
        "deadline_at": None,
        "decided_at": None,
        "cancelled_reason": None,
        "report_message": None,
        "restore_requested": False,
        "late_report": False,
        "late_report_review": None,
        "resolution": None,
        "check_urls": _check_urls(data),
        "mail_held_at": None,
        "window_opened_at": None,
        "created_at": now,
        "updated_at": now,
    }
    row.update(values)
    if row["backup_state"] == BackupState.NONE:
        row["backup_expires_at"] = None
    dialect = db.session.get_bind().dialect.name
    held = writes.deferred()
    if held is not None and dialect == "postgresql":
        # Its caller inserts it (create_unless_known): no id yet, nor eligibility.
        held.row, held.client, held.given = row, client_row, given
        client = _adopt_client(client_row, given, None, writes.transient)
        intervention = writes.transient(Intervention, {**row, "id": None})
        set_committed_value(intervention, "client", client)
        return intervention
    if dialect == "postgresql":
        params = {**row, **{f"c_{k}": v for k, v in client_row.items()}}
        inserted = writes.returning_one(_insert_with_client(given), params)
        assert inserted is not None
        row["id"], eligible = inserted["id"], inserted["eligible"]
    else:
        upsert = db.session.execute(_client_upsert(dialect, given), client_row)
        eligible = upsert.scalar_one()
        row["id"] = db.session.execute(_insert_intervention(), row).scalar_one()
    client = _adopt_client(client_row, given, eligible)
    intervention = writes.adopt(Intervention, row)
    set_committed_value(intervention, "client", client)
    return intervention


@cache
def _insert_intervention() -> Any:
    return insert(INTERVENTIONS).returning(INTERVENTIONS.c.id)


@cache
def _insert_with_client(given: tuple[bool, ...]) -> Any:
    # The client's upsert is a CTE of the intervention's INSERT, which returns the
    # client's eligibility beside the new id.
    client = _client_upsert("postgresql", given, "c_").cte("client")
    columns = [c for c in INTERVENTIONS.c if c.key != "id"]
    return (
        insert(INTERVENTIONS)
        .values({c.key: bindparam(c.key, type_=c.type) for c in columns})
        .add_cte(client)
        .returning(
            INTERVENTIONS.c.id, select(client.c.eligible).scalar_subquery().label("eligible")
        )
    )


def insert_deferred(
    held: writes.Deferred, intervention: Intervention, guard: str, params: dict[str, Any]
) -> bool:
    """Insert what `writes.deferring()` held back, in one statement of its own (PostgreSQL).

    The new intervention, its client and the buffered events and tasks go in only when
    `guard` (a CTE named guard, with its `params`) gives a row; nothing does otherwise.
    The statement is sent `alone`, outside the session: it commits when it succeeds, and
    the session stays as it was (call it before the session's transaction). True, with the
    intervention's id and its client's eligibility set, when it went in.
    """
    assert held.row is not None and held.client is not None
    values = {
        **params,
        **{f"n_{k}": v for k, v in held.row.items()},
        **{f"c_{k}": v for k, v in held.client.items()},
        **writes.take_rows(held),
    }
    row = writes.returning_one(_insert_deferred(guard, held.given), values, alone=True)
    if row is None:
        return False
    set_committed_value(intervention, "id", row["id"])
    set_committed_value(intervention.client, "eligible", row["eligible"])
    return True


@cache
def _insert_deferred(guard: str, given: tuple[bool, ...]) -> Any:
    columns = [c.key for c in INTERVENTIONS.c if c.key != "id"]
    refreshed = ["email", *(c for c, sent in zip(_REFRESHED, given, strict=True) if sent)]
    # Names from the models, values all bound (and cast to their columns' types by
    # their bind parameters' types).
    updates = ", ".join(f"{k} = excluded.{k}" for k in (*refreshed, "updated_at"))
    parts = [
        f"WITH guard AS ({guard})",
        f"client AS (INSERT INTO clients ({', '.join(_CLIENT_SENT)})"  # noqa: S608
        f" SELECT {', '.join(f':c_{k}' for k in _CLIENT_SENT)} FROM guard"
        f" ON CONFLICT (id) DO UPDATE SET {updates} RETURNING eligible)",
        f"new AS (INSERT INTO interventions ({', '.join(columns)})"  # noqa: S608
        f" SELECT {', '.join(f':n_{k}' for k in columns)} FROM guard RETURNING id)",
        writes.insert_rows_for("new", "new_events", writes.EVENTS, "e_rows"),
        writes.insert_rows_for("new", "new_tasks", writes.TASKS, "t_rows"),
    ]
    sql = ", ".join(parts) + " SELECT new.id, client.eligible FROM new, client"  # noqa: S608
    binds = [
        *(bindparam(f"n_{c.key}", type_=c.type) for c in INTERVENTIONS.c if c.key != "id"),
        *(bindparam(f"c_{k}", type_=CLIENTS.c[k].type) for k in _CLIENT_SENT),
    ]
    return (
        text(sql)
        .bindparams(*binds)
        .columns(named_column("id", Integer), named_column("eligible", Boolean))
    )


def _check_urls(data: dict[str, Any]) -> list[str]:
    if not _setting("SITE_CHECK_ENABLED"):
        return []
    return check_urls_for(data.get("site"), data.get("check_urls"), _setting("SITE_CHECK_MAX_URLS"))


def start(data: dict[str, Any], now: datetime, found: Any = LOOK_UP) -> Intervention:
    """Record an intervention the panel started.

    Creates the client (or refreshes their details) and the intervention in
    `in_progress` with its backup `kept`, and schedules the site check's before
    snapshot of its check URLs. Schedules nothing for the client. The caller
    deduplicates redeliveries by `webhook-id`; a second start of the same id raises
    TransitionError.
    """
    existing = get_by_panel_id(data["id"], found)
    if existing is not None:
        raise TransitionError("start", existing.state)
    intervention = _new_intervention(data, now)
    add_event(
        intervention,
        PANEL,
        "start",
        now,
        to_state=State.IN_PROGRESS.value,
        technician=intervention.technician,
        backup_reference=intervention.backup_reference,
        check_urls=intervention.check_urls,
    )
    if intervention.check_urls:
        tasks.schedule(intervention, "site", "site_snapshot", {"phase": "before"}, now, now)
    return intervention


def complete(data: dict[str, Any], now: datetime, found: Any = LOOK_UP) -> Intervention:
    """Record the end of the work and open the client's validation window.

    Sets the deadline (completion + VALIDATION_WINDOW) and the backup's expiry
    (completion + BACKUP_RETENTION). Without check URLs the window opens at once
    (`_open_window`: the mail, reminders, lapse, expiry, ticket note). With them, the
    site check's after snapshot comes first, and the window opens once it is known
    (`site_checked`), or after SITE_CHECK_MAIL_WAIT if it never ends
    (`site_check_overdue`). Raises TransitionError unless the intervention is in
    progress (or unknown, when `data` carries the fields of a start).
    """
    intervention = get_by_panel_id(data["id"], found)
    completed_at = min(data.get("completed_at") or now, now)
    values: dict[str, Any] = {
        "completed_at": completed_at,
        "deadline_at": completed_at + _setting("VALIDATION_WINDOW"),
        "backup_expires_at": completed_at + _setting("BACKUP_RETENTION"),
        "summary": data.get("summary"),
    }
    if intervention is None:
        missing = [key for key in ("ticket_id", "client") if not data.get(key)]
        if missing:
            raise InvalidRequestError(
                "unknown intervention: a completion without a start must carry "
                + ", ".join(f"data.{key}" for key in missing)
            )
        # Started and completed at once: inserted as the completion leaves it, with
        # both steps in the trail.
        intervention = _new_intervention(data, now, state=State.AWAITING_VALIDATION.value, **values)
        add_event(
            intervention,
            PANEL,
            "start",
            now,
            to_state=State.IN_PROGRESS.value,
            implicit=True,
            backup_reference=intervention.backup_reference,
        )
        add_event(
            intervention,
            PANEL,
            "complete",
            now,
            from_state=State.IN_PROGRESS.value,
            to_state=State.AWAITING_VALIDATION.value,
        )
        new = True
    else:
        if intervention.backup_state == BackupState.NONE:
            del values["backup_expires_at"]
        _transition(intervention, "complete", PANEL, now, **values)
        new = False
    if not intervention.check_urls:
        _open_window(intervention, now)
        return intervention
    if not new:
        # A before snapshot not taken yet would show the site after the work: drop it.
        tasks.cancel_pending(intervention, ("site_snapshot",), now)
    tasks.schedule(intervention, "site", "site_snapshot", {"phase": "after"}, now, now)
    wait = now + _setting("SITE_CHECK_MAIL_WAIT")
    tasks.schedule(intervention, "due", "site_check_overdue", {}, wait, now)
    return intervention


def _open_window(
    intervention: Intervention,
    now: datetime,
    *,
    held: bool = False,
    note: str = "note.completed",
    **note_values: Any,
) -> bool:
    """Open the client's validation window, once: schedule what the deadline brings.

    Schedules the completion mail, a reminder per REMINDERS offset still ahead, the
    lapse at the deadline, the backup expiry, and a ticket note; records
    `window_opened_at`. A mail that was `held` starts a new clock: deadline and backup
    expiry count from now. A conditional update: only for an intervention awaiting
    validation whose window is not open, and whose mail is held (`held`) or not;
    returns False (and does nothing) otherwise, so two openings cannot both schedule.
    """
    values: dict[str, Any] = {"window_opened_at": now, "mail_held_at": None, "updated_at": now}
    if held:
        values["deadline_at"] = now + _setting("VALIDATION_WINDOW")
        if intervention.backup_state != BackupState.NONE:
            values["backup_expires_at"] = now + _setting("BACKUP_RETENTION")
    deferred = writes.deferred()
    if deferred is not None and deferred.row is not None and intervention.id is None and not held:
        # Not inserted yet (_new_intervention): it opens in the INSERT itself.
        deferred.row.update(values)
        for key, value in values.items():
            set_committed_value(intervention, key, value)
    else:
        row = writes.returning_one(
            _window_update(tuple(sorted(values)), held),
            {"_id": intervention.id, **{f"v_{k}": v for k, v in values.items()}},
            reads_buffered=False,
        )
        if row is None:
            return False
        writes.adopt(Intervention, row)
    deadline = intervention.deadline_at
    assert deadline is not None

    tasks.schedule(intervention, "mail", "send_mail", {"template": "completion_request"}, now, now)
    for left in _setting("REMINDERS"):
        due = deadline - left
        if due > now:
            tasks.schedule(
                intervention,
                "mail",
                "send_mail",
                {"template": "reminder", "left_seconds": int(left.total_seconds())},
                due,
                now,
            )
    tasks.schedule(intervention, "due", "lapse", {}, deadline, now)
    expires = intervention.backup_expires_at
    if expires is not None:
        tasks.schedule(intervention, "due", "expire_backup", {}, expires, now)
    _ticket_note(intervention, note, now, deadline=_staff_time(deadline), **note_values)
    return True


@cache
def _window_update(keys: tuple[str, ...], held: bool) -> Any:
    table = INTERVENTIONS
    # What changed, and the two times the window's work is scheduled by.
    returned = dict.fromkeys(("id", *keys, "deadline_at", "backup_expires_at"))
    return (
        update(table)
        .where(
            table.c.id == bindparam("_id"),
            table.c.state == State.AWAITING_VALIDATION.value,
            table.c.window_opened_at.is_(None),
            table.c.mail_held_at.is_not(None) if held else table.c.mail_held_at.is_(None),
        )
        .values({key: bindparam(f"v_{key}") for key in keys})
        .returning(*(table.c[key] for key in returned))
    )


def site_checked(intervention: Intervention, regressions: list[str], now: datetime) -> str:
    """The after snapshot is known: open the validation window, or hold the client's mail.

    `regressions` are the staff-language lines of the pages that regressed. With none,
    or with HOLD_MAIL_ON_REGRESSION off, the window opens now. With some, the technician
    gets a ticket note at once; with HOLD_MAIL_ON_REGRESSION the mail is held
    (`mail_held_at`) until staff release it (`release_mail`), and no deadline runs
    meanwhile. A later snapshot (a repeat, a re-check) only adds the note. Returns what
    became of the mail: `sent`, `held`, `already_sent`, `still_held` or `none`.
    """
    if intervention.state != State.AWAITING_VALIDATION:
        return "none"
    if regressions:
        add_event(intervention, SYSTEM, "site_regression", now, pages=len(regressions))
    if intervention.window_opened_at is not None:
        mail = "already_sent"
    elif intervention.mail_held_at is not None:
        mail = "still_held"
    elif regressions and _setting("HOLD_MAIL_ON_REGRESSION"):
        # The client's clock stops: no deadline, no backup expiry until the release.
        held = db.session.execute(
            update(Intervention)
            .where(
                Intervention.id == intervention.id,
                Intervention.state == State.AWAITING_VALIDATION.value,
                Intervention.window_opened_at.is_(None),
                Intervention.mail_held_at.is_(None),
            )
            .values(mail_held_at=now, deadline_at=None, backup_expires_at=None, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        db.session.refresh(intervention)
        mail = "held" if held.rowcount == 1 else "none"  # type: ignore[attr-defined]
        if mail == "held":
            add_event(intervention, SYSTEM, "mail_held", now, pages=len(regressions))
    else:
        mail = "sent" if _open_window(intervention, now) else "none"
    if regressions:
        _ticket_note(
            intervention,
            "sitecheck.note.regression",
            now,
            count=len(regressions),
            pages="\n".join(regressions),
            mail=_staff_note(f"sitecheck.note.mail_{mail}") if mail != "none" else "",
        )
    return mail


def site_check_overdue(intervention: Intervention, now: datetime) -> bool:
    """The after snapshot did not end within SITE_CHECK_MAIL_WAIT: open the window without it.

    Does nothing (returns False) once the window is open or the mail held; safe to repeat.
    """
    if intervention.window_opened_at is not None or intervention.mail_held_at is not None:
        return False
    opened = _open_window(intervention, now, note="sitecheck.note.timed_out")
    if opened:
        add_event(intervention, SYSTEM, "site_check_overdue", now)
    return opened


def release_mail(intervention: Intervention, actor: Actor, now: datetime) -> None:
    """Staff release the mail a regression held: it goes out and the window starts now.

    Raises TransitionError when no mail is held. Recorded with the staff member's name.
    """
    held_since = intervention.mail_held_at
    if intervention.state != State.AWAITING_VALIDATION or held_since is None:
        raise TransitionError("release the held mail of", f"{intervention.state} (no mail held)")
    if not _open_window(
        intervention, now, held=True, note="sitecheck.note.released", staff=actor.name or "-"
    ):
        raise TransitionError("release the held mail of", f"{intervention.state} (no mail held)")
    add_event(intervention, actor, "mail_released", now, held_since=held_since.isoformat())


def recheck_site(intervention: Intervention, actor: Actor, now: datetime) -> None:
    """Staff take the after snapshot again (a regression was fixed, say); it replaces the last.

    A held mail stays held: staff release it when the site is right.
    """
    if intervention.state != State.AWAITING_VALIDATION or not intervention.check_urls:
        raise TransitionError("check the site of", intervention.state)
    add_event(intervention, actor, "site_recheck_requested", now)
    tasks.schedule(intervention, "site", "site_snapshot", {"phase": "after"}, now, now)


def cancel(
    panel_id: str, reason: str | None, actor: Actor, now: datetime, found: Any = LOOK_UP
) -> Intervention:
    """Cancel an intervention: no more mail or deadline for it; the backup keeps its expiry.

    Raises NotFoundError or TransitionError. Safe against redelivery (a second cancel
    raises TransitionError and changes nothing).
    """
    intervention = _require(panel_id, found)
    values: dict[str, Any] = {"cancelled_reason": reason, "mail_held_at": None}
    if intervention.backup_state == BackupState.KEPT and intervention.backup_expires_at is None:
        values["backup_expires_at"] = now + _setting("BACKUP_RETENTION")
    _transition(intervention, "cancel", actor, now, **values)
    tasks.cancel_pending(
        intervention, ("send_mail", "lapse", "site_snapshot", "site_check_overdue"), now
    )
    if "backup_expires_at" in values:
        tasks.schedule(intervention, "due", "expire_backup", {}, values["backup_expires_at"], now)
    _ticket_note(intervention, "note.cancelled", now, reason=reason or "-")
    return intervention


def _require(panel_id: str, found: Any = LOOK_UP) -> Intervention:
    intervention = get_by_panel_id(panel_id, found)
    if intervention is None:
        raise NotFoundError(f"no intervention with id {panel_id!r}")
    return intervention


def validate(intervention: Intervention, actor: Actor, now: datetime) -> Intervention:
    """The client validates the intervention.

    Before the deadline: `validated`, a confirmation mail and a ticket note; pending
    reminders are dropped. After it: the intervention lapses instead and
    WindowClosedError is raised (committing the lapse is the caller's choice).
    A second or conflicting decision raises TransitionError and changes nothing.
    """
    if intervention.deadline_at is not None and now >= intervention.deadline_at:
        if intervention.state == State.AWAITING_VALIDATION:
            lapse(intervention, now)
        raise WindowClosedError("the validation window is closed")
    _transition(intervention, "validate", actor, now, decided_at=now)
    _validated(intervention, actor, now)
    return intervention


def validate_by_link(
    ident: int, nonce: str, actor_for: Callable[[Intervention], Actor], now: datetime
) -> bool:
    """The common click of a validation link, as one statement with all its work.

    An intervention with this id and link nonce, awaiting validation before its
    deadline, is validated as `validate` does it. Its event, its cancels, its mail and
    its ticket note are built first, without a query (`writes.deferring()`), from an
    intervention known only by its id; one statement, a transaction of its own outside
    the session (call it before the session's transaction), then makes the UPDATE and
    writes them from the row it updated: the trail names the
    client by the address on their row, and the note goes only to an intervention with
    a ticket. True when it did. Anything else (unknown, another nonce, decided, past the
    deadline) returns False and changes nothing: the caller then takes the general path,
    which says why. PostgreSQL only (False on SQLite).

    Its cancel of the pending mail and lapse reads the tasks as the statement began: a
    mail scheduled by a transaction the UPDATE waited for stays pending, and its handler
    skips it, as it skips any mail no longer wanted.
    """
    if db.session.get_bind().dialect.name != "postgresql":
        return False
    values = {"state": State.VALIDATED.value, "decided_at": now, "updated_at": now}
    # Its ticket is not known yet: the note is scheduled, and the statement keeps it only
    # for an intervention that has one.
    intervention = writes.transient(Intervention, {"id": ident, "ticket_id": "?", **values})
    set_committed_value(intervention, "client", writes.transient(Client, {"email": None}))
    with writes.deferring() as held:
        actor = actor_for(intervention)
        add_event(
            intervention,
            actor,
            "validate",
            now,
            from_state=State.AWAITING_VALIDATION.value,
            to_state=State.VALIDATED.value,
        )
        _validated(intervention, actor, now)
    params = {
        "_id": ident,
        "_nonce": nonce,
        "_now": now,
        **{f"v_{k}": v for k, v in values.items()},
        **writes.take_rows(held, cancels=True),
    }
    if writes.returning_one(_validate_by_link(), params, alone=True) is None:
        tasks.discard_kicks()
        return False
    return True


@cache
def _validate_by_link() -> Any:
    assert TRANSITIONS["validate"] == (frozenset({State.AWAITING_VALIDATION}), State.VALIDATED)
    # Names from the models, values all bound.
    validated = (
        "v AS (UPDATE interventions SET state = :v_state, decided_at = :v_decided_at,"  # noqa: S608
        " updated_at = :v_updated_at FROM clients"
        " WHERE interventions.id = :_id AND interventions.link_nonce = :_nonce"
        f" AND interventions.state = '{State.AWAITING_VALIDATION.value}'"
        " AND (interventions.deadline_at IS NULL OR interventions.deadline_at > :_now)"
        " AND clients.id = interventions.client_id"
        " RETURNING interventions.id, interventions.ticket_id, clients.email)"
    )
    parts = [
        validated,
        writes.cancel_for("v"),
        writes.insert_rows_for(
            "v", "new_events", writes.EVENTS, "e_rows", {"actor_name": "v.email"}
        ),
        writes.insert_rows_for(
            "v",
            "new_tasks",
            writes.TASKS,
            "t_rows",
            where="(r.action <> 'add_ticket_note' OR coalesce(v.ticket_id, '') <> '')",
        ),
    ]
    times = ("v_decided_at", "v_updated_at", "_now")
    return (
        text("WITH " + ", ".join(parts) + " SELECT v.id FROM v")  # noqa: S608
        .bindparams(*(bindparam(name, type_=INTERVENTIONS.c.decided_at.type) for name in times))
        .columns(named_column("id", Integer))
    )


def _validated(intervention: Intervention, actor: Actor, now: datetime) -> None:
    # What a validation brings once the intervention has moved.
    tasks.cancel_pending(intervention, ("send_mail", "lapse"), now)
    tasks.schedule(intervention, "mail", "send_mail", {"template": "validated"}, now, now)
    _ticket_note(intervention, "note.validated", now, ip=actor.ip or "-")


def report(
    intervention: Intervention,
    message: str | None,
    restore: bool,
    actor: Actor,
    now: datetime,
) -> Intervention:
    """The client reports that something is wrong.

    Moves to `reported`, holds the backup (never expired while held), reopens the
    ticket (REOPEN_TICKET_STATUS) with a note carrying the message and the restore
    request, and acknowledges by mail. After the deadline the report is late: with
    LATE_REPORT_POLICY=auto the client is made ineligible at once, with `review` it
    waits for staff. A second or conflicting decision raises TransitionError.
    """
    late = intervention.state == State.LAPSED or (
        intervention.deadline_at is not None and now >= intervention.deadline_at
    )
    values: dict[str, Any] = {
        "decided_at": now,
        "report_message": message,
        "restore_requested": restore,
        "late_report": late,
    }
    if late:
        values["late_report_review"] = (
            "flagged" if _setting("LATE_REPORT_POLICY") == "auto" else "pending"
        )
    backup_was = intervention.backup_state
    if backup_was == BackupState.KEPT:
        values["backup_state"] = BackupState.HELD.value
    _transition(intervention, "report", actor, now, **values)
    if backup_was == BackupState.KEPT:
        add_event(intervention, actor, "backup_held", now, reference=intervention.backup_reference)
    tasks.cancel_pending(intervention, ("send_mail", "lapse"), now)
    tasks.schedule(intervention, "mail", "send_mail", {"template": "reported"}, now, now)
    if intervention.ticket_id:
        tasks.schedule(
            intervention,
            "panel",
            "update_ticket",
            {"ticket_id": intervention.ticket_id, "status": _setting("REOPEN_TICKET_STATUS")},
            now,
            now,
        )
    _ticket_note(
        intervention,
        "note.reported_late" if late else "note.reported",
        now,
        message=message or "-",
        restore=_staff_note("word.yes" if restore else "word.no"),
        backup=_backup_words(intervention, backup_was),
    )
    if late and _setting("LATE_REPORT_POLICY") == "auto":
        flag_ineligible(intervention.client, intervention, SYSTEM, now, reason="late_report")
    return intervention


def _backup_words(intervention: Intervention, backup_was: str) -> str:
    reference = intervention.backup_reference or "-"
    if backup_was == BackupState.KEPT:
        return _staff_note("backup.held", reference=reference)
    if backup_was == BackupState.EXPIRED:
        return _staff_note("backup.already_expired", reference=reference)
    return _staff_note("backup.none")


def lapse(intervention: Intervention, now: datetime) -> bool:
    """The deadline passed without a decision: `lapsed`, with a ticket note.

    Returns False (and changes nothing) when the intervention was decided or cancelled
    meanwhile, or the deadline is still ahead; safe to run twice.
    """
    if intervention.deadline_at is None or now < intervention.deadline_at:
        return False
    try:
        _transition(intervention, "lapse", SYSTEM, now)
    except TransitionError:
        return False
    tasks.cancel_pending(intervention, ("send_mail",), now)
    _ticket_note(intervention, "note.lapsed", now, deadline=_staff_time(intervention.deadline_at))
    return True


def expire_backup(intervention: Intervention, now: datetime) -> bool:
    """Retention is over: the backup goes from `kept` to `expired`, with a ticket note.

    A held backup is never expired. Returns False (and changes nothing) when the backup
    is not kept or not yet due; safe to run twice.
    """
    result = db.session.execute(
        update(Intervention)
        .where(
            Intervention.id == intervention.id,
            Intervention.backup_state == BackupState.KEPT.value,
            Intervention.backup_expires_at <= now,
        )
        .values(backup_state=BackupState.EXPIRED.value, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    db.session.refresh(intervention)
    add_event(intervention, SYSTEM, "backup_expired", now, reference=intervention.backup_reference)
    _ticket_note(intervention, "note.backup_expired", now, reference=intervention.backup_reference)
    return True


def hold_backup(intervention: Intervention, actor: Actor, now: datetime) -> None:
    """Staff keep the backup beyond its retention (until released). Idempotent."""
    if intervention.backup_state == BackupState.HELD:
        return
    if intervention.backup_state != BackupState.KEPT:
        raise TransitionError("hold the backup of", f"backup {intervention.backup_state}")
    intervention.backup_state = BackupState.HELD.value
    intervention.updated_at = now
    add_event(intervention, actor, "backup_held", now, reference=intervention.backup_reference)
    _ticket_note(intervention, "note.backup_held", now, reference=intervention.backup_reference)


def release_backup(intervention: Intervention, actor: Actor, now: datetime) -> None:
    """A held backup goes back to `kept`; past its retention it expires at once."""
    if intervention.backup_state != BackupState.HELD:
        return
    intervention.backup_state = BackupState.KEPT.value
    intervention.updated_at = now
    if intervention.backup_expires_at is None or intervention.backup_expires_at < now:
        intervention.backup_expires_at = now
    add_event(intervention, actor, "backup_released", now, reference=intervention.backup_reference)
    tasks.schedule(intervention, "due", "expire_backup", {}, intervention.backup_expires_at, now)


def resolve(intervention: Intervention, resolution: str, actor: Actor, now: datetime) -> None:
    """Staff close a report (restored, fixed, no fault); the backup's hold is released."""
    if resolution not in RESOLUTIONS:
        raise InvalidRequestError(f"resolution must be one of {', '.join(RESOLUTIONS)}")
    _transition(intervention, "resolve", actor, now, resolution=resolution)
    _ticket_note(
        intervention,
        "note.resolved",
        now,
        resolution=_staff_note(f"resolution.{resolution}"),
        staff=actor.name or "-",
    )
    release_backup(intervention, actor, now)


def resend_mail(intervention: Intervention, actor: Actor, now: datetime) -> None:
    """Send the client the mail that fits the current state again (new links)."""
    template = {
        State.AWAITING_VALIDATION: "completion_request",
        State.VALIDATED: "validated",
        State.REPORTED: "reported",
    }.get(State(intervention.state))
    if template is None:
        raise TransitionError("resend the mail of", intervention.state)
    if intervention.state == State.AWAITING_VALIDATION and intervention.window_opened_at is None:
        # Not sent yet: the site check runs, or a regression holds it (release it instead).
        waiting = "held mail" if intervention.mail_held_at else "site check to finish"
        state = f"{intervention.state} (waiting for its {waiting})"
        raise TransitionError("resend the mail of", state)
    add_event(intervention, actor, "mail_resend_requested", now, template=template)
    tasks.schedule(
        intervention, "mail", "send_mail", {"template": template, "resend": True}, now, now
    )


def flag_ineligible(
    client: Client,
    intervention: Intervention | None,
    actor: Actor,
    now: datetime,
    reason: str = "late_report",
) -> bool:
    """Make the client ineligible for free interventions and write the internal note.

    Returns False when the client already was ineligible (nothing changes then).
    """
    updated = db.session.execute(
        update(Client)
        .where(Client.id == client.id, Client.eligible.is_(True))
        .values(
            eligible=False,
            ineligible_since=now,
            ineligible_intervention_id=intervention.id if intervention else None,
            ineligible_reason=reason,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if updated.rowcount != 1:  # type: ignore[attr-defined]
        return False
    db.session.refresh(client)
    if intervention is not None:
        if intervention.late_report_review == "pending":
            intervention.late_report_review = "flagged"
        add_event(intervention, actor, "client_ineligible", now, reason=reason)
    tasks.schedule(
        intervention,
        "panel",
        "set_ineligible_note",
        {
            "client_id": client.id,
            "since": now.date().isoformat(),
            "intervention": intervention.panel_id if intervention else None,
        },
        now,
        now,
    )
    return True


def lift_ineligibility(client: Client, actor: Actor, now: datetime) -> bool:
    """Make the client eligible again and remove the internal note's line (only that line)."""
    if client.eligible:
        return False
    intervention = (
        db.session.get(Intervention, client.ineligible_intervention_id)
        if client.ineligible_intervention_id
        else None
    )
    client.eligible = True
    client.ineligible_since = None
    client.ineligible_intervention_id = None
    client.ineligible_reason = None
    client.updated_at = now
    if intervention is not None:
        add_event(intervention, actor, "client_eligible_again", now)
    tasks.schedule(
        intervention, "panel", "remove_ineligible_note", {"client_id": client.id}, now, now
    )
    return True


def dismiss_late_report(intervention: Intervention, actor: Actor, now: datetime) -> None:
    """Staff decide a late report does not make the client ineligible."""
    if intervention.late_report_review != "pending":
        raise TransitionError("dismiss the late report of", intervention.state)
    intervention.late_report_review = "dismissed"
    intervention.updated_at = now
    add_event(intervention, actor, "late_report_dismissed", now)


def _staff_time(moment: datetime | None) -> str:
    from .formatting import format_datetime

    if moment is None:
        return "-"
    return format_datetime(moment, _setting("STAFF_LANGUAGE"), _setting("DEFAULT_TIMEZONE"))
