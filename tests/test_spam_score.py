"""The client mails as a spam filter sees them: SpamAssassin, local rules only, scores 0 or less.

A hidden preview text (invisible, or the colour of its background) once scored 1.7
(HTML_FONT_LOW_CONTRAST, FONT_INVIS_MSGID). Runs where `spamassassin` is installed
(CI installs it); `-L` keeps it off the network.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask

from panel_addon import mailer
from panel_addon.mail import Message, build

from .test_mail_templates import FULL

SPAMASSASSIN = shutil.which("spamassassin")
pytestmark = pytest.mark.skipif(
    SPAMASSASSIN is None, reason="needs spamassassin (apt install spamassassin; CI installs it)"
)

SCORE = re.compile(r"Content analysis details:\s+\((-?\d+(?:\.\d+)?) points")
RULE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+([A-Z0-9_]+)\s", re.MULTILINE)


def _score(mail: bytes, home: Path) -> tuple[float, list[str]]:
    """SpamAssassin's score of `mail`, and the rules that scored above zero."""
    answer = subprocess.run(
        [str(SPAMASSASSIN), "-L", "-t", "-x"],
        input=mail,
        capture_output=True,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        timeout=120,
        check=True,
    )
    report = answer.stdout.decode("utf-8", "replace")
    found = SCORE.search(report)
    assert found, report[-2000:]
    scored = [name for points, name in RULE.findall(report) if float(points) > 0]
    return float(found.group(1)), scored


def test_no_client_mail_scores_above_zero(app: Flask, tmp_path: Path) -> None:
    mails = {}
    with app.app_context():
        for name in mailer.MAIL_NAMES:
            for language in ("fr", "en"):
                rendered = mailer.render(name, language, FULL)
                message = Message(
                    to="marie.dupont@example.net",
                    subject=rendered.subject,
                    text=rendered.text,
                    html=rendered.html,
                    message_id="<signoff.task-1.20261125133000@signoff.easyhost.example>",
                )
                built = build(
                    message,
                    "EasyHost <no-reply@signoff.easyhost.example>",
                    datetime(2026, 11, 25, 13, 30, tzinfo=UTC),
                    "EasyHost support <support@easyhost.example>",
                )
                mails[f"{name}-{language}"] = built.as_bytes()

    with ThreadPoolExecutor(max_workers=2) as pool:
        scores = dict(
            zip(mails, pool.map(lambda m: _score(m, tmp_path), mails.values()), strict=True)
        )

    above = {name: found for name, found in scores.items() if found[0] > 0}
    assert above == {}
    print({name: score for name, (score, _) in scores.items()})
