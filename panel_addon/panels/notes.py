"""Our line in a client's admin notes, as text: the same for every panel.

The panel stores the field; these functions only decide what it becomes. Our line starts
with INELIGIBLE_MARKER; every other character of the field belongs to the staff and is
kept exactly, whatever its line ends.
"""

from __future__ import annotations

import re

__all__ = ["INELIGIBLE_MARKER", "add_ineligible_line", "remove_ineligible_line"]

INELIGIBLE_MARKER = "[intervention-signoff]"

# A line ends with CRLF, LF or a lone CR (old Mac text); the last line may have no end.
_LINE = re.compile(r"([^\r\n]*)(\r\n|\r|\n)")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _split_lines(text: str) -> list[tuple[str, str]]:
    """Split into (content, line end) pairs; "".join of both parts gives back ``text``."""
    parts: list[tuple[str, str]] = []
    end = 0
    for match in _LINE.finditer(text):
        parts.append((match[1], match[2]))
        end = match.end()
    if end < len(text):
        parts.append((text[end:], ""))
    return parts


def _join_lines(parts: list[tuple[str, str]]) -> str:
    return "".join(content + ending for content, ending in parts)


def _is_marker_line(content: str) -> bool:
    # Only a line that starts with the marker is ours; text that merely mentions it
    # further along a line belongs to the staff and is never touched.
    return content.startswith(INELIGIBLE_MARKER)


def add_ineligible_line(notes: str, line: str) -> str:
    """Return ``notes`` with the marker line ``INELIGIBLE_MARKER + " " + line``.

    If a line already starts with the marker, only that (first) line's text is replaced,
    so adding again is idempotent. Otherwise the line is appended: on its own when
    ``notes`` is empty; after a new separator when ``notes`` does not end a line; and when
    ``notes`` already ends with a line end, it goes after it and is terminated itself, so
    the field's trailing newline is kept. The separator is the field's own ("\\r\\n" if it
    has one, else "\\n"); line breaks inside ``line`` become spaces. Every other character
    of ``notes`` is kept, so remove_ineligible_line gives ``notes`` back exactly.
    """
    new = f"{INELIGIBLE_MARKER} {_LINE_BREAK.sub(' ', line)}"
    parts = _split_lines(notes)
    for index, (content, ending) in enumerate(parts):
        if _is_marker_line(content):
            parts[index] = (new, ending)
            return _join_lines(parts)
    if not notes:
        return new
    separator = "\r\n" if "\r\n" in notes else "\n"
    if parts[-1][1]:
        return notes + new + separator
    return notes + separator + new


def remove_ineligible_line(notes: str) -> str:
    """Return ``notes`` without its marker line(s), each with exactly one adjacent line end.

    A marker line takes its own line end with it; a last line without one takes the
    previous line's end instead. Every other character is kept, so for notes without a
    marker line, ``remove_ineligible_line(add_ineligible_line(notes, x)) == notes``.
    """
    kept: list[tuple[str, str]] = []
    for content, ending in _split_lines(notes):
        if not _is_marker_line(content):
            kept.append((content, ending))
        elif not ending and kept:
            kept[-1] = (kept[-1][0], "")
    return _join_lines(kept)
