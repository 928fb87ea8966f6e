"""Line diffs and three-way merges of block values. Framework-free.

A block is text edited line by line by people and agents at the same time. Two edits
made against the same starting value are combined when they touch different lines, and
two insertions at the same place are both kept (the one already made first); when they
change the same lines the merge reports a conflict instead of guessing.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal, TypedDict


def _lines(text: str) -> list[str]:
    # split("\n") rather than splitlines(): appending a line then reads as an insertion,
    # not as a change of the last line, so appends merge cleanly with other edits.
    return text.split("\n")


def unified_diff(before: str, after: str, *, before_name: str, after_name: str) -> str:
    return "\n".join(
        difflib.unified_diff(
            _lines(before), _lines(after), fromfile=before_name, tofile=after_name, lineterm=""
        )
    )


@dataclass(frozen=True)
class _Hunk:
    start: int  # first base line replaced
    end: int  # one past the last base line replaced (== start for an insertion)
    lines: tuple[str, ...]


def _hunks(base: list[str], other: list[str]) -> list[_Hunk]:
    matcher = difflib.SequenceMatcher(None, base, other, autojunk=False)
    return [
        _Hunk(i1, i2, tuple(other[j1:j2]))
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
        if tag != "equal"
    ]


def _conflict(a: _Hunk, b: _Hunk) -> bool:
    if a == b:
        return False
    if a.start == a.end and b.start == b.end:
        return False  # two insertions at one place: both are kept, one after the other
    if a.start == a.end:
        return b.start < a.start < b.end
    if b.start == b.end:
        return a.start < b.start < a.end
    return max(a.start, b.start) < min(a.end, b.end)


def merge3(base: str, ours: str, theirs: str) -> str | None:
    """`base` changed into `ours` and, independently, into `theirs`: both changes
    together, or None when they overlap."""
    if ours == theirs or theirs == base:
        return ours
    if ours == base:
        return theirs
    base_lines = _lines(base)
    mine, other = _hunks(base_lines, _lines(ours)), _hunks(base_lines, _lines(theirs))
    for a in mine:
        for b in other:
            if _conflict(a, b):
                return None
    # In base order; at one place insertions before replacements, and of two insertions
    # `ours` (the change already made) before `theirs`. An identical hunk counts once.
    order = {hunk: (0, index) for index, hunk in enumerate(mine)}
    for index, hunk in enumerate(other):
        order.setdefault(hunk, (1, index))
    combined = sorted(order, key=lambda h: (h.start, h.end != h.start, h.end, order[h]))
    out: list[str] = []
    position = 0
    for hunk in combined:
        out.extend(base_lines[position : hunk.start])
        out.extend(hunk.lines)
        position = max(position, hunk.end)
    out.extend(base_lines[position:])
    return "\n".join(out)


def hunks(base: str, other: str) -> list[tuple[int, int, list[str], list[str]]]:
    """The changes that make `other` of `base`, in order: (first base line, one past the
    last, the base lines replaced, the lines put in their place)."""
    base_lines = _lines(base)
    return [
        (hunk.start, hunk.end, base_lines[hunk.start : hunk.end], list(hunk.lines))
        for hunk in _hunks(base_lines, _lines(other))
    ]


def apply_hunks(base: str, other: str, chosen: set[int]) -> str:
    """`base` with only the `chosen` (by index) of the hunks that make `other` of it."""
    base_lines = _lines(base)
    out: list[str] = []
    position = 0
    for index, hunk in enumerate(_hunks(base_lines, _lines(other))):
        if index not in chosen:
            continue
        out.extend(base_lines[position : hunk.start])
        out.extend(hunk.lines)
        position = hunk.end
    out.extend(base_lines[position:])
    return "\n".join(out)


def changed_lines(before: str, after: str) -> set[int]:
    """0-based indices of the lines of `after` that are new or changed since `before`."""
    matcher = difflib.SequenceMatcher(None, _lines(before), _lines(after), autojunk=False)
    return {
        index
        for tag, _, _, j1, j2 in matcher.get_opcodes()
        if tag in ("replace", "insert")
        for index in range(j1, j2)
    }


class DiffLine(TypedDict):
    kind: Literal["added", "removed", "hunk", "context"]
    text: str


_KINDS: dict[str, Literal["added", "removed", "hunk"]] = {"+": "added", "-": "removed", "@": "hunk"}


def diff_lines(diff: str) -> list[DiffLine]:
    """A unified diff's lines classed by their first character, for styling. The two
    header lines (`--- human@1`, `+++ human@2`) are dropped: pages say which versions."""
    lines = diff.split("\n") if diff else []
    if len(lines) >= 2 and lines[0].startswith("--- ") and lines[1].startswith("+++ "):
        lines = lines[2:]
    return [{"kind": _KINDS.get(line[:1], "context"), "text": line} for line in lines]
