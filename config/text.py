"""Text that cannot be stored: lone surrogates and NUL characters.

JSON may spell a UTF-16 surrogate on its own (`"\\ud800"`), and Python decodes it into a
string that is not valid Unicode: PostgreSQL cannot store it, and the UTF-8 encoder
refuses it before the database sees it. PostgreSQL stores no NUL character either (`"\\u0000"`),
in text or in JSON. Such text is refused where it enters (the API's request bodies, parsed
documents), naming where it was, so nothing half-stored results. Framework-free.
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


def _unstorable(text: str) -> str | None:
    if has_lone_surrogate(text):
        return (
            "a lone surrogate (such as \\ud800 without its pair), which is not valid Unicode text"
        )
    if "\x00" in text:
        return "a NUL character (\\u0000), which PostgreSQL cannot store"
    return None


def unstorable_at(value: Any, path: str = "") -> tuple[str, str] | None:
    """Where (`messages[0].content`) the first string of a parsed JSON value, key or value,
    holds text that cannot be stored, and what it holds; None when there is none. The
    whole value is `(the body)`."""
    if isinstance(value, str):
        what = _unstorable(value)
        return (path or "(the body)", what) if what else None
    if isinstance(value, dict):
        for key, item in value.items():
            what = _unstorable(key) if isinstance(key, str) else None
            if what:
                return f"a field name in {path or '(the body)'}", what
            found = unstorable_at(item, f"{path}.{key}" if path else str(key))
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = unstorable_at(item, f"{path}[{index}]")
            if found:
                return found
    return None


class UnstorableText(ValueError):
    """A request body holds text that cannot be stored; the message names where."""

    def __init__(self, where: str, what: str) -> None:
        super().__init__(f"{where} holds {what}; nothing was stored.")
        self.where = where
