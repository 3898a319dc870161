"""`bench/run`: the mass intervention and the click storm, measured against a bare app.

1. HTTP: the service under gunicorn (2 sync workers) on PostgreSQL, and beside it the
   bare Flask app of bench/bare.py under the same gunicorn settings and database, both
   driven by wrk (or a Python fallback) with the same prebuilt requests: signed
   webhooks with unique ids, the link page (GET), the decision (POST).
2. Mail: a burst of completed interventions lands in one transaction; the real
   `panel-addon worker` mails every client; the time until the local SMTP server has
   accepted the last mail is compared with raw smtplib sending the same messages over
   one connection.
3. Queries: the sweep, the staff list and the eligibility lookup at a small and a large
   table size, each statement timed (median of repeated runs) and EXPLAINed.
4. Memory: the peak RSS of the web workers and of the RQ worker's processes.
5. The mass-intervention day (bench/massday.py): N interventions started then completed
   through the webhooks, against gunicorn and real workers, with the site check off and
   then on a loopback shop whose pages answer in 300 ms; the time to the last client's
   mail in each case, and their ratio.

Figures are printed as `name: value`; notes and plans start with `#`. The last ten
lines are the summary figures, always in the same order.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import multiprocessing
import os
import platform
import secrets
import shutil
import signal
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
from sqlalchemy import event
from sqlalchemy.engine import make_url

from . import load, procs, rows, smtp_sink

POSTGRES_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
SECRET_KEY = "bench-secret-key-" + "x" * 16
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"bench-webhook-secret-0123456789ab").decode()
STAFF_TOKEN = "bench-staff-token"
LIVE_BASE = 1_000_000_000  # ids of the live interventions in the growth tables

FINAL = (
    "webhook_ratio",
    "page_ratio",
    "decision_ratio",
    "webhook_rps",
    "page_rps",
    "decision_rps",
    "webhook_cpu_ms",
    "page_cpu_ms",
    "decision_cpu_ms",
    "p99_ms",
    "mail_ratio",
    "sweep_growth",
    "list_growth",
    "eligibility_growth",
    "counts_growth",
    "web_rss_mb",
    "worker_rss_mb",
    "massday_mail_s",
    "massday_check_s",
    "massday_check_ratio",
)


@dataclass(frozen=True)
class Sizes:
    http_seconds: int  # one run of one app
    rounds: int  # runs of each app, alternating
    warmup_seconds: int
    connections: int
    max_rate: int  # unique requests prepared per second of load
    pool: int  # interventions awaiting validation for the page and decision runs
    mail: int
    rows_small: int
    rows_large: int
    live: int  # interventions still open, the same at both table sizes
    repeats: int
    mail_timeout: float
    massday: int  # interventions started then completed on the mass-intervention day


FULL = Sizes(4, 3, 1, 4, 2500, 36_000, 10_000, 10_000, 1_000_000, 2_000, 31, 240.0, 500)
QUICK = Sizes(1, 1, 1, 4, 2500, 6_000, 200, 200, 2_000, 50, 7, 60.0, 20)


def label(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}m"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def note(text: str) -> None:
    for line in text.splitlines() or [""]:
        print(f"# {line}", flush=True)


class Bench:
    def __init__(self, sizes: Sizes, workdir: Path) -> None:
        self.sizes = sizes
        self.workdir = workdir
        self.run_id = secrets.token_hex(3)
        self.figures: dict[str, float] = {}
        self.cleanups: list[Callable[[], None]] = []
        self.memory = procs.MemoryWatch()
        self.queue_prefixes: list[str] = []
        self.mail_workers = 2
        self.masters: dict[str, int] = {}
        url = make_url(POSTGRES_URL)
        self.conninfo = psycopg.conninfo.make_conninfo(
            host=url.host or "127.0.0.1",
            port=url.port or 5432,
            user=url.username or "postgres",
            dbname=url.database or "postgres",
            **({"password": url.password} if url.password else {}),
        )

    # -- output -----------------------------------------------------------------

    def figure(self, name: str, value: float, digits: int = 2) -> None:
        self.figures[name] = value
        if name not in FINAL:  # those are printed once, at the end
            print(f"{name}: {value:.{digits}f}", flush=True)

    # -- set-up and clean-up ----------------------------------------------------

    def schema(self, purpose: str) -> str:
        name = f"bench_{self.run_id}_{purpose}"
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {name}")

        def drop() -> None:
            with psycopg.connect(self.conninfo, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")

        self.cleanups.append(drop)
        return name

    def connect(self, schema: str, **kwargs: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(self.conninfo, options=f"-csearch_path={schema}", **kwargs)

    def settings(self, schema: str, queue_prefix: str, **extra: Any) -> dict[str, Any]:
        return {
            "SECRET_KEY": SECRET_KEY,
            "SQLALCHEMY_DATABASE_URI": POSTGRES_URL,
            "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"options": f"-csearch_path={schema}"}},
            "REDIS_URL": REDIS_URL,
            "QUEUE_PREFIX": queue_prefix,
            "WEBHOOK_SECRET": WEBHOOK_SECRET,
            "STAFF_API_TOKEN": STAFF_TOKEN,
            "PUBLIC_URL": "https://signoff.bench.example",
            "MAIL_DEFAULT_SENDER": "Bench Host <support@bench.example>",
            # The load comes from one address where a storm comes from thousands: the
            # limits still count every request in Redis, but never refuse one here.
            "RATE_LIMIT_LINKS": "100000000/minute",
            "RATE_LIMIT_WEBHOOKS": "100000000/minute",
            "RATE_LIMIT_API": "100000000/minute",
            **extra,
        }

    def app(self, settings: dict[str, Any]) -> Any:
        from panel_addon import create_app
        from panel_addon.models import db

        app = create_app(settings)
        with app.app_context():
            db.create_all()

        def dispose() -> None:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()

        self.cleanups.append(dispose)
        self.queue_prefixes.append(settings["QUEUE_PREFIX"])
        return app

    def environment(self, settings: dict[str, Any]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PANEL_ADDON_")}
        for key, value in settings.items():
            env[f"PANEL_ADDON_{key}"] = value if isinstance(value, str) else json.dumps(value)
        return env

    def start(self, process: procs.Process) -> procs.Process:
        self.cleanups.append(process.stop)
        return process

    def clean_redis(self) -> None:
        clean_redis(REDIS_URL, self.queue_prefixes)

    def close(self) -> None:
        self.memory.stop()
        for cleanup in reversed(self.cleanups):
            try:
                cleanup()
            except Exception as exc:  # noqa: BLE001 - clean up the rest regardless
                note(f"clean-up step failed: {type(exc).__name__}: {exc}")
        try:
            self.clean_redis()
        except Exception as exc:  # noqa: BLE001
            note(f"Redis clean-up failed: {type(exc).__name__}: {exc}")

    # -- 1. HTTP ------------------------------------------------------------------

    def http(self) -> None:
        from panel_addon.tokens import make_token

        sizes = self.sizes
        web_schema, bare_schema = self.schema("web"), self.schema("bare")
        settings = self.settings(web_schema, f"bench-{self.run_id}-web")
        app = self.app(settings)
        now = datetime.now(UTC)
        with self.connect(web_schema) as conn:
            links = rows.copy_completed(conn, 1, sizes.pool, now, prefix="p", mail_sent=True)
        with app.app_context():
            tokens = [
                make_token(SimpleNamespace(id=ident, link_nonce=nonce), "validate")  # type: ignore[arg-type]
                for ident, nonce in links
            ]
        with self.connect(bare_schema) as conn:
            conn.execute(_bare_schema_sql())
            with (
                conn.cursor() as cur,
                cur.copy("COPY items (key, state, site, summary) FROM STDIN") as copy,
            ):
                for ident, _nonce in links:
                    copy.write_row(
                        (f"k{ident}", "awaiting_validation", f"site{ident}.example", rows.SUMMARY)
                    )

        service_port, bare_port = procs.free_port(), procs.free_port()
        service = self.start(
            procs.gunicorn(
                "service", "wsgi:app", service_port, self.environment(settings), self.workdir
            )
        )
        bare_env = dict(os.environ, BENCH_BARE_DSN=self.conninfo, BENCH_BARE_SCHEMA=bare_schema)
        bare = self.start(
            procs.gunicorn("bare", "bench.bare:app", bare_port, bare_env, self.workdir)
        )
        self.memory.watch("web", service.pid, include_root=False)
        self.masters = {"service": service.pid, "bare": bare.pid}
        targets = {
            "service": f"http://127.0.0.1:{service_port}",
            "bare": f"http://127.0.0.1:{bare_port}",
        }

        if not load.have_wrk():
            note("NOTE: wrk is not installed (apt-get install wrk): using the Python load")
            note("generator, which needs CPU itself and caps the rates it can show.")

        # Each endpoint: a warm-up, then `rounds` runs of each app, alternating, each run
        # with requests never sent before where a repeat would be cheaper (webhook ids,
        # decisions). The best run of each app counts: other work on this machine can only
        # slow a run down.
        per_run = sizes.max_rate * sizes.http_seconds
        warm_n = sizes.max_rate * sizes.warmup_seconds
        hooks = [self.workdir / f"webhooks-{n}.txt" for n in range(sizes.rounds + 1)]
        for n, path in enumerate(hooks):
            load.write_requests(
                path, _webhooks(f"r{n}{self.run_id}", warm_n if n == 0 else per_run)
            )
        results: dict[str, dict[str, load.Result]] = {}
        results["webhook"] = self._compare("webhook", targets, {"service": hooks, "bare": hooks})

        bare_keys = [f"k{i}" for i, _ in links]
        page_n = min(2000, len(tokens))
        files = {}
        for target, keys in (("service", tokens), ("bare", bare_keys)):
            path = self.workdir / f"page-{target}.txt"
            load.write_requests(path, (("GET", f"/i/{k}/validate", "", {}) for k in keys[:page_n]))
            files[target] = [path] * (sizes.rounds + 1)
        results["page"] = self._compare("page", targets, files, cycle=True)

        form = {"Content-Type": "application/x-www-form-urlencoded"}
        warm_n = min(len(tokens) // 10, warm_n)
        cuts = [0, warm_n, *(warm_n + per_run * (n + 1) for n in range(sizes.rounds))]
        files = {}
        for target, keys in (("service", tokens), ("bare", bare_keys)):
            files[target] = []
            for n in range(sizes.rounds + 1):
                path = self.workdir / f"decide-{target}-{n}.txt"
                chunk = keys[cuts[n] : cuts[n + 1]]
                load.write_requests(path, (("POST", f"/i/{k}/validate", "", form) for k in chunk))
                files[target].append(path)
        results["decision"] = self._compare("decision", targets, files)

        for name, pair in results.items():
            ratio = pair["service"].rps / pair["bare"].rps if pair["bare"].rps else float("nan")
            self.figures[f"{name}_ratio"] = ratio
            # The service's own rate and CPU per request, beside the ratio.
            self.figures[f"{name}_rps"] = pair["service"].rps
            self.figures[f"{name}_cpu_ms"] = self.figures[f"{name}_service_cpu_ms"]
        self.figures["p99_ms"] = max(r["service"].p99_ms for r in results.values())

        with self.connect(web_schema) as conn:
            deliveries = conn.execute("SELECT count(*) FROM webhook_deliveries").fetchone()[0]  # type: ignore[index]
            validated = conn.execute(
                "SELECT count(*) FROM interventions WHERE state = 'validated'"
            ).fetchone()[0]  # type: ignore[index]
        note(f"check: {deliveries} webhooks recorded, {validated} interventions validated")
        self.memory.sample()
        self.figure("web_rss_mb", self.memory.peaks.get("web", 0.0), 1)
        service.stop()
        bare.stop()

    def _compare(
        self,
        name: str,
        targets: dict[str, str],
        files: dict[str, list[Path]],
        cycle: bool = False,
    ) -> dict[str, load.Result]:
        """Warm both apps up with files[target][0], then run files[target][1:] in turn."""
        sizes = self.sizes
        best: dict[str, load.Result] = {}
        # Per app: its workers' CPU, PostgreSQL's, the whole machine's, and the requests.
        cpu = {target: [0.0, 0.0, 0.0, 0] for target in ("service", "bare")}
        for target in ("service", "bare"):
            load.run(
                targets[target], files[target][0], sizes.connections, sizes.warmup_seconds, True
            )
        for n in range(1, sizes.rounds + 1):
            order = ("service", "bare") if n % 2 else ("bare", "service")
            for target in order:
                workers = procs.descendants(self.masters[target])
                before = self._cpu(workers)
                result = load.run(
                    targets[target], files[target][n], sizes.connections, sizes.http_seconds, cycle
                )
                after = self._cpu(workers)
                for k in range(3):
                    cpu[target][k] += after[k] - before[k]
                cpu[target][3] += result.requests
                if result.errors:
                    note(f"WARNING: {result.errors} of {result.requests} {name} to {target} failed")
                if result.repeats:
                    note(
                        f"WARNING: {result.repeats} {name} requests to {target} were repeats "
                        "(more than the prepared unique requests)"
                    )
                if target not in best or result.rps > best[target].rps:
                    best[target] = result
        for target in ("service", "bare"):
            result = best[target]
            self.figure(f"{name}_{target}_rps", result.rps, 1)
            self.figure(f"{name}_{target}_p50_ms", result.p50_ms)
            self.figure(f"{name}_{target}_p99_ms", result.p99_ms)
            app_s, postgres_s, machine_s, count = cpu[target]
            # CPU per request: of the app's own processes (not PostgreSQL's or Redis's), a
            # figure that other load on the machine disturbs much less than the rates; of
            # PostgreSQL's processes; of the whole machine (wrk and the kernel included).
            for part, seconds in (("cpu", app_s), ("pg_cpu", postgres_s), ("all_cpu", machine_s)):
                self.figure(f"{name}_{target}_{part}_ms", seconds * 1000 / count if count else 0.0)
        return best

    @staticmethod
    def _cpu(workers: list[int]) -> tuple[float, float, float]:
        return (
            sum(procs.cpu_seconds(pid) for pid in workers),
            procs.named_cpu_seconds("postgres"),
            procs.machine_cpu_seconds(),
        )

    # -- 2. Mail ------------------------------------------------------------------

    def workers(self, settings: dict[str, Any], prefix: str, name: str) -> list[procs.Process]:
        """Start `mail_workers` `panel-addon worker`s; return once RQ knows them all."""
        from redis import Redis
        from rq import Queue, Worker

        workers = [
            self.start(
                procs.Process(
                    f"{name}{n}",
                    [str(procs.BIN / "panel-addon"), "worker"],
                    self.environment(settings),
                    self.workdir,
                )
            )  # fmt: skip
            for n in range(self.mail_workers)
        ]
        redis = Redis.from_url(REDIS_URL)
        deadline = time.monotonic() + 30
        queues = [Queue(f"{prefix}-{kind}", connection=redis) for kind in ("mail", "site")]
        while any(len(Worker.all(connection=redis, queue=q)) < len(workers) for q in queues):
            if not all(w.alive() for w in workers) or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start:\n{workers[0].tail()}")
            time.sleep(0.1)
        redis.close()
        return workers

    def mail(self) -> None:
        from panel_addon import outbox

        sizes = self.sizes
        ctx = multiprocessing.get_context("spawn")
        count, last, recording = ctx.Value("l", 0), ctx.Value("d", 0.0), ctx.Value("b", 0)
        ready, stop = ctx.Event(), ctx.Event()
        record = self.workdir / "mails.bin"
        port = procs.free_port()
        sink = ctx.Process(
            target=smtp_sink.serve, args=(port, count, last, recording, str(record), ready, stop)
        )
        sink.start()

        def stop_sink() -> None:
            stop.set()
            sink.join(timeout=10)
            if sink.is_alive():
                sink.terminate()

        self.cleanups.append(stop_sink)
        if not ready.wait(30):
            raise RuntimeError("the SMTP sink did not start")

        schema = self.schema("mail")
        prefix = f"bench-{self.run_id}-mail"
        settings = self.settings(schema, prefix, MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
        app = self.app(settings)
        workers = self.workers(settings, prefix, "worker")
        for worker in workers:
            self.memory.watch(worker.name, worker.pid)
        cpu_before = sum(procs.tree_cpu_seconds(w.pid) for w in workers)
        self.figure("mail_workers", len(workers), 0)

        with recording.get_lock():
            recording.value = 1
        count.value = 0
        began = time.monotonic()
        with self.connect(schema) as conn:
            # No ticket notes: with no panel configured here their drain would only mark
            # them skipped, a commit each, CPU that a real panel (a network call each,
            # mostly waiting) would not take from the mail.
            rows.copy_completed(
                conn, 1, sizes.mail, datetime.now(UTC), prefix="m", ticket_notes=False
            )
            conn.commit()
        burst_at = time.monotonic()
        with app.app_context():
            outbox.kick(["mail"])
        self.figure("burst_commit_s", burst_at - began)
        service_s = self._wait_for_mail(
            count, last, sizes.mail, burst_at, sizes.mail_timeout, workers[0]
        )
        self.figure(f"mail_{label(sizes.mail)}_service_s", service_s)
        cpu = sum(procs.tree_cpu_seconds(w.pid) for w in workers) - cpu_before
        self.figure("mail_worker_cpu_ms_per_mail", cpu * 1000 / sizes.mail)
        with self.connect(schema) as conn:
            sent = conn.execute(
                "SELECT count(*) FROM tasks WHERE action = 'send_mail' AND state = 'done'"
            ).fetchone()[0]  # type: ignore[index]
        note(f"check: {sent} mail tasks done, {count.value} mails accepted by the SMTP server")

        recording.value = 0
        messages = list(smtp_sink.recorded(record))[: sizes.mail]
        count.value = 0
        sink_cpu = procs.cpu_seconds(sink.pid or 0)
        began = time.monotonic()
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            for sender, recipients, content in messages:
                smtp.sendmail(sender, recipients, content)
        raw_s = self._wait_for_mail(count, last, len(messages), began, 30, None)
        self.figure(f"mail_{label(len(messages))}_raw_smtplib_s", raw_s)
        sink_cpu = procs.cpu_seconds(sink.pid or 0) - sink_cpu
        self.figure("smtp_server_cpu_ms_per_mail", sink_cpu * 1000 / max(1, len(messages)))
        self.figures["mail_ratio"] = service_s / raw_s if raw_s > 0 else float("nan")
        self.memory.sample()
        peaks = [self.memory.peaks.get(w.name, 0.0) for w in workers]
        self.figure("worker_rss_mb", max(peaks), 1)
        for worker in workers:
            worker.stop()

    @staticmethod
    def _wait_for_mail(
        count: Any,
        last: Any,
        expected: int,
        since: float,
        timeout: float,
        worker: procs.Process | None,
    ) -> float:
        deadline = time.monotonic() + timeout
        while count.value < expected:
            if time.monotonic() > deadline:
                note(f"WARNING: only {count.value} of {expected} mails after {timeout:.0f} s")
                if worker is not None:
                    note(worker.tail())
                return float("nan")
            time.sleep(0.02)
        return float(last.value - since)

    # -- 5. The mass-intervention day ---------------------------------------------

    def massday(self) -> None:
        from . import massday

        count = self.sizes.massday
        hosts = massday.addresses(count)
        port = procs.free_port()
        ctx = multiprocessing.get_context("spawn")
        ready, stop = ctx.Event(), ctx.Event()
        shop = ctx.Process(
            target=massday.serve_shop, args=(hosts, port, massday.DELAY, ready, stop)
        )
        shop.start()

        def stop_shop() -> None:
            stop.set()
            shop.join(timeout=10)
            if shop.is_alive():
                shop.terminate()

        self.cleanups.append(stop_shop)
        if not ready.wait(60):
            raise RuntimeError("the loopback shop did not start")
        note(
            f"{count} interventions, {len(massday.PAGES)} pages each on a host of their own, "
            f"answering in {massday.DELAY * 1000:.0f} ms; {self.mail_workers} workers"
        )
        mail_s = self._massday_run("mail", False, hosts, port)
        check_s = self._massday_run("check", True, hosts, port)
        stop_shop()
        self.figures["massday_mail_s"] = mail_s
        self.figures["massday_check_s"] = check_s
        self.figures["massday_check_ratio"] = check_s / mail_s if mail_s else float("nan")

    def _massday_run(self, name: str, check: bool, hosts: list[str], shop_port: int) -> float:
        """One day: every start, then every completion; seconds to the last client's mail."""
        from . import massday

        count = self.sizes.massday
        ctx = multiprocessing.get_context("spawn")
        mails, last, recording = ctx.Value("l", 0), ctx.Value("d", 0.0), ctx.Value("b", 1)
        ready, stop = ctx.Event(), ctx.Event()
        record = self.workdir / f"massday-{name}.bin"
        smtp_port = procs.free_port()
        sink = ctx.Process(
            target=smtp_sink.serve,
            args=(smtp_port, mails, last, recording, str(record), ready, stop),
        )
        sink.start()
        self.cleanups.append(sink.kill)
        if not ready.wait(30):
            raise RuntimeError("the SMTP sink did not start")

        schema = self.schema(f"massday_{name}")
        prefix = f"bench-{self.run_id}-md{name}"
        settings = self.settings(
            schema,
            prefix,
            MAIL_SERVER="127.0.0.1",
            MAIL_PORT=smtp_port,
            SITE_CHECK_ENABLED=check,
            SITE_CHECK_ALLOW_PRIVATE=True,
            # A page slower under load must not hold a client's mail here: every mail counts.
            HOLD_MAIL_ON_REGRESSION=False,
        )
        self.app(settings)
        web_port = procs.free_port()
        web = self.start(
            procs.gunicorn(
                f"massday-{name}", "wsgi:app", web_port, self.environment(settings), self.workdir
            )
        )
        workers = self.workers(settings, prefix, f"massday-{name}-worker")
        started, completed = massday.webhooks(
            f"{name}{self.run_id}", count, hosts, shop_port, WEBHOOK_SECRET
        )

        cpu_before = self._massday_cpu(web, workers)
        began = time.monotonic()
        statuses = massday.post_all(web_port, started)
        if check:
            with self.connect(schema) as conn:

                def before_done() -> bool:
                    done = conn.execute(
                        "SELECT count(*) FROM tasks WHERE action = 'site_snapshot'"
                        " AND state <> 'pending'"
                    ).fetchone()[0]  # type: ignore[index]
                    conn.commit()
                    return bool(done >= count)

                if not massday.wait(before_done, self.sizes.mail_timeout):
                    note(f"WARNING: the before snapshots did not all finish ({name})")
            self.figure("massday_before_s", time.monotonic() - began)

        began = time.monotonic()
        statuses += massday.post_all(web_port, completed)
        self.figure(f"massday_{name}_webhooks_s", time.monotonic() - began)
        bad = Counter(status for status in statuses if status != 200)
        if bad:
            note(f"WARNING: webhooks not answered 200 ({name}): {dict(bad)}")
        seconds = self._wait_for_mail(
            mails, last, count, began, self.sizes.mail_timeout, workers[0]
        )
        time.sleep(1.0)  # a mail sent twice would come now
        # CPU per intervention (its start and its completion), by part of the machine.
        cpu_after = self._massday_cpu(web, workers)
        parts = ("web", "worker", "pg", "all")
        for part, before, after in zip(parts, cpu_before, cpu_after, strict=True):
            self.figure(f"massday_{name}_{part}_cpu_ms", (after - before) * 1000 / count, 1)
        web.stop()
        for worker in workers:
            worker.stop()
        stop.set()
        sink.join(timeout=10)
        lost, doubled = massday.lost_and_doubled(
            massday.mails_per_client(record, smtp_sink.recorded), count
        )
        note(f"check ({name}): {count} clients, {lost} not mailed, {doubled} mailed twice or more")
        self.figure(f"massday_{name}_lost", lost, 0)
        self.figure(f"massday_{name}_doubled", doubled, 0)
        return seconds

    @staticmethod
    def _massday_cpu(
        web: procs.Process, workers: list[procs.Process]
    ) -> tuple[float, float, float, float]:
        return (
            procs.tree_cpu_seconds(web.pid),
            sum(procs.tree_cpu_seconds(w.pid) for w in workers),
            procs.named_cpu_seconds("postgres"),
            procs.machine_cpu_seconds(),
        )

    # -- 3. Queries ---------------------------------------------------------------

    def queries(self) -> None:
        sizes = self.sizes
        schema = self.schema("rows")
        app = self.app(self.settings(schema, f"bench-{self.run_id}-rows"))
        now = datetime.now(UTC)
        started = time.monotonic()
        with self.connect(schema) as conn:
            rows.copy_completed(conn, LIVE_BASE, sizes.live, now, prefix="l", mail_sent=True)
            # A little work due now, as there always is: some reminders and lapses.
            conn.execute(
                "UPDATE tasks SET due_at = %s WHERE id IN (SELECT id FROM tasks"
                " WHERE state = 'pending' AND action IN ('send_mail', 'lapse')"
                " ORDER BY id LIMIT %s)",
                (rows.naive(now - timedelta(seconds=30)), max(1, sizes.live // 100)),
            )
            rows.add_history(conn, 1, sizes.rows_small - sizes.live, now)
        self._vacuum(schema)
        note(f"{sizes.rows_small} interventions loaded in {time.monotonic() - started:.1f} s")
        small = self._measure(app, now, explain=False)

        started = time.monotonic()
        with self.connect(schema) as conn:
            rows.add_history(
                conn,
                sizes.rows_small - sizes.live + 1,
                sizes.rows_large - sizes.live,
                now,
                bulk=True,
            )
        self._vacuum(schema)
        self.figure(f"load_{label(sizes.rows_large)}_s", time.monotonic() - started, 1)
        large = self._measure(app, now, explain=True)

        for name in ("sweep", "list", "eligibility", "counts"):
            self.figure(f"{name}_{label(sizes.rows_small)}_ms", small[name], 3)
            self.figure(f"{name}_{label(sizes.rows_large)}_ms", large[name], 3)
            self.figures[f"{name}_growth"] = (
                large[name] / small[name] if small[name] else float("nan")
            )

    def _vacuum(self, schema: str) -> None:
        with self.connect(schema, autocommit=True) as conn:
            for table in ("clients", "interventions", "tasks", "intervention_events"):
                conn.execute(f"VACUUM (ANALYZE) {table}")

    def _measure(self, app: Any, now: datetime, explain: bool) -> dict[str, float]:
        from panel_addon import outbox
        from panel_addon.models import db
        from panel_addon.web import staff_queries

        client = app.test_client()
        auth = {"Authorization": f"Bearer {STAFF_TOKEN}"}
        cases: dict[str, Callable[[], Any]] = {
            "sweep": lambda: outbox.due_kinds(now),
            # The page itself; the counts per state are a separate query, measured apart.
            "list": lambda: client.get("/api/v1/interventions?limit=50&counts=false", headers=auth),
            "counts": lambda: staff_queries.state_counts(now),
            "eligibility": lambda: client.get("/api/v1/clients/h50/eligibility", headers=auth),
        }
        out = {}
        with app.app_context():
            for name, run in cases.items():
                with _captured(db.engine) as statements:
                    answer = run()
                    if hasattr(answer, "status_code") and answer.status_code != 200:
                        raise RuntimeError(
                            f"{name}: HTTP {answer.status_code} {answer.get_data()!r}"
                        )
                db.session.remove()
                raw = db.engine.raw_connection()
                try:
                    cursor = raw.cursor()
                    runs = []
                    for _ in range(self.sizes.repeats):
                        began = time.perf_counter()
                        for sql, params in statements:
                            cursor.execute(sql, params)
                            cursor.fetchall()
                        runs.append((time.perf_counter() - began) * 1000)
                        raw.rollback()
                    out[name] = statistics.median(runs)
                    if explain:
                        for sql, params in statements:
                            note(f"EXPLAIN ({name}) {' '.join(sql.split())[:160]}")
                            cursor.execute("EXPLAIN " + sql, params)
                            for (line,) in cursor.fetchall():
                                note(f"    {line}")
                        raw.rollback()
                finally:
                    raw.close()
        return out


def clean_redis(url: str, prefixes: list[str]) -> None:
    """Remove every key of these queue prefixes: queues, jobs, RQ's registries, markers."""
    from redis import Redis
    from rq import Queue
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    from panel_addon.queues import KINDS

    redis = Redis.from_url(url)
    try:
        for prefix in prefixes:
            for kind in KINDS:
                queue = Queue(f"{prefix}-{kind}", connection=redis)
                registries = (
                    queue.failed_job_registry,
                    queue.finished_job_registry,
                    queue.started_job_registry,
                    queue.deferred_job_registry,
                    queue.scheduled_job_registry,
                    queue.canceled_job_registry,
                )
                for registry in registries:
                    for job_id in registry.get_job_ids():
                        with suppress(NoSuchJobError):
                            Job.fetch(job_id, connection=redis).delete()
                queue.delete(delete_jobs=True)
                for key in redis.scan_iter(f"rq:*:{queue.name}", count=1000):
                    redis.delete(key)
            # Drain markers, and the rate limits' counters ("LIMITS:LIMITER/<prefix>:...").
            for key in redis.scan_iter(f"*{prefix}:*", count=1000):
                redis.delete(key)
    finally:
        redis.close()


@contextmanager
def _captured(engine: Any) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements (with their parameters) run inside the block."""
    statements: list[tuple[str, Any]] = []

    def listen(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listen)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", listen)


def _bare_schema_sql() -> str:
    from .bare import SCHEMA_SQL

    return SCHEMA_SQL


def _webhooks(tag: str, count: int) -> Iterator[load.Request]:
    """Signed `intervention.completed` webhooks (with the start fields), unique ids."""
    from standardwebhooks.webhooks import Webhook

    signer = Webhook(WEBHOOK_SECRET)
    stamp = datetime.now(UTC)
    iso = stamp.isoformat()
    for n in range(count):
        data = {
            "id": f"{tag}-{n}",
            "ticket_id": str(700000 + n),
            "client": {
                "id": f"{tag}-c{n}",
                "email": f"client{n}@example.test",
                "name": f"Client {n}",
                "language": "french" if n % 3 else "english",
            },
            "site": f"site{n}.example",
            "technician": "Patch bot",
            "backup": {"reference": f"bk-{tag}-{n}", "created_at": iso},
            "summary": rows.SUMMARY,
        }
        body = json.dumps({"type": "intervention.completed", "timestamp": iso, "data": data})
        msg_id = f"msg_{tag}_{n}"
        headers = {
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(stamp.timestamp())),
            "webhook-signature": signer.sign(msg_id, stamp, body),
        }
        yield "POST", "/webhooks/panel", body, headers


def machine() -> None:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    note(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {os.cpu_count()} cores, {cpu},")
    note(f"{int(memory) // 1024} MiB memory; Python {platform.python_version()}")
    wrk = shutil.which("wrk")
    if wrk:
        version = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
        note(f"load generator: {version.stdout.split(' Copyright')[0].strip()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and short runs (CI)")
    parser.add_argument(
        "--only", choices=("http", "mail", "queries", "massday"), action="append",
        help="run only these parts (repeatable); the other figures print as nan",
    )  # fmt: skip
    parser.add_argument(
        "--workers", type=int, default=min(2, os.cpu_count() or 1),
        help="`panel-addon worker` processes for the mail burst (default: one a core, up to 2)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    logging.basicConfig(level=logging.WARNING, format="# %(levelname)s %(name)s: %(message)s")

    def terminate(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="panel-addon-bench-"))
    bench = Bench(sizes, workdir)
    bench.mail_workers = max(1, args.workers)
    machine()
    status = 0
    try:
        bench.memory.start()
        parts = args.only or ["http", "mail", "queries", "massday"]
        for part in ("http", "mail", "queries", "massday"):
            if part in parts:
                started_part = time.monotonic()
                # Other work on the machine (a test run, another benchmark) slows the runs.
                note("load average before {}: {:.2f} {:.2f} {:.2f}".format(part, *os.getloadavg()))
                try:
                    getattr(bench, part)()
                except Exception as exc:  # noqa: BLE001 - report, clean up, go on
                    status = 1
                    note(f"ERROR in {part}: {type(exc).__name__}: {exc}")
                note(f"{part} took {time.monotonic() - started_part:.1f} s")
    finally:
        bench.close()
        shutil.rmtree(workdir, ignore_errors=True)
    bench.figure("bench_seconds", time.monotonic() - started, 1)
    for name in FINAL:
        value = bench.figures.get(name, float("nan"))
        digits = 1 if name.endswith(("_mb", "_ms", "_rps")) else 2
        digits = 3 if name.endswith("_cpu_ms") else digits
        print(f"{name}: {value:.{digits}f}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
