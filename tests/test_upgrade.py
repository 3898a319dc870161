"""Upgrading in place: a database written by an earlier release keeps working after
`panel-addon db upgrade`.

The database is built by the migrations as they stood at release 0.1 (revision 0004)
and filled as that release left it: clients, interventions, their trails, pending tasks
(some in the payload formats of earlier versions), and links already mailed, signed as
that release signed them. After the upgrade to head nothing is lost, the links open and
decide, and the due work is carried out.
"""

from __future__ import annotations

import json
import warnings
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select, text

from panel_addon.models import Client, Event, Intervention, Task, db

from .flow import path_of, run_due, task_rows
from .support import ManualClock

RELEASED = "0004"


def _db(app: Flask, *args: str) -> Any:
    with warnings.catch_warnings():
        # Flask-Migrate's env.py template asks Flask-SQLAlchemy for get_engine() first.
        warnings.simplefilter("ignore", DeprecationWarning)
        result = app.test_cli_runner().invoke(args=["db", *args])
    assert result.exit_code == 0, result.output
    return result


def _released_link(intervention_id: int, nonce: str, purpose: str) -> str:
    """A link as release 0.1 mailed it: itsdangerous, one salt per purpose."""
    signer = URLSafeTimedSerializer(["test-secret-key"], salt=f"intervention-signoff.{purpose}")
    token = signer.dumps({"i": intervention_id, "n": nonce})
    return f"https://signoff.host.example/i/{token}/{purpose}"


def _fill(app: Flask, clock: ManualClock) -> dict[str, int]:
    """Rows as release 0.1 wrote them, in plain SQL (its models may not be today's)."""
    now = clock.now().replace(tzinfo=None)
    deadline = now + timedelta(hours=20)
    rows = {
        "clients": [
            {
                "id": "7",
                "email": "camille@example.test",
                "name": "Camille",
                "language": "fr",
                "eligible": True,
            },
            {
                "id": "8",
                "email": "noor@example.test",
                "name": "Noor",
                "language": "en",
                "eligible": False,
            },
        ],
    }
    with app.app_context():
        for client in rows["clients"]:
            db.session.execute(
                text(
                    "INSERT INTO clients (id, email, name, language, eligible, created_at,"
                    " updated_at) VALUES (:id, :email, :name, :language, :eligible, :now, :now)"
                ),
                {**client, "now": now},
            )
        ids = {}
        for panel_id, client, state in (
            ("iv-a", "7", "awaiting_validation"),
            ("iv-b", "8", "lapsed"),
        ):
            ids[panel_id] = db.session.execute(
                text(
                    "INSERT INTO interventions (panel_id, ticket_id, client_id, site, technician,"
                    " summary, state, link_nonce, backup_reference, backup_state,"
                    " backup_expires_at, started_at, completed_at, deadline_at,"
                    " restore_requested, late_report, check_urls, window_opened_at,"
                    " created_at, updated_at) VALUES (:panel_id, 'T-1', :client, 'shop.example',"
                    " 'Alex', 'Plugins updated.', :state, :nonce, :backup, 'kept', :expires,"
                    " :now, :now, :deadline, false, false, '[]', :now, :now, :now)"
                    " RETURNING id"
                ),
                {
                    "panel_id": panel_id,
                    "client": client,
                    "state": state,
                    "nonce": f"nonce-{panel_id}",
                    "backup": f"bk-{panel_id}",
                    "expires": now + timedelta(hours=40),
                    "now": now,
                    "deadline": deadline,
                },
            ).scalar_one()
            db.session.execute(
                text(
                    "INSERT INTO intervention_events (intervention_id, at, actor, type, to_state,"
                    " data) VALUES (:id, :now, 'panel', 'start', 'in_progress', :data)"
                ),
                {"id": ids[panel_id], "now": now, "data": json.dumps({"technician": "Alex"})},
            )
        db.session.execute(
            text(
                "INSERT INTO intervention_events (intervention_id, at, actor, ip, type,"
                " from_state, to_state, data) VALUES (:id, :now, 'panel', '192.0.2.1',"
                " 'complete', 'in_progress', 'awaiting_validation', '{}')"
            ),
            {"id": ids["iv-a"], "now": now + timedelta(microseconds=1500)},
        )
        tasks = [
            # A reminder due soon, and the lapse at the deadline.
            (
                ids["iv-a"],
                "mail",
                "send_mail",
                {"template": "reminder", "left_seconds": 7200},
                now + timedelta(hours=18),
            ),
            (ids["iv-a"], "due", "lapse", {}, deadline),
            # A ticket note as an earlier version scheduled it: its text in the payload.
            (
                ids["iv-b"],
                "panel",
                "add_ticket_note",
                {"ticket_id": "T-1", "message": "Intervention iv-b : délai dépassé."},
                now,
            ),
            # And as release 0.1 did: a key, a language and values.
            (
                ids["iv-b"],
                "panel",
                "add_ticket_note",
                {"note": "note.lapsed", "language": "fr", "values": {"deadline": "26/11/2026"}},
                now,
            ),
        ]
        for intervention_id, kind, action, payload, due in tasks:
            db.session.execute(
                text(
                    "INSERT INTO tasks (intervention_id, kind, action, payload, state, due_at,"
                    " attempts, created_at) VALUES (:iv, :kind, :action, :payload, 'pending',"
                    " :due, 0, :now)"
                ),
                {
                    "iv": intervention_id,
                    "kind": kind,
                    "action": action,
                    "payload": json.dumps(payload),
                    "due": due,
                    "now": now,
                },
            )
        db.session.commit()
    return ids


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_an_upgrade_in_place_keeps_every_row_and_the_work_goes_on(
    backend: str, make_app: Any, clock: ManualClock, mailbox: Any, tmp_path: Any
) -> None:
    settings: dict[str, Any] = {"SITE_CHECK_ENABLED": False}
    if backend == "sqlite":
        settings["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'released.sqlite'}"
    app = make_app(**settings)
    with app.app_context():
        db.drop_all()
        db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
    _db(app, "upgrade", RELEASED)
    ids = _fill(app, clock)
    mailed = _released_link(ids["iv-a"], "nonce-iv-a", "validate")

    _db(app, "upgrade")
    _db(app, "upgrade")  # safe to run twice

    with app.app_context():
        counts = {
            model.__name__: db.session.scalar(select(func.count()).select_from(model))
            for model in (Client, Intervention, Event, Task)
        }
        assert counts == {"Client": 2, "Intervention": 2, "Event": 3, "Task": 4}
        assert db.session.get(Client, "8").eligible is False
        # The trails written before are chained in the order they were written, and
        # each intervention keeps its head.
        trail = db.session.scalars(
            select(Event).where(Event.intervention_id == ids["iv-a"]).order_by(Event.seq)
        ).all()
        assert [(e.seq, e.type) for e in trail] == [(1, "start"), (2, "complete")]
        assert trail[0].prev_hash == "0" * 64 and trail[1].prev_hash == trail[0].hash
        iv = db.session.get(Intervention, ids["iv-a"])
        assert (iv.trail_seq, iv.trail_head) == (2, trail[1].hash)
    assert app.test_cli_runner().invoke(args=["evidence", "check"]).exit_code == 0
    http = app.test_client()
    page = http.get(path_of(mailed))
    assert page.status_code == 200 and "Plugins updated." in page.get_data(as_text=True)

    # The ticket notes were due: both formats are sent (no panel here: skipped, not failed).
    run_due(app)
    notes = task_rows(app, action="add_ticket_note")
    assert {t.state for t in notes} == {"skipped"}

    # The reminder goes out at its time, to the client, in French.
    clock.advance(hours=18, minutes=1)
    run_due(app)
    reminders = mailbox.received()
    assert [m["To"] for m in reminders] == ["camille@example.test"]
    assert "Rappel" in reminders[0]["Subject"]

    # The link mailed before the upgrade still decides.
    assert http.post(path_of(mailed)).status_code == 303
    with app.app_context():
        assert db.session.get(Intervention, ids["iv-a"]).state == "validated"
    # The events written since chain on the migrated ones.
    checked = app.test_cli_runner().invoke(args=["evidence", "check"])
    assert checked.exit_code == 0, checked.output
    clock.advance(hours=3)
    run_due(app)
    assert {t.state for t in task_rows(app, action="lapse")} == {"cancelled"}
