"""Every row of every state machine (domain/states.py), walked through the real services.

For each state a machine knows and each action of its table, an intervention is put in
that state and the service is called: where the table allows the move, the service makes
it and leads to the table's target; where it does not, the service refuses and nothing
changes. A service that stopped consulting its table fails here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from panel_addon.domain import eligibility, lifecycle, states
from panel_addon.domain.errors import LifecycleError
from panel_addon.domain.states import BackupState, LateReview, MailWindow, State
from panel_addon.domain.trail import SYSTEM, Actor
from panel_addon.models import Intervention, Task, db

from .flow import task_rows
from .support import ManualClock, started_data

STAFF = Actor("staff", name="Sam")
CLIENT = Actor("client", name="client@example.test", ip="192.0.2.1")


def _data(panel_id: str, clock: ManualClock) -> dict[str, Any]:
    """A start's data as the webhook hands it to the services (times parsed)."""
    data = {**started_data(panel_id), "summary": "Work"}
    data["backup"] = {**data["backup"], "created_at": clock.now() - timedelta(hours=1)}
    return data


def _make(app: Flask, clock: ManualClock, **values: Any) -> int:
    """An intervention with these column values (completed, its validation request accepted
    by the mail server, deadline ahead), by its id."""
    with app.app_context():
        iv = lifecycle.complete(_data("iv-s", clock), clock.now())
        db.session.flush()
        lifecycle.mail_accepted(iv, clock.now())  # not when the site check runs first
        for key, value in values.items():
            setattr(iv, key, value)
        db.session.commit()
        return iv.id


def _state_of(app: Flask, ident: int, column: str) -> Any:
    with app.app_context():
        return getattr(db.session.get(Intervention, ident), column)


def _attempt(app: Flask, ident: int, service: Callable[[Intervention], Any]) -> bool:
    """Run the service on the intervention; True if it went through (and committed)."""
    with app.app_context():
        iv = db.session.get(Intervention, ident)
        assert iv is not None
        try:
            outcome = service(iv)
        except LifecycleError:
            db.session.rollback()
            return False
        db.session.commit()
        return outcome is not False


INTERVENTION_SERVICES: dict[str, Callable[[ManualClock], Callable[[Intervention], Any]]] = {
    "complete": lambda clock: (
        lambda iv: lifecycle.complete({"id": iv.panel_id, "summary": "again"}, clock.now())
    ),
    "cancel": lambda clock: lambda iv: lifecycle.cancel(iv.panel_id, None, STAFF, clock.now()),
    "validate": lambda clock: lambda iv: lifecycle.validate(iv, CLIENT, clock.now()),
    "report": lambda clock: lambda iv: lifecycle.report(iv, "broken", False, CLIENT, clock.now()),
    "lapse": lambda clock: lambda iv: lifecycle.lapse(iv, clock.now() + timedelta(days=2)),
    "resolve": lambda clock: lambda iv: lifecycle.resolve(iv, "fixed", STAFF, clock.now()),
}


def test_every_intervention_action_has_a_service_walked_here() -> None:
    assert set(states.INTERVENTION) == {*INTERVENTION_SERVICES, "start"}


@pytest.mark.parametrize("action", sorted(INTERVENTION_SERVICES))
@pytest.mark.parametrize("state", list(State))
def test_the_intervention_moves_only_as_its_table_says(
    make_app: Any, clock: ManualClock, state: State, action: str
) -> None:
    app = make_app(SITE_CHECK_ENABLED=False)
    ident = _make(app, clock, state=state.value)
    moved = _attempt(app, ident, INTERVENTION_SERVICES[action](clock))
    move = states.INTERVENTION[action]
    assert moved == move.allows(state)
    after = _state_of(app, ident, "state")
    assert after == (move.target if moved else state)


def test_a_start_is_allowed_only_for_an_unknown_intervention(
    make_app: Any, clock: ManualClock
) -> None:
    app = make_app(SITE_CHECK_ENABLED=False)
    with app.app_context():
        assert lifecycle.start(_data("iv-new", clock), clock.now()).state == State.IN_PROGRESS
        db.session.commit()
        with pytest.raises(LifecycleError):
            lifecycle.start(_data("iv-new", clock), clock.now())


BACKUP_SERVICES: dict[str, Callable[[ManualClock], Callable[[Intervention], Any]]] = {
    "hold": lambda clock: lambda iv: lifecycle.hold_backup(iv, STAFF, clock.now()),
    "release": lambda clock: lambda iv: lifecycle.release_backup(iv, STAFF, clock.now()),
    "expire": lambda clock: lambda iv: lifecycle.expire_backup(iv, clock.now() + timedelta(days=3)),
}


@pytest.mark.parametrize("action", sorted(BACKUP_SERVICES))
@pytest.mark.parametrize("backup", list(BackupState))
def test_the_backup_moves_only_as_its_table_says(
    make_app: Any, clock: ManualClock, backup: BackupState, action: str
) -> None:
    assert set(states.BACKUP) == set(BACKUP_SERVICES)
    app = make_app(SITE_CHECK_ENABLED=False)
    ident = _make(app, clock, backup_state=backup.value)
    _attempt(app, ident, BACKUP_SERVICES[action](clock))
    move = states.BACKUP[action]
    after = _state_of(app, ident, "backup_state")
    if action == "hold" and backup == BackupState.HELD:
        assert after == BackupState.HELD  # holding a held backup is a no-op, not an error
    else:
        assert after == (move.target if move.allows(backup) else backup)


_CLOSED = {"mail_queued_at": None, "window_opened_at": None, "mail_failed_at": None}
WINDOW_COLUMNS: dict[MailWindow, dict[str, Any]] = {
    MailWindow.CHECKING: {**_CLOSED, "mail_held_at": None},
    MailWindow.HELD: {**_CLOSED, "mail_held_at": "now"},
    MailWindow.SENDING: {**_CLOSED, "mail_queued_at": "now", "mail_held_at": None},
    MailWindow.FAILED: {
        **_CLOSED,
        "mail_queued_at": "now",
        "mail_failed_at": "now",
        "mail_held_at": None,
    },
    MailWindow.OPEN: {
        **_CLOSED,
        "mail_queued_at": "now",
        "window_opened_at": "now",
        "mail_held_at": None,
    },
}
WINDOW_SERVICES: dict[str, Callable[[ManualClock], Callable[[Intervention], Any]]] = {
    "send": lambda clock: lambda iv: lifecycle.site_check_overdue(iv, clock.now()),
    "hold": lambda clock: lambda iv: lifecycle.site_checked(iv, ["page broke"], clock.now()),
    "release": lambda clock: lambda iv: lifecycle.release_mail(iv, STAFF, clock.now()),
    "accept": lambda clock: lambda iv: lifecycle.mail_accepted(iv, clock.now()),
    "fail": lambda clock: lambda iv: lifecycle.mail_failed(iv, "550 no", clock.now()),
    "resend": lambda clock: lambda iv: lifecycle.resend_mail(iv, STAFF, clock.now()),
}


@pytest.mark.parametrize("action", sorted(WINDOW_SERVICES))
@pytest.mark.parametrize("window", list(MailWindow))
def test_the_mail_window_moves_only_as_its_table_says(
    make_app: Any, clock: ManualClock, window: MailWindow, action: str
) -> None:
    assert set(states.MAIL_WINDOW) == set(WINDOW_SERVICES)
    app = make_app(HOLD_MAIL_ON_REGRESSION=True)
    values = {k: clock.now() if v == "now" else v for k, v in WINDOW_COLUMNS[window].items()}
    ident = _make(app, clock, **values)
    _attempt(app, ident, WINDOW_SERVICES[action](clock))
    with app.app_context():
        iv = db.session.get(Intervention, ident)
        assert iv is not None
        after = lifecycle.window_of(iv)
    move = states.MAIL_WINDOW[action]
    if action == "resend" and window == MailWindow.OPEN:
        assert after == window  # a courtesy copy: the window stays as it is
        return
    assert after == (move.target if move.allows(window) else window)


@pytest.mark.parametrize("review", [None, *LateReview])
def test_a_late_reports_review_moves_only_as_its_table_says(
    make_app: Any, clock: ManualClock, review: LateReview | None
) -> None:
    app = make_app(SITE_CHECK_ENABLED=False)
    ident = _make(app, clock, state=State.REPORTED.value, late_report_review=review)
    _attempt(app, ident, lambda iv: eligibility.dismiss_late_report(iv, STAFF, clock.now()))
    dismiss = states.LATE_REVIEW["dismiss"]
    expected = dismiss.target if dismiss.allows(review) else review
    assert _state_of(app, ident, "late_report_review") == expected

    with app.app_context():
        iv = db.session.get(Intervention, ident)
        assert iv is not None
        if dismiss.allows(review):
            return
        flagged = eligibility.flag_ineligible(iv.client, iv, SYSTEM, clock.now())
        db.session.commit()
        assert flagged
        flag = states.LATE_REVIEW["flag"]
        assert iv.late_report_review == (flag.target if flag.allows(review) else review)


@pytest.mark.parametrize("policy", ["review", "auto"])
def test_a_late_report_starts_its_review_as_the_policy_says(
    make_app: Any, clock: ManualClock, policy: str
) -> None:
    app = make_app(SITE_CHECK_ENABLED=False, LATE_REPORT_POLICY=policy)
    ident = _make(app, clock, state=State.LAPSED.value)
    _attempt(app, ident, INTERVENTION_SERVICES["report"](clock))
    move = states.LATE_REVIEW[states.late_review_on_report(policy)]
    assert _state_of(app, ident, "late_report_review") == move.target


def test_cancelling_drops_the_pending_mail_and_deadlines_in_the_database(
    make_app: Any, clock: ManualClock
) -> None:
    """Checked on the task rows, not on the mailbox: the mail handler's own "still wanted?"
    check would skip the mail anyway and hide a cancel that cancels nothing."""
    app = make_app(SITE_CHECK_ENABLED=False)
    ident = _make(app, clock)
    assert _attempt(app, ident, INTERVENTION_SERVICES["cancel"](clock))
    dropped = set(states.DROPPED_BY["cancel"])
    rows = [t for t in task_rows(app, intervention_id=ident) if t.action in dropped]
    assert rows and {t.state for t in rows} == {"cancelled"}
    with app.app_context():
        pending = db.session.scalars(
            select(Task.action).where(Task.intervention_id == ident, Task.state == "pending")
        ).all()
    assert not dropped & set(pending)


def test_a_late_report_does_not_hold_a_backup_that_expired_meanwhile(
    make_app: Any, clock: ManualClock
) -> None:
    """The report read the backup as kept; the worker's expiry committed first."""
    app = make_app(SITE_CHECK_ENABLED=False, STAFF_LANGUAGE="en")
    ident = _make(app, clock, state=State.LAPSED.value)
    later = clock.now() + timedelta(days=3)
    with app.app_context():
        iv = db.session.get(Intervention, ident)
        assert iv is not None and iv.backup_state == BackupState.KEPT
        with app.app_context():  # the worker, in a session of its own
            other = db.session.get(Intervention, ident)
            assert other is not None and lifecycle.expire_backup(other, later)
            db.session.commit()
        lifecycle.report(iv, "broken", True, CLIENT, later)
        db.session.commit()
    assert _state_of(app, ident, "backup_state") == BackupState.EXPIRED
    notes = [t.payload for t in task_rows(app, intervention_id=ident, action="add_ticket_note")]
    assert any("expired" in str(p["values"].get("backup", "")) for p in notes), notes


def test_a_task_cancelled_while_its_worker_was_late_stays_cancelled(
    make_app: Any, clock: ManualClock
) -> None:
    from panel_addon import outbox

    app = make_app(SITE_CHECK_ENABLED=False)
    ident = _make(app, clock)
    with app.app_context():
        (claimed,) = [t for t in outbox.claim("mail", clock.now(), 10) if t.intervention_id]
        task_id = claimed.id
    clock.advance(seconds=app.config["TASK_LEASE"].total_seconds() + 1)  # the worker stalls
    assert _attempt(app, ident, INTERVENTION_SERVICES["cancel"](clock))
    with app.app_context():
        outbox.mark_done(task_id, clock.now())  # the stalled worker records its outcome
        db.session.commit()
        assert db.session.get(Task, task_id).state == "cancelled"
