"""Render the client mails (subject, text and HTML parts) from mail_templates/.

One folder per mail (`subject.txt`, `body.txt`, `body.html`), its sentences in `{% trans %}`
or `_()` and rendered in the client's language from the gettext catalogs (i18n.py). A host
may brand the mails: a directory with the same layout (MAIL_TEMPLATES_DIR) is searched
first, file by file, and the package's own templates fill the gaps; there a part may also
be written for one language only, in `<mail>/<language>/`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jinja2

from .i18n import SOURCE_LANGUAGE, languages, template_gettext

MAIL_NAMES = ("completion_request", "reminder", "validated", "reported")

PACKAGE = "mail_templates"
_PARTS = ("subject.txt", "body.txt", "body.html")
# Names become template paths: keep them to plain path segments.
_SEGMENT = re.compile(r"^[a-z][a-z0-9_-]*$")
_BLANK_LINES = re.compile(r"\n{3,}")
# Any run of whitespace but the no-break spaces (U+00A0, U+202F).
_SPACES = re.compile(r"[^\S\u00a0\u202f]+")


@dataclass
class RenderedMail:
    subject: str
    text: str
    html: str


def _none_as_empty(value: Any) -> Any:
    # Every context value is optional; `None` must never reach a client as "None".
    return "" if value is None else value


@functools.cache
def template_environment(override_dir: str | None) -> jinja2.Environment:
    """The Jinja environment for the mails, `override_dir` first; one per directory.

    Its templates translate with the functions `render` puts in their context.
    """
    loaders: list[jinja2.BaseLoader] = []
    if override_dir:
        loaders.append(jinja2.FileSystemLoader(override_dir))
    # Found through the import system, so the templates work from an installed wheel.
    loaders.append(jinja2.PackageLoader(PACKAGE, ""))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        extensions=["jinja2.ext.i18n"],
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html",), default_for_string=False, default=False
        ),
        finalize=_none_as_empty,
        # Templates are read once per process: no file checks at every mail. A host that
        # changes its templates restarts the workers (docs/configuration.md).
        auto_reload=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    return env


def render(
    name: str,
    language: str,
    context: Mapping[str, Any],
    override_dir: str | None = None,
) -> RenderedMail:
    """Render mail `name` in `language`, or in English when the service does not speak it.

    Needs an app context (the catalogs). Raises jinja2.TemplateNotFound when a part of
    the mail is missing.
    """
    if not _SEGMENT.match(name):
        raise ValueError(f"bad mail name: {name!r}")
    spoken = language if language in languages() else SOURCE_LANGUAGE
    env = template_environment(override_dir)
    subject, text, html = (_template(env, name, spoken, part) for part in _PARTS)
    values = {**context, "lang": spoken, **template_gettext(spoken)}
    return RenderedMail(
        subject=one_line(subject.render(values)),
        text=_tidy_text(text.render(values)),
        html=html.render(values).strip() + "\n",
    )


def one_line(value: str) -> str:
    """Collapse all whitespace, line breaks included, so a subject cannot inject headers.

    The no-break spaces French puts before `:` and `?` stay.
    """
    return _SPACES.sub(" ", value).strip()


def _template(env: jinja2.Environment, name: str, language: str, part: str) -> jinja2.Template:
    # A part written for this language (a host's), else the mail's own.
    return env.get_or_select_template([f"{name}/{language}/{part}", f"{name}/{part}"])


def _tidy_text(value: str) -> str:
    lines = [line.rstrip() for line in value.replace("\r\n", "\n").split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip() + "\n"
