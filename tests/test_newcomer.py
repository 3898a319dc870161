"""A newcomer's first hour: the home page, the demo, the staff view one command away."""

from __future__ import annotations

import os
import pty
import re
import secrets
import select as io_select
import signal
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from panel_addon.models import Client, Event, Intervention, db
from panel_addon.settings import DEVELOPMENT_SECRETS

from .browser_support import serve
from .conftest import REDIS_URL
from .flow import complete, run_due, start
from .support import STAFF_TOKEN, free_port
from .typography import problems

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent / "panel-addon"
AUTH = {"Authorization": f"Bearer {STAFF_TOKEN}"}


def test_the_home_page_says_what_the_service_is_its_version_and_health(make_app: Any) -> None:
    app = make_app()

    page = app.test_client().get("/", headers={"Accept-Language": "en"})

    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "this service asks the client to check the site" in text
    assert f"<dt>Version</dt><dd>{version('intervention-signoff')}</dd>" in text
    assert "<dt>Database</dt><dd>answers</dd>" in text
    # Outside development, no door to the outbox or the staff view.
    assert "/dev/" not in text
    assert app.test_client().get("/dev/staff").status_code == 404


def test_in_development_the_home_page_leads_to_the_outbox_and_the_staff_view(
    make_app: Any,
) -> None:
    app = make_app(ENV="development", MAIL_BACKEND="outbox", STAFF_LANGUAGE="en")
    http = app.test_client()

    page = http.get("/", headers={"Accept-Language": "fr"}).get_data(as_text=True)

    assert '<html lang="fr">' in page
    assert 'href="/dev/outbox/"' in page and 'href="/dev/staff"' in page
    assert "«\u00a0make demo\u00a0»" in page
    # The staff view's door: a fresh login link, in the browser's language.
    door = http.get("/dev/staff", headers={"Accept-Language": "fr"})
    assert door.status_code == 303
    login = http.get("/" + door.headers["Location"].split("://", 1)[1].split("/", 1)[1])
    assert login.status_code == 200
    assert "Continuer en tant que Developer" in login.get_data(as_text=True)


def _signed_in(http: FlaskClient, language: str | None, **target: str) -> str:
    body = {"admin": "Alex Martin", **target} | ({"language": language} if language else {})
    answer = http.post("/api/v1/staff/login-links", json=body, headers=AUTH)
    assert answer.status_code == 201, answer.json
    landed = http.post("/" + answer.json["url"].split("://", 1)[1].split("/", 1)[1])
    assert landed.status_code == 303
    page = http.get(landed.headers["Location"])
    assert page.status_code == 200
    return page.get_data(as_text=True)


def test_the_staff_view_follows_the_admins_language_and_translates_every_detail(
    make_app: Any,
) -> None:
    app = make_app(STAFF_LANGUAGE="en", SITE_CHECK_ENABLED=False)
    http = app.test_client()
    assert start(http, "iv-1").status_code == 200
    assert complete(http, "iv-1").status_code == 200
    run_due(app)

    french = _signed_in(http, "french", intervention="iv-1")
    english = _signed_in(app.test_client(), None, intervention="iv-1")

    assert '<html lang="fr"' in french and '<html lang="en"' in english
    assert "Historique" in french or "historique" in french
    for key in ("technicien", "identifiant du message", "sauvegarde"):
        assert f"<b>{key}</b>" in french, key
    for raw in ("check urls", "message id", "backup reference", "Site snapshot"):
        assert raw not in french, raw
    assert "<b>message ID</b>" in english
    # French typography on the staff's pages too: what the service writes, not the mail
    # server's own reply it quotes.
    body = re.sub(r"250 [^<]*", "", french.split("<main", 1)[1])
    assert problems(body, markup=True) == []
    listing = http.get("/staff/").get_data(as_text=True)
    assert '<html lang="fr"' in listing
    assert problems(listing.split("<main", 1)[1], markup=True) == []


def test_simulate_in_development_needs_no_secret_and_makes_a_new_client_each_time(
    make_app: Any, tmp_path: Path
) -> None:
    app: Flask = make_app(WEBHOOK_SECRET=DEVELOPMENT_SECRETS["WEBHOOK_SECRET"])
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PANEL_ADDON_ENV": "development",
        "PANEL_ADDON_SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'cli.sqlite'}",
        "PANEL_ADDON_MAIL_BACKEND": "outbox",
    }
    with serve(app, free_port()) as base:
        for language in ("en", "fr"):
            done = subprocess.run(
                [str(BIN), "simulate", "--url", base, "--language", language],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
                cwd=tmp_path,
            )
            assert done.returncode == 0, done.stderr
            assert "intervention.completed: 200" in done.stdout
            assert f"{base}/dev/staff" in done.stdout

    with app.app_context():
        clients = db.session.scalars(select(Client).order_by(Client.id)).all()
        assert sorted(c.language or "" for c in clients) == ["en", "fr"]
        assert len({c.email for c in clients}) == 2
        assert len(db.session.scalars(select(Intervention)).all()) == 2
        assert db.session.scalars(select(Event)).first() is not None


def test_staff_link_prints_a_login_link(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PANEL_ADDON_ENV": "development",
        "PANEL_ADDON_SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'cli.sqlite'}",
        "PANEL_ADDON_PUBLIC_URL": "http://localhost:5999",
    }
    done = subprocess.run(
        [str(BIN), "staff-link", "--intervention", "demo-1", "--language", "fr"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("http://localhost:5999/staff/login/")
    assert "works once" in done.stderr


def test_ctrl_c_ends_make_run_quietly(tmp_path: Path) -> None:
    """`make run` in a terminal, then Ctrl-C: the service and worker stop, make says nothing."""
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "PANEL_ADDON_PUBLIC_URL": f"http://localhost:{port}",
        "PANEL_ADDON_SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'dev.sqlite'}",
        "PANEL_ADDON_REDIS_URL": REDIS_URL,
        "PANEL_ADDON_QUEUE_PREFIX": f"test-{secrets.token_hex(4)}",
    }
    pid, fd = pty.fork()
    if pid == 0:  # the child: make, in the pseudo-terminal
        os.chdir(ROOT)
        os.execvpe("make", ["make", "--no-print-directory", "run"], env)  # noqa: S606
    out = b""
    try:
        out = _read_until(fd, b"Press CTRL+C", timeout=180)
        os.write(fd, b"\x03")  # what the terminal sends for Ctrl-C
        out += _read_until(fd, b"", timeout=30)
    finally:
        # However it went, nothing of it outlives the test.
        ended, _ = os.waitpid(pid, os.WNOHANG)
        if not ended:
            os.killpg(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
        os.close(fd)
    said = out.decode("utf-8", "replace")
    assert "Press CTRL+C" in said, said[-2000:]
    assert "make: ***" not in said and "Error" not in said.split("Press CTRL+C", 1)[1]


def _read_until(fd: int, wanted: bytes, timeout: float) -> bytes:
    """What the terminal shows until `wanted` appears (or, for b"", until it closes)."""
    out = b""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        ready, _, _ = io_select.select([fd], [], [], 0.2)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            return out
        if not chunk:
            return out
        out += chunk
        if wanted and wanted in out:
            return out
    return out


def test_the_outbox_mail_links_to_the_clients_pages(make_app: Any) -> None:
    app = make_app(ENV="development", MAIL_BACKEND="outbox", SITE_CHECK_ENABLED=False)
    http = app.test_client()
    assert start(http, "iv-1").status_code == 200
    assert complete(http, "iv-1").status_code == 200
    run_due(app)

    listing = http.get("/dev/outbox/").get_data(as_text=True)
    [name] = re.findall(r'href="/dev/outbox/([^"/]+\.eml)"', listing)
    mail = http.get(f"/dev/outbox/{name}").get_data(as_text=True)

    # A newcomer follows the link from the mail as shown: it is a link.
    assert re.search(r'<a href="https?://[^"]+/i/[^"]+/validate"', mail)
