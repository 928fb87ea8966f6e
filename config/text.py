"""Text that cannot be stored: lone surrogates.

JSON may spell a UTF-16 surrogate on its own (`"\\ud800"`), and Python decodes it into a
string that is not valid Unicode: PostgreSQL cannot store it, and the UTF-8 encoder
refuses it before the database sees it. Such text is refused where it enters (the API's
request bodies, parsed documents), naming where it was, so nothing half-stored results.
Framework-free.
"""

from __future__ import annotations

import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")


def has_lone_surrogate(text: str) -> bool:
    return _SURROGATE.search(text) is not None


def without_lone_surrogates(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD, for text nobody typed (a
    model's reply), where refusing would lose the rest of it."""
    return _SURROGATE.sub("\ufffd", text)


def lone_surrogate_at(value: Any, path: str = "") -> str | None:
    """The path (`messages[0].content`) of the first string in a parsed JSON value that
    holds a lone surrogate, in a key or a value; None when there is none. The whole value
    is `(the body)`."""
    if isinstance(value, str):
        return (path or "(the body)") if has_lone_surrogate(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and has_lone_surrogate(key):
                return f"a field name in {path or '(the body)'}"
            found = lone_surrogate_at(item, where)
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = lone_surrogate_at(item, f"{path}[{index}]")
            if found:
                return found
    return None


class UnstorableText(ValueError):
    """A request body holds text that is not valid Unicode; the message names where."""

    def __init__(self, where: str) -> None:
        super().__init__(
            f"{where} holds a lone surrogate (such as \\ud800 without its pair), which is not "
            "valid Unicode text and cannot be stored."
        )
        self.where = where
