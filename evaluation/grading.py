"""Is an agent's answer the expected one? Framework-free.

An agent answers in sentences ("The user lives in Porto now.", "So the total is 42 rolls.")
while the material holds short canonical answers ("Porto", "42"). Grading by string
equality would count most right answers as wrong, and asking a model to grade would make
the evaluation cost tokens and vary from run to run. So answers are compared after
normalising both sides, with two allowances for sentences:

- a short expected answer (up to 4 words) may appear anywhere in the answer, as whole words;
- a number is right when it is the answer's last number: a worked answer ends with its
  result, and an answer hedging between numbers ("41 or 42") is not right for either of
  the first ones.

Both allowances are lenient by design: "not Porto" matches "Porto". The material keeps
answers short and distinct so that this rarely matters.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

__all__ = ["Grade", "exact", "grade", "matches", "normalise"]

_NUMBER_WORDS = {
    word: str(value)
    for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
        " fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}
_ARTICLES = frozenset(("a", "an", "the"))
_MAX_CONTAINED_WORDS = 4

_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")  # "1,234,567" -> "1234567"
_APOSTROPHES = re.compile(r"['\u2019]")  # "user's" -> "users", not "user s"
# A number (a minus sign only where it cannot be a hyphen, as in "10-12", and a decimal point
# only between digits) or a run of letters; everything else separates them. So "12kg" is
# "12 kg", as on the other side of a comparison "12 kg" would be.
_TOKEN = re.compile(r"(?:(?<![^\W_])-)?\d+(?:\.\d+)?|[^\W\d_]+")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _canonical_number(token: str) -> str:
    if "." not in token:
        return token
    whole, fraction = token.split(".")
    fraction = fraction.rstrip("0")
    return f"{whole}.{fraction}" if fraction else whole


def _without_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _tokens(text: str) -> list[str]:
    # Accents go before and after lowercasing: a few letters only decompose in one case.
    text = _without_accents(_without_accents(text).casefold())
    text = _APOSTROPHES.sub("", _THOUSANDS.sub("", text))
    tokens = []
    for token in _TOKEN.findall(text):
        if _NUMBER.fullmatch(token):
            tokens.append(_canonical_number(token))
        elif token in _NUMBER_WORDS:
            tokens.append(_NUMBER_WORDS[token])
        elif token not in _ARTICLES:
            tokens.append(token)
    return tokens


def normalise(text: str) -> str:
    """`text` lowercased, without accents, punctuation or articles (a, an, the), with words
    separated by single spaces. Numbers are written one way: "1,234" -> "1234",
    "12.0" -> "12", "2.50" -> "2.5", "twelve" -> "12" (zero to twenty)."""
    return " ".join(_tokens(text))


def exact(answer: str, expected: str) -> bool:
    """The same text, ignoring whitespace around it."""
    return answer.strip() == expected.strip()


def matches(answer: str, expected: str) -> bool:
    """Equal once normalised; or, for a number expected, the answer's last number is it;
    or, for a short expected answer (up to 4 words), the answer contains it as whole words.
    An expected answer with nothing left once normalised ("The") matches nothing."""
    said, wanted = _tokens(answer), _tokens(expected)
    if not wanted:
        return False
    if said == wanted:
        return True
    if len(wanted) == 1 and _NUMBER.fullmatch(wanted[0]):
        numbers = [token for token in said if _NUMBER.fullmatch(token)]
        return bool(numbers) and numbers[-1] == wanted[0]
    if len(wanted) > _MAX_CONTAINED_WORDS:
        return False
    size = len(wanted)
    return any(said[i : i + size] == wanted for i in range(len(said) - size + 1))


@dataclass(frozen=True)
class Grade:
    correct: bool
    method: Literal["exact", "normalised", "none"]  # how it was found right, or "none"


def grade(answer: str, expected: str) -> Grade:
    """Right as written ("exact"), right once normalised ("normalised", which includes the
    two allowances of ``matches``), or wrong ("none")."""
    if exact(answer, expected):
        return Grade(True, "exact")
    if matches(answer, expected):
        return Grade(True, "normalised")
    return Grade(False, "none")
