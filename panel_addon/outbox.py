"""The outbox: side effects as task rows, written in the transaction of the change.

A service schedules a task (a mail, a panel call, a deadline) by adding a `Task` row to
the session; it commits with the state change that caused it, or not at all. After the
commit a session event tells the workers (RQ) which kinds of work are due now; the
worker claims tasks with a lease, carries them out (`effects`) and records the outcome.
The sweep finds whatever Redis forgot: the database, not Redis, is the record.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from flask import Flask, current_app
from flask_sqlalchemy.session import Session
from sqlalchemy import case, event, func, or_, select, update

from . import queues
from .clock import now as clock_now
from .models import Intervention, Task, db

log = logging.getLogger(__name__)

KINDS = queues.KINDS
# Recorded when a task is claimed again after its lease ran out: the worker that held it
# stopped mid-task, so its mail or panel call may or may not have happened.
INTERRUPTED = "the previous attempt was interrupted (its lease ran out)"
# The session's record of the kinds of work its transaction made due now.
_KICKS = "panel_addon.kicks"


class TransientError(Exception):
    """The task could not be done now (SMTP or panel down); it is retried with backoff."""


class PermanentError(Exception):
    """The task can never succeed as it is (a refused recipient); it is marked failed."""


class Parked(Exception):
    """The task cannot succeed until the operator changes a setting (a panel permission).

    It is parked: shown to staff with the reason, never retried by itself, and made due
    again by `resume_parked` once the setting is fixed (`panel-addon check` does it).
    """


class Skip(Exception):
    """The task is no longer wanted (the client answered, the panel is not configured)."""


class Postpone(Exception):
    """The task is not due yet after all (its time moved): run it again at `due_at`."""

    def __init__(self, due_at: datetime) -> None:
        super().__init__(due_at.isoformat())
        self.due_at = due_at


def init_app(app: Flask) -> None:
    """Kick the workers after each commit that made work due (once per process)."""
    if not event.contains(Session, "after_commit", _kick_after_commit):
        event.listen(Session, "after_commit", _kick_after_commit)
        event.listen(Session, "after_rollback", _forget_kicks)


def schedule(
    intervention: Intervention | None,
    kind: str,
    action: str,
    payload: dict[str, Any],
    due_at: datetime,
    now: datetime,
) -> Task:
    """Add a task to the current transaction; due now, it is kicked after the commit."""
    assert kind in KINDS
    task = Task(
        intervention=intervention,
        kind=kind,
        action=action,
        payload=payload,
        state="pending",
        due_at=due_at,
        attempts=0,
        created_at=now,
    )
    db.session.add(task)
    if due_at <= now:
        db.session.info.setdefault(_KICKS, set()).add(kind)
    return task


def cancel_pending(intervention: Intervention, actions: Iterable[str], now: datetime) -> None:
    """Drop the intervention's pending tasks of these actions (e.g. reminders on a decision).

    It cancels the tasks scheduled before it (the session flushes them first), not those
    scheduled after it in the same transaction. A task a worker holds is left to it: its
    handler checks the work is still wanted, and records what became of it.
    """
    db.session.execute(
        update(Task)
        .where(
            Task.intervention_id == intervention.id,
            Task.state == "pending",
            Task.action.in_(list(actions)),
            _claimable(now),
        )
        .values(state="cancelled", done_at=now, claimed_until=None)
        # Task objects this transaction holds are not read again before its commit.
        .execution_options(synchronize_session=False)
    )


def waiting(intervention: Intervention, action: str, due_by: datetime) -> bool:
    """Whether a pending task of `action` for the intervention fell due by `due_by`."""
    found = db.session.scalars(
        select(Task.id).where(
            Task.intervention_id == intervention.id,
            Task.action == action,
            Task.state == "pending",
            Task.due_at <= due_by,
        )
    ).first()
    return found is not None


def _kick_after_commit(session: Any) -> None:
    kinds = session.info.pop(_KICKS, None)
    if kinds:
        kick(sorted(kinds))


def _forget_kicks(session: Any) -> None:
    session.info.pop(_KICKS, None)


def kick(kinds: Iterable[str]) -> None:
    """Enqueue a drain job per kind unless one is already waiting; never raises."""
    try:
        queues.enqueue_drains(kinds)
    except Exception as exc:  # noqa: BLE001 - Redis being down must not fail the request
        log.warning("could not reach Redis to start work (%s); the sweep will", type(exc).__name__)


def _claimable(now: datetime) -> Any:
    return or_(Task.claimed_until.is_(None), Task.claimed_until < now)


def due_kinds(now: datetime) -> list[str]:
    """The kinds that have tasks due now and not held by a live lease.

    In the order their oldest due task fell due, the order the sweep enqueues their
    drains: after an outage a reminder that fell due before every lapse is sent before
    a lapse cancels it.
    """
    rows = db.session.execute(
        select(Task.kind)
        .where(Task.state == "pending", Task.due_at <= now, _claimable(now))
        .group_by(Task.kind)
        .order_by(func.min(Task.due_at), Task.kind)
    )
    return [row[0] for row in rows]


def claim(kind: str, now: datetime, limit: int) -> list[Task]:
    """Claim up to `limit` due tasks of `kind` for this worker, committed at once.

    Two workers never claim the same task: the candidates are locked and skipped by
    the other (PostgreSQL), and the UPDATE rechecks that each is still claimable. Fresh
    work comes first, in the order it fell due; a task whose last attempt was cut short
    (its lease ran out: a worker died on it) comes after, so work that keeps killing its
    worker never holds back the rest.
    """
    token = secrets.token_hex(8)
    candidates = (
        select(Task.id)
        .where(Task.kind == kind, Task.state == "pending", Task.due_at <= now, _claimable(now))
        .order_by(Task.claimed_until.is_not(None), Task.due_at, Task.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    db.session.execute(
        update(Task)
        .where(Task.id.in_(candidates.scalar_subquery()), Task.state == "pending", _claimable(now))
        .values(
            claimed_until=now + current_app.config["TASK_LEASE"],
            claim_token=token,
            last_error=case((Task.claimed_until.is_not(None), INTERRUPTED), else_=Task.last_error),
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return list(db.session.scalars(select(Task).where(Task.claim_token == token).order_by(Task.id)))


class Lease:
    """A worker's hold on the tasks it claimed, renewed while it works (a heartbeat).

    While the batch runs, a thread moves the batch's `claimed_until` TASK_LEASE ahead
    every third of TASK_LEASE. A worker that dies stops renewing, and its tasks are free
    for another within TASK_LEASE; a worker that lives keeps them however slow a site,
    a relay or the panel is. Use it as a context manager around the batch's work.
    """

    def __init__(self, app: Flask, batch: list[Task]) -> None:
        self.app = app
        self.token = batch[0].claim_token if batch else None
        self.ends = batch[0].claimed_until if batch else None
        self.interval = app.config["TASK_LEASE"].total_seconds() / 3
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._renew_until_stopped, daemon=True)

    def held(self) -> bool:
        """Whether the lease still holds: past it another worker may take the tasks over."""
        return self.ends is not None and clock_now() < self.ends

    def __enter__(self) -> Lease:
        if self.token is not None:
            self._beat.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._beat.is_alive():
            self._beat.join()

    def _renew_until_stopped(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                with self.app.app_context():
                    self.ends = renew(self.token, clock_now())
                    db.session.remove()
            except Exception as exc:  # noqa: BLE001 - the lease then runs out: work is redone
                log.warning("could not renew a lease (%s)", type(exc).__name__)


def renew(token: str | None, now: datetime) -> datetime:
    """Move the lease of the pending tasks claimed with `token` TASK_LEASE ahead; its end."""
    ends: datetime = now + current_app.config["TASK_LEASE"]
    db.session.execute(
        update(Task)
        .where(Task.claim_token == token, Task.state == "pending", Task.claimed_until.is_not(None))
        .values(claimed_until=ends)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return ends


def _record(task_id: int, **values: Any) -> None:
    """Write a claimed task's outcome (in the caller's transaction), while it is pending."""
    db.session.execute(
        update(Task)
        .where(Task.id == task_id, Task.state == "pending")
        .values(claimed_until=None, **values)
        .execution_options(synchronize_session=False)
    )


def mark_done(task_id: int, now: datetime, result: dict[str, Any] | None = None) -> None:
    _record(task_id, state="done", done_at=now, last_error=None, result=result)


def mark_skipped(task_id: int, now: datetime, why: str) -> None:
    _record(task_id, state="skipped", done_at=now, result={"skipped": why})


def mark_failed(task_id: int, attempts: int, now: datetime, error: str) -> None:
    _record(task_id, state="failed", done_at=now, attempts=attempts + 1, last_error=error[:2000])


def mark_parked(task_id: int, attempts: int, now: datetime, error: str) -> None:
    _record(task_id, state="parked", attempts=attempts + 1, last_error=error[:2000])


def resume_parked(kind: str, now: datetime) -> int:
    """Make the parked tasks of `kind` due now (the caller commits); return how many.

    Each handler checks again that its work is still wanted, so a task parked long ago
    does only what is still needed.
    """
    resumed = db.session.scalars(
        update(Task)
        .where(Task.kind == kind, Task.state == "parked")
        .values(state="pending", due_at=now, claimed_until=None)
        .returning(Task.id)
        .execution_options(synchronize_session=False)
    ).all()
    if resumed:
        db.session.info.setdefault(_KICKS, set()).add(kind)
    return len(resumed)


def mark_retry(task_id: int, attempts: int, now: datetime, error: str) -> None:
    """Try again after the backoff for this attempt (TASK_RETRY_BACKOFF)."""
    backoff = current_app.config["TASK_RETRY_BACKOFF"]
    due = now + backoff[min(attempts, len(backoff) - 1)]
    _record(task_id, due_at=due, attempts=attempts + 1, last_error=error[:2000])


def postpone(task_id: int, due_at: datetime) -> None:
    _record(task_id, due_at=due_at)


def sweep(redis: Any = None) -> list[str]:
    """Find the kinds with due work and enqueue a drain for each; return those kinds."""
    kinds = due_kinds(clock_now())
    db.session.rollback()
    if kinds:
        queues.enqueue_drains(kinds, redis=redis)
    return kinds
