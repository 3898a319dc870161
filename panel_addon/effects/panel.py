"""Calls to the panel: ticket notes, the reopened ticket, the client's internal note."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import current_app

from .. import outbox
from ..clock import now as clock_now
from ..domain.trail import SYSTEM, add_event, ticket_note_text
from ..models import Client, Intervention, Task, db
from ..notes import note_text
from ..panels import Panel, PanelError, configured_panel
from ..panels.notes import add_ineligible_line, remove_ineligible_line


def _panel() -> Panel | None:
    """The configured panel, built once per app."""
    panel: Panel | None = current_app.extensions.get("panel_addon.panel")
    if panel is None:
        panel = configured_panel(current_app.config)
        current_app.extensions["panel_addon.panel"] = panel
    return panel


def _call(task: Task, call: Callable[[Panel], Any], **recorded: Any) -> dict[str, Any] | None:
    """Make the panel call; record it in the trail (with `recorded`).

    Transient errors are retried; a refusal only the operator can fix (a permission the
    panel's credentials lack) parks the task; any other failure fails it.
    """
    panel = _panel()
    if panel is None:
        raise outbox.Skip("the panel is not configured (WHMCS_URL)")
    try:
        result = call(panel)
    except PanelError as exc:
        if exc.configuration:
            raise outbox.Parked(str(exc)) from None
        if exc.transient:
            raise outbox.TransientError(str(exc)) from None
        raise outbox.PermanentError(str(exc)) from None
    intervention = _intervention_or_none(task)
    if intervention is not None:
        add_event(
            intervention, SYSTEM, "panel_updated", clock_now(), action=task.action, **recorded
        )
    return {"result": (result or {}).get("result", "success")} if isinstance(result, dict) else None


def _intervention_or_none(task: Task) -> Intervention | None:
    if task.intervention_id is None:
        return None
    return db.session.get(Intervention, task.intervention_id)


def add_ticket_note(task: Task, now: datetime) -> dict[str, Any] | None:
    """AddTicketNote on the intervention's ticket, once.

    A first attempt just adds the note. A later one (the previous attempt failed, timed
    out or was interrupted, so its note may have landed anyway) reads the ticket's notes
    first and adds nothing if the same note is there. What remains: a panel that applies
    a call after we gave up on it, and after that check, gets the note twice.
    """
    payload = task.payload
    intervention = _intervention_or_none(task)
    if "message" in payload:
        # Scheduled by an earlier version, which wrote the note's text in the task.
        ticket_id, message = payload["ticket_id"], payload["message"]
    elif intervention is not None and intervention.ticket_id:
        ticket_id = intervention.ticket_id
        message = ticket_note_text(payload, intervention)
    else:
        raise outbox.Skip("the intervention has no ticket")

    def call(panel: Panel) -> dict[str, Any]:
        if task.attempts or task.last_error:
            wanted = _same_note_text(message)
            if any(_same_note_text(note) == wanted for note in panel.get_ticket_notes(ticket_id)):
                return {"result": "already_there"}
        return panel.add_ticket_note(ticket_id, message)

    # The note as the panel holds it goes into the trail: the dossier shows it.
    return _call(task, call, ticket=ticket_id, note=message)


def _same_note_text(text: str) -> str:
    # The panel may store the note with other line ends or trimmed.
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n")).strip()


def update_ticket(task: Task, now: datetime) -> dict[str, Any] | None:
    """UpdateTicket to reopen the ticket; setting a status twice is harmless."""
    payload = task.payload
    return _call(task, lambda p: p.update_ticket_status(payload["ticket_id"], payload["status"]))


def _ineligible_line(payload: dict[str, Any]) -> str:
    return note_text(
        current_app.config["STAFF_LANGUAGE"],
        "internal_note.line",
        since=payload.get("since") or "-",
        intervention=payload.get("intervention") or "-",
    )


def set_ineligible_note(task: Task, now: datetime) -> dict[str, Any] | None:
    """Add our line to the client's admin notes, keeping every other character.

    Reads the field, then writes it back only if our line is missing: safe to repeat.
    Skipped when the client became eligible again meanwhile.
    """
    client = db.session.get(Client, task.payload["client_id"])
    if client is not None and client.eligible:
        raise outbox.Skip("the client is eligible again")

    def call(panel: Panel) -> dict[str, Any]:
        notes = panel.get_client_notes(task.payload["client_id"])
        updated = add_ineligible_line(notes, _ineligible_line(task.payload))
        if updated == notes:
            return {"result": "unchanged"}
        return panel.set_client_notes(task.payload["client_id"], updated)

    return _call(task, call)


def remove_ineligible_note(task: Task, now: datetime) -> dict[str, Any] | None:
    """Remove our line from the client's admin notes, and only it: safe to repeat."""
    client = db.session.get(Client, task.payload["client_id"])
    if client is not None and not client.eligible:
        raise outbox.Skip("the client was made ineligible again")

    def call(panel: Panel) -> dict[str, Any]:
        notes = panel.get_client_notes(task.payload["client_id"])
        updated = remove_ineligible_line(notes)
        if updated == notes:
            return {"result": "unchanged"}
        return panel.set_client_notes(task.payload["client_id"], updated)

    return _call(task, call)
