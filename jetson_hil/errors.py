"""Errors shared by the library's parsers."""

from __future__ import annotations

MAX_QUOTED_CHARS = 200


def _quote(text: str) -> str:
    """Cut long input so an error stays one readable line in a report."""
    if len(text) <= MAX_QUOTED_CHARS:
        return text
    return text[:MAX_QUOTED_CHARS] + "..."


class ParseError(ValueError):
    """Input a parser could not read; carries the offending text so a report can quote it.

    It is a ValueError so callers that already guard conversions keep working.

    >>> str(ParseError("not an L4T version", "banana"))
    "not an L4T version: 'banana'"
    """

    def __init__(self, message: str, text: str, *, line_number: int | None = None) -> None:
        self.message = message
        self.text = _quote(text)
        self.line_number = line_number
        where = f"line {line_number}: " if line_number is not None else ""
        super().__init__(f"{where}{message}: {self.text!r}")
