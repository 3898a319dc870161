"""French typography, checked: what a French reader expects of every sentence we write.

A non-breaking space (U+00A0, or the narrow U+202F) before `: ; ? !` and inside « »,
and typographic apostrophes. Times (14:30) and URLs (https://) are not punctuation.
"""

from __future__ import annotations

import html
import re

NBSP = "\u00a0\u202f"
_TAG = re.compile(r"<[^>]*>")
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S*", re.IGNORECASE)
# A placeholder of a catalog string stands for a value: it is neither letter nor space.
_PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\{[^}]*\}\}")
# `:` `;` `?` `!` ending a word: followed by a space, the end, or closing punctuation.
_PUNCT = re.compile(r"(.?)([:;?!])(?=\s|$|[)»”<])")


def problems(text: str, markup: bool = False) -> list[str]:
    """What breaks French typography in `text` (an HTML fragment when `markup`)."""
    if markup:
        text = html.unescape(_TAG.sub("", text))
    text = _PLACEHOLDER.sub("X", _URL.sub("URL", text))
    found = []
    for match in _PUNCT.finditer(text):
        before, mark = match.group(1), match.group(2)
        if before and before not in NBSP:
            found.append(f"no non-breaking space before {mark!r}: …{_around(text, match)}…")
    for match in re.finditer("«(.?)", text):
        if match.group(1) not in NBSP or not match.group(1):
            found.append(f"no non-breaking space after «: …{_around(text, match)}…")
    for match in re.finditer("(.?)»", text):
        if match.group(1) not in NBSP or not match.group(1):
            found.append(f"no non-breaking space before »: …{_around(text, match)}…")
    for match in re.finditer("'", text):
        found.append(f"straight apostrophe: …{_around(text, match)}…")
    if re.search(r"\(\s*\(|\)\s*\)|\)\s*\(", text):
        found.append(f"doubled parentheses: {text!r}")
    return found


def _around(text: str, match: re.Match[str]) -> str:
    return text[max(match.start() - 20, 0) : match.end() + 20]
