"""Profile one benchmarked path in-process (`pip install -e '.[bench]'`).

    python -m bench.profile webhook|page|decision|mail [COUNT] [--cprofile]
    python -m bench.profile webhook|page|decision [COUNT] --instructions

The same requests and rows as bench/run, each prebuilt as a WSGI environ and passed to
the app directly (or, for mail, a drain of the mail tasks to a local SMTP server) inside
one profiled loop, so the report shows where the service spends its time per request.
pyinstrument (the default) samples wall time, waits on PostgreSQL included; `--cprofile`
counts CPU time per function, the figure the HTTP ratios depend on.

`--instructions` runs the same loop for the service and for the bare app of bench/run
under valgrind's callgrind (`apt-get install valgrind`), and prints the machine
instructions each request costs in each, and their ratio (bare / service). A count of
instructions does not move with the machine's speed or its other load, as the rates
do: it shows a change of a few per cent that the rates hide (a COUNT of 300 takes about
a minute per app). It leaves out the WSGI server and PostgreSQL's own work.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from . import main as bench
from . import procs, rows

# The requests a path runs before its profile, and leaves out of it.
WARMUP = 20


def _sink(port: int) -> Any:
    from aiosmtpd.controller import Controller

    class Handler:
        count = 0
        lock = threading.Lock()

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            with self.lock:
                Handler.count += 1
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    return controller


def run(what: str, count: int, cprofile: bool = False, counted: bool = False) -> None:
    """Profile the service's `what` over `count` requests (`counted`: see `_counted`)."""
    from panel_addon import effects
    from panel_addon.tokens import make_token

    logging.basicConfig(level=logging.WARNING)
    workdir = Path(tempfile.mkdtemp(prefix="panel-addon-profile-"))
    runner = bench.Bench(bench.QUICK, workdir)
    port = procs.free_port()
    controller = _sink(port) if what == "mail" else None
    try:
        schema = runner.schema("prof")
        settings = runner.settings(
            schema, f"bench-{runner.run_id}-prof", MAIL_SERVER="127.0.0.1", MAIL_PORT=port
        )
        app = runner.app(settings)
        now = datetime.now(UTC)
        calls: list[Any] = []
        if what == "webhook":
            for method, path, body, headers in bench._webhooks(f"p{runner.run_id}", count):
                calls.append(_environ(method, path, body, headers))
        elif what in ("page", "decision", "mail"):
            with runner.connect(schema) as conn:
                links = rows.copy_completed(
                    conn, 1, count, now, prefix="p", mail_sent=what != "mail"
                )
            with app.app_context():
                tokens = [
                    make_token(SimpleNamespace(id=i, link_nonce=n), "validate")  # type: ignore[arg-type]
                    for i, n in links
                ]
            method = "GET" if what == "page" else "POST"
            form = {} if what == "page" else {"Content-Type": "application/x-www-form-urlencoded"}
            calls = [_environ(method, f"/i/{token}/validate", "", form) for token in tokens]
        else:
            raise SystemExit(f"unknown path {what!r}: webhook, page, decision or mail")

        statuses: dict[str, int] = {}

        def call(environ: dict[str, Any]) -> None:
            def start_response(status: str, _headers: Any, _exc_info: Any = None) -> None:
                statuses[status] = statuses.get(status, 0) + 1

            body = app.wsgi_app(dict(environ), start_response)
            for _chunk in body:
                pass
            getattr(body, "close", lambda: None)()

        def work() -> None:
            if what == "mail":
                with app.app_context():
                    print(f"# drained {effects.drain('mail')} mail tasks")
                return
            for environ in calls:
                call(environ)
            print(f"# {len(calls)} requests, statuses {statuses}")

        # Warm up outside the profile: first-request costs are not the steady state.
        if what != "mail":
            for environ in calls[:WARMUP]:
                call(environ)
            calls = calls[WARMUP:]
            statuses.clear()
        if counted:
            _counted(work)
            return
        if cprofile:
            _cprofiled(work, len(calls))
            return
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        with profiler:
            work()
        print(profiler.output_text(unicode=False, color=False))
    finally:
        if controller is not None:
            controller.stop()
        runner.close()


def _environ(method: str, path: str, body: str, headers: dict[str, str]) -> dict[str, Any]:
    from werkzeug.test import EnvironBuilder

    builder = EnvironBuilder(
        path=path,
        method=method,
        data=body or None,
        headers=headers,
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    )
    environ: dict[str, Any] = builder.get_environ()
    return environ


def _cprofiled(work: Any, requests: int) -> None:
    import cProfile
    import pstats
    import time

    profile = cProfile.Profile(time.process_time)
    started = time.process_time()
    profile.runcall(work)
    spent = time.process_time() - started
    pstats.Stats(profile).sort_stats("cumulative").print_stats(45)
    if requests:
        print(
            f"# CPU per request, the profiler's own cost included: {spent / requests * 1e3:.2f} ms"
        )


def run_bare(what: str, count: int) -> None:
    """The bare app's `what` over `count` requests, counted as `run` counts the service's."""
    workdir = Path(tempfile.mkdtemp(prefix="panel-addon-profile-"))
    runner = bench.Bench(bench.QUICK, workdir)
    try:
        schema = runner.schema("bare")
        os.environ.update(BENCH_BARE_DSN=runner.conninfo, BENCH_BARE_SCHEMA=schema)
        from . import bare

        with runner.connect(schema) as conn:
            conn.execute(bare.SCHEMA_SQL)
            with (
                conn.cursor() as cur,
                cur.copy("COPY items (key, state, site, summary) FROM STDIN") as copy,
            ):
                for n in range(count):
                    site = f"site{n}.example"
                    copy.write_row((f"k{n}", "awaiting_validation", site, rows.SUMMARY))
        if what == "webhook":
            requests = list(bench._webhooks(f"b{runner.run_id}", count))
        else:
            form = {} if what == "page" else {"Content-Type": "application/x-www-form-urlencoded"}
            method = "GET" if what == "page" else "POST"
            requests = [(method, f"/i/k{n}/validate", "", form) for n in range(count)]
        calls = [_environ(*request) for request in requests]
        statuses: dict[str, int] = {}

        def call(environ: dict[str, Any]) -> None:
            def start_response(status: str, _headers: Any, _exc_info: Any = None) -> None:
                statuses[status] = statuses.get(status, 0) + 1

            body = bare.app.wsgi_app(dict(environ), start_response)
            for _chunk in body:
                pass
            getattr(body, "close", lambda: None)()

        for environ in calls[:WARMUP]:
            call(environ)
        calls = calls[WARMUP:]
        statuses.clear()

        def work() -> None:
            for environ in calls:
                call(environ)
            print(f"# {len(calls)} requests, statuses {statuses}")

        _counted(work)
    finally:
        runner.close()


def _counted(work: Any) -> None:
    # Under callgrind: only the loop is counted (its counters zeroed before it, dumped
    # after it, as the dump named "loop").
    me = str(os.getpid())
    subprocess.run(["callgrind_control", "--zero", me], check=True, capture_output=True)
    work()
    subprocess.run(["callgrind_control", "--dump=loop", me], check=True, capture_output=True)


def instructions(what: str, count: int) -> None:
    """Count the loop's instructions per request in the service and in the bare app."""
    if what not in ("webhook", "page", "decision"):
        raise SystemExit("--instructions counts webhook, page or decision")
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("--instructions needs valgrind (apt-get install valgrind)")
    per_request = {}
    for app in ("service", "bare"):
        with tempfile.TemporaryDirectory(prefix="panel-addon-callgrind-") as out:
            command = [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}/callgrind.%p",
                sys.executable,
                "-m",
                "bench.profile",
                what,
                str(count),
                f"--counted={app}",
            ]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            found = re.search(r"^# (\d+) requests", done.stdout, re.MULTILINE)
            dumps = [
                p for p in Path(out).iterdir() if "loop" in p.read_text(errors="replace")[:2000]
            ]
            if done.returncode or not found or not dumps:
                raise SystemExit(f"the {app} run failed:\n{done.stdout}\n{done.stderr[-3000:]}")
            summary = re.search(r"^summary: (\d+)", dumps[0].read_text(), re.MULTILINE)
            assert summary is not None
            per_request[app] = int(summary.group(1)) / int(found.group(1))
            print(f"instructions_{what}_{app}: {per_request[app]:.0f}", flush=True)
    print(f"instructions_{what}_ratio: {per_request['bare'] / per_request['service']:.3f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.profile",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", choices=("webhook", "page", "decision", "mail"))
    parser.add_argument("count", nargs="?", type=int, default=500, help="requests (500)")
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--cprofile", action="store_true", help="CPU time per function")
    how.add_argument("--instructions", action="store_true", help="callgrind, both apps")
    # The process --instructions runs under callgrind, for one app.
    how.add_argument("--counted", choices=("service", "bare"), help=argparse.SUPPRESS)
    args = parser.parse_intermixed_args(argv)
    if args.count <= WARMUP:
        parser.error(f"count must be more than the {WARMUP} warm-up requests")
    if args.instructions:
        instructions(args.path, args.count)
    elif args.counted == "bare":
        run_bare(args.path, args.count)
    else:
        run(args.path, args.count, cprofile=args.cprofile, counted=args.counted == "service")


if __name__ == "__main__":
    main()
