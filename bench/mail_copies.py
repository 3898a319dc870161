"""The space the mail copies take (docs/evidence.md): `python -m bench.mail_copies [N]`.

N interventions (default 2000) are completed at once on PostgreSQL as `bench/rows.py`
writes them (two clients in three French, one in English), and their mails go out
through the service's own mail path, in-process, to the dev outbox: the completion
request at once, then both reminders as the clock reaches them. Printed: the bytes per
mail as sent and as kept, and the size of the `mail_copies` table (rows, index, TOAST)
per 100,000 interventions.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from panel_addon.clock import Clock

from . import rows
from .main import Bench, Sizes, label


class SteppedClock(Clock):
    """A clock the script moves to each reminder's time."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current


def measure(count: int) -> dict[str, float]:
    from panel_addon import create_app, effects
    from panel_addon.models import db

    bench = Bench(Sizes(*([0] * 12)), workdir=Path(tempfile.mkdtemp()))
    try:
        schema = bench.schema("copies")
        start = datetime.now(UTC).replace(microsecond=0)
        clock = SteppedClock(start)
        prefix = f"bench-{bench.run_id}-copies"
        app = create_app(
            bench.settings(
                schema, prefix, MAIL_BACKEND="outbox", SITE_CHECK_ENABLED=False, CLOCK=clock
            )
        )
        # The dev outbox writes into the instance folder: the run's own, thrown away.
        app.instance_path = str(bench.workdir)
        bench.queue_prefixes.append(prefix)
        with app.app_context():
            db.create_all()
        with bench.connect(schema) as conn:
            rows.copy_completed(conn, 1, count, start, prefix="m", ticket_notes=False)
            conn.commit()
        # The completion requests now, each reminder when it falls due (12 h and 2 h left).
        for moment in (start, start + timedelta(hours=12), start + timedelta(hours=22)):
            clock.current = moment
            with app.app_context():
                effects.drain("mail", max_seconds=3600)
        with bench.connect(schema) as conn:
            sql = (
                "SELECT count(*), sum(octet_length(message)),"
                " pg_total_relation_size('mail_copies') FROM mail_copies"
            )
            mails, kept, table = conn.execute(sql).fetchone()  # type: ignore[misc]
        outbox = list((bench.workdir / "outbox").glob("*.eml"))
        sent = sum(path.stat().st_size for path in outbox)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    finally:
        bench.close()
        shutil.rmtree(bench.workdir, ignore_errors=True)
    return {
        "interventions": count,
        "mails": mails,
        "bytes_per_mail_sent": sent / max(1, len(outbox)),
        "bytes_per_mail_kept": kept / max(1, mails),
        "mb_per_100k_interventions": table / count * 100_000 / 1e6,
    }


def main(argv: list[str]) -> int:
    count = int(argv[0]) if argv else 2000
    figures = measure(count)
    print(f"# {label(count)} interventions, their mails sent and kept on PostgreSQL")
    for name, value in figures.items():
        print(f"{name}: {value:.0f}" if value >= 100 else f"{name}: {value:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
