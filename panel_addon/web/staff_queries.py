"""Listing interventions for staff: filters, keyset paging and counts per state.

Shared by the staff API (`GET /api/v1/interventions`) and the staff view (`/staff/`),
so both filter and page the same way. Paging is by id (keyset), never OFFSET: a page
deep in a million rows costs what the first page costs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Select, and_, func, or_, select

from ..domain.states import BackupState, State
from ..formatting import zone
from ..models import Intervention, db

PAGE_MAX = 200
PAGE_DEFAULT = 50
TRUE_WORDS = ("true", "1", "on", "yes")


class FilterError(ValueError):
    """A filter or paging value is malformed; `field` names it when there is one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Page:
    """One page of interventions, newest first, with the ids to ask for its neighbours."""

    items: list[Intervention]
    next_before: int | None  # ask `before=` this for the older page
    prev_after: int | None  # ask `after=` this for the newer page


def _day_start(value: str, field: str) -> datetime:
    """A date (in DEFAULT_TIMEZONE) or an ISO date-time with an offset, as UTC."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            tz = zone(None, current_app.config["DEFAULT_TIMEZONE"])
            return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise FilterError(f"{field} must be a date (2026-11-26) or a date-time", field) from None
    if moment.tzinfo is None:
        raise FilterError(f"{field}: a date-time must carry a UTC offset", field)
    return moment.astimezone(UTC)


def filtered(args: Mapping[str, str]) -> Select[tuple[Intervention]]:
    """The interventions matching the filters in `args` (unordered, unpaged).

    Filters: `state` (comma list), `client`, `technician`, `ticket`, `late_report=true`,
    `review` (late-report review: pending, flagged, dismissed), `backup` (none, kept,
    held, expired), `mail=failed` (awaiting the client, whose validation email the mail
    server refused for good), `from` and `to` (start date, inclusive; a date is a whole
    day in DEFAULT_TIMEZONE). Empty values are ignored. Raises FilterError.
    """
    query = select(Intervention)
    if args.get("state"):
        states = [s.strip() for s in args["state"].split(",") if s.strip()]
        unknown = [s for s in states if s not in {st.value for st in State}]
        if unknown:
            raise FilterError(f"unknown state {unknown[0]!r}", "state")
        query = query.where(Intervention.state.in_(states))
    for key, column in (
        ("client", Intervention.client_id),
        ("technician", Intervention.technician),
        ("ticket", Intervention.ticket_id),
    ):
        value = (args.get(key) or "").strip()
        if value:
            query = query.where(column == value)
    if (args.get("late_report") or "").lower() in TRUE_WORDS:
        query = query.where(Intervention.late_report.is_(True))
    if args.get("review"):
        query = query.where(Intervention.late_report_review == args["review"])
    if args.get("backup"):
        if args["backup"] not in {b.value for b in BackupState}:
            raise FilterError(f"unknown backup state {args['backup']!r}", "backup")
        query = query.where(Intervention.backup_state == args["backup"])
    if args.get("mail"):
        if args["mail"] != "failed":
            raise FilterError(f"unknown mail filter {args['mail']!r} (failed)", "mail")
        query = query.where(_mail_failed())
    if (args.get("from") or "").strip():
        query = query.where(Intervention.started_at >= _day_start(args["from"], "from"))
    if (args.get("to") or "").strip():
        end = args["to"].strip()
        # A bare date includes its whole day.
        bound = _day_start(end, "to") + (timedelta(days=1) if len(end) == 10 else timedelta(0))
        query = query.where(Intervention.started_at < bound)
    return query


def _mail_failed() -> Any:
    return and_(
        Intervention.state == State.AWAITING_VALIDATION,
        Intervention.window_opened_at.is_(None),
        Intervention.mail_failed_at.is_not(None),
    )


def failed_mail_count() -> int:
    """How many clients await a validation email the mail server refused for good.

    A range of the (state, ...) indexes: what is awaiting the client, not the history.
    """
    count = db.session.scalar(select(func.count()).select_from(Intervention).where(_mail_failed()))
    return int(count or 0)


def _whole(value: str | None, default: int | None) -> int | None:
    if value is None or value == "":
        return default
    return int(value)


def page(args: Mapping[str, str], default_limit: int = PAGE_DEFAULT) -> Page:
    """One page of `filtered(args)`, newest first.

    `before=<id>` gives the page of older rows, `after=<id>` the page of newer ones;
    `limit` is at most PAGE_MAX. Raises FilterError.
    """
    query = filtered(args)
    try:
        limit = _whole(args.get("limit"), default_limit)
        before = _whole(args.get("before"), None)
        after = _whole(args.get("after"), None)
    except ValueError:
        raise FilterError("limit and before must be whole numbers") from None
    assert limit is not None
    limit = min(limit, PAGE_MAX)
    if limit < 1:
        raise FilterError("limit must be at least 1", "limit")
    ids = query.with_only_columns(Intervention.id)
    if before is not None:
        found = _ids(ids.where(Intervention.id < before).order_by(Intervention.id.desc()), limit)
        chosen, older, newer = found[:limit], len(found) > limit, True
    elif after is not None:
        found = _ids(ids.where(Intervention.id > after).order_by(Intervention.id.asc()), limit)
        chosen, newer, older = list(reversed(found[:limit])), len(found) > limit, True
    else:
        found = _ids(ids.order_by(Intervention.id.desc()), limit)
        chosen, older, newer = found[:limit], len(found) > limit, False
    items = _load(chosen)
    if not items:
        return Page([], None, None)
    # Coming from a neighbour page, that page is known to exist: no need to ask again.
    return Page(
        items,
        next_before=items[-1].id if older else None,
        prev_after=items[0].id if newer else None,
    )


def _ids(query: Select[Any], limit: int) -> list[int]:
    # Ids first, rows second: with the client joined in, PostgreSQL may prefer walking
    # the whole primary key over an index that matches the filter.
    return list(db.session.scalars(query.limit(limit + 1)))


def _load(ids: list[int]) -> list[Intervention]:
    if not ids:
        return []
    rows = db.session.scalars(select(Intervention).where(Intervention.id.in_(ids)))
    by_id = {iv.id: iv for iv in rows.unique()}
    return [by_id[i] for i in ids if i in by_id]


# The states staff act on, counted in full; the others only over RECENT days.
OPEN_STATES = (State.IN_PROGRESS, State.AWAITING_VALIDATION, State.REPORTED)
RECENT = timedelta(days=7)


def state_counts(now: datetime) -> dict[str, int]:
    """How many interventions are in each state: what staff act on, and recent history.

    The open states (in progress, awaiting the client, reported) are counted in full;
    the closed ones (validated, lapsed, resolved, cancelled) only when they changed in
    the last RECENT days. Both are ranges of one index (state, updated_at), so the cost
    follows the host's activity, not the years of interventions behind it.
    """
    closed = [state for state in State if state not in OPEN_STATES]
    recent = or_(
        Intervention.state.in_(OPEN_STATES),
        and_(Intervention.state.in_(closed), Intervention.updated_at >= now - RECENT),
    )
    rows = db.session.execute(
        select(Intervention.state, func.count()).where(recent).group_by(Intervention.state)
    )
    return {state: count for state, count in rows.all()}
