"""Database models: clients, interventions, their event trail, mails, due work, webhooks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, registry, relationship
from sqlalchemy.types import TypeDecorator


def naive_utc(value: datetime) -> datetime:
    """An aware datetime (of any zone) as the naive UTC one UTCDateTime stores.

    A naive datetime, or one whose zone gives no offset, raises ValueError.
    """
    if value.utcoffset() is None:
        raise ValueError("naive datetime given where UTC is required")
    return value.astimezone(UTC).replace(tzinfo=None)


def aware_utc(value: datetime) -> datetime:
    """A stored naive UTC datetime as the aware one the service works with."""
    return value.replace(tzinfo=UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC (SQLite keeps no zone) and always hands back aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else naive_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else aware_utc(value)


class Base(DeclarativeBase):
    registry = registry(type_annotation_map={datetime: UTCDateTime(), dict[str, Any]: JSON})


db = SQLAlchemy(model_class=Base)


class Client(db.Model):  # type: ignore[name-defined,misc]
    """A client of the host, as the panel knows them, and their eligibility."""

    __tablename__ = "clients"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str | None] = mapped_column(String(8))
    timezone: Mapped[str | None] = mapped_column(String(64))
    eligible: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    ineligible_since: Mapped[datetime | None]
    # The intervention that made the client ineligible (no foreign key: the two tables
    # point at each other, and the trail outlives any clean-up of interventions).
    ineligible_intervention_id: Mapped[int | None] = mapped_column(Integer)
    ineligible_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Intervention(db.Model):  # type: ignore[name-defined,misc]
    """One free intervention on a client's site, from start to the client's decision."""

    __tablename__ = "interventions"
    __table_args__ = (
        Index("ix_interventions_state_deadline", "state", "deadline_at"),
        Index("ix_interventions_client", "client_id", "id"),
        Index("ix_interventions_backup", "backup_state", "backup_expires_at"),
        Index("ix_interventions_late_review", "late_report_review"),
        # The staff list filters by these and pages by id (migration 0002).
        Index("ix_interventions_ticket", "ticket_id", "id"),
        Index("ix_interventions_technician", "technician", "id"),
        Index("ix_interventions_started", "started_at"),
        # The staff's counts: open states in full, closed ones recently (migration 0005).
        Index("ix_interventions_state_updated", "state", "updated_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    panel_id: Mapped[str] = mapped_column(String(64), unique=True)
    ticket_id: Mapped[str | None] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"))
    site: Mapped[str | None] = mapped_column(String(500))
    technician: Mapped[str | None] = mapped_column(String(200))
    summary: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(32))
    link_nonce: Mapped[str] = mapped_column(String(32))

    backup_reference: Mapped[str | None] = mapped_column(String(500))
    backup_created_at: Mapped[datetime | None]
    backup_state: Mapped[str] = mapped_column(String(16), default="none")
    backup_expires_at: Mapped[datetime | None]

    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    deadline_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    cancelled_reason: Mapped[str | None] = mapped_column(Text)

    report_message: Mapped[str | None] = mapped_column(Text)
    restore_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    late_report: Mapped[bool] = mapped_column(Boolean, default=False)
    late_report_review: Mapped[str | None] = mapped_column(String(16))
    resolution: Mapped[str | None] = mapped_column(String(32))

    # The site check (docs/site-check.md): the pages to snapshot; when the client's
    # mail was held because a page regressed (None: not held).
    check_urls: Mapped[list[str] | None] = mapped_column(JSON)
    mail_held_at: Mapped[datetime | None]
    # The validation request (states.MailWindow): when it was scheduled (the site check
    # done or the held mail released); when the mail server accepted it, which opens the
    # window: the deadline counts from it; when and why it was refused for good (None
    # again once staff resend it).
    mail_queued_at: Mapped[datetime | None]
    window_opened_at: Mapped[datetime | None]
    mail_failed_at: Mapped[datetime | None]
    mail_error: Mapped[str | None] = mapped_column(Text)

    # The trail's hash chain (docs/evidence.md): the last event's seq and hash. Events
    # are chained under a lock of this row, so two writers cannot fork the chain.
    trail_seq: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    trail_head: Mapped[str | None] = mapped_column(String(64))

    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    client: Mapped[Client] = relationship(foreign_keys=[client_id], lazy="joined")


class Event(db.Model):  # type: ignore[name-defined,misc]
    """One line of an intervention's append-only trail: who did what, when, from where.

    `seq` numbers an intervention's events from 1; `prev_hash` and `hash` chain them
    (`domain/chain.py`, contract §8).
    """

    __tablename__ = "intervention_events"
    __table_args__ = (Index("uq_intervention_events_seq", "intervention_id", "seq", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    intervention_id: Mapped[int] = mapped_column(ForeignKey("interventions.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(16))
    actor_name: Mapped[str | None] = mapped_column(String(320))
    type: Mapped[str] = mapped_column(String(64))
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str | None] = mapped_column(String(32))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    intervention: Mapped[Intervention] = relationship()


class MailCopy(db.Model):  # type: ignore[name-defined,misc]
    """A mail as it left: the exact bytes given to SMTP `DATA`, zlib-compressed.

    Kept so the dispute dossier can show what the client was asked, and anyone can check
    it against the SHA-256 the trail's `mail_sent` event holds. Never updated.
    """

    __tablename__ = "mail_copies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    intervention_id: Mapped[int] = mapped_column(ForeignKey("interventions.id"), index=True)
    message_id: Mapped[str] = mapped_column(String(320))
    sha256: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[datetime]
    message: Mapped[bytes] = mapped_column(LargeBinary)


class Task(db.Model):  # type: ignore[name-defined,misc]
    """Work a state change causes (a mail, a panel call, a deadline), due at a time.

    Written in the same transaction as the change; the worker carries it out and marks it
    done. This table, not Redis, is the record of what is due and what is done.
    """

    __tablename__ = "tasks"
    __table_args__ = (
        Index(
            "ix_tasks_due",
            "kind",
            "due_at",
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    intervention_id: Mapped[int | None] = mapped_column(ForeignKey("interventions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    due_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    claimed_until: Mapped[datetime | None]
    claim_token: Mapped[str | None] = mapped_column(String(32))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]

    intervention: Mapped[Intervention | None] = relationship()


class SiteSnapshot(db.Model):  # type: ignore[name-defined,misc]
    """One page of a site as the site check saw it, before or after an intervention."""

    __tablename__ = "site_snapshots"
    __table_args__ = (
        UniqueConstraint("intervention_id", "phase", "position", name="uq_site_snapshots_page"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    intervention_id: Mapped[int] = mapped_column(ForeignKey("interventions.id"), index=True)
    phase: Mapped[str] = mapped_column(String(8))
    position: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(String(2000))
    taken_at: Mapped[datetime]
    result: Mapped[dict[str, Any]] = mapped_column(JSON)


class WebhookDelivery(db.Model):  # type: ignore[name-defined,misc]
    """A processed `webhook-id`: a redelivery of it has no second effect."""

    __tablename__ = "webhook_deliveries"

    webhook_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(64))
    intervention_panel_id: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime]
    # SHA-256 of the event (type and data): a reuse of the id for another event is
    # refused. None for deliveries recorded before migration 0006.
    event_sha256: Mapped[str | None] = mapped_column(String(64))


class StaffLogin(db.Model):  # type: ignore[name-defined,misc]
    """A staff login link that was used: its id is refused from then on (single use)."""

    __tablename__ = "staff_logins"

    token_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    admin: Mapped[str] = mapped_column(String(200))
    used_at: Mapped[datetime] = mapped_column(index=True)
    ip: Mapped[str | None] = mapped_column(String(64))
