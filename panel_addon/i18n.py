"""Languages: gettext catalogs through Flask-Babel, a host's own catalogs over the package's.

English is the source language (the msgids). `panel_addon/translations/<lang>/LC_MESSAGES/`
holds the package's catalogs (`messages.po`, compiled to `messages.mo` by the build); a
host's TRANSLATIONS_DIR with the same layout changes any string or adds a language. The
service speaks English and every language that has a compiled catalog (docs/configuration.md).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jinja2
from babel import Locale, UnknownLocaleError
from flask import Flask, current_app, g, has_request_context, request
from flask_babel import Babel, force_locale, get_translations

CATALOGS = Path(__file__).parent / "translations"
DOMAIN = "messages"
SOURCE_LANGUAGE = "en"
# The pages that speak STAFF_LANGUAGE whatever the browser asks for.
STAFF_BLUEPRINTS = ("staff_view",)


class CatalogError(ValueError):
    """A catalog folder the service cannot use; the message names the file and the fix."""


def catalog_languages(directory: Path) -> set[str]:
    """The languages with a compiled catalog in `directory` (`<lang>/LC_MESSAGES/messages.mo`).

    Raises CatalogError for a folder that names no language Babel knows, or for a `.po`
    with no `.mo` beside it (Flask-Babel reads only compiled catalogs).
    """
    languages = set()
    for messages in sorted(directory.glob(f"*/LC_MESSAGES/{DOMAIN}.[mp]o")):
        language = messages.parent.parent.name
        try:
            Locale.parse(language)
        except (UnknownLocaleError, ValueError):
            raise CatalogError(
                f"{messages.parent.parent}: {language!r} is not a language code (fr, de, pt_BR...)"
            ) from None
        if not messages.with_suffix(".mo").is_file():
            raise CatalogError(f"{messages} is not compiled: run pybabel compile -d {directory}")
        languages.add(language)
    return languages


def init_app(app: Flask) -> None:
    """Configure Flask-Babel: the package's catalogs, then the host's (whose strings win)."""
    directories = [str(CATALOGS)]
    if app.config.get("TRANSLATIONS_DIR"):
        directories.append(str(Path(app.config["TRANSLATIONS_DIR"]).resolve()))
    # Flask-Babel merges the folders in this order: a later folder's string wins.
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = ";".join(directories)
    app.config["BABEL_DEFAULT_LOCALE"] = app.config["DEFAULT_LANGUAGE"]
    app.config["BABEL_DOMAIN"] = DOMAIN
    # One Babel per app: it keeps the catalogs it loaded, and apps may differ in
    # TRANSLATIONS_DIR (tests build many).
    Babel(app, locale_selector=_request_language)


def template_gettext(language: str) -> dict[str, Any]:
    """`gettext`, `ngettext`, `pgettext`, `npgettext` of `language`, for a template's context.

    `{% trans %}` and `_()` call these rather than the environment's own, which ask
    Flask-Babel for the current catalog at every sentence: a page or a mail renders in
    the language it is given, and finds its catalog once.
    """
    return _gettext_functions(current_app.config["BABEL_TRANSLATION_DIRECTORIES"], language)


@functools.lru_cache(maxsize=64)
def _gettext_functions(catalogs: str, language: str) -> dict[str, Any]:
    # `catalogs` (the app's folders) is part of the key: the functions read from them.
    with force_locale(language):
        translations = get_translations()
    # Jinja's own newstyle functions bound to that catalog (escaping, `%(name)s` values).
    env = jinja2.Environment(extensions=["jinja2.ext.i18n"], autoescape=True)
    env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    return {name: env.globals[name] for name in ("gettext", "ngettext", "pgettext", "npgettext")}


def languages() -> list[str]:
    """The languages this app speaks (settings.validate found them)."""
    return list(current_app.config["LANGUAGES"])


def _request_language() -> str:
    """The language of a page when its view did not choose one (`force_locale`).

    The staff view speaks the admin's language (staff_language), else STAFF_LANGUAGE;
    other pages the browser's language if the service speaks it, else DEFAULT_LANGUAGE,
    which is also that of work done outside a request (a worker's job chooses its
    language itself).
    """
    config = current_app.config
    if has_request_context():
        if request.blueprint in STAFF_BLUEPRINTS:
            return staff_language()
        best = request.accept_languages.best_match(config["LANGUAGES"])
        if best:
            return str(best)
    return str(config["DEFAULT_LANGUAGE"])


def staff_language() -> str:
    """The staff view's language: the admin's, as their login link said, else STAFF_LANGUAGE."""
    chosen = g.get("staff_language") if has_request_context() else None
    return str(chosen or current_app.config["STAFF_LANGUAGE"])


def normalise_language(value: str | None) -> str | None:
    """A spoken language for WHMCS's names (`french`, `portuguese-br`) or an ISO code.

    `pt-BR` gives `pt_BR` if there is a catalog for it, else `pt`; None when the service
    does not speak the language (the client then gets DEFAULT_LANGUAGE).
    """
    if not value:
        return None
    text = str(value).strip().lower().replace("-", "_")
    name, _, region = text.partition("_")
    code = _language_names().get(name, name)
    spoken = {language.lower(): language for language in languages()}
    for candidate in (f"{code}_{region}" if region else None, code):
        if candidate and candidate in spoken:
            return spoken[candidate]
    return None


@functools.cache
def _language_names() -> dict[str, str]:
    # English names of languages, as WHMCS names its language files (`french`, `german`).
    names = {name.lower(): code for code, name in Locale("en").languages.items() if "_" not in code}
    names.update({"francais": "fr", "français": "fr"})
    return names
