"""Helpers for the fault tests: the service's settings, a Redis of our own, the database
seen from the test, and the figures the tests measure (for docs/reliability.md)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from redis import Redis
from sqlalchemy import Engine, create_engine, text

from .conftest import POSTGRES_URL, REDIS_URL
from .fake_whmcs import TEST_IDENTIFIER, TEST_SECRET, FakeWhmcs
from .processes import wait_for
from .support import STAFF_TOKEN, WEBHOOK_SECRET, free_port


def settings(
    schema: str,
    mail: tuple[str, int],
    panel: FakeWhmcs | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """What a deployment sets, with windows of seconds and fast retries for the tests."""
    values: dict[str, Any] = {
        "SECRET_KEY": secrets.token_hex(16),
        "SQLALCHEMY_DATABASE_URI": POSTGRES_URL,
        "SQLALCHEMY_ENGINE_OPTIONS": {
            "connect_args": {"options": f"-csearch_path={schema}", "connect_timeout": 3},
        },
        "REDIS_URL": REDIS_URL,
        "QUEUE_PREFIX": f"faults-{secrets.token_hex(4)}",
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STAFF_API_TOKEN": STAFF_TOKEN,
        "MAIL_SERVER": mail[0],
        "MAIL_PORT": mail[1],
        "MAIL_TIMEOUT": "2s",
        "VALIDATION_WINDOW": "1h",
        "REMINDERS": "30m",
        "BACKUP_RETENTION": "2h",
        "SWEEP_INTERVAL": "1s",
        "TASK_LEASE": "10s",
        "TASK_RETRY_BACKOFF": "1s,1s,2s,2s,3s",
        "DEFAULT_LANGUAGE": "en",
        "RATELIMIT_ENABLED": False,
        # The sites of these tests do not exist; the site check has tests of its own.
        "SITE_CHECK_ENABLED": False,
    }
    if panel is not None:
        values.update(
            WHMCS_URL=panel.url,
            WHMCS_IDENTIFIER=TEST_IDENTIFIER,
            WHMCS_SECRET=TEST_SECRET,
            WHMCS_TIMEOUT="2s",
        )
    values.update(overrides)
    return values


def started(n: int, **overrides: Any) -> dict[str, Any]:
    """The `intervention.started` data of intervention `iv-<n>` (client n, ticket 100 + n)."""
    data: dict[str, Any] = {
        "id": f"iv-{n}",
        "ticket_id": 100 + n,
        "client": {
            "id": n,
            "email": f"client{n}@example.test",
            "name": f"Client {n}",
            "language": "english",
        },
        "site": f"site{n}.example",
        "technician": "Alex",
        "backup": {"reference": f"backup-{n}", "created_at": "2026-11-26T08:00:00Z"},
    }
    data.update(overrides)
    return data


def completed(n: int, **overrides: Any) -> dict[str, Any]:
    """An `intervention.completed` that carries the start too (one webhook per intervention)."""
    return {**started(n), "summary": "Plugins updated", **overrides}


def panel_with_tickets(panel: FakeWhmcs, count: int) -> FakeWhmcs:
    for n in range(1, count + 1):
        panel.add_client(n, notes=f"VIP since 2019\r\nClient #{n}")
        panel.add_ticket(100 + n, status="Open", client_id=n)
    return panel


class Database:
    """The service's PostgreSQL schema, read by the test to count what was written."""

    def __init__(self, schema: str) -> None:
        self.engine: Engine = create_engine(
            POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"}
        )

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params))

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def tasks(self, **where: str) -> list[Any]:
        clause = " AND ".join(f"{key} = :{key}" for key in where) or "true"
        return self.rows(f"SELECT * FROM tasks WHERE {clause} ORDER BY id", **where)  # noqa: S608

    def settled(self) -> bool:
        """No task due now is left pending (future reminders and deadlines do not count)."""
        return not self.scalar(
            "SELECT count(*) FROM tasks "
            "WHERE state = 'pending' AND due_at <= now() at time zone 'utc'"
        )

    def close(self) -> None:
        self.engine.dispose()


@contextmanager
def database(schema: str) -> Iterator[Database]:
    db = Database(schema)
    try:
        yield db
    finally:
        db.close()


def duplicates(items: Iterable[Any]) -> int:
    """How many items are repeats of an earlier one."""
    return sum(count - 1 for count in Counter(items).values() if count > 1)


class RedisServer:
    """A redis-server of the test's own on a free loopback port, to kill and restart."""

    def __init__(self, workdir: Path, *config: str) -> None:
        self.port = free_port()
        self.workdir = workdir / f"redis-{self.port}"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config = config or ("--save", "", "--appendonly", "no")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is needed for the Redis fault tests"
        log = (self.workdir / "redis.log").open("ab")
        self.proc = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.workdir),
                *self.config,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        wait_for(self._up, timeout=10, what="redis-server")
        return self

    def _up(self) -> bool:
        conn = Redis(port=self.port, socket_connect_timeout=0.2)
        try:
            return bool(conn.ping())
        except Exception:  # noqa: BLE001 - not up yet
            return False
        finally:
            conn.close()

    def kill(self) -> None:
        """SIGKILL: whatever it held in memory is gone."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
            self.proc = None

    def stop(self) -> None:
        self.kill()


def record_figures(scenario: str, **figures: Any) -> None:
    """Append what a fault test measured to $RELIABILITY_FIGURES (JSON lines), if set."""
    path = os.environ.get("RELIABILITY_FIGURES")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"scenario": scenario, "at": time.time(), **figures}) + "\n")
