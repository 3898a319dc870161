"""The staff's actions, once, for the JSON API (staff_api.py) and the staff pages (staff_view.py).

ACTIONS has one row per action: its name (the page's address
`/staff/interventions/<id>/<name>` and its words `staff.action.<name>`,
`staff.done.<name>`), its API route, the parameters it takes from a JSON body or a form
(checked alike, with the same errors), when it is offered for an intervention, the
lifecycle service it calls, and the event that service records in the trail with the
staff member's name. The pages offer only the actions available now; the API lets the
service refuse the others (409 with its message). `perform` checks, calls and commits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..domain import eligibility, lifecycle, states
from ..domain.errors import InvalidRequestError, LifecycleError
from ..domain.states import RESOLUTIONS, MailWindow, State
from ..domain.trail import Actor
from ..formatting import clean_text
from ..models import Client, Intervention, db

__all__ = ["ACTIONS", "BY_NAME", "ParamError", "StaffAction", "Target", "offered", "perform"]


class ParamError(ValueError):
    """A parameter of an action is missing or wrong; the message says which and why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Target:
    """What an action is done to: a client and, except for the API's client routes, one
    of its interventions."""

    client: Client
    intervention: Intervention | None = None

    @property
    def iv(self) -> Intervention:
        if self.intervention is None:
            raise InvalidRequestError("this action needs an intervention")
        return self.intervention


# A parameter's check: (name, the value sent or None) -> the value the service gets.
Check = Callable[[str, Any], Any]


def text(max_length: int) -> Check:
    """Optional one-line text: control characters dropped, spaces collapsed, cut to length."""

    def check(name: str, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise ParamError(name, f"{name} must be a string")
        return " ".join(clean_text(value).split())[:max_length] or None

    return check


def one_of(choices: tuple[str, ...]) -> Check:
    """A required choice among `choices`."""

    def check(name: str, value: Any) -> str:
        if value not in choices:
            raise ParamError(name, f"{name} must be one of {', '.join(choices)}")
        return str(value)

    return check


# The service call: (target, checked parameters, actor, now) -> False when nothing changed.
Run = Callable[[Target, dict[str, Any], Actor, datetime], Any]


@dataclass(frozen=True)
class StaffAction:
    name: str
    method: str
    route: str  # under /api/v1: <panel_id> acts on an intervention, <client_id> on a client
    run: Run
    available: Callable[[Intervention], bool]
    # The event the service adds to the intervention's trail when it changes something
    # (a client-wide flag or lift by the API has no intervention to record it on).
    records: str
    params: tuple[tuple[str, Check], ...] = ()


def _hold(target: Target, values: dict[str, Any], actor: Actor, now: datetime) -> bool:
    return lifecycle.hold_backup(target.iv, actor, now)


def _release(target: Target, values: dict[str, Any], actor: Actor, now: datetime) -> bool:
    return lifecycle.release_backup(target.iv, actor, now)


def _window(iv: Intervention) -> MailWindow:
    return lifecycle.window_of(iv)


def _mail_sent(iv: Intervention) -> bool:
    # Awaiting validation, the first mail goes out once the site check is done (or the
    # held mail released): there is nothing to send again before the mail server took it
    # or refused it for good.
    if iv.state == State.AWAITING_VALIDATION:
        return _window(iv) in (MailWindow.OPEN, MailWindow.FAILED)
    return iv.state in states.RESEND


# In the order the pages show them.
ACTIONS: tuple[StaffAction, ...] = (
    StaffAction(
        "release_mail",
        "POST",
        "/interventions/<panel_id>/mail/release",
        run=lambda target, values, actor, now: lifecycle.release_mail(target.iv, actor, now),
        available=lambda iv: (
            iv.state == State.AWAITING_VALIDATION
            and states.MAIL_WINDOW["release"].allows(_window(iv))
        ),
        records="mail_released",
    ),
    StaffAction(
        "recheck",
        "POST",
        "/interventions/<panel_id>/site-check",
        run=lambda target, values, actor, now: lifecycle.recheck_site(target.iv, actor, now),
        available=lambda iv: iv.state == State.AWAITING_VALIDATION and bool(iv.check_urls),
        records="site_recheck_requested",
    ),
    StaffAction(
        "resend",
        "POST",
        "/interventions/<panel_id>/resend",
        run=lambda target, values, actor, now: lifecycle.resend_mail(target.iv, actor, now),
        available=_mail_sent,
        records="mail_resend_requested",
    ),
    StaffAction(
        "resolve",
        "POST",
        "/interventions/<panel_id>/resolve",
        params=(("resolution", one_of(RESOLUTIONS)),),
        run=lambda target, values, actor, now: lifecycle.resolve(
            target.iv, values["resolution"], actor, now
        ),
        available=lambda iv: states.INTERVENTION["resolve"].allows(iv.state),
        records="resolve",
    ),
    StaffAction(
        "dismiss",
        "POST",
        "/interventions/<panel_id>/late-report/dismiss",
        run=lambda target, values, actor, now: eligibility.dismiss_late_report(
            target.iv, actor, now
        ),
        available=lambda iv: states.LATE_REVIEW["dismiss"].allows(iv.late_report_review),
        records="late_report_dismissed",
    ),
    StaffAction(
        "hold",
        "POST",
        "/interventions/<panel_id>/backup/hold",
        run=_hold,
        available=lambda iv: states.BACKUP["hold"].allows(iv.backup_state),
        records="backup_held",
    ),
    StaffAction(
        "release",
        "POST",
        "/interventions/<panel_id>/backup/release",
        run=_release,
        available=lambda iv: states.BACKUP["release"].allows(iv.backup_state),
        records="backup_released",
    ),
    StaffAction(
        "flag",
        "POST",
        "/clients/<client_id>/ineligibility",
        params=(("reason", text(200)),),
        run=lambda target, values, actor, now: eligibility.flag_ineligible(
            target.client,
            target.intervention,
            actor,
            now,
            reason=values["reason"] or "staff_decision",
        ),
        available=lambda iv: iv.client.eligible,
        records="client_ineligible",
    ),
    StaffAction(
        "lift",
        "DELETE",
        "/clients/<client_id>/ineligibility",
        run=lambda target, values, actor, now: eligibility.lift_ineligibility(
            target.client, actor, now
        ),
        available=lambda iv: not iv.client.eligible,
        records="client_eligible_again",
    ),
    StaffAction(
        "cancel",
        "POST",
        "/interventions/<panel_id>/cancel",
        params=(("reason", text(2000)),),
        run=lambda target, values, actor, now: lifecycle.cancel(
            target.iv.panel_id, values["reason"], actor, now
        ),
        available=lambda iv: states.INTERVENTION["cancel"].allows(iv.state),
        records="cancel",
    ),
)

BY_NAME = {action.name: action for action in ACTIONS}


def offered(intervention: Intervention) -> list[StaffAction]:
    """The actions that fit the intervention as it is now, in the order the pages show them."""
    return [action for action in ACTIONS if action.available(intervention)]


def perform(
    action: StaffAction, target: Target, given: Mapping[str, Any], actor: Actor, now: datetime
) -> bool:
    """Check `given` (a JSON body or a form), call the action's service, commit.

    Returns False when the service changed nothing (it was already so). Raises
    ParamError before any change, or the service's LifecycleError after a rollback.
    """
    values = {name: check(name, given.get(name)) for name, check in action.params}
    try:
        changed = action.run(target, values, actor, now)
        db.session.commit()
    except LifecycleError:
        db.session.rollback()
        raise
    return changed is not False
