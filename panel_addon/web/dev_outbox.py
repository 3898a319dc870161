"""`/dev/outbox`: the mails the service would have sent, readable in a browser (development)."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage

from flask import Blueprint, Response, abort, current_app, make_response, render_template

from ..mail import outbox_dir

bp = Blueprint("dev_outbox", __name__, url_prefix="/dev/outbox")
_NAME = re.compile(r"^[\w\-.]+\.eml$")


def _read(name: str) -> EmailMessage:
    if not _NAME.match(name):
        abort(404)
    path = outbox_dir() / name
    if not path.is_file():
        abort(404)
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


@bp.before_request
def development_only() -> None:
    if current_app.config["ENV"] != "development" and not current_app.testing:
        abort(404)


@bp.get("/")
def index() -> str:
    folder = outbox_dir()
    names = sorted((p.name for p in folder.glob("*.eml")), reverse=True) if folder.exists() else []
    mails = []
    for name in names[:200]:
        message = _read(name)
        mails.append(
            {
                "name": name,
                "to": message["To"],
                "subject": message["Subject"],
                "date": message["Date"],
            }
        )
    return render_template(
        "outbox.html",
        mails=mails,
        lang="en",
        company="Dev outbox",
        support_url=None,
        t=lambda k, **v: k,
    )


@bp.get("/<name>")
def show(name: str) -> str:
    message = _read(name)
    text = message.get_body(preferencelist=("plain",))
    return render_template(
        "outbox_mail.html",
        name=name,
        headers={k: message[k] for k in ("From", "To", "Subject", "Date")},
        text=text.get_content() if text else "",
        lang="en",
        company="Dev outbox",
        support_url=None,
        t=lambda k, **v: k,
    )


@bp.get("/<name>/html")
def html(name: str) -> Response:
    part = _read(name).get_body(preferencelist=("html",))
    response = make_response(part.get_content() if part else "", 200)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response
