"""Due work: rows written with the change that causes them, carried out by the worker.

A task is claimed with a lease (a conditional UPDATE), carried out, and marked done in
its own short transaction. A worker killed mid-task leaves a lease that runs out, and
the sweep hands the task to the next worker; handlers are written to be safe to repeat.
Redis only carries "there is work of this kind": losing it delays work, never drops it.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import current_app, g, has_app_context
from sqlalchemy import case, func, or_, select, update

from . import writes
from .clock import now as clock_now
from .models import Intervention, Task, db

if TYPE_CHECKING:
    from redis import Redis

log = logging.getLogger(__name__)

KINDS = ("mail", "panel", "due", "site")
# Recorded when a task is claimed again after its lease ran out: the worker that held it
# stopped mid-task, so its mail or panel call may or may not have happened.
INTERRUPTED = "the previous attempt was interrupted (its lease ran out)"


class TransientError(Exception):
    """The task could not be done now (SMTP or panel down); it is retried with backoff."""


class PermanentError(Exception):
    """The task can never succeed as it is (a refused recipient); it is marked failed."""


class Postpone(Exception):
    """The task is not due yet after all (its time moved): run it again at `due_at`."""

    def __init__(self, due_at: datetime) -> None:
        super().__init__(due_at.isoformat())
        self.due_at = due_at


HANDLERS: dict[str, Callable[[Task, datetime], dict[str, Any] | None]] = {}
BATCH_HANDLERS: dict[str, Callable[[list[Task], datetime], None]] = {}

# Work started by a request is kicked only once its transaction has committed.
_KICK_KEY = "panel_addon_kick"


def handler(action: str) -> Callable[[Any], Any]:
    """Register the function that carries out tasks of `action` (one task at a time)."""

    def register(fn: Any) -> Any:
        HANDLERS[action] = fn
        return fn

    return register


def schedule(
    intervention: Intervention | None,
    kind: str,
    action: str,
    payload: dict[str, Any],
    due_at: datetime,
    now: datetime,
) -> None:
    """Add a task to the current transaction; it is kicked to the worker after commit."""
    assert kind in KINDS
    writes.add(
        writes.TASKS,
        {
            "intervention_id": intervention.id if intervention is not None else None,
            "kind": kind,
            "action": action,
            "payload": payload,
            "state": "pending",
            "due_at": due_at,
            "attempts": 0,
            "created_at": now,
        },
    )
    if due_at <= now:
        _pending_kicks().add(kind)


def cancel_pending(intervention: Intervention, actions: Iterable[str], now: datetime) -> None:
    """Drop the intervention's pending tasks of these actions (e.g. reminders on a decision).

    Written with the transaction's buffered rows (`writes`): it cancels the tasks
    scheduled before it, not those scheduled after it in the same transaction.
    """
    writes.cancel_tasks(intervention.id, tuple(actions), now)


def discard_kicks() -> None:
    """Forget the kicks of work this request scheduled and then rolled back."""
    _pending_kicks().clear()


def _pending_kicks() -> set[str]:
    if not has_app_context():
        return set()
    kicks: set[str] | None = g.get(_KICK_KEY)
    if kicks is None:
        kicks = set()
        setattr(g, _KICK_KEY, kicks)
    return kicks


def commit_and_kick() -> None:
    """Commit the session, then tell the workers about work that is due now.

    Enqueueing happens after the commit so a worker never looks for rows that are not
    there yet; if Redis is down the sweep finds the rows later.
    """
    writes.commit()
    kick_scheduled()


def kick_scheduled() -> None:
    """Tell the workers about the work due now that this request committed.

    For work a statement committed on its own, outside the session
    (`writes.returning_one(..., alone=True)`); `commit_and_kick` calls it after its commit.
    """
    kinds = _pending_kicks()
    if kinds:
        kick(sorted(kinds))
        kinds.clear()


# A kick in this process less than this long ago already left a drain of its kind
# waiting or running, which will see what was committed since: in a click storm, one
# Redis round trip a kind per interval rather than one a request. At worst (that drain
# ended in between) the work waits for the next kick or the sweep (SWEEP_INTERVAL).
KICK_COALESCE = 0.2
_last_kick: dict[tuple[str, str, str], float] = {}


def kick(kinds: Iterable[str]) -> None:
    """Enqueue a drain job per kind unless one is already waiting; never raises."""
    from workers import queues

    now = time.monotonic()
    where = (current_app.config["REDIS_URL"], current_app.config["QUEUE_PREFIX"])
    due = [k for k in kinds if now - _last_kick.get((*where, k), -KICK_COALESCE) >= KICK_COALESCE]
    if not due:
        return
    try:
        queues.enqueue_drains(due)
    except Exception as exc:  # noqa: BLE001 - Redis being down must not fail the request
        log.warning("could not reach Redis to start work (%s); the sweep will", type(exc).__name__)
        return
    for kind in due:
        _last_kick[(*where, kind)] = now


def due_kinds(now: datetime) -> list[str]:
    """The kinds that have tasks due now and not held by a live lease.

    In the order their oldest due task fell due, the order the sweep enqueues their
    drains: after an outage a waiting worker takes them so, and a reminder that fell
    due before every lapse and expiry is sent before a lapse cancels it. (A busy worker
    takes waiting drains in its queues' order; a `due` task older than the reminder
    puts the lapses first.)
    """
    rows = db.session.execute(
        select(Task.kind)
        .where(Task.state == "pending", Task.due_at <= now, _claimable(now))
        .group_by(Task.kind)
        .order_by(func.min(Task.due_at), Task.kind)
    )
    return [row[0] for row in rows]


def _claimable(now: datetime) -> Any:
    return or_(Task.claimed_until.is_(None), Task.claimed_until < now)


def claim(kind: str, now: datetime, limit: int) -> list[Task]:
    """Claim up to `limit` due tasks of `kind` for this worker, committed at once."""
    lease = current_app.config["TASK_LEASE"]
    token = secrets.token_hex(8)
    candidates = (
        select(Task.id)
        .where(Task.kind == kind, Task.state == "pending", Task.due_at <= now, _claimable(now))
        .order_by(Task.due_at, Task.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    db.session.execute(
        update(Task)
        .where(
            Task.id.in_(candidates.scalar_subquery()),
            Task.state == "pending",
            _claimable(now),
        )
        .values(
            claimed_until=now + lease,
            claim_token=token,
            last_error=case((Task.claimed_until.is_not(None), INTERRUPTED), else_=Task.last_error),
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return list(db.session.scalars(select(Task).where(Task.claim_token == token).order_by(Task.id)))


def still_claimed(task: Task) -> bool:
    """Whether this worker's lease on `task` still holds; past it another may take over."""
    return task.claimed_until is not None and clock_now() < task.claimed_until


def mark_done(task: Task, now: datetime, result: dict[str, Any] | None = None) -> None:
    """Record the task as done; written with the transaction's buffered rows (`writes`)."""
    writes.task_done(task, now, result)


def mark_retry(task: Task, now: datetime, error: str) -> None:
    task.attempts += 1
    backoff = current_app.config["TASK_RETRY_BACKOFF"]
    task.due_at = now + backoff[min(task.attempts - 1, len(backoff) - 1)]
    task.claimed_until = None
    task.last_error = error[:2000]


def mark_failed(task: Task, now: datetime, error: str) -> None:
    task.attempts += 1
    task.state = "failed"
    task.done_at = now
    task.claimed_until = None
    task.last_error = error[:2000]


def mark_skipped(task: Task, now: datetime, why: str) -> None:
    task.state = "skipped"
    task.done_at = now
    task.claimed_until = None
    task.result = {"skipped": why}


def run_one(task: Task, now: datetime) -> None:
    """Carry out one claimed task and record the outcome (the caller commits)."""
    fn = HANDLERS[task.action]
    try:
        result = fn(task, now)
    except TransientError as exc:
        log.warning("task %s (%s) will be retried: %s", task.id, task.action, exc)
        mark_retry(task, now, str(exc))
    except PermanentError as exc:
        log.error("task %s (%s) failed for good: %s", task.id, task.action, exc)
        mark_failed(task, now, str(exc))
    except Postpone as exc:
        task.due_at = exc.due_at
        task.claimed_until = None
    else:
        if task.state == "pending":
            mark_done(task, now, result)


def drain(kind: str, max_seconds: float = 60.0) -> int:
    """Carry out every due task of `kind`, batch by batch; return how many were handled.

    Each batch is claimed, carried out and committed before the next; tasks that a
    handler creates and that are due now are kicked after that commit.
    """
    started = time.monotonic()
    handled = 0
    batch_size = current_app.config["TASK_BATCH_SIZE"]
    while time.monotonic() - started < max_seconds:
        now = clock_now()
        batch = claim(kind, now, batch_size)
        if not batch:
            break
        if len(batch) == batch_size:
            # A backlog: let another worker join in now (the marker this drain cleared
            # at its start lets one more drain wait) rather than at the next sweep.
            _pending_kicks().add(kind)
        batch_fn = BATCH_HANDLERS.get(kind)
        if batch_fn is not None:
            batch_fn(batch, now)
        else:
            for task in batch:
                if not still_claimed(task):
                    break
                run_one(task, clock_now())
                commit_and_kick()
        commit_and_kick()
        handled += len(batch)
    return handled


def sweep(redis: Redis | None = None) -> list[str]:
    """Find the kinds with due work and enqueue a drain for each; return those kinds."""
    kinds = due_kinds(clock_now())
    db.session.rollback()
    if kinds:
        from workers import queues

        queues.enqueue_drains(kinds, redis=redis)
    return kinds
