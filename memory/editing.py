"""String semantics of the memory-editing tools an agent calls on a memory block.

Every edit function takes the block's current text and the tool arguments and
returns the new text, or raises ``EditRefused`` with a message meant to be read
by the model. The functions are pure, so a refused edit changes nothing by
construction. Persisting the result, enforcing the character limit (see
``check_limit``) and honouring read-only blocks are the caller's job.
"""

from __future__ import annotations

import re

__all__ = [
    "LINE_NUMBER_WARNING",
    "EditRefused",
    "GuardRefused",
    "check_limit",
    "core_memory_append",
    "core_memory_replace",
    "memory_insert",
    "memory_replace",
    "memory_rethink",
    "render_with_line_numbers",
]

LINE_NUMBER_WARNING = (
    "# NOTE: Line numbers below are shown only to help you edit; never include "
    "them (e.g. 'Line 3:') in memory tool arguments."
)

# Matching on this phrase rather than the whole banner also catches a banner
# the model copied only partially or re-cased.
_BANNER_FRAGMENT = "line numbers below are shown only to help you edit"

# Models that were shown numbered lines tend to echo the "Line N:" prefixes
# back, sometimes indented and sometimes on a later line of a multi-line
# argument, so every line of the argument is inspected.
_LINE_PREFIX_RE = re.compile(r"^[ \t]*Line[ \t]+\d+[ \t]*:", re.MULTILINE)


class EditRefused(Exception):
    """An edit the tool will not perform; ``message`` is shown to the model."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class GuardRefused(EditRefused):
    """An edit a guard of memory/guards.py refused; `guard` names which, for the run."""

    def __init__(self, guard: str, message: str) -> None:
        super().__init__(message)
        self.guard = guard


def render_with_line_numbers(value: str) -> str:
    """Return ``value`` as shown to the model: the banner, then numbered lines.

    Lines are numbered from 1 and split on ``"\\n"`` exactly as
    ``memory_insert`` splits them, so the numbers the model sees are the ones
    ``insert_line`` refers to. An empty value renders as the banner alone.
    """
    if value == "":
        return LINE_NUMBER_WARNING
    numbered = [f"Line {i}: {line}" for i, line in enumerate(value.split("\n"), start=1)]
    return LINE_NUMBER_WARNING + "\n" + "\n".join(numbered)


def check_limit(value: str, limit: int) -> None:
    """Raise ``EditRefused`` if ``value`` is longer than ``limit`` characters."""
    if len(value) > limit:
        raise EditRefused(f"Edit failed: Exceeds {limit} character limit (requested {len(value)}).")


def _has_line_number_prefix(text: str) -> bool:
    return _LINE_PREFIX_RE.search(text) is not None


def _has_banner(text: str) -> bool:
    return _BANNER_FRAGMENT in text.lower()


def _refuse_line_prefix(text: str, arg_name: str) -> None:
    # A prefix means the model pasted from the numbered view produced by
    # render_with_line_numbers instead of the block's real text.
    if _has_line_number_prefix(text):
        raise EditRefused(
            f"{arg_name} contains a line number prefix (e.g. 'Line 1:'), which is "
            "not allowed. Line numbers are only shown to help you locate text; do "
            "not include them when calling memory editing tools."
        )


def _refuse_banner(text: str, arg_name: str) -> None:
    if _has_banner(text):
        raise EditRefused(
            f"{arg_name} contains the line number warning banner, which is not part "
            "of the memory block. Do not include it when calling memory editing tools."
        )


def _occurrence_lines(value: str, needle: str) -> list[int]:
    """1-based line numbers on which each non-overlapping occurrence starts."""
    lines: list[int] = []
    start = value.find(needle)
    while start != -1:
        line = value.count("\n", 0, start) + 1
        # Two hits on one line should name that line once, not twice.
        if not lines or lines[-1] != line:
            lines.append(line)
        start = value.find(needle, start + len(needle))
    return lines


def memory_replace(value: str, label: str, old_str: str, new_str: str) -> str:
    """Replace the single occurrence of ``old_str`` in ``value`` with ``new_str``.

    Refuses when either argument carries a ``Line N:`` prefix, when ``old_str``
    contains the line-number banner, when ``old_str`` is empty, and when
    ``old_str`` occurs zero times or more than once (the message then lists the
    lines where the occurrences start). Tabs in the value and in both arguments
    are expanded to spaces before matching, so the returned value has its tabs
    expanded too.
    """
    _refuse_line_prefix(old_str, "old_str")
    _refuse_banner(old_str, "old_str")
    _refuse_line_prefix(new_str, "new_str")

    value = value.expandtabs()
    old_str = old_str.expandtabs()
    new_str = new_str.expandtabs()

    # An empty needle "occurs" between every character, so it can never be
    # unique; say so plainly instead of reporting a meaningless line list.
    if old_str == "":
        raise EditRefused(
            "No replacement was performed, old_str is empty. Provide the exact text "
            f"to replace; it must appear exactly once in memory block with label `{label}`."
        )

    occurrences = value.count(old_str)
    if occurrences == 0:
        raise EditRefused(
            f"No replacement was performed, old_str `{old_str}` did not appear "
            f"verbatim in memory block with label `{label}`."
        )
    if occurrences > 1:
        lines = _occurrence_lines(value, old_str)
        raise EditRefused(
            f"No replacement was performed. Multiple occurrences of old_str "
            f"`{old_str}` in lines {lines}. Please ensure it is unique."
        )
    return value.replace(old_str, new_str)


def memory_insert(value: str, label: str, new_str: str, insert_line: int = -1) -> str:
    """Insert ``new_str`` as whole lines into ``value``.

    ``insert_line`` 0 inserts before the first line, ``k`` after line ``k`` and
    -1 appends after the last line; any other value outside ``[0, n]`` (``n``
    being the number of lines) is refused. An empty value has no lines, so
    only 0 and -1 are valid and the result is ``new_str`` itself. Refuses a
    ``new_str`` carrying a ``Line N:`` prefix or the line-number banner. Tabs
    are expanded in the value and in ``new_str``.
    """
    _refuse_line_prefix(new_str, "new_str")
    _refuse_banner(new_str, "new_str")

    value = value.expandtabs()
    new_str = new_str.expandtabs()

    # "".split("\n") is [""], which would count one phantom line and leave a
    # stray newline in the result; an empty block really has zero lines.
    lines = value.split("\n") if value != "" else []
    n = len(lines)
    if insert_line == -1:
        index = n
    elif 0 <= insert_line <= n:
        index = insert_line
    else:
        raise EditRefused(
            f"Invalid `insert_line` parameter: {insert_line}. It should be within "
            f"the range of lines of the memory block: [0, {n}], or -1 to append "
            "to the end of the memory block."
        )
    new_lines = lines[:index] + new_str.split("\n") + lines[index:]
    return "\n".join(new_lines)


def memory_rethink(value: str, label: str, new_memory: str) -> str:
    """Replace the whole block with ``new_memory``.

    Refuses a ``new_memory`` carrying a ``Line N:`` prefix or the line-number
    banner, since that means the model rewrote the numbered view rather than
    the block itself.
    """
    _refuse_line_prefix(new_memory, "new_memory")
    _refuse_banner(new_memory, "new_memory")
    return new_memory


def core_memory_append(value: str, label: str, content: str) -> str:
    """Append ``content`` to the block on a new line.

    No separating newline is added to an empty block, so the result never
    starts with a blank line.
    """
    if value == "":
        return content
    return value + "\n" + content


def core_memory_replace(value: str, label: str, old_content: str, new_content: str) -> str:
    """Replace every occurrence of ``old_content`` in the block with ``new_content``.

    Refuses when ``old_content`` is empty (it would match between every
    character) or does not occur in the block.
    """
    if old_content == "" or old_content not in value:
        raise EditRefused(f"Old content '{old_content}' not found in memory block '{label}'.")
    return value.replace(old_content, new_content)
