"""The site check in words: page names, how a page answered, what changed, by code.

Lazy msgids, rendered in the reader's language by site_check (the client's in their mail
and link page, STAFF_LANGUAGE in ticket notes and the staff JSON).
"""

from __future__ import annotations

from flask_babel import lazy_gettext
from flask_babel.speaklater import LazyString

# site_check_rules.page_kind
PAGE_NAMES: dict[str, LazyString] = {
    "home": lazy_gettext("Home page"),
    "checkout": lazy_gettext("Checkout page"),
    "cart": lazy_gettext("Cart page"),
    "contact": lazy_gettext("Contact page"),
    "account": lazy_gettext("Account page"),
}
OTHER_PAGE = lazy_gettext("Page %(path)s")

# How a page answered, for the client: the fetch errors, then what the page shows.
OUTCOMES: dict[str, LazyString] = {
    "reachable": lazy_gettext("reachable"),
    "unreachable": lazy_gettext("does not answer"),
    "tls_invalid": lazy_gettext("security certificate (HTTPS) not valid"),
    "redirect_loop": lazy_gettext("redirects in a loop"),
    "offsite": lazy_gettext("sends visitors to another site (%(host)s)"),
    "not_checked": lazy_gettext("could not be checked"),
    "http_error": lazy_gettext("does not load (error %(status)s)"),
}
# A page that got worse, for the client: never without what to do about it.
REGRESSION_ADVICE = lazy_gettext(
    "%(outcome)s — this page changed after the intervention: check it first, and if "
    "something is wrong, tell us with the “Something is wrong” button"
)
# site_check_rules.SIGNS, for the client...
SHOWS: dict[str, LazyString] = {
    "php_fatal": lazy_gettext("shows a PHP error"),
    "wp_critical": lazy_gettext("shows WordPress's “critical error” page"),
    "db_error": lazy_gettext("shows a database connection error"),
    "maintenance": lazy_gettext("shows a maintenance page"),
    "empty_body": lazy_gettext("the page is empty"),
    "php_warning": lazy_gettext("shows PHP warnings"),
}
# ...and for staff.
SIGNS: dict[str, LazyString] = {
    "php_fatal": lazy_gettext("PHP fatal error"),
    "wp_critical": lazy_gettext("WordPress critical error page"),
    "db_error": lazy_gettext("database connection error"),
    "maintenance": lazy_gettext("maintenance page"),
    "empty_body": lazy_gettext("empty page"),
    "php_warning": lazy_gettext("PHP warnings"),
}
# site_check_rules.form_kind: the forms the client is told about, then every kind for staff.
FORMS_PRESENT: dict[str, LazyString] = {
    "order": lazy_gettext("order form present"),
    "contact": lazy_gettext("contact form present"),
    "login": lazy_gettext("login form present"),
}
FORM_KINDS: dict[str, LazyString] = {
    "order": lazy_gettext("order"),
    "contact": lazy_gettext("contact"),
    "login": lazy_gettext("login"),
    "search": lazy_gettext("search"),
    "form": lazy_gettext("other"),
}

# site_check_rules.RULES, by code; `size` is counted (site_check.describe).
CHANGES: dict[str, LazyString] = {
    "page_fails": lazy_gettext("now fails: %(before)s → %(after)s"),
    "page_recovered": lazy_gettext("works again: %(before)s → %(after)s"),
    "status": lazy_gettext("answer %(before)s → %(after)s"),
    "final_url": lazy_gettext("now ends at %(after)s (was %(before)s)"),
    "sign_appeared": lazy_gettext("%(sign)s appeared"),
    "warning_appeared": lazy_gettext("%(sign)s appeared"),
    "sign_gone": lazy_gettext("%(sign)s gone"),
    "form_missing": lazy_gettext("form %(form)s (%(kind)s) disappeared"),
    "form_added": lazy_gettext("new form %(form)s (%(kind)s)"),
    "form_fields": lazy_gettext(
        "form %(form)s: fields removed %(removed)s; fields added %(added)s"
    ),
    "slower": lazy_gettext("%(ratio)s× slower (%(before)s ms → %(after)s ms)"),
    "tls_invalid": lazy_gettext("the HTTPS certificate is no longer valid"),
    "title": lazy_gettext("title “%(before)s” → “%(after)s”"),
}

# site_check_rules.compare's `note` on a page it could not judge.
PAGE_NOTES: dict[str, LazyString] = {
    "no_before": lazy_gettext(
        "No before snapshot: nothing to compare, so no regression can be told."
    ),
    "failing_before": lazy_gettext(
        "The page already failed before the intervention: its changes do not count as regressions."
    ),
}
# One regressed page in the technician's ticket note.
REGRESSED_PAGE = lazy_gettext("- %(label)s (%(url)s): %(changes)s")
