"""Cut the pages of a parsed file into passages small enough to embed and recall.

`chunk_pages` packs whole sentences into chunks of about `chunk_tokens` tokens, repeats the
last sentences of a chunk at the start of the next so that an idea cut at a boundary survives
in one of them, and never lets a chunk run across two pages. `windows` groups items (chunks to
embed, say) into batches under a token budget. Token counts are estimates from
`count_tokens`, the same for every provider. Nothing here knows about Django.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sources.parsing import Page


@dataclass(frozen=True)
class Chunk:
    text: str
    page: int | None  # page where the chunk starts
    index: int  # 0-based position in the file
    tokens: int


# --- Counting -----------------------------------------------------------------------------

_IDEOGRAPHS = (
    "\u2e80-\u2fff\u3040-\u30ff\u3100-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
)
_LETTER_RUNS = re.compile(r"[^\W\d_]+")
_DIGIT_RUNS = re.compile(r"\d+")
_SYMBOLS = re.compile(r"[^\w\s]|_")
_IDEOGRAPH = re.compile(f"[{_IDEOGRAPHS}]")


def count_tokens(text: str) -> int:
    """An estimate of the number of tokens in `text`, deterministic and the same everywhere.

    It imitates how byte-pair encoders (the tokenizers of GPT-style models) cut text:

    - A run of letters (a word) is cut into pieces of about four letters: one token for up to
      five letters (a BPE token usually carries the space before the word), then one more for
      every further four, so "the" and "quick" count 1, "tokenizer" 2, "internationally" 4.
    - Words in other scripts are encoded less compactly: a letter outside ASCII counts a third
      of a token, and a Chinese, Japanese or Korean character counts one token.
    - A run of digits counts one token per three digits, as BPE vocabularies group numbers.
    - Every other visible character (punctuation, symbols, `_`) counts one token.
    - Whitespace is free.

    On English prose this lands within about a fifth of real BPE counts, a little high rather
    than low, so chunks stay inside a model's limits. The count is additive over text split at
    whitespace. A few regular-expression passes make it fast on megabytes of text.
    """
    if not text:
        return 0
    words = _LETTER_RUNS.findall(text)
    if text.isascii():
        lengths = [len(word) for word in words]
        tokens = sum((length + 2) >> 2 for length in lengths) + lengths.count(1)
    else:
        tokens = sum(_word_tokens(word) for word in words)
    tokens += sum((len(digits) + 2) // 3 for digits in _DIGIT_RUNS.findall(text))
    return tokens + len(_SYMBOLS.findall(text))


def _word_tokens(word: str) -> int:
    if word.isascii():
        return max(1, (len(word) + 2) >> 2)
    ideographs = len(_IDEOGRAPH.findall(word))
    others = len(word) - ideographs
    if not others:
        return ideographs
    ascii_letters = sum(1 for char in word if char.isascii())
    foreign = others - ascii_letters
    # ASCII letters as in an English word, foreign letters a third of a token each.
    return ideographs + max(1, (ascii_letters + 2) // 4 + (foreign + 2) // 3)


# --- Chunking -----------------------------------------------------------------------------

_BLANK_LINES = re.compile(r"\n(?:[^\S\n]*\n)+")
# A sentence ends at ., ! or ? (perhaps behind a closing quote or bracket) before whitespace.
_SENTENCE_BREAK = re.compile("(?<=[.!?\u2026])\\s+|(?<=[.!?\u2026][\"')\\]\u201d\u2019])\\s+")


@dataclass(frozen=True)
class _Unit:
    """A sentence, or a piece of one too long to keep whole, with the space before it."""

    sep: str  # "" only for the second and later pieces of a single giant word
    text: str
    tokens: int


def chunk_pages(
    pages: Sequence[Page], *, chunk_tokens: int = 300, overlap_tokens: int = 50
) -> list[Chunk]:
    """The text of `pages` cut into chunks of at most `chunk_tokens` tokens each.

    Text is split into paragraphs, lines and sentences (ending in ., ! or ?), and whole
    sentences are packed into a chunk until the next would not fit. A sentence longer than
    `chunk_tokens` is split between words, and a single word longer than that between
    characters, so no chunk exceeds the size. Each chunk after the first on a page begins with
    the last sentences of the one before, up to `overlap_tokens` (never more than half a
    chunk); when even the last sentence is too long for that, its last words are repeated
    instead. Chunks never span two pages, so `Chunk.page` is exact. Indices run from 0 in order
    over all pages; pages without text give no chunks.
    """
    if chunk_tokens < 1:
        raise ValueError("chunk_tokens must be at least 1")
    if overlap_tokens < 0:
        raise ValueError("overlap_tokens cannot be negative")
    overlap = min(overlap_tokens, chunk_tokens // 2)
    piece_tokens = chunk_tokens - overlap  # long sentences split so that overlap still fits

    chunks: list[Chunk] = []
    for page in pages:
        units = _units(page.text, chunk_tokens, piece_tokens)
        for units_of_chunk in _pack(units, chunk_tokens, overlap):
            text = units_of_chunk[0].text + "".join(u.sep + u.text for u in units_of_chunk[1:])
            tokens = sum(unit.tokens for unit in units_of_chunk)
            chunks.append(Chunk(text=text, page=page.number, index=len(chunks), tokens=tokens))
    return chunks


def _units(text: str, chunk_tokens: int, piece_tokens: int) -> list[_Unit]:
    """The sentences of `text` in order, each with the whitespace that separates it."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    units: list[_Unit] = []
    for paragraph in _BLANK_LINES.split(text):
        sep = "\n\n"
        for line in paragraph.split("\n"):
            content = line.strip()
            if not content:
                continue
            indent = line[: len(line) - len(line.lstrip())]
            sep += indent
            for sentence in _SENTENCE_BREAK.split(content):
                if not sentence:
                    continue
                tokens = count_tokens(sentence)
                if tokens <= chunk_tokens:
                    units.append(_Unit(sep, sentence, tokens))
                else:
                    units.extend(_split_sentence(sentence, sep, piece_tokens))
                sep = " "
            sep = "\n"
    return units


def _split_sentence(sentence: str, sep: str, budget: int) -> list[_Unit]:
    """A long sentence as pieces of whole words of at most `budget` tokens each."""
    pieces: list[_Unit] = []
    words: list[str] = []
    total = 0

    def flush() -> None:
        nonlocal words, total, sep
        if words:
            pieces.append(_Unit(sep, " ".join(words), total))
            words, total, sep = [], 0, " "

    for word in sentence.split():
        tokens = count_tokens(word)
        if tokens > budget:
            flush()
            for slice_sep, part, part_tokens in _split_word(word, budget):
                pieces.append(_Unit(sep if not slice_sep else "", part, part_tokens))
            sep = " "
            continue
        if total + tokens > budget:
            flush()
        words.append(word)
        total += tokens
    flush()
    return pieces


def _split_word(word: str, budget: int) -> list[tuple[bool, str, int]]:
    """A word too long for a chunk (a URL, a hash, base64) cut into the longest slices that
    fit; each item says whether it continues the previous slice."""
    slices: list[tuple[bool, str, int]] = []
    start = 0
    while start < len(word):
        # The count of a prefix never shrinks as it grows, so search for the longest that fits.
        low, high = start + 1, min(len(word), start + 8 * budget)
        while low < high:
            middle = (low + high + 1) // 2
            if count_tokens(word[start:middle]) <= budget:
                low = middle
            else:
                high = middle - 1
        part = word[start:low]
        slices.append((start > 0, part, count_tokens(part)))
        start = low
    return slices


def _pack(units: list[_Unit], chunk_tokens: int, overlap: int) -> list[list[_Unit]]:
    """Units grouped into chunks; each chunk after the first starts with an overlap."""
    groups: list[list[_Unit]] = []
    current: list[_Unit] = []
    total = 0
    for unit in units:
        continues_word = unit.sep == ""
        if current and (continues_word or total + unit.tokens > chunk_tokens):
            groups.append(current)
            # A slice of a split word is glued to nothing: text before it would merge with it.
            current = (
                []
                if continues_word
                else _overlap(current, min(overlap, chunk_tokens - unit.tokens))
            )
            total = sum(u.tokens for u in current)
        current.append(unit)
        total += unit.tokens
    if current:
        groups.append(current)
    return groups


def _overlap(previous: list[_Unit], limit: int) -> list[_Unit]:
    """The last sentences of `previous` within `limit` tokens, else the last words of the last."""
    if limit <= 0:
        return []
    taken: list[_Unit] = []
    total = 0
    for unit in reversed(previous):
        if total + unit.tokens > limit:
            break
        taken.append(unit)
        total += unit.tokens
    if taken:
        return taken[::-1]

    last = previous[-1]
    tail: list[str] = []
    total = 0
    for word in reversed(last.text.split()):
        tokens = count_tokens(word)
        if total + tokens > limit:
            break
        tail.append(word)
        total += tokens
    return [_Unit(last.sep, " ".join(reversed(tail)), total)] if tail else []


# --- Batching -----------------------------------------------------------------------------


def windows(token_counts: Sequence[int], budget: int) -> list[tuple[int, int]]:
    """Consecutive half-open ranges `[start, end)` over `token_counts`, in order, covering every
    item, each summing to at most `budget`; an item larger than `budget` is a window alone."""
    if budget < 1:
        raise ValueError("budget must be at least 1")
    result: list[tuple[int, int]] = []
    start = 0
    total = 0
    for index, count in enumerate(token_counts):
        if count < 0:
            raise ValueError("token counts cannot be negative")
        if index > start and total + count > budget:
            result.append((start, index))
            start, total = index, 0
        total += count
    if start < len(token_counts):
        result.append((start, len(token_counts)))
    return result
