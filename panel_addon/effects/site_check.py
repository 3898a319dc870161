"""The site check's snapshot tasks: fetch the client's pages before and after the work.

A drain of kind `site` takes its whole claimed batch at once (`snapshot_batch`): every
snapshot's pages are fetched together on one event loop (site_check_http), and each
snapshot is recorded, and its outcome committed, as soon as it is done, so a slow site
holds up its own snapshot only.
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import select

from .. import outbox
from .. import site_check as checks
from ..clock import now as clock_now
from ..domain import lifecycle
from ..domain.trail import SYSTEM, add_event
from ..models import Intervention, Task, db
from ..site_check_http import SnapshotRunner
from ..site_check_rules import is_failing

log = logging.getLogger(__name__)

# While its snapshots are in flight, a drain claims newly due ones this often, for this
# long; then it finishes what it holds, and the next drain takes over.
REFILL_INTERVAL = 0.25
REFILL_SECONDS = 30.0


@dataclass(frozen=True)
class _Snapshot:
    """A claimed snapshot task, ready to fetch: what the batch needs once the rows expire."""

    task_id: int
    attempts: int
    intervention_id: int
    phase: str
    urls: list[str]


def snapshot_batch(batch: list[Task], lease: outbox.Lease, now: datetime) -> None:
    """Take the before or after snapshots (payload `phase`) of a batch, all at once.

    Each snapshot is recorded as soon as it is done; while some are in flight, newly due
    ones are claimed and started too (for up to `REFILL_SECONDS`), so fresh work never
    waits for a slow site's snapshot to end. Skipped when the intervention moved on (a
    before snapshot once the work is over, an after one once cancelled). After an after
    snapshot, tells the lifecycle, which opens the window or holds the mail. No
    transaction stays open while the sites answer. A repeat replaces the snapshot; the
    lifecycle opens the window or holds the mail once only (conditional updates), so
    running twice is safe. The drain's `lease` covers `batch`; each refill has its own.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    limits = checks.policy()
    room = current_app.config["TASK_BATCH_SIZE"]
    # Past this a snapshot that never came back is given up (something broke) and retried.
    lost_after = limits.snapshot_timeout + 30
    started = time.monotonic()
    in_flight: dict[int, tuple[_Snapshot, float]] = {}

    def take(tasks: list[Task], at: datetime) -> None:
        for snap in _wanted_of(tasks, at):
            runner.submit(snap.task_id, snap.urls)
            in_flight[snap.task_id] = (snap, time.monotonic())

    with SnapshotRunner(limits) as runner, ExitStack() as leases:
        take(batch, now)
        refilled = time.monotonic()
        while in_flight:
            done = runner.next_done(timeout=REFILL_INTERVAL)
            if done is not None:
                task_id, results = done
                entry = in_flight.pop(task_id, None)
                if entry is not None:  # else given up below, and retried already
                    _finish(entry[0], results)
            for task_id, (snap, since) in list(in_flight.items()):
                if time.monotonic() - since > lost_after:
                    del in_flight[task_id]
                    outbox.mark_retry(task_id, snap.attempts, clock_now(), "the site check hung")
                    db.session.commit()
            clock = time.monotonic()
            if (
                clock - started < REFILL_SECONDS
                and clock - refilled >= REFILL_INTERVAL
                and len(in_flight) < room
            ):
                refilled = clock
                more = outbox.claim("site", clock_now(), room - len(in_flight))
                if more:
                    leases.enter_context(outbox.Lease(app, more))
                    take(more, clock_now())


def _wanted_of(tasks: list[Task], now: datetime) -> list[_Snapshot]:
    """The claimed snapshots still wanted; the others are marked skipped or failed."""
    ids = {task.intervention_id for task in tasks if task.intervention_id is not None}
    # One query for the batch's interventions, fresh, for the "still wanted" check.
    interventions = {
        intervention.id: intervention
        for intervention in db.session.scalars(
            select(Intervention)
            .where(Intervention.id.in_(ids))
            .execution_options(populate_existing=True)
        )
    }
    wanted = []
    for task in tasks:
        try:
            wanted.append(_wanted(task, interventions.get(task.intervention_id or 0)))
        except outbox.Skip as exc:
            outbox.mark_skipped(task.id, now, str(exc))
        except outbox.PermanentError as exc:
            outbox.mark_failed(task.id, task.attempts, now, str(exc))
    db.session.commit()
    return wanted


def _finish(snap: _Snapshot, results: list[dict[str, Any]]) -> None:
    """Record a finished snapshot and its task's outcome, committed at once."""
    try:
        outcome = _record(snap, results, clock_now())
    except outbox.Skip as exc:
        outbox.mark_skipped(snap.task_id, clock_now(), str(exc))
    else:
        outbox.mark_done(snap.task_id, clock_now(), outcome)
    db.session.commit()


def _wanted(task: Task, intervention: Intervention | None) -> _Snapshot:
    phase = (task.payload or {}).get("phase")
    if phase not in checks.PHASES:
        raise outbox.PermanentError(f"unknown snapshot phase {phase!r}")
    if intervention is None:
        raise outbox.PermanentError(f"intervention {task.intervention_id} is gone")
    if intervention.state != checks.WANTED_STATE[phase] or not intervention.check_urls:
        raise outbox.Skip(f"the intervention is {intervention.state}")
    return _Snapshot(task.id, task.attempts, intervention.id, phase, list(intervention.check_urls))


def _record(snap: _Snapshot, results: list[dict[str, Any]], taken: datetime) -> dict[str, Any]:
    """Store a finished snapshot; after an after snapshot, tell the lifecycle."""
    intervention = db.session.get(Intervention, snap.intervention_id, populate_existing=True)
    if intervention is None or intervention.state != checks.WANTED_STATE[snap.phase]:
        raise outbox.Skip("the intervention moved on during the snapshot")
    checks.store(intervention, snap.phase, results, taken)
    failing = [r["url"] for r in results if is_failing(r)]
    add_event(
        intervention,
        SYSTEM,
        "site_checked",
        taken,
        phase=snap.phase,
        pages=len(results),
        failing=failing,
    )
    outcome: dict[str, Any] = {"phase": snap.phase, "pages": len(results), "failing": len(failing)}
    if snap.phase == "after":
        regressions = checks.regression_lines(intervention, current_app.config["STAFF_LANGUAGE"])
        outcome["regressed"] = len(regressions)
        outcome["mail"] = lifecycle.site_checked(intervention, regressions, taken)
    return outcome
