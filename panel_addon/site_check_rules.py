"""The site check's rules, in one place: failure signs, what a page and a form are, and
how a page's before and after snapshots compare (unchanged, changed, regressed).

Everything here is a pure function of snapshots (the dicts `site_check_http.fetch`
returns), so the rules are read, tested and changed without a network or a database.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

Snapshot = dict[str, Any]
Change = dict[str, Any]

# --- Failure signs: what a broken page shows, named -------------------------------------


@dataclass(frozen=True)
class Sign:
    name: str
    # Looked for in the page's text lowercased: the pattern runs only where one of the
    # `needles` (plain text it cannot match without) is found, a quick test on big pages.
    needles: tuple[str, ...]
    pattern: re.Pattern[str] | None
    failure: bool  # True: the page is broken; False: a blemish worth telling staff


SIGNS: tuple[Sign, ...] = (
    Sign(
        "php_fatal",
        ("fatal error", "parse error", "uncaught error", "uncaught exception"),
        re.compile(r"(?:fatal|parse) error(?:</b>)?:\s|uncaught (?:error|exception)"),
        True,
    ),
    Sign(
        "wp_critical",
        ("critical error on", "erreur critique sur"),
        re.compile(
            r"there has been a critical error on (?:this|your) website"
            r"|il y a eu une erreur critique sur (?:ce|votre) site"
        ),
        True,
    ),
    Sign(
        "db_error",
        ("error establishing a database", "erreur lors de la connexion", "sqlstate[hy000]"),
        re.compile(
            r"error establishing a database connection"
            r"|erreur lors de la connexion (?:à|a) la base de donn(?:é|e)es"
            r"|sqlstate\[hy000\] \[(?:1040|1045|2002|2006)\]"
        ),
        True,
    ),
    Sign(
        "maintenance",
        ("scheduled maintenance", "cause de maintenance", "maintenance mode is"),
        re.compile(
            r"briefly unavailable for scheduled maintenance"
            r"|bri(?:è|e)vement indisponible pour cause de maintenance"
            r"|maintenance mode is (?:on|active)"
        ),
        True,
    ),
    Sign("empty_body", (), None, True),  # answered 2xx with nothing but blanks
    Sign(
        "php_warning",
        (" on line <b>",),
        re.compile(r"<b>(?:warning|notice|deprecated)</b>:\s.{0,400}? on line <b>\d+</b>"),
        False,
    ),
)
SIGNS_BY_NAME = {sign.name: sign for sign in SIGNS}
_MAINTENANCE_TITLE = re.compile(r"\bmaintenance\b", re.I)


def find_signs(body: bytes, text: str, title: str | None, status: int | None) -> list[str]:
    """The names of the failure signs a page shows, in the order of SIGNS."""
    folded = text.lower()
    found = []
    for sign in SIGNS:
        if sign.name == "empty_body":
            hit = status is not None and 200 <= status < 300 and not body.strip()
        else:
            hit = _shows(sign, folded)
            if sign.name == "maintenance" and title:
                hit = hit or bool(_MAINTENANCE_TITLE.search(title))
        if hit:
            found.append(sign.name)
    return found


def _shows(sign: Sign, folded: str) -> bool:
    if sign.pattern is None or not any(needle in folded for needle in sign.needles):
        return False
    return sign.pattern.search(folded) is not None


# --- What a page and a form are, for plain words -----------------------------------------

# First match wins; words are looked for in the URL's path (both languages of our clients).
PAGE_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("checkout", ("checkout", "commande", "order", "paiement", "payment")),
    ("cart", ("cart", "panier", "basket")),
    ("contact", ("contact",)),
    ("account", ("account", "compte", "login", "connexion", "my-account", "mon-compte")),
)

# A key matches a whole word of the form's fields, id and action; keys of six letters
# or more also match inside a word (`billing_email`, `commentform`). `orderby` is a
# sorting list, not an order form: short keys never match inside a word.
FORM_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "order",
        (
            "checkout",
            "billing",
            "payment",
            "order",
            "cart",
            "commande",
            "panier",
            "shipping",
            "quantity",
            "qty",
        ),
    ),
    ("contact", ("message", "wpcf7", "contact", "comment", "enquiry", "inquiry")),
    ("login", ("password", "pwd", "pass", "login")),
    ("search", ("search", "recherche")),
)


def page_kind(url: str) -> str:
    """`home`, `checkout`, `cart`, `contact`, `account`, or `page` for anything else."""
    path = urlsplit(url).path.lower()
    if path.strip("/") in ("", "index.php", "index.html", "fr", "en"):
        return "home"
    for kind, words in PAGE_KINDS:
        if any(word in path for word in words):
            return kind
    return "page"


def form_kind(form: dict[str, Any]) -> str:
    """`order`, `contact`, `login`, `search` or `form`, from the form's fields and action."""
    text = " ".join(
        [*form.get("fields", []), form.get("id") or "", urlsplit(form.get("action", "")).path]
    )
    text = text.lower()
    tokens = set(re.split(r"[^a-z0-9]+", text))
    for kind, keys in FORM_KINDS:
        if any(key in tokens or (len(key) >= 6 and key in text) for key in keys):
            return kind
    if form.get("fields") in (["s"], ["q"]):
        return "search"
    return "form"


# --- Comparing before and after ----------------------------------------------------------


# A page is failing when it could not be read, answered an error, or shows a failure sign.
# ("offsite" is a result, not a failure: the page sends visitors to another site.)
def is_failing(snap: Snapshot) -> bool:
    if snap.get("error") and snap["error"] != "offsite":
        return True
    if (snap.get("status") or 0) >= 400:
        return True
    return any(SIGNS_BY_NAME[s].failure for s in snap.get("signs", []) if s in SIGNS_BY_NAME)


def answer_words(snap: Snapshot) -> str:
    """A short technical description of how a page answered: `200`, `500`, `timeout`."""
    if snap.get("error") and snap["error"] != "offsite":
        return str(snap["error"])
    return str(snap.get("status"))


SLOWER_RATIO = 3.0  # "several times slower"...
SLOWER_MIN_MS = 250  # ...and by at least this much (jitter on a fast page is not a regression)
SIZE_RATIO = 0.5  # a change of size by half or more is worth telling
SIZE_MIN_BYTES = 1024


def _form_label(form: dict[str, Any]) -> str:
    return form.get("id") or urlsplit(form.get("action", "")).path or "/"


def _match_forms(
    before: list[dict[str, Any]], after: list[dict[str, Any]]
) -> tuple[list[tuple[dict[str, Any], dict[str, Any]]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Pair forms by id, else by action and method, else by shared field names."""
    pairs, left = [], list(after)
    missing = []
    for form in before:
        match = next((f for f in left if form.get("id") and f.get("id") == form.get("id")), None)
        if match is None:
            match = next(
                (
                    f
                    for f in left
                    if urlsplit(f["action"]).path == urlsplit(form["action"]).path
                    and f["method"] == form["method"]
                    and not (form.get("id") and f.get("id"))
                ),
                None,
            )
        if match is None:
            fields = set(form["fields"])
            match = next(
                (
                    f
                    for f in left
                    if fields
                    and len(fields & set(f["fields"])) / len(fields | set(f["fields"])) >= 0.5
                ),
                None,
            )
        if match is None:
            missing.append(form)
        else:
            pairs.append((form, match))
            left.remove(match)
    return pairs, missing, left


def _rule_fails(before: Snapshot, after: Snapshot) -> list[Change]:
    if not is_failing(before) and (
        (after.get("error") and after["error"] != "offsite") or (after.get("status") or 0) >= 400
    ):
        return [{"before": answer_words(before), "after": answer_words(after)}]
    return []


def _rule_recovered(before: Snapshot, after: Snapshot) -> list[Change]:
    if is_failing(before) and not is_failing(after):
        return [{"before": answer_words(before), "after": answer_words(after)}]
    return []


def _rule_status(before: Snapshot, after: Snapshot) -> list[Change]:
    if _rule_fails(before, after) or _rule_recovered(before, after):
        return []
    if answer_words(before) != answer_words(after):
        return [{"before": answer_words(before), "after": answer_words(after)}]
    return []


def _rule_final_url(before: Snapshot, after: Snapshot) -> list[Change]:
    if before.get("final_url") != after.get("final_url"):
        return [{"before": before.get("final_url"), "after": after.get("final_url")}]
    return []


def _rule_tls(before: Snapshot, after: Snapshot) -> list[Change]:
    if before.get("tls_valid") is True and after.get("tls_valid") is False:
        return [{}]
    return []


def _signs_appeared(failure: bool) -> Callable[[Snapshot, Snapshot], list[Change]]:
    def rule(before: Snapshot, after: Snapshot) -> list[Change]:
        had = set(before.get("signs", []))
        return [
            {"sign": s}
            for s in after.get("signs", [])
            if s not in had and s in SIGNS_BY_NAME and SIGNS_BY_NAME[s].failure is failure
        ]

    return rule


def _rule_signs_gone(before: Snapshot, after: Snapshot) -> list[Change]:
    now = set(after.get("signs", []))
    return [{"sign": s} for s in before.get("signs", []) if s not in now]


def _readable(snap: Snapshot) -> bool:
    return not is_failing(snap) and snap.get("error") != "offsite"


def _rule_forms_missing(before: Snapshot, after: Snapshot) -> list[Change]:
    if is_failing(after):
        return []  # the page itself fails: that is the change to tell, not each form
    _pairs, missing, _added = _match_forms(before.get("forms", []), after.get("forms", []))
    return [{"form": _form_label(f), "kind": form_kind(f)} for f in missing]


def _rule_forms_added(before: Snapshot, after: Snapshot) -> list[Change]:
    _pairs, _missing, added = _match_forms(before.get("forms", []), after.get("forms", []))
    return [{"form": _form_label(f), "kind": form_kind(f)} for f in added]


def _rule_form_fields(before: Snapshot, after: Snapshot) -> list[Change]:
    pairs, _missing, _added = _match_forms(before.get("forms", []), after.get("forms", []))
    changes = []
    for old, new in pairs:
        removed = sorted(set(old["fields"]) - set(new["fields"]))
        added = sorted(set(new["fields"]) - set(old["fields"]))
        if removed or added:
            changes.append({"form": _form_label(old), "removed": removed, "added": added})
    return changes


def _rule_slower(before: Snapshot, after: Snapshot) -> list[Change]:
    old, new = before.get("elapsed_ms"), after.get("elapsed_ms")
    if old is None or new is None or is_failing(after):
        return []
    if new >= SLOWER_RATIO * max(old, 1) and new - old >= SLOWER_MIN_MS:
        return [{"before": old, "after": new, "ratio": round(new / max(old, 1), 1)}]
    return []


def _rule_title(before: Snapshot, after: Snapshot) -> list[Change]:
    if _readable(before) and _readable(after) and before.get("title") != after.get("title"):
        return [{"before": before.get("title"), "after": after.get("title")}]
    return []


def _rule_size(before: Snapshot, after: Snapshot) -> list[Change]:
    old, new = before.get("size") or 0, after.get("size") or 0
    if not (_readable(before) and _readable(after)):
        return []
    if abs(new - old) >= SIZE_MIN_BYTES and abs(new - old) >= SIZE_RATIO * max(old, 1):
        return [{"before": old, "after": new}]
    return []


@dataclass(frozen=True)
class Rule:
    code: str
    regression: bool  # a change this rule finds makes the page "regressed"
    find: Callable[[Snapshot, Snapshot], list[Change]]


# The whole comparison. A regression is something a visitor of the page now suffers.
RULES: tuple[Rule, ...] = (
    Rule("page_fails", True, _rule_fails),  # answered before; an error or no answer now
    Rule("sign_appeared", True, _signs_appeared(True)),  # PHP fatal, WP critical error...
    Rule("form_missing", True, _rule_forms_missing),  # a form of the page disappeared
    Rule("slower", True, _rule_slower),  # several times slower (SLOWER_RATIO, SLOWER_MIN_MS)
    Rule("tls_invalid", True, _rule_tls),  # the HTTPS certificate stopped being valid
    Rule("warning_appeared", False, _signs_appeared(False)),  # PHP warnings now shown
    Rule("page_recovered", False, _rule_recovered),
    Rule("status", False, _rule_status),
    Rule("final_url", False, _rule_final_url),
    Rule("sign_gone", False, _rule_signs_gone),
    Rule("form_added", False, _rule_forms_added),
    Rule("form_fields", False, _rule_form_fields),
    Rule("title", False, _rule_title),
    Rule("size", False, _rule_size),
)


def compare(before: Snapshot | None, after: Snapshot | None) -> dict[str, Any]:
    """The verdict on one page: `unchanged`, `changed` or `regressed`, and what changed.

    Without an after snapshot there is no verdict yet (None). Without a before snapshot
    there is nothing to compare, and a page that already failed before cannot regress:
    `note` says so (`no_before`, `failing_before`).
    """
    if after is None:
        return {"verdict": None, "compared": False, "note": None, "changes": []}
    if before is None:
        return {"verdict": "unchanged", "compared": False, "note": "no_before", "changes": []}
    failing_before = is_failing(before)
    changes: list[Change] = []
    for rule in RULES:
        for found in rule.find(before, after):
            changes.append(
                {"code": rule.code, "regression": rule.regression and not failing_before, **found}
            )
    if any(change["regression"] for change in changes):
        verdict = "regressed"
    else:
        verdict = "changed" if changes else "unchanged"
    return {
        "verdict": verdict,
        "compared": True,
        "note": "failing_before" if failing_before else None,
        "changes": changes,
    }
