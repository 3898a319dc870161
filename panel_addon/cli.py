"""The `panel-addon` command: Flask's CLI over create_app, plus the worker and dev tools."""

from __future__ import annotations

import json
import secrets
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, ScriptInfo, with_appcontext

from . import outbox, queues


def init_app(app: Flask) -> None:
    app.cli.add_command(sweep_command)
    app.cli.add_command(simulate_command)
    app.cli.add_command(check_command)
    app.cli.add_command(evidence_group)
    from .whmcs_module import whmcs_module_command

    app.cli.add_command(whmcs_module_command)


@click.command("sweep")
@with_appcontext
def sweep_command() -> None:
    """Enqueue every piece of due work once (what the worker does every few seconds)."""
    kinds = outbox.sweep()
    click.echo(f"due work enqueued for: {', '.join(kinds) or 'nothing'}")


@click.command("check")
@with_appcontext
def check_command() -> None:
    """Check the settings, the database, Redis and the panel, and say what is wrong."""
    from sqlalchemy import text

    from panel_addon import evidence_keys
    from panel_addon.models import db
    from panel_addon.panels import configured_panel

    ok = True
    try:
        db.session.execute(text("SELECT 1"))
        click.echo("database: ok")
    except Exception as exc:  # noqa: BLE001 - reported to the operator
        ok = False
        click.echo(f"database: UNREACHABLE ({type(exc).__name__})")
    try:
        redis = queues.connection()
        redis.ping()
        click.echo("redis: ok")
        for warning in queues.redis_warnings(redis):
            click.echo(f"redis: warning: {warning}")
    except Exception as exc:  # noqa: BLE001 - reported to the operator
        ok = False
        click.echo(f"redis: UNREACHABLE ({type(exc).__name__})")
    for key in ("WEBHOOK_SECRET", "STAFF_API_TOKEN"):
        if not current_app.config.get(key):
            click.echo(f"settings: PANEL_ADDON_{key} is not set")
    if evidence_keys.keys().signing is None:
        click.echo("settings: PANEL_ADDON_EVIDENCE_SIGNING_KEY is not set: no dossier is signed")
    panel = configured_panel(current_app.config)
    if panel is None:
        click.echo("settings: no panel is configured (PANEL_ADDON_WHMCS_URL is not set)")
    else:
        click.echo(f"panel: {panel!r}")
    if not ok:
        sys.exit(1)


@click.group("evidence")
def evidence_group() -> None:
    """Check dispute dossiers and the trails in the database (docs/evidence.md)."""


@evidence_group.command("verify")
@click.argument("dossier_file", metavar="FILE", type=click.File("rb"))
@click.option(
    "--keys",
    "keys_file",
    type=click.File("rb"),
    help="The public keys, as GET /api/v1/evidence/keys answers them (default: this service's).",
)
def evidence_verify_command(dossier_file: Any, keys_file: Any) -> None:
    """Check a saved dossier offline: its chain, its head and its signature.

    With --keys it needs nothing of the service (no settings, no database).
    """
    from panel_addon import evidence_keys
    from panel_addon.domain import chain

    try:
        dossier = json.loads(dossier_file.read())
    except ValueError as exc:
        raise click.ClickException(f"{dossier_file.name} is not JSON: {exc}") from None
    if not isinstance(dossier, dict):
        raise click.ClickException(f"{dossier_file.name} is not a dossier (a JSON object)")
    if keys_file is None:
        app = click.get_current_context().ensure_object(ScriptInfo).load_app()
        with app.app_context():
            public = evidence_keys.keys().public
    else:
        try:
            listed = json.loads(keys_file.read())["keys"]
            public = {
                str(item["key_id"]): evidence_keys.public_key(str(item["public_key"]))
                for item in listed
            }
        except (ValueError, KeyError, TypeError) as exc:
            raise click.ClickException(
                f"{keys_file.name} is not a list of keys like GET /api/v1/evidence/keys: {exc}"
            ) from None
    problem = chain.dossier_problem(dossier, public)
    if problem is not None:
        click.echo(f"the dossier does not hold: {problem}", err=True)
        sys.exit(1)
    events = dossier["events"]
    ident = (dossier.get("intervention") or {}).get("id")
    click.echo(
        f"intervention {ident}: {len(events)} events, head {dossier['head']}, "
        f"signed with key {dossier['signature']['key_id']}: the dossier holds"
    )


@evidence_group.command("check")
@with_appcontext
def evidence_check_command() -> None:
    """Re-verify every intervention's chain in the database; list the broken ones."""
    from panel_addon.domain import evidence

    broken = list(evidence.check_trails())
    for trail in broken:
        click.echo(f"broken: {trail}", err=True)
    if broken:
        click.echo(f"{len(broken)} trail(s) do not hold", err=True)
        sys.exit(1)
    click.echo("every trail holds")


@evidence_group.command("new-key")
def evidence_new_key_command() -> None:
    """Print a new signing key for PANEL_ADDON_EVIDENCE_SIGNING_KEY (and its public key)."""
    from panel_addon import evidence_keys

    text = evidence_keys.new_private_key_text()
    public = evidence_keys.private_key(text).public_key()
    click.echo(f"PANEL_ADDON_EVIDENCE_SIGNING_KEY={text}")
    click.echo(
        f"# key id {evidence_keys.key_id(public)}, public key "
        f"{evidence_keys.b64url(evidence_keys.raw_public(public))}"
    )


@click.command("simulate")
@click.option("--url", default=None, help="Base URL of the running service (PUBLIC_URL).")
@click.option("--client-email", default="client@example.test", show_default=True)
@click.option("--language", default="fr", show_default=True)
@click.option(
    "--event",
    type=click.Choice(["flow", "started", "completed", "cancelled"]),
    default="flow",
    show_default=True,
    help="flow plays started then completed.",
)
@click.option("--id", "panel_id", default=None, help="Intervention id (random by default).")
@with_appcontext
def simulate_command(
    url: str | None, client_email: str, language: str, event: str, panel_id: str | None
) -> None:
    """Play the panel: send signed webhooks for an intervention to the running service."""
    from standardwebhooks.webhooks import Webhook

    secret = current_app.config.get("WEBHOOK_SECRET")
    if not secret:
        raise click.ClickException("PANEL_ADDON_WEBHOOK_SECRET is not set")
    base = (url or current_app.config["PUBLIC_URL"]).rstrip("/")
    panel_id = panel_id or f"demo-{secrets.token_hex(3)}"
    now = datetime.now(UTC)
    started = {
        "id": panel_id,
        "ticket_id": str(1000 + secrets.randbelow(9000)),
        "client": {
            "id": "42",
            "email": client_email,
            "name": "Camille Martin",
            "language": language,
        },
        "site": "boutique-camille.example",
        "technician": "Alex (support)",
        "backup": {"reference": f"backup-{panel_id}", "created_at": now.isoformat()},
    }
    completed = {
        "id": panel_id,
        "summary": "WooCommerce and 4 plugins updated; PHP 8.3 compatibility fixed in the theme.",
    }
    plans: dict[str, list[tuple[str, Any]]] = {
        "flow": [("intervention.started", started), ("intervention.completed", completed)],
        "started": [("intervention.started", started)],
        "completed": [("intervention.completed", {**started, **completed})],
        "cancelled": [("intervention.cancelled", {"id": panel_id, "reason": "demo"})],
    }
    plan = plans[event]
    signer = Webhook(secret)
    for event_type, data in plan:
        body = json.dumps({"type": event_type, "timestamp": now.isoformat(), "data": data})
        msg_id = f"msg_{secrets.token_hex(8)}"
        stamp = datetime.now(UTC)
        request = urllib.request.Request(  # noqa: S310 - the operator's own service URL
            f"{base}/webhooks/panel",
            data=body.encode(),
            method="POST",
            headers={
                "Content-Type": "application/json",
                "webhook-id": msg_id,
                "webhook-timestamp": str(int(stamp.timestamp())),
                "webhook-signature": signer.sign(msg_id, stamp, body),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                click.echo(f"{event_type}: {response.status} {response.read().decode()}")
        except urllib.error.HTTPError as exc:
            raise click.ClickException(f"{event_type}: {exc.code} {exc.read().decode()}") from None
        except urllib.error.URLError as exc:
            raise click.ClickException(f"cannot reach {base}: {exc.reason}") from None
    if current_app.config["MAIL_BACKEND"] == "outbox":
        click.echo(f"the client's mail will appear at {base}/dev/outbox within a few seconds")


def main() -> None:
    from panel_addon import create_app

    cli = FlaskGroup(
        name="panel-addon",
        create_app=create_app,
        add_version_option=False,
        load_dotenv=False,
        help="Intervention sign-off: the service, its worker and its tools.",
    )
    from .whmcs_module import whmcs_module_command

    # Registered on the group itself, so writing the module, or checking a dossier
    # against keys in a file, needs no settings.
    cli.add_command(whmcs_module_command)
    cli.add_command(evidence_group)
    cli.main(prog_name="panel-addon")
