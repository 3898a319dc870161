"""No secret and no link token in the logs of a full run of the real processes, faults and
hostile requests included."""

from __future__ import annotations

import base64
import json
import logging
import secrets
from pathlib import Path

import pytest
from flask import Flask

from .fake_whmcs import FakeWhmcs
from .faultkit import completed, panel_with_tickets, settings
from .processes import Service, wait_for
from .support import STAFF_TOKEN, SmtpSink, event_body, mail_links, signed_headers
from .test_end_to_end import http, post_form, webhook


def test_the_logs_of_a_full_run_hold_no_secret_and_no_token(
    tmp_path: Path, postgres_schema: str, mailbox: SmtpSink
) -> None:
    webhook_key = base64.b64encode(secrets.token_bytes(32)).decode()
    secret = {
        "SECRET_KEY": secrets.token_urlsafe(24),
        "SECRET_KEY_FALLBACKS": [secrets.token_urlsafe(24)],
        "WEBHOOK_SECRET": f"whsec_{webhook_key}",
        "STAFF_API_TOKEN": secrets.token_urlsafe(24),
        "WHMCS_SECRET": secrets.token_urlsafe(24),
        "WHMCS_ACCESS_KEY": secrets.token_urlsafe(16),
    }
    staff_auth = {
        "Authorization": f"Bearer {secret['STAFF_API_TOKEN']}",
        "Content-Type": "application/json",
    }
    with FakeWhmcs(secret=secret["WHMCS_SECRET"], access_key=secret["WHMCS_ACCESS_KEY"]) as panel:
        panel_with_tickets(panel, 2)
        svc = Service(
            settings(
                postgres_schema,
                (mailbox.host, mailbox.port),
                panel,
                LATE_REPORT_POLICY="auto",
                **secret,
            ),
            tmp_path,
        )
        try:
            assert svc.command("db", "upgrade").returncode == 0
            svc.start_web()
            svc.start_worker()
            # Faults along the way: the SMTP server and the panel refuse once each.
            with mailbox.lock:
                mailbox.refuse = 1
            panel.fail_next(1, "http500")

            def signed(event_type: str, data: dict[str, object]) -> int:
                body = event_body(event_type, data)
                headers = signed_headers(body, secret=secret["WEBHOOK_SECRET"])
                return http("POST", f"{svc.url}/webhooks/panel", body.encode(), headers)[0]

            assert signed("intervention.completed", completed(1)) == 200
            assert signed("intervention.completed", completed(2)) == 200
            # Hostile: an unsigned webhook and a webhook signed with a wrong key.
            assert webhook(svc, "intervention.completed", completed(3))[0] == 401
            wait_for(lambda: len(mailbox.received()) == 2, what="the completion mails")
            links = [u for m in mailbox.received() for u in mail_links(m)]

            # The clients: scanners fetch, one validates, one reports; a tampered link.
            for url in links:
                assert http("HEAD", url)[0] == 200
            validate = next(
                u for u in links if "/validate" in u and u in mail_links(mailbox.received()[0])
            )
            report = next(
                u for u in links if "/report" in u and u in mail_links(mailbox.received()[1])
            )
            assert post_form(validate, {}) == 303
            assert post_form(report, {"message": "Broken", "restore": "on"}) == 303
            token = validate.split("/i/")[1].split("/")[0]
            assert http("GET", validate.replace(token, token[:-4] + "AAAA"))[0] == 404

            # The staff: a resend (new links), a wrong token, a sign-in link used once.
            api = f"{svc.url}/api/v1"
            assert http("POST", f"{api}/interventions/iv-2/resend", b"{}", staff_auth)[0] == 200
            assert (
                http("GET", f"{api}/interventions/iv-1", headers={"Authorization": "Bearer wrong"})[
                    0
                ]
                == 401
            )
            status, raw, _ = http(
                "POST", f"{api}/staff/login-links", b'{"admin": "alex"}', staff_auth
            )
            assert status == 201
            login = json.loads(raw)["url"]
            assert http("GET", login)[0] == 200
            # The staff token sent in a query string: refused, and kept out of the access log.
            for query in (
                f"token={secret['STAFF_API_TOKEN']}",
                f"state=lapsed&q={secret['STAFF_API_TOKEN']}",
            ):
                assert http("GET", f"{api}/interventions?{query}")[0] == 401
            assert http("POST", login)[0] == 303

            wait_for(lambda: len(mailbox.received()) == 5, what="confirmations and the resent mail")
            wait_for(
                lambda: len(panel.ticket_notes(101)) == 2 and len(panel.ticket_notes(102)) == 2,
                what="the ticket notes",
            )
            links = [u for m in mailbox.received() for u in mail_links(m)]
            logs = svc.logs()
        finally:
            svc.stop()

    tokens = {url.split("/i/")[1].split("/")[0] for url in links}
    login_token = login.rsplit("/", 1)[1]
    assert len(tokens) >= 4 and "/i/[token]/" in logs and "/staff/login/[token]" in logs
    leaks = {
        name: value
        for name, value in {
            **{k: v for k, v in secret.items() if isinstance(v, str)},
            "SECRET_KEY_FALLBACKS": secret["SECRET_KEY_FALLBACKS"][0],  # type: ignore[index]
            "webhook key": webhook_key,
            "staff login token": login_token,
            **{f"link token {t[:6]}": t for t in tokens},
            # The signature part alone would do: the last 27 characters of a token.
            **{f"link signature {t[:6]}": t.rsplit(".", 1)[1] for t in tokens},
        }.items()
        if value in logs
    }
    assert not leaks, f"found in the logs: {sorted(leaks)}"
    assert "token=[" in logs and "state=lapsed" in logs


def test_secrets_in_query_strings_are_kept_out_of_access_lines(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # A request line as werkzeug's server logs it, and one as gunicorn's access log does.
    logging.getLogger("werkzeug").info(
        '%s - - [%s] "%s" %s -',
        "127.0.0.1",
        "04/Dec/2026 21:00:00",
        f"GET /api/v1/interventions?state=lapsed&token={STAFF_TOKEN} HTTP/1.1",
        401,
    )
    logging.getLogger("gunicorn.access").info(
        '%(h)s "%(r)s" %(s)s',
        {
            "h": "127.0.0.1",
            "r": "GET /api/v1/interventions?Authorization=Bearer%20abcdefgh123"
            f"&api_key=k3y-value-99&page=2&q={STAFF_TOKEN} HTTP/1.1",
            "s": "401",
        },
    )
    text = caplog.text
    for leaked in (STAFF_TOKEN, "abcdefgh123", "k3y-value-99"):
        assert leaked not in text
    # What carries no secret stays readable.
    assert "state=lapsed" in text and "page=2" in text and "api_key=[" in text
