"""The site check: snapshots of the client's pages before and after an intervention.

On start a `site_snapshot` task (kind `site`) takes the *before* snapshot; on
completion another takes the *after* one, compares, and tells the lifecycle, which
opens the client's validation window or, on a regression with HOLD_MAIL_ON_REGRESSION,
holds the mail for a technician. A `site_check_overdue` task (kind `due`) opens the
window anyway if the after snapshot never finishes. The rules are in site_check_rules,
the fetching in site_check_http, the task in effects/site_check.py;
docs/site-check.md says it all in prose.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import force_locale, ngettext
from sqlalchemy import delete, select

from . import site_check_words as words
from .domain.states import State
from .models import Intervention, SiteSnapshot, db
from .site_check_http import Policy
from .site_check_rules import SIGNS_BY_NAME, compare, form_kind, is_failing, page_kind

log = logging.getLogger(__name__)

PHASES = ("before", "after")
WANTED_STATE = {"before": State.IN_PROGRESS, "after": State.AWAITING_VALIDATION}


def policy() -> Policy:
    """The fetch limits from the settings."""
    config = current_app.config
    return Policy(
        timeout=config["SITE_CHECK_TIMEOUT"].total_seconds(),
        snapshot_timeout=config["SITE_CHECK_SNAPSHOT_TIMEOUT"].total_seconds(),
        per_host=config["SITE_CHECK_CONCURRENCY"],
        max_bytes=config["SITE_CHECK_MAX_BYTES"],
        max_redirects=config["SITE_CHECK_MAX_REDIRECTS"],
        allow_loopback=config["SITE_CHECK_ALLOW_PRIVATE"],
        allowed_networks=config["SITE_CHECK_ALLOWED_NETWORKS"],
        user_agent=user_agent(),
    )


def user_agent() -> str:
    """Names the host's service, so a client reading their logs knows who called."""
    config = current_app.config
    if config.get("SITE_CHECK_USER_AGENT"):
        return str(config["SITE_CHECK_USER_AGENT"])
    company = config["COMPANY_NAME"].encode("ascii", "ignore").decode().strip() or "host"
    return f"{company} site check (intervention sign-off; +{config['PUBLIC_URL']})"


# --- Storage -----------------------------------------------------------------------------


def store(
    intervention: Intervention, phase: str, results: list[dict[str, Any]], at: datetime
) -> None:
    """Replace the intervention's snapshot of `phase` (a repeated snapshot replaces)."""
    db.session.execute(
        delete(SiteSnapshot).where(
            SiteSnapshot.intervention_id == intervention.id, SiteSnapshot.phase == phase
        )
    )
    for position, result in enumerate(results):
        db.session.add(
            SiteSnapshot(
                intervention_id=intervention.id,
                phase=phase,
                position=position,
                url=result["url"][:2000],
                taken_at=at,
                result=result,
            )
        )
    db.session.flush()


Rows = dict[int, list[SiteSnapshot]]


def load_rows(intervention_ids: Iterable[int]) -> Rows:
    """Every stored snapshot of these interventions, in one query (for lists of them)."""
    ids = list(intervention_ids)
    rows: Rows = {i: [] for i in ids}
    if not ids:
        return rows
    for row in db.session.scalars(
        select(SiteSnapshot).where(SiteSnapshot.intervention_id.in_(ids)).order_by(SiteSnapshot.id)
    ):
        rows[row.intervention_id].append(row)
    return rows


def pages(
    intervention: Intervention, rows: list[SiteSnapshot] | None = None
) -> list[dict[str, Any]]:
    """For each checked URL: its before and after snapshots and their comparison."""
    if not intervention.check_urls:
        return []
    if rows is None:
        rows = load_rows([intervention.id])[intervention.id]
    found: dict[tuple[str, str], SiteSnapshot] = {}
    for row in rows:
        found[(row.phase, row.url)] = row
    result = []
    for url in intervention.check_urls or []:
        before, after = found.get(("before", url[:2000])), found.get(("after", url[:2000]))
        result.append(
            {
                "url": url,
                "before": before,
                "after": after,
                **compare(before.result if before else None, after.result if after else None),
            }
        )
    return result


# --- Words -------------------------------------------------------------------------------


def label(url: str, language: str) -> str:
    """`Checkout page`, `Page d'accueil`, or `Page /about` for a page we cannot name."""
    kind = page_kind(url)
    with force_locale(language):
        if kind in words.PAGE_NAMES:
            return str(words.PAGE_NAMES[kind])
        path = urlsplit(url).path or "/"
        return words.OTHER_PAGE % {"path": path if len(path) <= 60 else path[:57] + "..."}


def outcome(snap: dict[str, Any], language: str) -> str:
    """How the page answered, in plain words: `reachable, order form present`."""
    with force_locale(language):
        return _outcome(snap)


def _outcome(snap: dict[str, Any]) -> str:
    error, status = snap.get("error"), snap.get("status")
    if error == "timeout":
        seconds = int(current_app.config["SITE_CHECK_TIMEOUT"].total_seconds())
        return ngettext(
            "does not answer within %(num)d second",
            "does not answer within %(num)d seconds",
            seconds,
        )
    if error in ("dns", "connect", "tls"):
        return str(words.OUTCOMES["unreachable"])
    if error == "tls_invalid":
        return str(words.OUTCOMES["tls_invalid"])
    if error == "too_many_redirects":
        return str(words.OUTCOMES["redirect_loop"])
    if error == "offsite":
        host = urlsplit(snap.get("final_url") or "").hostname or "?"
        return words.OUTCOMES["offsite"] % {"host": host}
    if error:
        return str(words.OUTCOMES["not_checked"])
    if status is not None and status >= 400:
        return words.OUTCOMES["http_error"] % {"status": status}
    signs = snap.get("signs", [])
    failures = [s for s in signs if s in SIGNS_BY_NAME and SIGNS_BY_NAME[s].failure]
    if failures:
        return ", ".join(str(words.SHOWS[s]) for s in failures)
    said = [str(words.OUTCOMES["reachable"])] + [str(words.SHOWS[s]) for s in signs]
    kinds = {form_kind(form) for form in snap.get("forms", [])}
    said += [str(words.FORMS_PRESENT[kind]) for kind in words.FORMS_PRESENT if kind in kinds]
    return ", ".join(said)


def client_lines(intervention: Intervention, language: str) -> list[dict[str, str]]:
    """What the client's mail and link page list: `{"label", "outcome"}` per checked page.

    From the latest after snapshot; empty when there is none (no check, or not finished).
    A failing page that failed before the intervention as well, or whose before snapshot
    is missing, "could not be checked": nothing says the intervention did it, and a worried
    client is not told "does not answer" with nothing to do. A page that got worse says
    what to do about it.
    """
    if not intervention.check_urls:
        return []
    lines = []
    for page in pages(intervention):
        if page["after"] is None:
            continue
        result = page["after"].result
        with force_locale(language):
            if page["note"] in ("failing_before", "no_before") and is_failing(result):
                said = str(words.OUTCOMES["not_checked"])
            else:
                said = _outcome(result)
            if page["verdict"] == "regressed":
                said = words.REGRESSION_ADVICE % {"outcome": said}
        lines.append({"label": label(page["url"], language), "outcome": said})
    return lines


def describe(change: dict[str, Any], language: str) -> str:
    """One change in words for staff, e.g. `now fails: 200 → 500`."""
    with force_locale(language):
        values = {k: v for k, v in change.items() if k not in ("code", "regression")}
        if "sign" in values:
            values["sign"] = str(words.SIGNS[values["sign"]])
        if "kind" in values:
            values["kind"] = str(words.FORM_KINDS[values["kind"]])
        for key in ("removed", "added"):
            if key in values:
                values[key] = ", ".join(values[key]) or "-"
        for key in ("before", "after"):
            if key in values and values[key] is None:
                values[key] = "-"
        if change["code"] == "size":
            after = values["after"]
            return ngettext(
                "size %(before)s → %(after)s byte",
                "size %(before)s → %(after)s bytes",
                after if isinstance(after, int) else 2,
                **values,
            )
        return words.CHANGES[change["code"]] % values


def _summary(row: SiteSnapshot | None) -> dict[str, Any] | None:
    if row is None:
        return None
    snap = row.result or {}
    return {
        "taken_at": row.taken_at.isoformat(),
        "status": snap.get("status"),
        "final_url": snap.get("final_url"),
        "redirects": snap.get("redirects", []),
        "tls_valid": snap.get("tls_valid"),
        "elapsed_ms": snap.get("elapsed_ms"),
        "size": snap.get("size"),
        "truncated": snap.get("truncated", False),
        "content_type": snap.get("content_type"),
        "title": snap.get("title"),
        "forms": [{**form, "kind": form_kind(form)} for form in snap.get("forms", [])],
        "signs": snap.get("signs", []),
        "failing": is_failing(snap),
        "error": snap.get("error"),
        "error_detail": snap.get("error_detail"),
    }


def staff_json(
    intervention: Intervention, rows: list[SiteSnapshot] | None = None
) -> list[dict[str, Any]]:
    """`site_check` of the staff JSON: one entry per checked URL ([] when nothing is checked).

    See docs/site-check.md for the shape; `verdict` is None until the after snapshot.
    """
    language = current_app.config["STAFF_LANGUAGE"]
    result = []
    for page in pages(intervention, rows):
        result.append(
            {
                "url": page["url"],
                "label": label(page["url"], language),
                "verdict": page["verdict"],
                "compared": page["compared"],
                "note": _in(language, words.PAGE_NOTES[page["note"]]) if page["note"] else None,
                "changes": [
                    {
                        "code": c["code"],
                        "regression": c["regression"],
                        "text": describe(c, language),
                    }
                    for c in page["changes"]
                ],
                "before": _summary(page["before"]),
                "after": _summary(page["after"]),
            }
        )
    return result


def regression_lines(intervention: Intervention, language: str) -> list[str]:
    """One line per regressed page, for the technician's ticket note."""
    lines = []
    for page in pages(intervention):
        if page["verdict"] != "regressed":
            continue
        changes = "; ".join(describe(c, language) for c in page["changes"] if c["regression"])
        values = {"label": label(page["url"], language), "url": page["url"], "changes": changes}
        lines.append(_in(language, words.REGRESSED_PAGE) % values)
    return lines


def _in(language: str, text: Any) -> str:
    with force_locale(language):
        return str(text)
