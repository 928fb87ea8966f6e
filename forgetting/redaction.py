"""Finding and rewriting forgotten text in strings and JSON values.

Framework-free, so the string rules are unit-tested without a database. The services
decide *where* to look (messages, transcripts, block history...); this module decides
what counts as an occurrence and what it becomes.

Text is stored in more than one spelling: a tool call's arguments are JSON text inside
a JSON column, and a tool result is a JSON document quoting another JSON document. So a
forgotten text is looked for as written and as it reads once or twice JSON-escaped
(quotes, newlines and non-ASCII characters become escapes), in any letter case.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

MARKER = "[forgotten]"
# A rewrite can, in theory, make a new occurrence out of the text around it; it is
# repeated until none is left, and after this many rounds the text is removed outright.
MAX_ROUNDS = 5


def _escaped(text: str) -> set[str]:
    once = {json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]}
    twice = {json.dumps(spelling)[1:-1] for spelling in once}
    return {text} | once | twice


class Redactor:
    """Occurrences of some texts, and what replaces them.

    `replacement` is MARKER unless the marker itself would contain a forgotten text
    (forgetting "forgot" must not leave "[forgotten]" behind), in which case occurrences
    are removed.
    """

    def __init__(
        self, texts: Iterable[str], *, ignore_case: bool = True, replacement: str | None = None
    ) -> None:
        self.texts = sorted({text for text in texts if text.strip()}, key=len, reverse=True)
        self.ignore_case = ignore_case
        spellings: set[str] = set()
        for text in self.texts:
            spellings |= _escaped(text)
        flags = re.IGNORECASE if ignore_case else 0
        # Longest first, so a text is replaced whole rather than by a shorter one inside it.
        alternatives = sorted(spellings, key=len, reverse=True)
        self.pattern = (
            re.compile("|".join(map(re.escape, alternatives)), flags) if alternatives else None
        )
        if replacement is None:
            replacement = MARKER
            if self.pattern is not None and self.pattern.search(MARKER):
                replacement = ""
        self.replacement = replacement

    def __bool__(self) -> bool:
        return self.pattern is not None

    def removing(self) -> Redactor:
        """The same texts, removed instead of marked."""
        return Redactor(self.texts, ignore_case=self.ignore_case, replacement="")

    def found(self, text: str) -> bool:
        return self.pattern is not None and self.pattern.search(text) is not None

    def clean(self, text: str) -> str:
        if self.pattern is None or not text:
            return text
        for _ in range(MAX_ROUNDS):
            if not self.pattern.search(text):
                return text
            text = self.pattern.sub(self.replacement, text)
        while self.pattern.search(text):
            text = self.pattern.sub("", text)
        return text

    def found_in(self, value: Any) -> bool:
        """Whether any string inside a JSON value (keys included) holds a forgotten text."""
        if isinstance(value, str):
            return self.found(value)
        if isinstance(value, dict):
            return any(self.found_in(key) or self.found_in(item) for key, item in value.items())
        if isinstance(value, list):
            return any(self.found_in(item) for item in value)
        return False

    def clean_json(self, value: Any) -> Any:
        """A copy of a JSON value with every string cleaned (keys are names, kept as is)."""
        if isinstance(value, str):
            return self.clean(value)
        if isinstance(value, dict):
            return {key: self.clean_json(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.clean_json(item) for item in value]
        return value


def strings_in(value: Any) -> list[str]:
    """Every string inside a JSON value; a string that is itself JSON (a tool call's
    arguments) is opened too."""
    if isinstance(value, dict):
        return [text for item in value.values() for text in strings_in(item)]
    if isinstance(value, list):
        return [text for item in value for text in strings_in(item)]
    if not isinstance(value, str):
        return []
    if value[:1] in ("{", "["):
        try:
            return [value, *strings_in(json.loads(value))]
        except ValueError:
            pass
    return [value]


def remove_chunks(text: str, chunks: Iterable[str]) -> tuple[str, int]:
    """`text` without one occurrence of each chunk, where a chunk is a whole line (or run
    of lines) of a newline-joined transcript. Returns the text and how many were removed."""
    removed = 0
    for chunk in chunks:
        if not chunk:
            continue
        line = re.compile(r"\n" + re.escape(chunk) + r"(?=\n|\Z)")
        text, found = line.subn("", text, count=1)
        removed += found
    return text, removed
