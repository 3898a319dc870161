"""The intervention's services: each moves it along `states.INTERVENTION` and its kin.

Every service changes rows, appends events and schedules the work the change causes
(mail, panel calls, deadlines) in the caller's transaction. None of them commits: the
caller commits once, so a state change and its work land together or not at all. A
move is a conditional UPDATE on the states its table allows, so two racing requests
cannot both make it.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, and_, select

from .. import outbox
from ..database import insert_for
from ..formatting import format_datetime
from ..models import Client, Event, Intervention, db
from ..site_check_http import check_urls_for
from . import states
from .eligibility import flag_ineligible
from .errors import InvalidRequestError, NotFoundError, TransitionError, WindowClosedError
from .moves import move
from .states import BackupState, MailWindow, State
from .trail import PANEL, SYSTEM, Actor, add_event, staff_words, ticket_note, timestamp_head


def _setting(key: str) -> Any:
    return current_app.config[key]


# --- reading ---------------------------------------------------------------------------


def get(ident: int) -> Intervention | None:
    """The intervention with this id, with its client."""
    return db.session.get(Intervention, ident)


def get_by_panel_id(panel_id: str) -> Intervention | None:
    """The intervention the panel knows by this id, with its client (one query)."""
    return db.session.scalars(
        select(Intervention).where(Intervention.panel_id == str(panel_id))
    ).first()


def _require(panel_id: str) -> Intervention:
    intervention = get_by_panel_id(panel_id)
    if intervention is None:
        raise NotFoundError(f"no intervention with id {panel_id!r}")
    return intervention


# --- moves -----------------------------------------------------------------------------


def _transition(
    intervention: Intervention, action: str, actor: Actor, now: datetime, **values: Any
) -> str:
    """Move the intervention by `action` (states.INTERVENTION); return the state it left.

    Raises TransitionError, and changes nothing, when its current state does not allow
    the action (read again: a concurrent request may have moved it).
    """
    row = states.INTERVENTION[action]
    previous = intervention.state
    allowed = Intervention.state.in_(row.existing_sources)
    if not move(intervention, allowed, now, {**values, "state": row.target}):
        db.session.refresh(intervention)
        raise TransitionError(action, intervention.state)
    add_event(intervention, actor, action, now, from_state=previous, to_state=row.target)
    return previous


def _backup_is(action: str) -> ColumnElement[bool]:
    return Intervention.backup_state.in_(states.BACKUP[action].existing_sources)


def _window_is(window: MailWindow) -> ColumnElement[bool]:
    """The SQL for "the mail window is in this state" (states.mail_window in SQL)."""
    if window == MailWindow.OPEN:
        return Intervention.window_opened_at.is_not(None)
    closed = Intervention.window_opened_at.is_(None)
    if window in (MailWindow.SENDING, MailWindow.FAILED):
        failed = Intervention.mail_failed_at.is_not(None)
        sent = Intervention.mail_queued_at.is_not(None)
        return and_(closed, sent, failed if window == MailWindow.FAILED else ~failed)
    held = Intervention.mail_held_at.is_not(None)
    return and_(
        closed,
        Intervention.mail_queued_at.is_(None),
        held if window == MailWindow.HELD else ~held,
    )


def window_of(intervention: Intervention) -> MailWindow:
    """The state of the intervention's mail window (states.MailWindow)."""
    return states.mail_window(
        queued=intervention.mail_queued_at is not None,
        held=intervention.mail_held_at is not None,
        opened=intervention.window_opened_at is not None,
        failed=intervention.mail_failed_at is not None,
    )


def _window_allows(action: str) -> ColumnElement[bool]:
    sources = states.MAIL_WINDOW[action].existing_sources
    waiting = Intervention.state == State.AWAITING_VALIDATION
    return and_(waiting, *(_window_is(MailWindow(source)) for source in sources))


# --- the panel's events ----------------------------------------------------------------


def _upsert_client(data: dict[str, Any], now: datetime) -> Client:
    """Create the client, or refresh the details the panel sent; the session's object."""
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
    statement = insert_for(Client).values(values)
    # A known client keeps what the panel left out (its name, language, time zone).
    refreshed = {"email": values["email"], "updated_at": now}
    for key in ("name", "language", "timezone"):
        if data.get(key):
            refreshed[key] = values[key]
    upsert = statement.on_conflict_do_update(index_elements=[Client.id], set_=refreshed)
    return db.session.scalars(
        upsert.returning(Client), execution_options={"populate_existing": True}
    ).one()


def _new_intervention(data: dict[str, Any], now: datetime, **values: Any) -> Intervention:
    """Add the intervention (in progress, or as `values` say) and its client."""
    backup = data.get("backup") or {}
    has_backup = bool(backup.get("reference"))
    row: dict[str, Any] = dict(
        panel_id=str(data["id"]),
        ticket_id=None if data.get("ticket_id") is None else str(data["ticket_id"]),
        client=_upsert_client(data["client"], now),
        site=data.get("site"),
        technician=data.get("technician"),
        state=State.IN_PROGRESS,
        link_nonce=secrets.token_urlsafe(12),
        backup_reference=backup.get("reference"),
        backup_created_at=backup.get("created_at"),
        backup_state=BackupState.KEPT if has_backup else BackupState.NONE,
        started_at=now,
        restore_requested=False,
        late_report=False,
        check_urls=_check_urls(data),
        created_at=now,
        updated_at=now,
    )
    row.update(values)
    if not has_backup:
        row["backup_expires_at"] = None
    intervention = Intervention(**row)
    db.session.add(intervention)
    return intervention


def _check_urls(data: dict[str, Any]) -> list[str]:
    if not _setting("SITE_CHECK_ENABLED"):
        return []
    return check_urls_for(data.get("site"), data.get("check_urls"), _setting("SITE_CHECK_MAX_URLS"))


def start(data: dict[str, Any], now: datetime) -> Intervention:
    """Record an intervention the panel started.

    Creates the client (or refreshes their details) and the intervention in
    `in_progress` with its backup `kept`, and schedules the site check's before
    snapshot of its check URLs. Schedules nothing for the client. The caller
    deduplicates redeliveries by `webhook-id`; a second start of the same id raises
    TransitionError.
    """
    existing = get_by_panel_id(data["id"])
    if existing is not None:
        raise TransitionError("start", existing.state)
    intervention = _new_intervention(data, now)
    add_event(
        intervention,
        PANEL,
        "start",
        now,
        to_state=State.IN_PROGRESS,
        technician=intervention.technician,
        backup_reference=intervention.backup_reference,
        check_urls=intervention.check_urls,
    )
    if intervention.check_urls:
        outbox.schedule(intervention, "site", "site_snapshot", {"phase": "before"}, now, now)
    return intervention


def complete(data: dict[str, Any], now: datetime) -> Intervention:
    """Record the end of the work and send the client the validation request.

    The panel's `completed_at` is recorded, clamped between the intervention's start (the
    receipt itself when it was never started) and the receipt (`now`). No deadline runs
    yet: the window (VALIDATION_WINDOW) and the backup's retention (BACKUP_RETENTION)
    count from the moment the mail server accepts the validation request
    (`mail_accepted`), never from `completed_at`, so a late delivery, a wrong clock on
    the panel or a mail that never arrives cannot shorten the client's window. Without
    check URLs the request is sent at once (`_send_request`). With them, the site
    check's after snapshot comes first, and the request goes once it is known
    (`site_checked`), or after SITE_CHECK_MAIL_WAIT if it never ends
    (`site_check_overdue`). Raises TransitionError unless the intervention is in
    progress (or unknown, when `data` carries the fields of a start).
    """
    intervention = get_by_panel_id(data["id"])
    earliest = (intervention.started_at if intervention is not None else None) or now
    completed_at = min(max(data.get("completed_at") or now, earliest), now)
    values: dict[str, Any] = {"completed_at": completed_at, "summary": data.get("summary")}
    if intervention is None:
        missing = [key for key in ("ticket_id", "client") if not data.get(key)]
        if missing:
            raise InvalidRequestError(
                "unknown intervention: a completion without a start must carry "
                + ", ".join(f"data.{key}" for key in missing)
            )
        # Started and completed at once: added as the completion leaves it, with both
        # steps in the trail.
        values["state"] = State.AWAITING_VALIDATION
        intervention = _new_intervention(data, now, **values)
        add_event(
            intervention,
            PANEL,
            "start",
            now,
            to_state=State.IN_PROGRESS,
            implicit=True,
            backup_reference=intervention.backup_reference,
        )
        add_event(
            intervention,
            PANEL,
            "complete",
            now,
            from_state=State.IN_PROGRESS,
            to_state=State.AWAITING_VALIDATION,
        )
    else:
        _transition(intervention, "complete", PANEL, now, **values)
        # A before snapshot not taken yet would show the site after the work: drop it.
        outbox.cancel_pending(intervention, states.DROPPED_BY["complete"], now)
    if not intervention.check_urls:
        _send_request(intervention, "send", now)
        return intervention
    outbox.schedule(intervention, "site", "site_snapshot", {"phase": "after"}, now, now)
    wait = now + _setting("SITE_CHECK_MAIL_WAIT")
    outbox.schedule(intervention, "due", "site_check_overdue", {}, wait, now)
    return intervention


def cancel(panel_id: str, reason: str | None, actor: Actor, now: datetime) -> Intervention:
    """Cancel an intervention: no more mail or deadline for it; the backup keeps its expiry.

    Raises NotFoundError or TransitionError. Safe against redelivery (a second cancel
    raises TransitionError and changes nothing).
    """
    intervention = _require(panel_id)
    values: dict[str, Any] = {"cancelled_reason": reason, "mail_held_at": None}
    if intervention.backup_state == BackupState.KEPT and intervention.backup_expires_at is None:
        values["backup_expires_at"] = now + _setting("BACKUP_RETENTION")
    _transition(intervention, "cancel", actor, now, **values)
    outbox.cancel_pending(intervention, states.DROPPED_BY["cancel"], now)
    if "backup_expires_at" in values:
        outbox.schedule(intervention, "due", "expire_backup", {}, values["backup_expires_at"], now)
    ticket_note(intervention, "note.cancelled", now, reason=reason or "-")
    return intervention


def delivery_refused(
    panel_ids: list[str],
    webhook_id: str,
    event_type: str,
    refused_for: str,
    digest: str,
    now: datetime,
) -> int:
    """Record, for staff, a panel event refused because its `webhook-id` was already used
    for another event; return how many interventions it was recorded on.

    Each known intervention of `panel_ids` (the one the id was first used for, the one
    the refused event names) gets a `webhook_refused` event naming the webhook-id and
    the refused event, so staff see that an event of the panel never took effect. Changes
    no state. Safe to repeat: the panel retrying the same refused delivery adds nothing.
    """
    recorded = 0
    for panel_id in dict.fromkeys(panel_ids):
        intervention = get_by_panel_id(panel_id)
        if intervention is None:
            continue
        known = db.session.scalars(
            select(Event.data).where(
                Event.intervention_id == intervention.id, Event.type == "webhook_refused"
            )
        )
        if any(
            data.get("webhook_id") == webhook_id and data.get("sha256") == digest for data in known
        ):
            continue
        add_event(
            intervention,
            PANEL,
            "webhook_refused",
            now,
            reason="webhook_id_reused",
            webhook_id=webhook_id,
            refused_event=event_type,
            refused_intervention=refused_for,
            sha256=digest,
        )
        recorded += 1
    return recorded


# --- the client's window ---------------------------------------------------------------


def _send_request(
    intervention: Intervention,
    action: str,
    now: datetime,
    *,
    note: str = "note.completed",
    **note_values: Any,
) -> bool:
    """Send the client the validation request (states.MAIL_WINDOW `send` or `release`), once.

    Schedules the completion mail and records `mail_queued_at`. The window itself opens
    when the mail server accepts the mail (`mail_accepted`), which then writes the ticket
    note `note` with `note_values` (carried by the mail's task) and the deadline. Returns
    False (and does nothing) when the window is not in a state the action starts from, so
    two sendings cannot both schedule.
    """
    values: dict[str, Any] = {"mail_queued_at": now, "mail_held_at": None}
    if not move(intervention, _window_allows(action), now, values):
        return False
    payload = {"template": "completion_request", "note": note, "note_values": note_values}
    outbox.schedule(intervention, "mail", "send_mail", payload, now, now)
    return True


def mail_accepted(
    intervention: Intervention,
    now: datetime,
    note: str = "note.completed",
    note_values: dict[str, Any] | None = None,
) -> bool:
    """The mail server accepted the validation request: the client's window opens now.

    Sets the deadline (now + VALIDATION_WINDOW) and the backup's expiry (now +
    BACKUP_RETENTION), schedules a reminder per REMINDERS offset still ahead, the lapse
    at the deadline and the backup expiry, and writes the ticket note `note`. Returns
    False (and does nothing) when the window is not waiting for this mail (open already,
    the intervention decided or cancelled): safe to run twice.
    """
    deadline = now + _setting("VALIDATION_WINDOW")
    values: dict[str, Any] = {
        "window_opened_at": now,
        "deadline_at": deadline,
        "mail_failed_at": None,
        "mail_error": None,
    }
    if intervention.backup_state != BackupState.NONE:
        values["backup_expires_at"] = now + _setting("BACKUP_RETENTION")
    if not move(intervention, _window_allows("accept"), now, values):
        return False
    for left in _setting("REMINDERS"):
        due = deadline - left
        if due > now:
            payload = {"template": "reminder", "left_seconds": int(left.total_seconds())}
            outbox.schedule(intervention, "mail", "send_mail", payload, due, now)
    outbox.schedule(intervention, "due", "lapse", {}, deadline, now)
    expires = intervention.backup_expires_at
    if expires is not None:
        outbox.schedule(intervention, "due", "expire_backup", {}, expires, now)
    ticket_note(intervention, note, now, deadline=_staff_time(deadline), **(note_values or {}))
    return True


def mail_failed(intervention: Intervention, error: str, now: datetime) -> bool:
    """The mail server refused the validation request for good: staff must act.

    Records `mail_failed_at` and the server's answer, and writes a ticket note at once.
    No deadline runs: the client is never lapsed, nor made ineligible by a late report,
    for a request that never reached them, until staff resend it and it is accepted.
    Returns False (and does nothing) when the window was not waiting for this mail.
    """
    values = {"mail_failed_at": now, "mail_error": error[:500]}
    if not move(intervention, _window_allows("fail"), now, values):
        return False
    add_event(intervention, SYSTEM, "mail_failed", now, error=error[:500])
    ticket_note(
        intervention, "note.mail_failed", now, email=intervention.client.email, error=error[:500]
    )
    return True


def site_checked(intervention: Intervention, regressions: list[str], now: datetime) -> str:
    """The after snapshot is known: send the validation request, or hold the client's mail.

    `regressions` are the staff-language lines of the pages that regressed. With none,
    or with HOLD_MAIL_ON_REGRESSION off, the request goes out now (the window opens when
    the mail server accepts it). With some, the technician gets a ticket note at once;
    with HOLD_MAIL_ON_REGRESSION the mail is held (`mail_held_at`) until staff release it
    (`release_mail`), and no deadline runs meanwhile. A later snapshot (a repeat, a
    re-check) only adds the note. Returns what became of the mail: `sent`, `held`,
    `already_sent`, `still_held` or `none`.
    """
    if intervention.state != State.AWAITING_VALIDATION:
        return "none"
    if regressions:
        add_event(intervention, SYSTEM, "site_regression", now, pages=len(regressions))
    window = window_of(intervention)
    if window in (MailWindow.SENDING, MailWindow.FAILED, MailWindow.OPEN):
        mail = "already_sent"
    elif window == MailWindow.HELD:
        mail = "still_held"
    elif regressions and _setting("HOLD_MAIL_ON_REGRESSION"):
        # The client's clock has not started: no deadline, no backup expiry until the
        # release and the mail server's acceptance.
        held = {"mail_held_at": now}
        mail = "held" if move(intervention, _window_allows("hold"), now, held) else "none"
        if mail == "held":
            add_event(intervention, SYSTEM, "mail_held", now, pages=len(regressions))
    else:
        mail = "sent" if _send_request(intervention, "send", now) else "none"
    if regressions:
        ticket_note(
            intervention,
            "sitecheck.note.regression",
            now,
            count=len(regressions),
            pages="\n".join(regressions),
            mail=staff_words(f"sitecheck.note.mail_{mail}") if mail != "none" else "",
        )
    return mail


def site_check_overdue(intervention: Intervention, now: datetime) -> bool:
    """The after snapshot did not end within SITE_CHECK_MAIL_WAIT: send the request without it.

    Does nothing (returns False) once the request was sent or the mail held; safe to repeat.
    """
    opened = _send_request(intervention, "send", now, note="sitecheck.note.timed_out")
    if opened:
        add_event(intervention, SYSTEM, "site_check_overdue", now)
    return opened


def release_mail(intervention: Intervention, actor: Actor, now: datetime) -> None:
    """Staff release the mail a regression held: it goes out, and the window starts when
    the mail server accepts it.

    Raises TransitionError when no mail is held. Recorded with the staff member's name.
    """
    held_since = intervention.mail_held_at
    released = held_since is not None and _send_request(
        intervention, "release", now, note="sitecheck.note.released", staff=actor.name or "-"
    )
    if not released or held_since is None:
        raise TransitionError("release the held mail of", f"{intervention.state} (no mail held)")
    add_event(intervention, actor, "mail_released", now, held_since=held_since.isoformat())


def recheck_site(intervention: Intervention, actor: Actor, now: datetime) -> None:
    """Staff take the after snapshot again (a regression was fixed, say); it replaces the last.

    A held mail stays held: staff release it when the site is right.
    """
    if intervention.state != State.AWAITING_VALIDATION or not intervention.check_urls:
        raise TransitionError("check the site of", intervention.state)
    add_event(intervention, actor, "site_recheck_requested", now)
    outbox.schedule(intervention, "site", "site_snapshot", {"phase": "after"}, now, now)


def resend_mail(intervention: Intervention, actor: Actor, now: datetime) -> None:
    """Send the client the mail that fits the current state again (new links).

    A validation request the mail server refused for good goes out again, and the
    client's window starts when the server accepts it (`mail_accepted`). Raises
    TransitionError while the first request has not gone out (the site check runs, a
    regression holds it, or the server has not accepted it yet).
    """
    template = states.RESEND.get(intervention.state)
    if template is None:
        raise TransitionError("resend the mail of", intervention.state)
    payload: dict[str, Any] = {"template": template, "resend": True}
    if intervention.state == State.AWAITING_VALIDATION:
        window = window_of(intervention)
        if window == MailWindow.FAILED:
            again = {"mail_failed_at": None, "mail_error": None}
            if not move(intervention, _window_allows("resend"), now, again):
                raise TransitionError("resend the mail of", "a window that moved meanwhile")
            payload["note"] = "note.mail_resent"
            payload["note_values"] = {"staff": actor.name or "-"}
        elif window != MailWindow.OPEN:
            waiting = {
                MailWindow.HELD: "held mail",
                MailWindow.SENDING: "mail to be accepted by the mail server",
            }.get(window, "site check to finish")
            state = f"{intervention.state} (waiting for its {waiting})"
            raise TransitionError("resend the mail of", state)
    add_event(intervention, actor, "mail_resend_requested", now, template=template)
    outbox.schedule(intervention, "mail", "send_mail", payload, now, now)


# --- the client's decision -------------------------------------------------------------


def validate(intervention: Intervention, actor: Actor, now: datetime) -> Intervention:
    """The client validates the intervention.

    Before the deadline: `validated`, a confirmation mail and a ticket note; pending
    reminders and the lapse are dropped. After it: the intervention lapses instead and
    WindowClosedError is raised (committing the lapse is the caller's choice). A second
    or conflicting decision raises TransitionError and changes nothing.
    """
    if intervention.deadline_at is not None and now >= intervention.deadline_at:
        if intervention.state == State.AWAITING_VALIDATION:
            lapse(intervention, now)
        raise WindowClosedError("the validation window is closed")
    _transition(intervention, "validate", actor, now, decided_at=now)
    outbox.cancel_pending(intervention, states.DROPPED_BY["validate"], now)
    outbox.schedule(intervention, "mail", "send_mail", {"template": "validated"}, now, now)
    ticket_note(intervention, "note.validated", now, ip=actor.ip or "-")
    timestamp_head(intervention, now)
    return intervention


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
    deadline = intervention.deadline_at
    late = states.is_late(intervention.state, deadline is not None and now >= deadline)
    values: dict[str, Any] = {
        "decided_at": now,
        "report_message": message,
        "restore_requested": restore,
        "late_report": late,
    }
    policy = _setting("LATE_REPORT_POLICY")
    if late:
        review = states.LATE_REVIEW[states.late_review_on_report(policy)]
        values["late_report_review"] = review.target
    _transition(intervention, "report", actor, now, **values)
    # The backup is held only if it is still kept: its expiry may have just committed.
    held = move(
        intervention, _backup_is("hold"), now, {"backup_state": states.BACKUP["hold"].target}
    )
    if held:
        add_event(intervention, actor, "backup_held", now, reference=intervention.backup_reference)
    else:
        db.session.refresh(intervention)
    outbox.cancel_pending(intervention, states.DROPPED_BY["report"], now)
    outbox.schedule(intervention, "mail", "send_mail", {"template": "reported"}, now, now)
    if intervention.ticket_id:
        payload = {"ticket_id": intervention.ticket_id, "status": _setting("REOPEN_TICKET_STATUS")}
        outbox.schedule(intervention, "panel", "update_ticket", payload, now, now)
    ticket_note(
        intervention,
        "note.reported_late" if late else "note.reported",
        now,
        message=message or "-",
        restore=staff_words("word.yes" if restore else "word.no"),
        backup=_backup_words(intervention),
    )
    if late and policy == "auto":
        flag_ineligible(intervention.client, intervention, SYSTEM, now, reason="late_report")
    timestamp_head(intervention, now)
    return intervention


def _backup_words(intervention: Intervention) -> str:
    reference = intervention.backup_reference or "-"
    if intervention.backup_state == BackupState.HELD:
        return staff_words("backup.held", reference=reference)
    if intervention.backup_state == BackupState.EXPIRED:
        return staff_words("backup.already_expired", reference=reference)
    return staff_words("backup.none")


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
    outbox.cancel_pending(intervention, states.DROPPED_BY["lapse"], now)
    ticket_note(intervention, "note.lapsed", now, deadline=_staff_time(intervention.deadline_at))
    timestamp_head(intervention, now)
    return True


def resolve(intervention: Intervention, resolution: str, actor: Actor, now: datetime) -> None:
    """Staff close a report (restored, fixed, no fault); the backup's hold is released."""
    if resolution not in states.RESOLUTIONS:
        raise InvalidRequestError(f"resolution must be one of {', '.join(states.RESOLUTIONS)}")
    _transition(intervention, "resolve", actor, now, resolution=resolution)
    ticket_note(
        intervention,
        "note.resolved",
        now,
        resolution=staff_words(f"resolution.{resolution}"),
        staff=actor.name or "-",
    )
    release_backup(intervention, actor, now)


# --- the backup ------------------------------------------------------------------------


def expire_backup(intervention: Intervention, now: datetime) -> bool:
    """Retention is over: the backup goes from `kept` to `expired`, with a ticket note.

    A held backup is never expired. Returns False (and changes nothing) when the backup
    is not kept or not yet due; safe to run twice.
    """
    due = and_(_backup_is("expire"), Intervention.backup_expires_at <= now)
    if not move(intervention, due, now, {"backup_state": states.BACKUP["expire"].target}):
        return False
    add_event(intervention, SYSTEM, "backup_expired", now, reference=intervention.backup_reference)
    ticket_note(intervention, "note.backup_expired", now, reference=intervention.backup_reference)
    return True


def hold_backup(intervention: Intervention, actor: Actor, now: datetime) -> bool:
    """Staff keep the backup beyond its retention (until released).

    Returns False when it was held already (nothing changes); raises TransitionError
    when there is no kept backup to hold.
    """
    if intervention.backup_state == BackupState.HELD:
        return False
    held = {"backup_state": states.BACKUP["hold"].target}
    if not move(intervention, _backup_is("hold"), now, held):
        db.session.refresh(intervention)
        raise TransitionError("hold the backup of", f"backup {intervention.backup_state}")
    add_event(intervention, actor, "backup_held", now, reference=intervention.backup_reference)
    ticket_note(intervention, "note.backup_held", now, reference=intervention.backup_reference)
    return True


def release_backup(intervention: Intervention, actor: Actor, now: datetime) -> bool:
    """A held backup goes back to `kept`; past its retention it expires at once.

    While the client's window has not started (the validation email not yet accepted by
    the mail server), neither has the retention: the backup is kept with no expiry, which
    `mail_accepted` sets. Returns False when it was not held (nothing changes).
    """
    expires = intervention.backup_expires_at
    waiting = (
        intervention.state == State.AWAITING_VALIDATION
        and window_of(intervention) != MailWindow.OPEN
    )
    if expires is None and waiting:
        released: dict[str, Any] = {"backup_state": states.BACKUP["release"].target}
    else:
        if expires is None or expires < now:
            expires = now
        released = {"backup_state": states.BACKUP["release"].target, "backup_expires_at": expires}
    if not move(intervention, _backup_is("release"), now, released):
        return False
    add_event(intervention, actor, "backup_released", now, reference=intervention.backup_reference)
    if "backup_expires_at" in released:
        outbox.schedule(
            intervention, "due", "expire_backup", {}, released["backup_expires_at"], now
        )
    return True


def _staff_time(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return format_datetime(moment, _setting("STAFF_LANGUAGE"), _setting("DEFAULT_TIMEZONE"))
