"""Every state machine of the policy, as data: no I/O, no database, no Flask.

Each machine is a table of actions: the states an action may start from and the state
it leads to. The services (`lifecycle.py`, `eligibility.py`) consult these tables and
turn them into conditional updates (`UPDATE ... WHERE state IN (sources)`), so a move
that is not in a table cannot happen, and two racing requests cannot both make one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    """An intervention's state (contract §5)."""

    IN_PROGRESS = "in_progress"
    AWAITING_VALIDATION = "awaiting_validation"
    VALIDATED = "validated"
    REPORTED = "reported"
    LAPSED = "lapsed"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"


class BackupState(StrEnum):
    """The pre-intervention backup's state; `none` when the panel sent no backup."""

    NONE = "none"
    KEPT = "kept"
    HELD = "held"
    EXPIRED = "expired"


class MailWindow(StrEnum):
    """The client's validation window, which runs only once the client was told.

    `checking`: the after snapshot is being taken, the mail waits; `held`: a page
    regressed and HOLD_MAIL_ON_REGRESSION holds the mail until staff release it;
    `sending`: the validation request is on its way, not yet accepted by the mail server;
    `failed`: the mail server refused it for good, staff must act (resend it); `open`:
    the server accepted it and the deadline runs. No deadline runs before `open`.
    """

    CHECKING = "checking"
    HELD = "held"
    SENDING = "sending"
    FAILED = "failed"
    OPEN = "open"


class LateReview(StrEnum):
    """What becomes of a late report's client under LATE_REPORT_POLICY."""

    PENDING = "pending"
    FLAGGED = "flagged"
    DISMISSED = "dismissed"


@dataclass(frozen=True)
class Move:
    """One row of a machine: from any of `sources` (None: nothing yet) to `target`."""

    sources: frozenset[str | None]
    target: str

    def allows(self, state: str | None) -> bool:
        return state in self.sources

    @property
    def existing_sources(self) -> list[str]:
        """The sources that are states (for a conditional UPDATE), in a fixed order."""
        return sorted(s for s in self.sources if s is not None)


def _move(sources: set[str | None], target: str) -> Move:
    return Move(frozenset(sources), target)


S, B, W, R = State, BackupState, MailWindow, LateReview

# The intervention (docs/lifecycle.md draws it).
INTERVENTION: dict[str, Move] = {
    "start": _move({None}, S.IN_PROGRESS),
    "complete": _move({None, S.IN_PROGRESS}, S.AWAITING_VALIDATION),
    "cancel": _move({S.IN_PROGRESS, S.AWAITING_VALIDATION}, S.CANCELLED),
    "validate": _move({S.AWAITING_VALIDATION}, S.VALIDATED),
    "report": _move({S.AWAITING_VALIDATION, S.LAPSED}, S.REPORTED),
    "lapse": _move({S.AWAITING_VALIDATION}, S.LAPSED),
    "resolve": _move({S.REPORTED}, S.RESOLVED),
}

# The backup: kept until its retention ends, held while a report is open (or staff hold
# it), never expired while held.
BACKUP: dict[str, Move] = {
    "hold": _move({B.KEPT}, B.HELD),
    "release": _move({B.HELD}, B.KEPT),
    "expire": _move({B.KEPT}, B.EXPIRED),
}

# The client's mail window: held by the site check, sent, then open once the mail server
# accepted the validation request (or failed, until staff resend it).
MAIL_WINDOW: dict[str, Move] = {
    "send": _move({W.CHECKING}, W.SENDING),
    "hold": _move({W.CHECKING}, W.HELD),
    "release": _move({W.HELD}, W.SENDING),
    "accept": _move({W.SENDING}, W.OPEN),
    "fail": _move({W.SENDING}, W.FAILED),
    "resend": _move({W.FAILED}, W.SENDING),
}

# A late report's review: `review` waits for staff, `auto` flags at once.
LATE_REVIEW: dict[str, Move] = {
    "await_review": _move({None}, R.PENDING),
    "flag_at_once": _move({None}, R.FLAGGED),
    "flag": _move({R.PENDING}, R.FLAGGED),
    "dismiss": _move({R.PENDING}, R.DISMISSED),
}

MACHINES: dict[str, dict[str, Move]] = {
    "intervention": INTERVENTION,
    "backup": BACKUP,
    "mail_window": MAIL_WINDOW,
    "late_review": LATE_REVIEW,
}

# A mail is sent only while the intervention is in one of these states: a reminder to a
# client who already answered, or a confirmation of a decision undone, is skipped.
MAIL_WANTED: dict[str, frozenset[str]] = {
    "completion_request": frozenset({S.AWAITING_VALIDATION}),
    "reminder": frozenset({S.AWAITING_VALIDATION}),
    "validated": frozenset({S.VALIDATED}),
    "reported": frozenset({S.REPORTED, S.RESOLVED}),
}

# The mail that "resend" sends again in each state (none in the others).
RESEND: dict[str, str] = {
    S.AWAITING_VALIDATION: "completion_request",
    S.VALIDATED: "validated",
    S.REPORTED: "reported",
}

# What a decision or a cancel drops from the intervention's pending work.
DROPPED_BY: dict[str, tuple[str, ...]] = {
    "validate": ("send_mail", "lapse"),
    "report": ("send_mail", "lapse"),
    "lapse": ("send_mail",),
    "cancel": ("send_mail", "lapse", "site_snapshot", "site_check_overdue"),
    "complete": ("site_snapshot",),
}

RESOLUTIONS = ("restored", "fixed", "no_fault")


def mail_window(*, queued: bool, held: bool, opened: bool, failed: bool) -> MailWindow:
    """The window's state from the intervention's times: the request queued for sending,
    held by the site check, accepted by the mail server (the window opened), refused."""
    if opened:
        return MailWindow.OPEN
    if queued:
        return MailWindow.FAILED if failed else MailWindow.SENDING
    return MailWindow.HELD if held else MailWindow.CHECKING


def is_late(state: str, deadline_passed: bool) -> bool:
    """A report is late once the intervention lapsed or its deadline passed."""
    return state == State.LAPSED or deadline_passed


def late_review_on_report(policy: str) -> str:
    """The late-review move a late report makes under LATE_REPORT_POLICY."""
    return "flag_at_once" if policy == "auto" else "await_review"
