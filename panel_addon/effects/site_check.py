"""The site check's snapshot task: fetch the client's pages before and after the work."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app

from .. import outbox
from .. import site_check as checks
from ..clock import now as clock_now
from ..domain import lifecycle
from ..domain.trail import SYSTEM, add_event
from ..models import Intervention, Task, db
from ..site_check_rules import is_failing


def snapshot(task: Task, now: datetime) -> dict[str, Any] | None:
    """Take the before or after snapshot (payload `phase`); after one, tell the lifecycle.

    Skipped when the intervention moved on (a before snapshot once the work is over, an
    after one once cancelled). A repeat replaces the snapshot; the lifecycle opens the
    window or holds the mail once only (conditional updates), so running twice is safe.
    No transaction stays open while the site answers.
    """
    phase = (task.payload or {}).get("phase")
    if phase not in checks.PHASES:
        raise outbox.PermanentError(f"unknown snapshot phase {phase!r}")
    intervention = db.session.get(Intervention, task.intervention_id)
    if intervention is None:
        raise outbox.PermanentError(f"intervention {task.intervention_id} is gone")
    wanted = checks.WANTED_STATE[phase]
    if intervention.state != wanted or not intervention.check_urls:
        raise outbox.Skip(f"the intervention is {intervention.state}")
    intervention_id, urls = intervention.id, list(intervention.check_urls)
    limits, concurrency = checks.policy(), current_app.config["SITE_CHECK_CONCURRENCY"]
    db.session.commit()

    results = checks.take_snapshot(urls, limits, concurrency)

    taken = clock_now()
    intervention = db.session.get(Intervention, intervention_id)
    if intervention is None or intervention.state != wanted:
        raise outbox.Skip("the intervention moved on during the snapshot")
    checks.store(intervention, phase, results, taken)
    failing = [r["url"] for r in results if is_failing(r)]
    add_event(
        intervention,
        SYSTEM,
        "site_checked",
        taken,
        phase=phase,
        pages=len(results),
        failing=failing,
    )
    outcome: dict[str, Any] = {"phase": phase, "pages": len(results), "failing": len(failing)}
    if phase == "after":
        regressions = checks.regression_lines(intervention, current_app.config["STAFF_LANGUAGE"])
        outcome["regressed"] = len(regressions)
        outcome["mail"] = lifecycle.site_checked(intervention, regressions, taken)
    return outcome
