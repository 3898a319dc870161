"""The bare baseline: Flask doing the least durable work each benchmarked request needs.

Served by the same gunicorn, with the same settings and database as the service:
a webhook parses the JSON, inserts one row and commits; a link page is one SELECT by
key and a small template; a decision is one UPDATE by key and a commit. No signature,
no validation, no ORM: the floor the service is compared with.
"""

from __future__ import annotations

import json
import os
from typing import Any

import psycopg
from flask import Flask, Response, abort, redirect, request

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{{ site }}</title></head>
<body><h1>{{ site }}</h1><p>{{ summary }}</p><p>State: {{ state }}</p>
<form method="post"><button>Validate</button></form></body></html>"""

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS deliveries (
    webhook_id text PRIMARY KEY, event_type text NOT NULL, panel_id text NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    key text PRIMARY KEY, state text NOT NULL, site text, summary text
);
"""

app = Flask(__name__)
# Compiled once, as Flask's template loader would cache a template file.
TEMPLATE = app.jinja_env.from_string(PAGE)
_conn: psycopg.Connection[Any] | None = None


def connection() -> psycopg.Connection[Any]:
    """One connection per worker process, opened after gunicorn forks."""
    global _conn
    if _conn is None or _conn.closed:
        _conn = psycopg.connect(
            os.environ["BENCH_BARE_DSN"], options=f"-csearch_path={os.environ['BENCH_BARE_SCHEMA']}"
        )
    return _conn


@app.post("/webhooks/panel")
def webhook() -> Response:
    payload = json.loads(request.get_data())
    conn = connection()
    conn.execute(
        "INSERT INTO deliveries (webhook_id, event_type, panel_id) VALUES (%s, %s, %s)",
        (request.headers["webhook-id"], payload["type"], str(payload["data"]["id"])),
    )
    conn.commit()
    return Response('{"ok": true}', mimetype="application/json")


@app.get("/i/<key>/<purpose>")
def page(key: str, purpose: str) -> str:
    conn = connection()
    row = conn.execute("SELECT state, site, summary FROM items WHERE key = %s", (key,)).fetchone()
    conn.rollback()
    if row is None:
        abort(404)
    return TEMPLATE.render(state=row[0], site=row[1], summary=row[2])


@app.post("/i/<key>/<purpose>")
def decide(key: str, purpose: str) -> Response:
    conn = connection()
    conn.execute(
        "UPDATE items SET state = 'validated' WHERE key = %s AND state = 'awaiting_validation'",
        (key,),
    )
    conn.commit()
    return redirect(request.path, code=303)  # type: ignore[return-value]
