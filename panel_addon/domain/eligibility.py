"""The client's eligibility for free interventions, and a late report's review.

A late report (after the deadline) is reviewed by staff under LATE_REPORT_POLICY=review,
or flags the client at once under `auto` (states.LATE_REVIEW). Flagging writes our line
in the client's internal note in the panel; lifting removes that line only.
"""

from __future__ import annotations

from datetime import datetime

from .. import outbox
from ..models import Client, Intervention, db
from . import states
from .errors import TransitionError
from .moves import move
from .trail import Actor, add_event


def flag_ineligible(
    client: Client,
    intervention: Intervention | None,
    actor: Actor,
    now: datetime,
    reason: str = "late_report",
) -> bool:
    """Make the client ineligible for free interventions and write the internal note.

    Returns False when the client already was ineligible (nothing changes then). A late
    report awaiting review is marked flagged.
    """
    flag = {
        "eligible": False,
        "ineligible_since": now,
        "ineligible_intervention_id": intervention.id if intervention else None,
        "ineligible_reason": reason,
    }
    if not move(client, Client.eligible.is_(True), now, flag):
        db.session.refresh(client)
        return False
    if intervention is not None:
        # A late report awaiting review is now decided: flagged (unless staff dismissed it).
        review = states.LATE_REVIEW["flag"]
        awaiting = Intervention.late_report_review.in_(review.existing_sources)
        move(intervention, awaiting, now, {"late_report_review": review.target})
        add_event(intervention, actor, "client_ineligible", now, reason=reason)
    payload = {
        "client_id": client.id,
        "since": now.date().isoformat(),
        "intervention": intervention.panel_id if intervention else None,
    }
    outbox.schedule(intervention, "panel", "set_ineligible_note", payload, now, now)
    return True


def lift_ineligibility(client: Client, actor: Actor, now: datetime) -> bool:
    """Make the client eligible again and remove the internal note's line (only that line).

    Returns False when the client was eligible (nothing changes then).
    """
    because = client.ineligible_intervention_id
    lift = {
        "eligible": True,
        "ineligible_since": None,
        "ineligible_intervention_id": None,
        "ineligible_reason": None,
    }
    if not move(client, Client.eligible.is_(False), now, lift):
        return False
    intervention = db.session.get(Intervention, because) if because else None
    if intervention is not None:
        add_event(intervention, actor, "client_eligible_again", now)
    payload = {"client_id": client.id}
    outbox.schedule(intervention, "panel", "remove_ineligible_note", payload, now, now)
    return True


def dismiss_late_report(intervention: Intervention, actor: Actor, now: datetime) -> None:
    """Staff decide a late report does not make the client ineligible."""
    review = states.LATE_REVIEW["dismiss"]
    pending = Intervention.late_report_review.in_(review.existing_sources)
    if not move(intervention, pending, now, {"late_report_review": review.target}):
        db.session.refresh(intervention)
        raise TransitionError("dismiss the late report of", intervention.state)
    add_event(intervention, actor, "late_report_dismissed", now)
