"""The `panel-addon` command: Flask's CLI over create_app, plus the worker and dev tools."""

from __future__ import annotations

import json
import os
import secrets
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from importlib.metadata import entry_points
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import ScriptInfo, with_appcontext

from . import outbox, queues
from .clock import now as clock_now
from .whmcs_module import whmcs_module_command


def init_app(app: Flask) -> None:
    for command in COMMANDS:
        app.cli.add_command(command)


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
    from panel_addon.panels import PanelError, PermissionProbe, configured_panel

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
        if isinstance(panel, PermissionProbe):
            try:
                missing = panel.missing_permissions()
            except PanelError as exc:
                ok = False
                click.echo(f"panel: UNREACHABLE or refused: {exc}")
            else:
                if missing:
                    ok = False
                    click.echo(
                        "panel: the API role of the service's credentials does not allow: "
                        f"{', '.join(missing)} (WHMCS: Configuration > System Settings > "
                        "Manage API Credentials > API Roles)"
                    )
                else:
                    click.echo("panel: ok (the API role allows every action the service calls)")
                    resumed = outbox.resume_parked("panel", clock_now())
                    db.session.commit()
                    if resumed:
                        click.echo(f"panel: {resumed} parked panel tasks resumed")
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
        try:
            app = click.get_current_context().ensure_object(ScriptInfo).load_app()
        except click.ClickException as exc:
            # Not "the dossier does not hold" (1): a usage problem (2), with the way out.
            raise click.UsageError(
                f"{exc.message}; or check the dossier offline with --keys FILE, the keys "
                "of GET /api/v1/evidence/keys"
            ) from None
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


# The demo clients, by language: each demo gets a new client of its own.
DEMO_CLIENTS = {"fr": "Camille Martin", "en": "Sofia Rossi"}


@click.command("simulate")
@click.option("--url", default=None, help="Base URL of the running service (PUBLIC_URL).")
@click.option(
    "--language",
    default="fr",
    show_default=True,
    help="The client's language (fr, en, or one a host added).",
)
@click.option(
    "--client-email",
    default=None,
    help="The client's address (a new demo client's by default: client-<n>@example.test).",
)
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
    url: str | None, client_email: str | None, language: str, event: str, panel_id: str | None
) -> None:
    """Play the panel: send signed webhooks for an intervention to the running service."""
    from standardwebhooks.webhooks import Webhook

    secret = current_app.config.get("WEBHOOK_SECRET")
    if not secret:
        raise click.ClickException("PANEL_ADDON_WEBHOOK_SECRET is not set")
    base = (url or current_app.config["PUBLIC_URL"]).rstrip("/")
    panel_id = panel_id or f"demo-{secrets.token_hex(3)}"
    client_id = str(1000 + secrets.randbelow(9000))
    now = datetime.now(UTC)
    started = {
        "id": panel_id,
        "ticket_id": str(1000 + secrets.randbelow(9000)),
        "client": {
            "id": client_id,
            "email": client_email or f"client-{client_id}@example.test",
            "name": DEMO_CLIENTS.get(language, DEMO_CLIENTS["en"]),
            "language": language,
        },
        "site": "boutique-camille.example" if language == "fr" else "rossi-design.example",
        "technician": "Alex",
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
    if current_app.config["ENV"] == "development":
        click.echo(f"the staff view: {base}/dev/staff (or make staff)")


# The service's own commands, on the app's CLI and on `panel-addon`.
COMMANDS = (
    check_command,
    sweep_command,
    simulate_command,
    evidence_group,
    whmcs_module_command,
)


def command_group() -> click.Group:
    """`panel-addon`: every command listed, and its help shown, without any setting.

    The app (and so its settings) is built only when a command runs: a plain group whose
    context carries Flask's ScriptInfo, rather than a FlaskGroup, which builds the app to
    list the commands the app adds.
    """
    from flask.cli import ScriptInfo, routes_command, run_command, shell_command
    from flask_migrate.cli import db as db_group

    group = click.Group(
        "panel-addon",
        help="Intervention sign-off: the service, its worker and its tools.",
        context_settings={"obj": ScriptInfo(create_app=_create_app, load_dotenv_defaults=False)},
    )
    click.version_option(package_name="intervention-signoff", prog_name="panel-addon")(group)
    for command in (db_group, run_command, shell_command, routes_command, *COMMANDS):
        group.add_command(command)
    # Commands offered to Flask's CLI by entry points: the worker and `staff-link` (which
    # live in the layers above, which this module does not import) and Flask-Limiter's
    # `limiter`, which shows the rate limits in force and clears a client's.
    for entry in entry_points(group="flask.commands"):
        group.add_command(entry.load(), entry.name)
    return group


def _create_app() -> Flask:
    from panel_addon import create_app
    from panel_addon.settings import SettingsError

    try:
        return create_app()
    except SettingsError as exc:
        raise click.ClickException(f"{exc} (docs/configuration.md)") from None


def main() -> None:
    # Flask's server and `app.run` look for this to know they were started by a CLI.
    os.environ["FLASK_RUN_FROM_CLI"] = "true"
    command_group().main(prog_name="panel-addon")
