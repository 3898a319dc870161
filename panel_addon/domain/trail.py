"""What every change leaves behind: an event in the intervention's trail, a ticket note.

Both are rows added to the caller's transaction: they commit with the change that made
them, or not at all.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import inspect, update

from .. import outbox
from ..models import Event, Intervention, db
from ..notes import note_text
from . import chain


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
    """Append one event to the intervention's trail (never updated afterwards), chained.

    The event takes the next `seq` and is hashed onto the intervention's head
    (`chain.event_hash`), which moves to it: under a lock of the intervention's row
    (`lock_trail`), so events that arrive at once are chained one after the other. The
    intervention is given as its object, or by its id where the caller holds no object
    of it (a worker recording a mail it sent).
    """
    if isinstance(intervention, int):
        found = db.session.get(Intervention, intervention)
        if found is None:
            raise LookupError(f"no intervention with id {intervention}")
        intervention = found
    seq, head = lock_trail(intervention)
    event = Event(
        intervention=intervention,
        seq=seq + 1,
        at=now,
        actor=actor.kind,
        actor_name=actor.name,
        type=type_,
        from_state=from_state,
        to_state=to_state,
        ip=actor.ip,
        user_agent=(actor.user_agent or None) and actor.user_agent[:500],
        # As the JSON column hands it back (a tuple comes back a list): what is hashed
        # is what a later reader finds.
        data=json.loads(json.dumps(data)),
        prev_hash=head,
    )
    event.hash = chain.event_hash(exported(event))
    intervention.trail_seq, intervention.trail_head = event.seq, event.hash
    db.session.add(event)
    return event


def lock_trail(intervention: Intervention) -> tuple[int, str]:
    """The seq and hash of the intervention's last event, its row locked till the commit.

    The lock is an UPDATE that changes nothing (`trail_seq = trail_seq ... RETURNING`): on
    PostgreSQL it locks the row as SELECT ... FOR UPDATE would; on SQLite, where a SELECT
    starts no transaction, it takes the database's write lock, so writers queue there.
    Whoever appends to the trail takes this lock first; a check made after it (a view
    already recorded?) cannot be raced by another writer. Safe to take twice.
    """
    if inspect(intervention).pending:
        # Added in this transaction: no one else can see it yet.
        return intervention.trail_seq or 0, intervention.trail_head or chain.GENESIS
    seq, head = db.session.execute(
        update(Intervention)
        .where(Intervention.id == intervention.id)
        .values(trail_seq=Intervention.trail_seq)
        .returning(Intervention.trail_seq, Intervention.trail_head)
        .execution_options(synchronize_session=False)
    ).one()
    return seq or 0, head or chain.GENESIS


def head(intervention: Intervention) -> str:
    """The intervention's trail head as this transaction sees it (64 zeros: no event)."""
    return intervention.trail_head or chain.GENESIS


def exported(event: Event) -> dict[str, Any]:
    """The event as the dossier exports it (contract §8), with its `hash` when it has one."""
    body = chain.event_object(
        seq=event.seq,
        at=event.at,
        type_=event.type,
        actor=event.actor,
        actor_name=event.actor_name,
        ip=event.ip,
        user_agent=event.user_agent,
        data=event.data,
        from_state=event.from_state,
        to_state=event.to_state,
        prev_hash=event.prev_hash,
    )
    if event.hash is not None:
        body["hash"] = event.hash
    return body


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
    # What a client, technician or staff typed is escaped: the panel's admin area must
    # show it as text, never run it as markup.
    values = {
        name: html.escape(value, quote=False) if isinstance(value, str) else value
        for name, value in values.items()
    }
    payload = {
        "note": key,
        "language": current_app.config["STAFF_LANGUAGE"],
        "values": values,
        # The outside witness (docs/evidence.md): the panel keeps a copy of the head.
        "trail": head(intervention)[:16],
    }
    outbox.schedule(intervention, "panel", "add_ticket_note", payload, now, now)


def timestamp_head(intervention: Intervention, now: datetime) -> None:
    """Schedule an RFC 3161 time-stamp of the trail's head as it is now (EVIDENCE_TSA_URL).

    Nothing when no time-stamping authority is set. The stamp's token is appended to
    the trail when it comes (`effects/timestamps.py`).
    """
    if not current_app.config.get("EVIDENCE_TSA_URL"):
        return
    payload = {"head": head(intervention), "seq": intervention.trail_seq}
    outbox.schedule(intervention, "panel", "timestamp_trail", payload, now, now)


def ticket_note_text(payload: dict[str, Any], intervention: Intervention) -> str:
    """The text of a ticket note `ticket_note` scheduled, ending with its `Trail:` line.

    The line is the same in every language: tools read it back from the panel.
    """
    panel_id = html.escape(intervention.panel_id, quote=False)
    text = note_text(payload["language"], payload["note"], panel_id=panel_id, **payload["values"])
    if payload.get("trail"):
        text = f"{text.rstrip()}\n\nTrail: {payload['trail']}"
    return text
