"""What every change leaves behind: an event in the intervention's trail, a ticket note.

Both are rows added to the caller's transaction: they commit with the change that made
them, or not at all.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app

from .. import outbox
from ..models import Event, Intervention, db
from ..notes import note_text


@dataclass(frozen=True)
class Actor:
    """Who causes a change: panel, client, staff or system; with the client's address."""

    kind: str
    name: str | None = None
    ip: str | None = None
    user_agent: str | None = None


SYSTEM = Actor("system")
PANEL = Actor("panel")


def add_event(
    intervention: Intervention | int,
    actor: Actor,
    type_: str,
    now: datetime,
    *,
    from_state: str | None = None,
    to_state: str | None = None,
    **data: Any,
) -> Event:
    """Append one event to the intervention's trail (never updated afterwards).

    The intervention is given as its object, or by its id where the caller holds no
    object of it (a worker recording a mail it sent).
    """
    whose = (
        {"intervention_id": intervention}
        if isinstance(intervention, int)
        else {"intervention": intervention}
    )
    event = Event(
        **whose,
        at=now,
        actor=actor.kind,
        actor_name=actor.name,
        type=type_,
        from_state=from_state,
        to_state=to_state,
        ip=actor.ip,
        user_agent=(actor.user_agent or None) and actor.user_agent[:500],
        data=data,
    )
    db.session.add(event)
    return event


def staff_words(key: str, **values: Any) -> str:
    """A text for staff, in STAFF_LANGUAGE."""
    return note_text(current_app.config["STAFF_LANGUAGE"], key, **values)


def ticket_note(intervention: Intervention, key: str, now: datetime, **values: Any) -> None:
    """Schedule a note on the intervention's ticket (none without a ticket).

    The note is the text `key` in STAFF_LANGUAGE (as it is now) of `values`, rendered
    when it is sent (`ticket_note_text`): what it says is fixed here.
    """
    if not intervention.ticket_id:
        return
    # The note is plain text, what people typed included: a panel shows it as text
    # (Panel.add_ticket_note; WHMCS HTML-encodes every field it is sent). Tasks of an
    # earlier version, without "plain", hold values it escaped itself.
    payload = {
        "note": key,
        "language": current_app.config["STAFF_LANGUAGE"],
        "values": values,
        "plain": True,
    }
    outbox.schedule(intervention, "panel", "add_ticket_note", payload, now, now)


def ticket_note_text(payload: dict[str, Any], intervention: Intervention) -> str:
    """The plain text of a ticket note `ticket_note` scheduled."""
    values = payload["values"]
    if not payload.get("plain"):
        values = {k: html.unescape(v) if isinstance(v, str) else v for k, v in values.items()}
    return note_text(payload["language"], payload["note"], panel_id=intervention.panel_id, **values)
