"""Profile one benchmarked path in-process with pyinstrument (`pip install -e '.[bench]'`).

    python -m bench.profile webhook|page|decision|mail [COUNT]

The same requests and rows as bench/run, sent through Flask's test client (or, for
mail, a drain of the mail tasks to a local SMTP server) inside one profiled loop, so
the report shows where the service spends its time per request.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from . import main as bench
from . import procs, rows


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


def run(what: str, count: int) -> None:
    from pyinstrument import Profiler

    from panel_addon import effects, tasks  # noqa: F401 - effects registers the handlers
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
        client = app.test_client()
        now = datetime.now(UTC)
        calls: list[Any] = []
        if what == "webhook":
            for _method, path, body, headers in bench._webhooks(f"p{runner.run_id}", count):
                calls.append((client.post, path, {"data": body, "headers": headers}))
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
            call = client.get if what == "page" else client.post
            calls = [(call, f"/i/{token}/validate", {}) for token in tokens]
        else:
            raise SystemExit(f"unknown path {what!r}: webhook, page, decision or mail")

        # Warm up outside the profile: first-request costs are not the steady state.
        if what != "mail":
            for fn, path, kwargs in calls[:20]:
                fn(path, **kwargs)
            calls = calls[20:]
        profiler = Profiler(interval=0.0005)
        with profiler:
            if what == "mail":
                with app.app_context():
                    handled = tasks.drain("mail")
                print(f"# drained {handled} mail tasks")
            else:
                statuses: dict[int, int] = {}
                for fn, path, kwargs in calls:
                    status = fn(path, **kwargs).status_code
                    statuses[status] = statuses.get(status, 0) + 1
                print(f"# {len(calls)} requests, statuses {statuses}")
        print(profiler.output_text(unicode=False, color=False))
    finally:
        if controller is not None:
            controller.stop()
        runner.close()


if __name__ == "__main__":
    run(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 500)
