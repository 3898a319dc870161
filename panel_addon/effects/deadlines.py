"""Due work at a time: the lapse at the deadline, the backup's expiry, an overdue site check."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app

from .. import outbox
from ..domain import lifecycle
from ..models import Intervention, Task, db


def intervention_of(task: Task) -> Intervention:
    """The task's intervention, read afresh; PermanentError if it is gone."""
    intervention = db.session.get(Intervention, task.intervention_id)
    if intervention is None:
        raise outbox.PermanentError(f"intervention {task.intervention_id} is gone")
    return intervention


def lapse(task: Task, now: datetime) -> dict[str, Any]:
    """Lapse the intervention at its deadline if still undecided; safe to repeat.

    A reminder that fell due before the deadline and is still waiting (the worker or
    Redis was down) goes first: the lapse comes back a sweep later rather than cancel it.
    """
    intervention = intervention_of(task)
    deadline = intervention.deadline_at
    if deadline is not None and outbox.waiting(intervention, "send_mail", due_by=deadline):
        raise outbox.Postpone(now + current_app.config["SWEEP_INTERVAL"])
    return {"lapsed": lifecycle.lapse(intervention, now)}


def expire_backup(task: Task, now: datetime) -> dict[str, Any]:
    """Expire the backup at the end of retention unless held; safe to repeat."""
    intervention = intervention_of(task)
    if intervention.backup_expires_at and intervention.backup_expires_at > now:
        # Moved later (a hold released, a retention change): come back then.
        raise outbox.Postpone(intervention.backup_expires_at)
    return {"expired": lifecycle.expire_backup(intervention, now)}


def site_check_overdue(task: Task, now: datetime) -> dict[str, Any]:
    """The after snapshot did not end in time: open the window without it (once)."""
    return {"opened": lifecycle.site_check_overdue(intervention_of(task), now)}
