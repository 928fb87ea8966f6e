"""Checks that an agent's edit of a memory block is safe to keep. Framework-free.

A sleep-time agent rewrites blocks with no person watching, from text it was given to read.
Three things go wrong often enough to check every edit for them:

- it loses content: a rewrite that drops facts (measured by ``removed_chars``, against a
  deletion budget the caller keeps; the dropped lines, from ``removed_lines``, are archived);
- the model degenerates: it loops on a phrase, or its copy of the block breaks off halfway
  (``degenerate``), and the broken text would replace the good one;
- a document smuggles in instructions for the agent ("ignore previous instructions", a fake
  ``system:`` turn, a tool call, a link to visit) and the agent writes them into a block,
  where every later run reads them as its own memory (``instruction_like``; for an edit,
  ``added_instructions``: only what the edit brings in, so text already there is not
  re-judged, but also what it puts together from pieces written one line at a time).

The reasons returned are shown to the model as tool errors, so they say what was found and
what to do instead. Blocks are split into lines with ``split("\\n")``, as in ``memory.merge``.
"""

from __future__ import annotations

import bisect
import difflib
import itertools
import math
import re
from collections import Counter
from collections.abc import Iterator

__all__ = [
    "added_instructions",
    "added_text",
    "degenerate",
    "instruction_like",
    "removed_chars",
    "removed_lines",
]


def _lines(text: str) -> list[str]:
    return text.split("\n")


_Opcode = tuple[str, int, int, int, int]


def _line_opcodes(before: str, after: str) -> tuple[list[str], list[str], list[_Opcode]]:
    old, new = _lines(before), _lines(after)
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    return old, new, list(matcher.get_opcodes())


def _quote(text: str, limit: int = 60) -> str:
    """`text` on one line (newlines shown as \\n), cut to `limit` characters."""
    flat = text.replace("\n", "\\n")
    return flat if len(flat) <= limit else flat[:limit] + "…"


# --- What an edit removes and adds --------------------------------------------------------

# A character-level SequenceMatcher costs about len(old) * len(new) / (alphabet size): 20 ms
# for two 1,000-character texts, seconds for two 10,000-character ones. Larger replaced
# stretches are first matched word by word, and only the gaps between kept words small
# enough are matched character by character.
_CHAR_LIMIT = 1_000_000

# Covers every character: a word, a run of punctuation or leading spaces, each with the
# whitespace after it.
_TOKEN = re.compile(r"\w+\s*|[^\w\s]+\s*|\s+")


def _matched(old: str, new: str) -> int:
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks())


def _kept_chars(old: str, new: str) -> int:
    """How many characters of `old` are kept in `new` (matching blocks of a diff)."""
    if not old or not new:
        return 0
    if len(old) * len(new) <= _CHAR_LIMIT:
        return _matched(old, new)
    old_tokens, new_tokens = _TOKEN.findall(old), _TOKEN.findall(new)
    matcher = difflib.SequenceMatcher(None, old_tokens, new_tokens, autojunk=False)
    kept = i0 = j0 = 0
    for i, j, size in matcher.get_matching_blocks():
        # No token of one gap occurs in the other; a gap too large to compare
        # character by character counts as rewritten entirely.
        gap_old, gap_new = "".join(old_tokens[i0:i]), "".join(new_tokens[j0:j])
        if len(gap_old) * len(gap_new) <= _CHAR_LIMIT:
            kept += _kept_chars(gap_old, gap_new)
        kept += sum(len(token) for token in old_tokens[i : i + size])
        i0, j0 = i + size, j + size
    return kept


def removed_chars(before: str, after: str) -> int:
    """How many characters of `before` are gone in `after`.

    Lines are diffed first. A deleted line counts its characters plus one newline (the
    one that separated it from a kept line, so the last line counts one too: deleting
    "b" from "a\\nb" removes the 2 characters "\\nb"). Replaced lines count only what the
    new lines do not keep, so "I like tea" -> "I like green tea" removes nothing. The
    result is between 0 and ``len(before)``; clearing the block removes ``len(before)``.
    """
    old, new, opcodes = _line_opcodes(before, after)
    removed = 0
    for tag, i1, i2, j1, j2 in opcodes:
        if tag == "delete":
            removed += sum(len(line) + 1 for line in old[i1:i2])
        elif tag == "replace":
            old_text, new_text = "\n".join(old[i1:i2]), "\n".join(new[j1:j2])
            removed += len(old_text) - _kept_chars(old_text, new_text)
    # `after` has at least one line, so some line of `before` is kept or replaced, and each
    # deleted stretch claims a newline between it and such a line: never above len(before).
    return removed


def removed_lines(before: str, after: str) -> list[str]:
    """The non-blank lines of `before` found nowhere in `after` (compared stripped), in order."""
    kept = {line.strip() for line in _lines(after)}
    return [line for line in _lines(before) if line.strip() and line.strip() not in kept]


def added_text(before: str, after: str) -> str:
    """The lines of `after` that are new or changed since `before`, joined with newlines."""
    _, new, opcodes = _line_opcodes(before, after)
    added: list[str] = []
    for tag, _i1, _i2, j1, j2 in opcodes:
        if tag in ("insert", "replace"):
            added.extend(new[j1:j2])
    return "\n".join(added)


# --- Degenerate rewrites ------------------------------------------------------------------

_MAX_UNIT = 200  # longest repeated unit looked for, in characters
_MIN_REPEAT = 40  # repeats (beyond the first occurrence) shorter than this are fine
_MIN_SHARE = 0.3  # ... and so are repeats covering less of the new value than this
_MIN_LINE = 10  # a line this long written 4 times is a loop, not a list
_MAX_LINE_COUNT = 3

_NOTHING_CHANGED = "nothing was changed"
_NARROW = "Make a smaller edit that changes only the lines you mean to change."
_ZEROS = re.compile(rb"\x00+")


def _as_number(text: str) -> int:
    # Four bytes per character, so a shift by 32 * p bits moves the text by p characters.
    return int.from_bytes(text.encode("utf-32-le", "surrogatepass"), "little")


def _runs(number: int, length: int, period: int, min_repeat: int) -> Iterator[tuple[int, int]]:
    """(start, repeat) of each stretch of the text (`number`, `length` characters long)
    where text[i] == text[i + period] for `repeat` >= `min_repeat` positions in a row:
    the unit text[start : start + period] followed by `repeat` characters repeating it.

    Comparing a text with itself shifted is done on one big integer (XOR), and the zero
    runs are found with bytes.find, so each period costs a few passes in C rather than a
    Python loop over the characters: 200 periods of a 10,000-character text take ~20 ms.
    """
    span = length - period
    if span < min_repeat:
        return
    # Bytes 4i to 4i + 3 are all zero exactly when text[i] == text[i + period] (i < span).
    data = (number ^ (number >> (32 * period))).to_bytes(4 * length, "little")
    zeros, limit, position = bytes(4 * min_repeat), 4 * span, 0
    while (hit := data.find(zeros, position, limit)) != -1:
        run = _ZEROS.match(data, hit, limit)
        end = run.end() if run else hit
        # A zero run may begin or end inside a character that differs in another byte.
        first, last = (hit + 3) // 4, end // 4
        if last - first >= min_repeat:
            yield first, last - first
        position = end + 1


def _shown_unit(unit: str) -> str:
    # A run starts wherever the repetition does, often mid-line: show a repeated line whole.
    cut = unit.find("\n")
    return unit if cut == -1 else unit[cut + 1 :] + unit[: cut + 1]


def _loop_reason(before: str, after: str) -> str | None:
    # Only repetition the edit brings in counts: the longest run of the same unit already
    # in `before` (a row of 60 dashes) is subtracted, so keeping it is fine.
    threshold = max(_MIN_REPEAT, math.ceil(_MIN_SHARE * len(after)))
    number = _as_number(after)
    before_number: int | None = None
    allowed: list[tuple[int, int, int]] = []  # (start, end, period): repetition before had
    for period in range(1, min(_MAX_UNIT, len(after) // 2) + 1):
        for start, repeat in _runs(number, len(after), period, max(threshold, period)):
            end = start + period + repeat
            # A run with period q is also one with period 2q, 3q...: judged already.
            if any(period % q == 0 and s <= start and end <= e for s, e, q in allowed):
                continue
            unit = after[start : start + period]
            if before_number is None:
                before_number = _as_number(before)
            runs = _runs(before_number, len(before), period, max(1, repeat - threshold + 1))
            already = max((n for at, n in runs if unit in before[at : at + period + n]), default=0)
            if repeat - already < threshold:
                allowed.append((start, end, period))
                continue
            return (
                f'The new value repeats "{_quote(_shown_unit(unit))}" over and over ({repeat} '
                "characters of repetition), which looks like a generation loop; "
                f"{_NOTHING_CHANGED}. Write each fact once. {_NARROW}"
            )
    return None


def _repeated_line_reason(before: str, after: str) -> str | None:
    old = Counter(line.strip() for line in _lines(before))
    new = Counter(line.strip() for line in _lines(after))
    for line, count in new.most_common():
        if count <= _MAX_LINE_COUNT:
            break
        # Separators ("----------", "| --- | --- |") may well recur as sections are added.
        if len(line) >= _MIN_LINE and count > old[line] and any(c.isalnum() for c in line):
            return (
                f'The new value has the line "{_quote(line)}" {count} times, which looks like '
                f"a generation loop; {_NOTHING_CHANGED}. Write each fact once. {_NARROW}"
            )
    return None


def _truncation_reason(before: str, after: str) -> str | None:
    cut = after.rstrip()
    if len(cut) >= len(before.rstrip()) or not before.startswith(cut):
        return None
    rest_of_line = before[len(cut) :].split("\n", 1)[0]
    if not rest_of_line.strip():
        return None  # the copy stops at the end of a line: a shortening, judged elsewhere
    return (
        f'The new value stops in the middle of a line ("…{_quote(cut[-40:])}"), as if the '
        f"copy of the block had been cut off; {_NOTHING_CHANGED}. {_NARROW}"
    )


def _fences(text: str) -> int:
    return sum(1 for line in _lines(text) if line.lstrip().startswith("```"))


def _fence_reason(before: str, after: str) -> str | None:
    if _fences(after) % 2 == 1 and _fences(before) % 2 == 0:
        return (
            "The new value opens a code block (```) that it never closes, as if it had been "
            f"cut off; {_NOTHING_CHANGED}. {_NARROW}"
        )
    return None


def degenerate(before: str, after: str) -> str | None:
    """None when `after` is a sane rewrite of `before`, else why not, for the model.

    Refused: an empty value, a generation loop (a unit of 1-200 characters repeated back
    to back over at least 40 characters and 30% of `after`, beyond what `before` already
    repeated; or a line of 10+ characters written 4+ times, more often than before), a
    copy of `before` that breaks off in the middle of a line, and a code fence left open.
    Shorter rewrites that condense or reorganise are not refused here. An empty `before`
    accepts anything.
    """
    if not before.strip():
        return None
    if not after.strip():
        return (
            f"The new value of the block is empty; {_NOTHING_CHANGED}. To remove something, "
            "edit only the lines concerned instead of clearing the block."
        )
    return (
        _loop_reason(before, after)
        or _repeated_line_reason(before, after)
        or _truncation_reason(before, after)
        or _fence_reason(before, after)
    )


# --- Instructions aimed at the agent ------------------------------------------------------

# A role marker is flagged only when the turn it opens speaks to the agent: contact lists
# ("Assistant: Bob Smith") and specs ("System: Linux") use the same words.
_ADDRESS = r"\b(?:you|your|yours|yourself|ignore|always|never|must)\b"
_ROLE = r"(?:system|assistant|developer)"
_ROLE_MARKER = (
    rf"^[ \t>]*(?:(?:\*\*|__)?{_ROLE}(?:\*\*|__)?[ \t]*:(?:\*\*|__)?"
    rf"|\#{{1,6}}[ \t]*{_ROLE}(?:[ \t]+(?:prompt|message))?[ \t]*:?)"
    rf"(?:[^\n]*?{_ADDRESS}|[ \t]*\n[ \t]*[^\n]*?{_ADDRESS})[^\n]*"
)
_CHAT_TOKEN = r"<\|[a-z_]+\|>|\[/?INST\]|<</?SYS>>|^[ \t]*</s>|</s>[ \t]*(?:<s>|\[INST\])"

_RULES = r"(?:instructions?|prompts?|rules|directions|directives|guidelines|messages|commands)"
_EARLIER = r"(?:previous|prior|above|earlier|preceding|original|initial)"
_OVERRIDES = "|".join(
    [
        rf"\bignore\s+(?:(?:all|any)\s+(?:of\s+)?)?(?:(?:the|your|my|these|those)\s+)?"
        rf"{_EARLIER}\s+{_RULES}\b",
        rf"\bignore\s+(?:(?:all|any)\s+(?:of\s+)?)?your\s+(?:\w+\s+)?(?:{_RULES}|system\s+prompt)\b",
        rf"\bignore\s+all\s+(?:of\s+)?(?:the\s+)?{_RULES}\b",
        rf"\bdisregard\s+(?:(?:your|all|any|the|previous|prior|above|earlier|these|my)\s+)+"
        rf"(?:\w+\s+){{0,3}}?{_RULES}\b",
        r"\bforget\s+(?:everything|all|your)\b(?:\s+\w+){0,3}?\s+(?:instructions?|rules|prompts?"
        r"|guidelines|programming|above|you\s+(?:were|have\s+been)\s+told|you\s+know)\b",
        r"\byou\s+are\s+now\b",
        r"\byou're\s+now\b",
        r"\bfrom\s+now\s+on\s*,?\s*(?:you|always|never)\b",
        r"\b(?:new|updated|revised)\s+(?:system\s+)?instructions?\s*:",
        r"\boverride\s+(?:your|the|all|any)\s+(?:(?:previous|prior|current|original)\s+)?"
        r"(?:instructions|system\s+prompt|rules|guidelines|programming)\b",
        r"\b(?:do\s+not|don't|dont|never)\s+(?:tell|inform|mention\s+(?:this|it)\s+to)\s+the\s+user\b",
        r"\b(?:reveal|print|repeat|output|leak)\s+(?:me\s+)?(?:your|the)\s+"
        r"(?:(?:full|entire|initial|original|hidden|secret)\s+)?system\s+prompt\b",
    ]
)

_MEMORY_TOOLS = (
    r"send_message|memory_rethink|memory_replace|memory_insert|memory_finish_edits"
    r"|core_memory_append|core_memory_replace|archival_memory_insert|archival_memory_search"
    r"|conversation_search"
)
_TOOL_CALL = "|".join(
    [
        r"</?tool_call>",
        r"\"tool_calls\"",
        r"\bfunction_call\b",
        r"<function=\w+>",
        r"\"name\"\s*:\s*\"[^\"\n]*\"\s*,\s*\"arguments\"",
        rf"\b(?:{_MEMORY_TOOLS})\s*\(",
    ]
)

_PATTERNS = [
    ("chat template token", re.compile(_CHAT_TOKEN, re.IGNORECASE | re.MULTILINE)),
    ("role marker", re.compile(_ROLE_MARKER, re.IGNORECASE | re.MULTILINE)),
    ("override phrase", re.compile(_OVERRIDES, re.IGNORECASE)),
    ("tool-call syntax", re.compile(_TOOL_CALL, re.IGNORECASE)),
]

# A URL is only flagged with a verb in the imperative next to it: at the start of the line,
# a sentence or a clause, or after "please", "you must", "now"... "Docs live at https://…"
# is a fact; "To continue, click https://…" or "please send the notes to https://…" is an order.
_URL = re.compile(r"https?://[^\s<>\"')\]]+", re.IGNORECASE)
_IMPERATIVE = re.compile(
    r"(?:^\s*(?:\d+[.)]\s+)?[^\w\s]*\s*|[.!?:;,]\s+|\bplease\s+"
    r"|\b(?:you\s+)?(?:must|should|need\s+to|have\s+to)\s+|\b(?:now|then|immediately|always)\s+)"
    r"(?:(?:click|visit|open|go\s+to|navigate|download|fetch|run|execute|curl|browse|load)\b"
    r"|(?:send|post|upload|forward|submit|exfiltrate)\b[^\n]{0,200}?\bto\s+<?https?://)",
    re.IGNORECASE,
)


def _finding(label: str, found: str) -> str:
    return f'{label}: "{_quote(" ".join(found.split()))}"'


def instruction_like(text: str) -> str | None:
    """None, or what in `text` reads as instructions to an AI agent rather than facts.

    Looks for chat-template tokens, role markers opening a turn that addresses the agent,
    phrases that override its instructions, tool-call syntax and links it is told to act
    on. The reason quotes (up to 60 characters of) what was found.
    """
    for label, pattern in _PATTERNS:
        match = pattern.search(text)
        if match:
            return _finding(label, match.group(0))
    for line in _lines(text):
        if _URL.search(line) and _IMPERATIVE.search(line):
            return _finding("link with an instruction to act on it", line)
    return None


def added_instructions(before: str, after: str) -> str | None:
    """None, or what in `after` reads as instructions to an AI agent (as for
    ``instruction_like``) and is new since `before`.

    New means on a line the edit added or changed, or across two lines the edit made
    neighbours by removing what stood between them. So an order written in pieces, a
    line per edit ("Ignore previous", then "instructions and ..." below it), is caught
    by the edit that completes it, while instructions already in `before` are not judged
    again. (Checking only the added text would let the pieces through one by one.)
    """
    _, new, opcodes = _line_opcodes(before, after)
    touched: list[int] = []
    seams: list[int] = []  # j: lines j - 1 and j of `after` became neighbours
    for tag, _i1, _i2, j1, j2 in opcodes:
        if tag in ("insert", "replace"):
            touched.extend(range(j1, j2))
        elif tag == "delete" and 0 < j1 < len(new):
            seams.append(j1)
    if not touched and not seams:
        return None
    starts = list(itertools.accumulate((len(line) + 1 for line in new[:-1]), initial=0))

    def is_new(start: int, end: int) -> bool:
        first = bisect.bisect_right(starts, start) - 1
        last = bisect.bisect_right(starts, max(start, end - 1)) - 1
        return any(first <= j <= last for j in touched) or any(first < j <= last for j in seams)

    for label, pattern in _PATTERNS:
        for match in pattern.finditer(after):
            if is_new(match.start(), match.end()):
                return _finding(label, match.group(0))
    for j in touched:
        if _URL.search(new[j]) and _IMPERATIVE.search(new[j]):
            return _finding("link with an instruction to act on it", new[j])
    return None
