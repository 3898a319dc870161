"""Bulk rows for the benchmarks: what completed interventions leave in the database.

`copy_completed` writes, with COPY, the rows `lifecycle.complete` writes for each
intervention (client, intervention awaiting validation, its start and complete events,
the completion mail, reminders, lapse, backup expiry, ticket note), so a burst of
thousands lands in one transaction in a second. `add_history` grows the tables
server-side (INSERT ... SELECT over generate_series) with decided interventions and
their finished tasks, the bulk of a table after years of use.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from panel_addon.domain import chain

SUMMARY = (
    "Security patch applied to WordPress core and to the plugins listed in the ticket; "
    "caches purged; home page, checkout and contact form answered 200 after the update."
)


def naive(moment: datetime) -> datetime:
    """The models store naive UTC."""
    return moment.astimezone(UTC).replace(tzinfo=None)


def copy_completed(
    conn: psycopg.Connection[Any],
    first_id: int,
    count: int,
    now: datetime,
    *,
    prefix: str,
    window: timedelta = timedelta(hours=24),
    retention: timedelta = timedelta(hours=48),
    reminders: tuple[timedelta, ...] = (timedelta(hours=12), timedelta(hours=2)),
    mail_sent: bool = False,
    ticket_notes: bool = True,
) -> list[tuple[int, str]]:
    """COPY `count` interventions just completed at `now`; return their (id, link nonce).

    With `mail_sent`, the completion mail and the ticket note are already done (a day
    in the life of the service); without, they are due now (the burst itself). Without
    `ticket_notes`, no ticket note is written at all.
    """
    ts = naive(now)
    deadline, expires = ts + window, ts + retention
    done_state = "done" if mail_sent else "pending"
    done_at = ts if mail_sent else None
    links: list[tuple[int, str]] = []
    with conn.cursor() as cur:
        with cur.copy(
            "COPY clients (id, email, name, language, eligible, created_at, updated_at) FROM STDIN"
        ) as copy:
            for n in range(first_id, first_id + count):
                language = "fr" if n % 3 else "en"
                copy.write_row(
                    (
                        f"{prefix}c{n}",
                        f"client{n}@example.test",
                        f"Client {n}",
                        language,
                        True,
                        ts,
                        ts,
                    )
                )
        # Every intervention's trail is the same two events at the same moment: one chain.
        trail = _chained(
            [
                ("start", None, "in_progress"),
                ("complete", "in_progress", "awaiting_validation"),
            ],
            ts.replace(tzinfo=UTC),
        )
        head = trail[-1][-1]
        with cur.copy(
            "COPY interventions (id, panel_id, ticket_id, client_id, site, technician, summary,"
            " state, link_nonce, backup_reference, backup_created_at, backup_state,"
            " backup_expires_at, started_at, completed_at, deadline_at, restore_requested,"
            " late_report, trail_seq, trail_head, created_at, updated_at) FROM STDIN"
        ) as copy:
            for n in range(first_id, first_id + count):
                nonce = secrets.token_urlsafe(12)
                links.append((n, nonce))
                copy.write_row(
                    (
                        n, f"{prefix}{n}", str(500000 + n), f"{prefix}c{n}", f"site{n}.example",
                        "Patch bot", SUMMARY, "awaiting_validation", nonce, f"bk-{prefix}{n}",
                        ts, "kept", expires, ts, ts, deadline, False, False, len(trail), head,
                        ts, ts,
                    )
                )  # fmt: skip
        with cur.copy(
            "COPY intervention_events (intervention_id, seq, at, actor, type, from_state,"
            " to_state, data, prev_hash, hash) FROM STDIN"
        ) as copy:
            for n in range(first_id, first_id + count):
                for seq, type_, from_state, to_state, prev_hash, digest in trail:
                    copy.write_row(
                        (n, seq, ts, "panel", type_, from_state, to_state, "{}", prev_hash, digest)
                    )
        with cur.copy(
            "COPY tasks (intervention_id, kind, action, payload, state, due_at, done_at,"
            " attempts, created_at) FROM STDIN"
        ) as copy:
            completion = json.dumps({"template": "completion_request"})
            for n in range(first_id, first_id + count):
                copy.write_row((n, "mail", "send_mail", completion, done_state, ts, done_at, 0, ts))
                for left in reminders:
                    payload = {"template": "reminder", "left_seconds": int(left.total_seconds())}
                    copy.write_row(
                        (n, "mail", "send_mail", json.dumps(payload), "pending", deadline - left,
                         None, 0, ts)
                    )  # fmt: skip
                copy.write_row((n, "due", "lapse", "{}", "pending", deadline, None, 0, ts))
                copy.write_row((n, "due", "expire_backup", "{}", "pending", expires, None, 0, ts))
                if not ticket_notes:
                    continue
                note = {"ticket_id": str(500000 + n), "message": f"Intervention {prefix}{n} done."}
                copy.write_row(
                    (
                        n,
                        "panel",
                        "add_ticket_note",
                        json.dumps(note),
                        done_state,
                        ts,
                        done_at,
                        0,
                        ts,
                    )
                )
    _sync_sequences(conn)
    # Statistics, as autovacuum keeps them on a live database: without them the planner
    # guesses, and cancels a decision's reminders through the partial index of every
    # pending task (2 ms) rather than by intervention.
    conn.execute("ANALYZE clients, interventions, intervention_events, tasks")
    return links


def _chained(
    events: list[tuple[str, str | None, str | None]], at: datetime
) -> list[tuple[int, str, str | None, str | None, str, str]]:
    """Panel events at one moment, numbered and hash-chained as `trail.add_event` does."""
    chained, prev_hash = [], chain.GENESIS
    for seq, (type_, from_state, to_state) in enumerate(events, start=1):
        digest = chain.event_hash(
            chain.event_object(
                seq=seq,
                at=at,
                type_=type_,
                actor="panel",
                actor_name=None,
                ip=None,
                user_agent=None,
                data={},
                from_state=from_state,
                to_state=to_state,
                prev_hash=prev_hash,
            )
        )
        chained.append((seq, type_, from_state, to_state, prev_hash, digest))
        prev_hash = digest
    return chained


def add_history(
    conn: psycopg.Connection[Any], first_id: int, last_id: int, now: datetime, *, bulk: bool = False
) -> None:
    """Decided interventions `first_id..last_id`, tasks finished, a steady 1,000 a day.

    The higher the id, the older: more history is older history, as at a host over the
    years (the recent days look the same at 10,000 rows as at a million). Reports older
    than 30 days were resolved. Three interventions a client; one client in fifty made
    ineligible by a late report.
    Foreign-key triggers are off for the load (the rows are consistent by construction).
    With `bulk`, the secondary indexes are dropped for the load and built again after it,
    which is several times faster for a million rows.
    """
    ts = naive(now)
    params = {"a": first_id, "b": last_id, "now": ts}
    with conn.cursor() as cur:
        cur.execute("SET LOCAL session_replication_role = replica")
        cur.execute("SET LOCAL maintenance_work_mem = '256MB'")
        indexes: list[tuple[str, str]] = []
        if bulk:
            # Indexes that back no constraint (primary and unique keys stay).
            indexes = cur.execute(
                """
                SELECT i.indexname, i.indexdef FROM pg_indexes i
                WHERE i.schemaname = current_schema()
                  AND i.tablename IN ('clients', 'interventions', 'tasks')
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                                  WHERE c.conindid = format('%I.%I', i.schemaname,
                                                            i.indexname)::regclass)
                """
            ).fetchall()
            for name, _definition in indexes:
                cur.execute(f'DROP INDEX "{name}"')
        cur.execute(
            """
            INSERT INTO clients (id, email, name, language, eligible, ineligible_since,
                                 ineligible_intervention_id, ineligible_reason,
                                 created_at, updated_at)
            SELECT 'h' || c, 'h' || c || '@example.test', 'Client ' || c,
                   CASE WHEN c %% 3 = 0 THEN 'en' ELSE 'fr' END,
                   c %% 50 <> 0,
                   CASE WHEN c %% 50 = 0 THEN %(now)s - interval '30 days' END,
                   CASE WHEN c %% 50 = 0 THEN c * 3 END,
                   CASE WHEN c %% 50 = 0 THEN 'late_report' END,
                   %(now)s - interval '800 days', %(now)s - interval '30 days'
            FROM generate_series(greatest(%(a)s::int / 3, 1), greatest(%(b)s::int / 3, 1)) AS c
            ON CONFLICT (id) DO NOTHING
            """,
            params,
        )
        cur.execute(
            """
            INSERT INTO interventions (id, panel_id, ticket_id, client_id, site, technician,
                summary, state, link_nonce, backup_reference, backup_created_at, backup_state,
                backup_expires_at, started_at, completed_at, deadline_at, decided_at,
                restore_requested, late_report, late_report_review, created_at, updated_at)
            SELECT g, 'h' || g, (100000 + g)::text, 'h' || greatest(g / 3, 1),
                   'site' || g || '.example',
                   'Tech ' || (g %% 40), 'Routine maintenance.',
                   s.state, substr(md5(g::text), 1, 16), 'bk-h' || g, t.done,
                   'expired', t.done + interval '48 hours', t.done - interval '1 hour', t.done,
                   t.done + interval '24 hours',
                   CASE WHEN s.state = 'lapsed' THEN NULL ELSE t.done + interval '3 hours' END,
                   false, s.state IN ('reported', 'resolved') AND g %% 10 = 0,
                   CASE WHEN s.state IN ('reported', 'resolved') AND g %% 10 = 0
                        THEN 'flagged' END,
                   t.done, t.done + interval '48 hours'
            FROM generate_series(%(a)s::int, %(b)s::int) AS g
            CROSS JOIN LATERAL (SELECT %(now)s - interval '3 days'
                                       - g * interval '86.4 seconds' AS done) AS t
            CROSS JOIN LATERAL (SELECT CASE
                WHEN g %% 20 < 12 THEN 'validated' WHEN g %% 20 < 18 THEN 'lapsed'
                WHEN g %% 20 = 18 AND t.done > %(now)s - interval '30 days' THEN 'reported'
                WHEN g %% 20 = 18 THEN 'resolved' ELSE 'cancelled' END AS state) AS s
            """,
            params,
        )
        cur.execute(
            """
            INSERT INTO tasks (intervention_id, kind, action, payload, state, due_at, done_at,
                               attempts, created_at, result)
            SELECT g, k.kind, k.action, k.payload::json, k.state, i.completed_at, i.completed_at,
                   1, i.completed_at, NULL
            FROM generate_series(%(a)s::int, %(b)s::int) AS g
            JOIN interventions i ON i.id = g
            CROSS JOIN (VALUES
                ('mail', 'send_mail', '{"template": "completion_request"}', 'done'),
                ('due', 'lapse', '{}', 'cancelled'),
                ('panel', 'add_ticket_note', '{}', 'done')) AS k(kind, action, payload, state)
            """,
            params,
        )
        for _name, definition in indexes:
            cur.execute(definition)
    _sync_sequences(conn)


def _sync_sequences(conn: psycopg.Connection[Any]) -> None:
    # Rows were written with explicit ids: the service's own inserts must not reuse them.
    for table in ("interventions", "tasks", "intervention_events"):
        conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"  # noqa: S608 - fixed names
            f" greatest((SELECT max(id) FROM {table}), 1))"
        )
