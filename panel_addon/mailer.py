"""Render the client mails (subject, text and HTML parts) from mail_templates/.

A host may brand the mails: a directory with the same layout (MAIL_TEMPLATES_DIR)
is searched first, file by file, and the package's own templates fill the gaps.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jinja2

MAIL_NAMES = ("completion_request", "reminder", "validated", "reported")

PACKAGE = "mail_templates"
FALLBACK_LANGUAGES = ("en", "fr")
_PARTS = ("subject.txt", "body.txt", "body.html")
# Names and languages become template paths: keep them to plain path segments.
_SEGMENT = re.compile(r"^[a-z][a-z0-9_-]*$")
_BLANK_LINES = re.compile(r"\n{3,}")


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
    """The Jinja environment for the mails, `override_dir` first; one per directory."""
    loaders: list[jinja2.BaseLoader] = []
    if override_dir:
        loaders.append(jinja2.FileSystemLoader(override_dir))
    # Found through the import system, so the templates work from an installed wheel.
    loaders.append(jinja2.PackageLoader(PACKAGE, ""))
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
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


def render(
    name: str,
    language: str,
    context: Mapping[str, Any],
    override_dir: str | None = None,
) -> RenderedMail:
    """Render mail `name` in `language` (else English, else French).

    Raises jinja2.TemplateNotFound when no language has all three parts.
    """
    if not _SEGMENT.match(name) or not _SEGMENT.match(language):
        raise ValueError(f"bad mail name or language: {name!r}, {language!r}")
    env = template_environment(override_dir)
    subject, text, html = _templates(env, name, language)
    values = dict(context)
    return RenderedMail(
        subject=one_line(subject.render(values)),
        text=_tidy_text(text.render(values)),
        html=html.render(values).strip() + "\n",
    )


def one_line(value: str) -> str:
    """Collapse all whitespace, line breaks included, so a subject cannot inject headers."""
    return " ".join(value.split())


def _templates(
    env: jinja2.Environment, name: str, language: str
) -> tuple[jinja2.Template, jinja2.Template, jinja2.Template]:
    tried: list[str] = []
    for candidate in dict.fromkeys((language, *FALLBACK_LANGUAGES)):
        paths = [f"{name}/{candidate}/{part}" for part in _PARTS]
        try:
            subject, text, html = (env.get_template(path) for path in paths)
        except jinja2.TemplateNotFound:
            tried.extend(paths)
            continue
        return subject, text, html
    raise jinja2.TemplatesNotFound(tried)


def _tidy_text(value: str) -> str:
    lines = [line.rstrip() for line in value.replace("\r\n", "\n").split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip() + "\n"
