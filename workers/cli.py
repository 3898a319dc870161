"""`panel-addon worker`: registered with Flask's CLI through the `flask.commands` entry point,
so the service's own package never imports the worker."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext
from redis.exceptions import ConnectionError as RedisConnectionError

from . import runner


@click.command("worker")
@click.option("--burst", is_flag=True, help="Do the work that is due now, then exit.")
@with_appcontext
def worker_command(burst: bool) -> None:
    """Run the RQ worker for every queue, with the sweep that finds due work."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        runner.run(app, burst=burst)
    except RedisConnectionError:
        raise click.ClickException(
            f"cannot reach Redis at {app.config['REDIS_URL']}: start it, or set "
            "PANEL_ADDON_REDIS_URL"
        ) from None
