"""The staff's counts per state: what staff act on in full, closed interventions recently."""

from __future__ import annotations

from typing import Any

from panel_addon.models import Intervention, db
from panel_addon.web.staff_queries import RECENT

from .flow import complete, send, start
from .support import STAFF_TOKEN

AUTH = {"Authorization": f"Bearer {STAFF_TOKEN}"}


def test_closed_interventions_count_only_while_recent_and_open_ones_always(
    backend: str, make_app: Any, clock: Any
) -> None:
    app = make_app(SITE_CHECK_ENABLED=False)
    client = app.test_client()
    start(client, "iv-open")  # in progress: staff act on it however old it is
    start(client, "iv-old")
    send(client, "intervention.cancelled", {"id": "iv-old"})
    clock.advance(seconds=RECENT.total_seconds() + 60)
    start(client, "iv-new")
    send(client, "intervention.cancelled", {"id": "iv-new"})
    start(client, "iv-waiting")
    complete(client, "iv-waiting")

    counts = client.get("/api/v1/interventions", headers=AUTH).json["counts"]
    assert counts == {"in_progress": 1, "cancelled": 1, "awaiting_validation": 1}
    with app.app_context():
        assert db.session.query(Intervention).filter_by(state="cancelled").count() == 2
