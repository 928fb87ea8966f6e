"""Cutting pages into passages and batching them. Pure functions, no database."""

from __future__ import annotations

import itertools
import random
import re

import pytest

from sources.chunking import Chunk, chunk_pages, count_tokens, windows
from sources.parsing import Page, parse
from tests.sources.pdfs import text_pdf

WORDS = (
    "memory agent archive passage river mountain lantern quietly remembered conversation "
    "the a of and to in was is under over between morning evening letter garden window "
    "photosynthesis yesterday tomorrow carefully"
).split()


def prose(page: int, sentences: int, seed: int = 0) -> str:
    """Sentences like "Sentence 12 of page 3 was about ...": each numbered, so unique."""
    rng = random.Random(seed * 1000 + page)
    paragraphs: list[str] = []
    current: list[str] = []
    for number in range(1, sentences + 1):
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))
        current.append(f"Sentence {number} of page {page} was about {words}{rng.choice('.!?')}")
        if rng.random() < 0.2:
            paragraphs.append(" ".join(current))
            current = []
    paragraphs.append(" ".join(current))
    return "\n\n".join(p for p in paragraphs if p)


def sentences_of(text: str) -> list[str]:
    return re.findall(r"Sentence \d+ of page \d+ [^.!?]*[.!?]", text)


def overlap_words(before: Chunk, after: Chunk) -> list[str]:
    """The longest run of words that ends `before` and starts `after`."""
    first, second = before.text.split(), after.text.split()
    for size in range(min(len(first), len(second)), 0, -1):
        if first[-size:] == second[:size]:
            return second[:size]
    return []


# --- count_tokens -------------------------------------------------------------------------


def test_nothing_and_whitespace_count_no_tokens() -> None:
    assert count_tokens("") == 0
    assert count_tokens(" \n\t  \n") == 0


def test_short_words_count_one_token_and_long_words_are_cut_into_pieces() -> None:
    assert count_tokens("a") == 1
    assert count_tokens("the") == 1
    assert count_tokens("quick") == 1
    assert count_tokens("tokenizer") == 2
    assert count_tokens("internationally") == 4


def test_punctuation_and_symbols_count_one_token_each() -> None:
    assert count_tokens("Hello, world!") == 4
    assert count_tokens("a_b") == 3
    assert count_tokens("(){}") == 4


def test_digits_count_in_groups_of_three() -> None:
    assert count_tokens("7") == 1
    assert count_tokens("2024") == 2
    assert count_tokens("1234567") == 3


def test_other_scripts_count_more_tokens_per_letter() -> None:
    assert count_tokens("日本語") == 3
    assert count_tokens("привет") == 2
    assert count_tokens("café") == 2


def test_the_count_of_a_sentence_is_close_to_what_a_bpe_tokenizer_gives() -> None:
    # cl100k_base, for one, cuts this classic sentence into 10 tokens.
    assert count_tokens("The quick brown fox jumps over the lazy dog.") == 10


def test_the_count_adds_up_over_text_split_at_whitespace() -> None:
    text = prose(1, 60)

    assert count_tokens(text) == sum(count_tokens(word) for word in text.split())


def test_a_megabyte_of_prose_counts_near_four_characters_per_token() -> None:
    text = "\n\n".join(prose(page, 80) for page in range(1, 160))
    assert len(text) > 1_000_000

    tokens = count_tokens(text)

    assert tokens == count_tokens(text)  # deterministic
    assert len(text) / 6 < tokens < len(text) / 3


# --- chunk_pages: sizes -------------------------------------------------------------------


def test_every_chunk_fits_the_size_and_reports_its_own_token_count() -> None:
    pages = [Page(n, prose(n, 200)) for n in range(1, 4)]

    chunks = chunk_pages(pages, chunk_tokens=120, overlap_tokens=30)

    assert len(chunks) > 10
    for chunk in chunks:
        assert 0 < chunk.tokens <= 120
        assert chunk.tokens == count_tokens(chunk.text)


def test_chunks_are_filled_close_to_the_size() -> None:
    chunks = chunk_pages([Page(None, prose(1, 400))], chunk_tokens=300, overlap_tokens=50)

    full = [chunk.tokens for chunk in chunks[:-1]]
    longest_sentence = max(count_tokens(sentence) for sentence in sentences_of(chunks[0].text))
    assert longest_sentence < 50
    assert min(full) > 300 - 50  # a chunk closes only when the next sentence does not fit


def test_a_sentence_longer_than_a_chunk_is_split_between_words() -> None:
    words = [f"word{n}" for n in range(400)]
    long_sentence = " ".join(words) + "."

    chunks = chunk_pages([Page(None, long_sentence)], chunk_tokens=100, overlap_tokens=20)

    assert len(chunks) > 4
    assert all(chunk.tokens <= 100 for chunk in chunks)
    for chunk in chunks:  # no word is broken
        assert set(chunk.text.rstrip(".").split()) <= set(words)
    assert chunks[0].text.split()[0] == "word0"
    assert chunks[-1].text.endswith("word399.")


def test_a_single_word_larger_than_a_chunk_is_cut_so_that_no_chunk_exceeds_the_size() -> None:
    blob = "".join(random.Random(3).choice("abcdefXYZ0123456789+/") for _ in range(6000))

    chunks = chunk_pages(
        [Page(7, f"Before the blob. {blob} After the blob.")], chunk_tokens=100, overlap_tokens=20
    )

    assert all(chunk.tokens <= 100 for chunk in chunks)
    assert all(chunk.page == 7 for chunk in chunks)
    assert chunks[0].text.startswith("Before the blob. ")
    assert chunks[-1].text.endswith("After the blob.")
    pieces = [chunk.text.removeprefix("Before the blob. ") for chunk in chunks]
    pieces[-1] = pieces[-1].removesuffix(" After the blob.")
    assert "".join(pieces) == blob  # the slices put back together give the word back


# --- chunk_pages: overlap -----------------------------------------------------------------


def test_each_chunk_starts_with_the_last_sentences_of_the_one_before() -> None:
    chunks = chunk_pages([Page(1, prose(1, 300))], chunk_tokens=150, overlap_tokens=50)

    assert len(chunks) > 5
    for before, after in itertools.pairwise(chunks):
        shared = " ".join(overlap_words(before, after))
        assert shared, f"no overlap between chunks {before.index} and {after.index}"
        assert 0 < count_tokens(shared) <= 50
        # The overlap is made of whole sentences of the chunk before.
        assert sentences_of(shared)
        assert shared == " ".join(" ".join(sentences_of(shared)).split())


def test_the_overlap_is_never_more_than_half_a_chunk() -> None:
    chunks = chunk_pages([Page(1, prose(1, 300))], chunk_tokens=100, overlap_tokens=500)

    for before, after in itertools.pairwise(chunks):
        assert count_tokens(" ".join(overlap_words(before, after))) <= 50
        assert after.tokens <= 100


def test_when_the_last_sentence_is_too_long_to_repeat_its_last_words_are() -> None:
    sentences = [" ".join(f"s{s}w{n}" for n in range(25)) + "." for s in range(6)]
    assert all(count_tokens(sentence) == 101 for sentence in sentences)  # > the overlap

    chunks = chunk_pages([Page(None, " ".join(sentences))], chunk_tokens=150, overlap_tokens=30)

    assert len(chunks) == 6
    for before, after in itertools.pairwise(chunks):
        shared = overlap_words(before, after)
        assert 0 < count_tokens(" ".join(shared)) <= 30
        assert after.text.endswith(sentences[after.index])


def test_without_overlap_the_chunks_put_together_are_the_text() -> None:
    text = prose(1, 120)

    chunks = chunk_pages([Page(1, text)], chunk_tokens=80, overlap_tokens=0)

    assert " ".join(chunk.text for chunk in chunks).split() == text.split()


def test_with_overlap_no_text_is_lost_or_reordered() -> None:
    text = prose(1, 200)
    chunks = chunk_pages([Page(1, text)], chunk_tokens=100, overlap_tokens=30)

    rebuilt = chunks[0].text.split()
    for before, after in itertools.pairwise(chunks):
        rebuilt += after.text.split()[len(overlap_words(before, after)) :]

    assert rebuilt == text.split()


# --- chunk_pages: sentences, pages, order -------------------------------------------------


def test_chunks_begin_and_end_on_sentence_boundaries_when_sentences_fit() -> None:
    text = prose(2, 250)
    sentences = set(sentences_of(text))
    assert max(count_tokens(sentence) for sentence in sentences) < 60

    chunks = chunk_pages([Page(2, text)], chunk_tokens=150, overlap_tokens=60)

    for chunk in chunks:
        found = sentences_of(chunk.text)
        assert chunk.text.startswith(found[0])
        assert chunk.text.endswith(found[-1])
        assert set(found) <= sentences


def test_paragraph_and_line_breaks_are_kept_inside_a_chunk() -> None:
    text = "First paragraph, line one.\nLine two.\n\nSecond paragraph.  Same line."

    [chunk] = chunk_pages([Page(None, text)])

    assert chunk.text == "First paragraph, line one.\nLine two.\n\nSecond paragraph. Same line."


def test_newlines_separate_sentences_as_json_lines_do() -> None:
    lines = [f'  "key_{n}": "value number {n} of the record",' for n in range(200)]
    text = "{\n" + "\n".join(lines) + "\n}"

    chunks = chunk_pages([Page(None, text)], chunk_tokens=100, overlap_tokens=20)

    assert len(chunks) > 5
    for chunk in chunks:
        assert chunk.tokens <= 100
        for line in chunk.text.split("\n"):
            assert line.strip() in {"{", "}"} or line.strip() in {x.strip() for x in lines}


def test_no_chunk_spans_two_pages_and_page_numbers_are_exact() -> None:
    pages = [Page(n, prose(n, 30 + 7 * n)) for n in range(1, 6)]

    chunks = chunk_pages(pages, chunk_tokens=100, overlap_tokens=30)

    assert {chunk.page for chunk in chunks} == {1, 2, 3, 4, 5}
    for chunk in chunks:
        page_numbers = set(re.findall(r"of page (\d+)", chunk.text))
        assert page_numbers == {str(chunk.page)}
    # The first chunk of each page starts with that page's first sentence: no overlap across.
    for page in pages:
        first = next(chunk for chunk in chunks if chunk.page == page.number)
        assert first.text.startswith(f"Sentence 1 of page {page.number} ")


def test_indices_run_from_zero_in_order_across_pages() -> None:
    pages = [Page(n, prose(n, 40)) for n in range(1, 4)]

    chunks = chunk_pages(pages, chunk_tokens=90, overlap_tokens=20)

    assert [chunk.index for chunk in chunks] == list(range(len(chunks)))
    assert [chunk.page for chunk in chunks] == sorted(chunk.page or 0 for chunk in chunks)
    first_numbers = [int(re.findall(r"Sentence (\d+)", c.text)[0]) for c in chunks if c.page == 1]
    assert first_numbers == sorted(first_numbers)


def test_the_pages_of_a_parsed_pdf_become_chunks_that_know_their_page() -> None:
    pages = parse(text_pdf([prose(1, 20), "", prose(3, 20)]), "pdf")

    chunks = chunk_pages(pages, chunk_tokens=100, overlap_tokens=20)

    assert {chunk.page for chunk in chunks} == {1, 3}
    for chunk in chunks:
        assert set(re.findall(r"of page (\d+)", chunk.text)) == {str(chunk.page)}


def test_a_short_text_is_one_chunk() -> None:
    assert chunk_pages([Page(None, "Just one sentence.")]) == [
        Chunk(text="Just one sentence.", page=None, index=0, tokens=5)
    ]


def test_empty_text_yields_no_chunks() -> None:
    assert chunk_pages([]) == []
    assert chunk_pages([Page(None, "")]) == []
    assert chunk_pages([Page(1, "  \n\n \t ")]) == []


def test_blank_pages_are_skipped_without_a_gap_in_the_indices() -> None:
    pages = [Page(1, "Page one."), Page(2, "   "), Page(3, "Page three.")]

    chunks = chunk_pages(pages)

    assert [(c.index, c.page, c.text) for c in chunks] == [
        (0, 1, "Page one."),
        (1, 3, "Page three."),
    ]


def test_a_300_page_document_is_chunked() -> None:
    pages = [Page(n, prose(n, 30, seed=1)) for n in range(1, 301)]
    assert sum(len(page.text) for page in pages) > 500_000

    chunks = chunk_pages(pages)

    assert len(chunks) >= 300
    assert {chunk.page for chunk in chunks} == set(range(1, 301))
    assert all(chunk.tokens <= 300 for chunk in chunks)
    assert [chunk.index for chunk in chunks] == list(range(len(chunks)))


@pytest.mark.parametrize(("chunk_tokens", "overlap_tokens"), [(0, 0), (-5, 0), (100, -1)], ids=str)
def test_impossible_sizes_are_refused(chunk_tokens: int, overlap_tokens: int) -> None:
    with pytest.raises(ValueError):
        chunk_pages([Page(None, "Text.")], chunk_tokens=chunk_tokens, overlap_tokens=overlap_tokens)


# --- windows ------------------------------------------------------------------------------


def assert_covering(ranges: list[tuple[int, int]], length: int) -> None:
    assert [start for start, _ in ranges] == [0] + [end for _, end in ranges[:-1]]
    assert ranges[-1][1] == length
    assert all(start < end for start, end in ranges)


def test_windows_cover_every_item_in_order_within_the_budget() -> None:
    rng = random.Random(5)
    counts = [rng.randint(1, 40) for _ in range(500)]

    ranges = windows(counts, 100)

    assert_covering(ranges, len(counts))
    for start, end in ranges:
        assert sum(counts[start:end]) <= 100
    # Greedy: a window closes only when the next item would not fit.
    for start, end in ranges[:-1]:
        assert sum(counts[start : end + 1]) > 100


def test_windows_that_exactly_fill_the_budget() -> None:
    assert windows([5, 5, 5, 5], 10) == [(0, 2), (2, 4)]


def test_an_item_larger_than_the_budget_forms_its_own_window() -> None:
    assert windows([3, 500, 4], 10) == [(0, 1), (1, 2), (2, 3)]
    assert windows([500, 1, 2], 10) == [(0, 1), (1, 3)]
    assert windows([1, 2, 500], 10) == [(0, 2), (2, 3)]
    assert windows([500, 600], 10) == [(0, 1), (1, 2)]


def test_windows_of_nothing_are_none() -> None:
    assert windows([], 10) == []


def test_items_of_zero_tokens_join_any_window() -> None:
    assert windows([0, 10, 0, 0, 1], 10) == [(0, 4), (4, 5)]


def test_windows_refuse_an_empty_budget_or_negative_counts() -> None:
    with pytest.raises(ValueError):
        windows([1], 0)
    with pytest.raises(ValueError):
        windows([1, -1], 10)
