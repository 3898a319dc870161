"""The staff JSON of an intervention: what the staff API shows and the dossier carries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .. import site_check
from ..models import Intervention, SiteSnapshot


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def intervention_fields(
    iv: Intervention, site_rows: list[SiteSnapshot] | None = None
) -> dict[str, Any]:
    """The fields of `GET /api/v1/interventions/<id>` (contract §7) but its detail lists."""
    return {
        "id": iv.panel_id,
        "state": iv.state,
        "ticket_id": iv.ticket_id,
        "client": {
            "id": iv.client.id,
            "email": iv.client.email,
            "name": iv.client.name,
            "language": iv.client.language,
            "eligible": iv.client.eligible,
        },
        "site": iv.site,
        "technician": iv.technician,
        "started_at": iso(iv.started_at),
        "completed_at": iso(iv.completed_at),
        "deadline_at": iso(iv.deadline_at),
        "decided_at": iso(iv.decided_at),
        "late_report": iv.late_report,
        "late_report_review": iv.late_report_review,
        "restore_requested": iv.restore_requested,
        "resolution": iv.resolution,
        "backup": {
            "reference": iv.backup_reference,
            "state": iv.backup_state,
            "created_at": iso(iv.backup_created_at),
            "expires_at": iso(iv.backup_expires_at),
        },
        # The site check (docs/site-check.md): [] when nothing is checked.
        "mail_held": iv.mail_held_at is not None,
        "mail_held_at": iso(iv.mail_held_at),
        "site_check": site_check.staff_json(iv, site_rows),
    }
