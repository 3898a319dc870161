"""The buffered writes of panel_addon/writes.py: rows go where their transaction goes,
in the order they were made, and read the same on both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text

from panel_addon import lifecycle, tasks, writes
from panel_addon.models import Client, Event, Intervention, Task, db

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture
def iv(backend: str, app: Flask) -> Any:
    with app.app_context():
        db.session.add(
            Client(id="c1", email="a@b.example", eligible=True, created_at=NOW, updated_at=NOW)
        )
        db.session.flush()
        db.session.add(
            Intervention(
                panel_id="iv-1",
                client_id="c1",
                state="awaiting_validation",
                link_nonce="n",
                backup_state="none",
                created_at=NOW,
                updated_at=NOW,
            )
        )
        db.session.commit()
    with app.app_context():
        yield db.session.get(Intervention, 1)


def _trail() -> list[str]:
    return [e.type for e in db.session.scalars(select(Event).order_by(Event.id))]


def test_rows_go_where_their_transaction_goes(iv: Any) -> None:
    lifecycle.add_event(iv, lifecycle.SYSTEM, "rolled_back", NOW)
    db.session.rollback()
    lifecycle.add_event(iv, lifecycle.SYSTEM, "closed", NOW)
    db.session.close()
    lifecycle.add_event(iv, lifecycle.SYSTEM, "committed", NOW)
    db.session.commit()
    assert _trail() == ["committed"]


def test_a_savepoint_takes_exactly_its_own_rows(iv: Any) -> None:
    lifecycle.add_event(iv, lifecycle.SYSTEM, "before", NOW)
    with pytest.raises(RuntimeError, match="before begin_nested"):
        db.session.begin_nested()
    db.session.rollback()

    lifecycle.add_event(iv, lifecycle.SYSTEM, "before", NOW)
    writes.write()
    savepoint = db.session.begin_nested()
    lifecycle.add_event(iv, lifecycle.SYSTEM, "inside", NOW)
    savepoint.rollback()
    db.session.commit()
    assert _trail() == ["before"]


def test_the_trail_keeps_the_order_events_were_made_in(iv: Any) -> None:
    names = [f"step-{n:02d}" for n in range(40)]
    for name in reversed(names):
        lifecycle.add_event(iv, lifecycle.SYSTEM, name, NOW)
    db.session.commit()
    assert _trail() == list(reversed(names))


def test_a_cancel_takes_the_tasks_before_it_and_not_those_after_it(iv: Any) -> None:
    tasks.schedule(iv, "mail", "send_mail", {"n": 1}, NOW, NOW)
    tasks.cancel_pending(iv, ("send_mail",), NOW)
    tasks.schedule(iv, "mail", "send_mail", {"n": 2}, NOW, NOW)
    db.session.commit()
    states = {t.payload["n"]: t.state for t in db.session.scalars(select(Task))}
    assert states == {1: "cancelled", 2: "pending"}


def test_a_done_task_reads_the_same_on_both_databases(iv: Any) -> None:
    tasks.schedule(iv, "due", "lapse", {}, NOW, NOW)
    db.session.commit()
    task = db.session.scalars(select(Task)).one()
    tasks.mark_done(task, NOW, None)
    tasks.cancel_pending(iv, ("lapse",), NOW)  # written after the done: it finds nothing
    db.session.commit()
    row = db.session.execute(text("SELECT state, done_at IS NOT NULL, result FROM tasks")).one()
    assert (row[0], bool(row[1]), row[2]) == ("done", True, None)


def test_naive_times_are_refused_as_the_models_refuse_them(iv: Any) -> None:
    lifecycle.add_event(iv, lifecycle.SYSTEM, "naive", datetime(2026, 11, 26, 12, 0))
    with pytest.raises(Exception, match="naive datetime"):
        db.session.commit()
    db.session.rollback()
    assert _trail() == []
