"""The effects: what each task of the outbox does, in one explicit table.

`drain(kind)` claims the due tasks of a kind and carries them out: mails in a batch over
one SMTP connection (`mail.send_batch`), site snapshots in a batch fetched all at once
(`site_check.snapshot_batch`), everything else one task at a time through `HANDLERS`.
Each outcome is committed at once, so a crash repeats at most the tasks in flight.
Handlers reload state and check the work is still wanted: safe to run twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import current_app

from .. import outbox
from ..clock import now as clock_now
from ..models import Task, db
from . import deadlines, mail, panel, site_check, timestamps

log = logging.getLogger(__name__)

Handler = Callable[[Task, datetime], "dict[str, Any] | None"]

# action -> what carries it out (the kind of each task is set where it is scheduled).
HANDLERS: dict[str, Handler] = {
    "add_ticket_note": panel.add_ticket_note,
    "update_ticket": panel.update_ticket,
    "set_ineligible_note": panel.set_ineligible_note,
    "remove_ineligible_note": panel.remove_ineligible_note,
    "lapse": deadlines.lapse,
    "expire_backup": deadlines.expire_backup,
    "site_check_overdue": deadlines.site_check_overdue,
    "timestamp_trail": timestamps.timestamp_trail,
}

# Kinds carried out a batch at a time: mails over one SMTP connection (`send_mail`),
# site snapshots all at once on one event loop (`site_snapshot`).
BATCHES: dict[str, Callable[[list[Task], outbox.Lease, datetime], None]] = {
    "mail": mail.send_batch,
    "site": site_check.snapshot_batch,
}


def run_one(task: Task, now: datetime) -> None:
    """Carry out one claimed task and record its outcome (the caller commits)."""
    ident, action, attempts = task.id, task.action, task.attempts
    handler = HANDLERS.get(action)
    if handler is None:
        outbox.mark_failed(ident, attempts, now, f"no handler for the action {action!r}")
        return
    try:
        result = handler(task, now)
    except outbox.Skip as exc:
        outbox.mark_skipped(ident, clock_now(), str(exc))
    except outbox.TransientError as exc:
        log.warning("task %s (%s) will be retried: %s", ident, action, exc)
        outbox.mark_retry(ident, attempts, now, str(exc))
    except outbox.PermanentError as exc:
        log.error("task %s (%s) failed for good: %s", ident, action, exc)
        outbox.mark_failed(ident, attempts, now, str(exc))
    except outbox.Parked as exc:
        log.error("task %s (%s) is parked until the operator acts: %s", ident, action, exc)
        outbox.mark_parked(ident, attempts, now, str(exc))
    except outbox.Postpone as exc:
        outbox.postpone(ident, exc.due_at)
    else:
        outbox.mark_done(ident, now, result)


def drain(kind: str, max_seconds: float = 60.0) -> int:
    """Carry out every due task of `kind`, batch by batch; return how many were handled."""
    started = time.monotonic()
    handled = 0
    batch_size = current_app.config["TASK_BATCH_SIZE"]
    while time.monotonic() - started < max_seconds:
        batch = outbox.claim(kind, clock_now(), batch_size)
        if not batch:
            break
        if len(batch) == batch_size:
            # A backlog: let another worker join in now rather than at the next sweep.
            outbox.kick([kind])
        batched = BATCHES.get(kind)
        with outbox.Lease(current_app._get_current_object(), batch) as lease:  # type: ignore[attr-defined]
            if batched is not None:
                batched(batch, lease, clock_now())
            else:
                run_batch(batch, lease)
        db.session.commit()
        handled += len(batch)
    return handled


def run_batch(batch: list[Task], lease: outbox.Lease) -> None:
    """Carry out claimed tasks one by one, each committed, while the lease holds."""
    for task in batch:
        if not lease.held():
            break  # past the lease another worker may take it: never run one twice at once
        run_one(task, clock_now())
        db.session.commit()
