"""The buffered writes of panel_addon/writes.py: rows go where their transaction goes,
in the order they were made, and read the same on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import bindparam, event, select, text
from sqlalchemy.exc import IntegrityError

from panel_addon import database, lifecycle, models, tasks, writes
from panel_addon.database import begin_with_first_statement
from panel_addon.models import Client, Event, Intervention, Task, db
from panel_addon.tokens import make_token

from .flow import complete, send, start
from .support import started_data

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


def test_times_in_another_zone_are_stored_as_the_same_instant(iv: Any) -> None:
    paris = NOW.astimezone(timezone(timedelta(hours=1)))
    lifecycle.add_event(iv, lifecycle.SYSTEM, "buffered", paris)  # writes.py's rows
    iv.deadline_at = paris  # the ORM's UTCDateTime
    db.session.commit()
    db.session.expunge_all()
    event_at = db.session.scalars(select(Event.at)).one()
    deadline_at = db.session.get(Intervention, 1).deadline_at
    for value in (event_at, deadline_at):
        assert value == NOW and value.tzinfo is UTC and value.hour == 12
    stored = db.session.execute(text("SELECT deadline_at FROM interventions")).scalar_one()
    assert str(stored).startswith("2026-11-26 12:00:00")


def test_one_change_keeps_each_time_it_was_given_apart(iv: Any) -> None:
    new_york = ZoneInfo("America/New_York")
    given = [
        NOW,
        NOW.replace(tzinfo=timezone(timedelta(hours=1))),  # an hour earlier, same wall time
        NOW.astimezone(ZoneInfo("Europe/Paris")),  # the same instant as NOW
        NOW + timedelta(microseconds=7),
        datetime(2026, 11, 1, 1, 30, tzinfo=new_york),  # the repeated hour: 05:30 UTC
        datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=new_york),  # and 06:30 UTC
    ]
    for n, moment in enumerate(given):
        lifecycle.add_event(iv, lifecycle.SYSTEM, f"e{n}", moment)
    db.session.commit()
    stored = list(db.session.scalars(select(Event.at).order_by(Event.id)))
    assert stored == [moment.astimezone(UTC) for moment in given]
    assert [t.strftime("%H:%M:%S.%f") for t in stored] == [
        "12:00:00.000000",
        "11:00:00.000000",
        "12:00:00.000000",
        "12:00:00.000007",
        "05:30:00.000000",
        "06:30:00.000000",
    ]


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 11, 26, 12, 0, 0, 123456, tzinfo=UTC),
        datetime(2026, 3, 29, 2, 30, tzinfo=ZoneInfo("Europe/Paris")),  # a time the clocks skip
        datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=ZoneInfo("America/New_York")),
        datetime(2026, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=5, minutes=45))),
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(-timedelta(hours=10))),
    ],
)
def test_the_stored_time_is_the_instant_in_utc(value: datetime) -> None:
    stored = models.naive_utc(value)
    assert stored == value.astimezone(UTC).replace(tzinfo=None) and stored.tzinfo is None
    # Compared in UTC: PEP 495 makes a time in a fold or a gap unequal to any other zone's.
    back = models.aware_utc(stored)
    assert back == value.astimezone(UTC) and back.tzinfo is UTC


class _NoOffset(tzinfo):
    def utcoffset(self, dt: datetime | None) -> None:
        return None


@pytest.mark.parametrize(
    "value", [datetime(2026, 11, 26), datetime(2026, 11, 26, tzinfo=_NoOffset())]
)
def test_a_time_without_an_offset_is_refused(value: datetime) -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        models.naive_utc(value)


def test_a_lookup_through_the_driver_reads_what_the_orm_reads(iv: Any) -> None:
    iv.deadline_at = NOW
    iv.check_urls = ["/", "/checkout"]
    db.session.commit()
    db.session.expunge_all()
    found = lifecycle.get_by_panel_id("iv-1")
    assert found is not None
    assert found.deadline_at == NOW and found.deadline_at.tzinfo is UTC
    assert found.check_urls == ["/", "/checkout"] and found.client.email == "a@b.example"
    assert found.restore_requested is False and found.backup_created_at is None
    # Rows buffered before it are written first: the lookup sees them.
    lifecycle.add_event(found, lifecycle.SYSTEM, "buffered", NOW)
    row = writes.select_one(select(Event.type), {})
    assert row is not None and list(row) == ["buffered"]


@pytest.mark.parametrize("site_check", [True, False])
def test_the_link_page_runs_outside_a_transaction(
    backend: str, make_app: Any, site_check: bool
) -> None:
    app = make_app(SITE_CHECK_ENABLED=site_check)
    statuses: list[str] = []

    @app.after_request
    def _status(response: Any) -> Any:
        # No transaction open at the database: the session has none, or its connection
        # runs each statement on its own (the site check's snapshots are read through it).
        if not db.session().in_transaction():
            statuses.append("none")
            return response
        driver = db.session.connection().connection.driver_connection
        if backend == "postgresql":
            statuses.append(driver.info.transaction_status.name)
        else:
            statuses.append("INTRANS" if driver.in_transaction else "IDLE")
        return response

    client = app.test_client()
    start(client)
    complete(client)
    with app.app_context():
        found = lifecycle.get_by_panel_id("iv-1")
        assert found is not None and bool(found.check_urls) is site_check
        token = make_token(found, "validate")
    statuses.clear()
    page = client.get(f"/i/{token}/validate")
    assert page.status_code == 200 and found.site.encode() in page.data
    assert statuses == ["IDLE" if site_check else "none"]


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_statement_alone_commits_on_its_own_and_leaves_the_pool_as_it_was(
    backend: str, make_app: Any, postgres_schema: str
) -> None:
    # One pooled connection for the session; the statements alone run on the
    # connection this thread keeps beside the pool.
    app = make_app(
        SQLALCHEMY_ENGINE_OPTIONS={
            "connect_args": {"options": f"-csearch_path={postgres_schema}"},
            "pool_size": 1,
            "max_overflow": 0,
        }
    )
    insert = (
        Client.__table__.insert()
        .values(id=bindparam("id"), email="a@b.example", name="", eligible=True)
        .values(created_at=bindparam("at"), updated_at=bindparam("at"))
        .returning(Client.__table__.c.id)
    )
    with app.app_context():
        # Committed at once, whatever the session does after it.
        assert writes.returning_one(insert, {"id": "c1", "at": NOW}, alone=True) == {"id": "c1"}
        db.session.rollback()
        # A statement the database refuses lands nothing and is raised as SQLAlchemy's.
        with pytest.raises(IntegrityError):
            writes.returning_one(insert, {"id": "c1", "at": NOW}, alone=True)
        # The session's next transaction, on the same connection, is a transaction:
        # its rollback takes what it wrote.
        db.session.add(
            Client(id="c2", email="c@d.example", name="", created_at=NOW, updated_at=NOW)
        )
        db.session.flush()
        driver = db.session.connection().connection.driver_connection
        assert not driver.autocommit
        kept = database.kept_connection(db.engine)
        assert kept is not driver and kept.autocommit
        db.session.rollback()
        assert [c.id for c in db.session.scalars(select(Client))] == ["c1"]
        # After the session's own work it is refused: it would not see that work, and
        # could wait for its locks (or for a second connection of a full pool).
        found = db.session.get(Client, "c1")
        with pytest.raises(RuntimeError):
            writes.returning_one(insert, {"id": "c3", "at": NOW}, alone=True)
        db.session.rollback()
        found = db.session.get(Client, "c1")
        db.session.rollback()
        found.name = "changed"
        with pytest.raises(RuntimeError):
            writes.returning_one(insert, {"id": "c3", "at": NOW}, alone=True)
        db.session.rollback()
        lifecycle.add_event(_iv_of(found), lifecycle.SYSTEM, "buffered", NOW)
        with pytest.raises(RuntimeError):
            writes.returning_one(insert, {"id": "c3", "at": NOW}, alone=True)
        db.session.rollback()
        assert [c.id for c in db.session.scalars(select(Client))] == ["c1"]


def _iv_of(client: Client) -> Intervention:
    intervention = Intervention(
        panel_id="iv-alone",
        client_id=client.id,
        state="in_progress",
        link_nonce="n",
        backup_state="none",
        created_at=NOW,
        updated_at=NOW,
    )
    db.session.add(intervention)
    db.session.flush()
    return intervention


def test_the_rows_commit_with_the_sessions_own_changes(iv: Any) -> None:
    ident = iv.id
    iv.summary = "changed through the ORM"
    lifecycle.add_event(iv, lifecycle.SYSTEM, "with_commit", NOW)
    tasks.schedule(iv, "mail", "send_mail", {"n": 1}, NOW, NOW)
    writes.commit()
    db.session.close()
    assert _trail() == ["with_commit"]
    assert db.session.get(Intervention, ident).summary == "changed through the ORM"
    assert [t.payload for t in db.session.scalars(select(Task))] == [{"n": 1}]


def test_a_row_the_database_refuses_fails_the_commit_and_lands_nothing(iv: Any) -> None:
    iv.summary = "never committed"
    lifecycle.add_event(iv, lifecycle.SYSTEM, "fine", NOW)
    ghost = Intervention(id=9999)  # no such row: its task breaks the foreign key
    tasks.schedule(ghost, "mail", "send_mail", {}, NOW, NOW)
    with pytest.raises(IntegrityError):
        writes.commit()
    db.session.rollback()
    assert _trail() == []
    assert db.session.get(Intervention, iv.id).summary is None
    # The session, and its pooled connection, go on as usual.
    lifecycle.add_event(iv, lifecycle.SYSTEM, "after", NOW)
    writes.commit()
    assert _trail() == ["after"]


def test_rows_that_are_all_of_their_transaction_commit_on_their_own(backend: str, iv: Any) -> None:
    # A mail marked sent, with its event: nothing else of the transaction was sent. As
    # in the mail drain, the session keeps its objects loaded across commits.
    db.session().expire_on_commit = False
    tasks.schedule(iv, "mail", "send_mail", {}, NOW, NOW)
    writes.commit()
    task = db.session.scalars(select(Task)).one()
    db.session.commit()
    transactions: list[str] = []
    event.listen(db.engine, "begin", lambda _connection: transactions.append("begin"))
    tasks.mark_done(task, NOW, {"message_id": "<m@x>"})
    lifecycle.add_event(iv, lifecycle.SYSTEM, "mail_sent", NOW)
    writes.commit()
    # On PostgreSQL one statement of its own, in no transaction of SQLAlchemy's.
    assert transactions == ([] if backend == "postgresql" else ["begin"])
    db.session.expire_all()
    assert _trail() == ["mail_sent"]
    assert db.session.get(Task, task.id).state == "done"
    # One of them refused: neither lands, and the session goes on.
    db.session.commit()
    transactions.clear()
    tasks.mark_done(task, NOW, None)
    lifecycle.add_event(Intervention(id=9999), lifecycle.SYSTEM, "ghost", NOW)
    with pytest.raises(IntegrityError):
        writes.commit()
    assert transactions == ([] if backend == "postgresql" else ["begin"])
    db.session.rollback()
    db.session.expire_all()
    assert _trail() == ["mail_sent"]
    assert db.session.get(Task, task.id).result == {"message_id": "<m@x>"}
    lifecycle.add_event(db.session.get(Intervention, iv.id), lifecycle.SYSTEM, "after", NOW)
    writes.commit()
    assert _trail() == ["mail_sent", "after"]


def test_a_transaction_begun_with_its_first_statement_is_one_transaction(
    backend: str, iv: Any
) -> None:
    ident = iv.id
    db.session.commit()
    db.session.expunge_all()
    # Begun by a lookup through the driver: a rollback takes everything after it.
    begin_with_first_statement()
    found = lifecycle.get(ident)
    assert found is not None
    if backend == "postgresql":
        driver = db.session.connection().connection.driver_connection
        assert driver.autocommit and driver.info.transaction_status.name == "INTRANS"
    found.summary = "rolled back"
    db.session.flush()
    lifecycle.add_event(found, lifecycle.SYSTEM, "rolled_back", NOW)
    writes.write()
    db.session.rollback()
    assert _trail() == [] and db.session.get(Intervention, ident).summary is None
    db.session.commit()
    # Begun by a statement SQLAlchemy sends (the ORM's reload): the same.
    begin_with_first_statement()
    db.session.get(Intervention, ident).summary = "rolled back too"
    db.session.flush()
    if backend == "postgresql":
        driver = db.session.connection().connection.driver_connection
        assert driver.autocommit and driver.info.transaction_status.name == "INTRANS"
    db.session.rollback()
    assert db.session.get(Intervention, ident).summary is None
    db.session.commit()
    # And a commit takes it all.
    begin_with_first_statement()
    db.session.get(Intervention, ident).summary = "committed"
    db.session.flush()
    lifecycle.add_event(found, lifecycle.SYSTEM, "committed", NOW)
    writes.commit()
    db.session.close()
    assert _trail() == ["committed"]
    assert db.session.get(Intervention, ident).summary == "committed"
    # The pooled connection goes back to the driver's own transactions.
    if backend == "postgresql":
        assert not db.session.connection().connection.driver_connection.autocommit


def _round_trips(trace: Path) -> int:
    # A client waits for the server at each Sync of the extended protocol and at each
    # simple Query.
    fields = [line.split("\t") for line in trace.read_text().splitlines()]
    sent = [f[2].split()[0] for f in fields if len(f) > 2 and f[0] == "F"]
    return sum(1 for message in sent if message in ("Sync", "Query"))


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_the_busy_requests_wait_for_postgresql_as_few_times_as_said(
    backend: str, make_app: Any, postgres_schema: str, tmp_path: Path
) -> None:
    from psycopg.pq import Trace

    # One pooled connection, so the statements the warm-up prepared are prepared for
    # the requests counted; no site check, as in bench/.
    app = make_app(
        SITE_CHECK_ENABLED=False,
        SQLALCHEMY_ENGINE_OPTIONS={
            "connect_args": {"options": f"-csearch_path={postgres_schema}"},
            "pool_size": 1,
            "max_overflow": 0,
        },
    )
    client = app.test_client()

    def decide(token: str) -> Any:
        return client.get(f"/i/{token}/validate"), client.post(f"/i/{token}/validate")

    start(client, "warm-up")
    complete(client, "warm-up")
    # A statement's first run prepares it (a round trip more): each kind runs once first.
    send(client, "intervention.completed", {**started_data("warm-up-2"), "summary": "Fixed"})
    traced: dict[str, int] = {}

    def count(name: str, request: Any) -> Any:
        trace = tmp_path / f"{name}.trace"
        with trace.open("w") as out:
            with app.app_context():
                raw = db.engine.raw_connection()
                pooled = raw.driver_connection.pgconn  # type: ignore[union-attr]
                raw.close()  # back to the pool, for the request to take
                # And the connection this thread keeps for the statements alone.
                kept = database.kept_connection(db.engine).pgconn
            for pgconn in (pooled, kept):
                pgconn.trace(out.fileno())
                pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS | Trace.REGRESS_MODE)
            response = request()
            for pgconn in (pooled, kept):
                pgconn.untrace()
        traced[name] = _round_trips(trace)
        return response

    assert count("start", lambda: start(client, "iv-1")).status_code == 200
    assert count("complete", lambda: complete(client, "iv-1")).status_code == 200
    creating = {**started_data("iv-2"), "summary": "Fixed"}
    answer = count("creating completion", lambda: send(client, "intervention.completed", creating))
    assert answer.json["state"] == "awaiting_validation"
    with app.app_context():
        tokens = [make_token(lifecycle.get_by_panel_id(i), "validate") for i in ("warm-up", "iv-1")]
    # A rollback deallocates the prepared statements: prepared again by the warm-up.
    decide(tokens[0])
    page, decision = count("page and decision", lambda: decide(tokens[1]))
    assert (page.status_code, decision.status_code) == (200, 303)
    # docs/performance.md: a new intervention's webhook makes 1 round trip (the bare
    # app of bench/ makes 3 for each request), its window opened in its INSERT when it
    # is created completed; a completion 4, the link page 1 and the decision 1.
    assert traced == {
        "start": 1,
        "complete": 4,
        "creating completion": 1,
        "page and decision": 1 + 1,
    }, traced


def test_the_sweep_names_the_kinds_in_the_order_their_work_fell_due(iv: Any) -> None:
    # After an outage: the lapse fell due after the reminder, the ticket note after both.
    for kind, action, minutes in (
        ("panel", "add_ticket_note", 3),
        ("due", "lapse", 2),
        ("mail", "send_mail", 1),
        ("due", "expire_backup", 4),
    ):
        tasks.schedule(iv, kind, action, {}, NOW.replace(minute=minutes), NOW)
    writes.commit()
    assert tasks.due_kinds(NOW.replace(minute=30)) == ["mail", "due", "panel"]


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_each_thread_keeps_its_own_connection_for_statements_alone_until_the_engine_goes(
    backend: str, make_app: Any
) -> None:
    import threading

    app = make_app()

    def alone() -> int:
        return _backend_alone(app)

    mine = alone()
    theirs: list[int] = []
    thread = threading.Thread(target=lambda: theirs.extend((alone(), alone())))
    thread.start()
    thread.join()
    assert theirs[0] == theirs[1] != mine
    assert alone() == mine

    def open_ones() -> set[int]:
        with app.app_context():
            found = db.session.scalars(
                text("SELECT pid FROM pg_stat_activity WHERE pid = ANY(:pids)"),
                {"pids": [mine, theirs[0]]},
            )
            pids = set(found)
            db.session.remove()
            return pids

    assert open_ones() == {mine, theirs[0]}
    with app.app_context():
        db.engine.dispose()
    assert open_ones() == set()
    assert alone() not in (mine, theirs[0])


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_forked_child_opens_its_own_kept_connection_and_leaves_its_parents_alone(
    backend: str, make_app: Any
) -> None:
    import os

    app = make_app()

    def alone() -> int:
        return _backend_alone(app)

    parent = alone()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        code = 1
        try:
            os.write(write, str(alone()).encode())
            with app.app_context():
                db.engine.dispose()
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read) as pipe:
        reported = pipe.read()
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert int(reported) != parent
    # The child's dispose closed its own connection only: the parent's still answers.
    assert alone() == parent


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_kept_connection_left_mid_statement_is_replaced_before_use(
    backend: str, make_app: Any
) -> None:
    # As an interruption (a signal, a timeout) can leave it: a query sent, not read.
    app = make_app()
    first = _backend_alone(app)
    with app.app_context():
        database.kept_connection(db.engine).pgconn.send_query(b"SELECT pg_sleep(0.1)")
    assert _backend_alone(app) != first


def _backend_alone(app: Flask) -> int:
    # The PostgreSQL backend a statement alone ran on.
    with app.app_context():
        row = writes.select_one(text("SELECT pg_backend_pid() AS pid"), {}, alone=True)
        assert row is not None
        return int(row[0])
