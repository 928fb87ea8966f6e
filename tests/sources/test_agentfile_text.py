"""A processed file's text for its Agent File, joined back from its overlapping passages
(sources/agentfile.py): what the chunker repeated appears once."""

from __future__ import annotations

import pytest

from sources.agentfile import join_passages
from sources.chunking import chunk_pages
from sources.parsing import Page

PROSE = (
    "Tomatoes want deep watering every two or three days. Water early in the morning, "
    "never at night. Yellow lower leaves usually mean too much water! Pinch the side shoots "
    "weekly. Feed them once the first truss has set. Basil shares their sun and hates cold "
    "feet. Rosemary prefers dry soil and a clay pot. Mint spreads, so keep it apart. "
)


def rebuilt(pages: list[Page], chunk_tokens: int, overlap_tokens: int) -> str | None:
    chunks = chunk_pages(pages, chunk_tokens=chunk_tokens, overlap_tokens=overlap_tokens)
    assert len(chunks) >= 2  # the test is about chunks that follow one another
    overlap = min(overlap_tokens, chunk_tokens // 2)
    return join_passages([(chunk.text, chunk.page) for chunk in chunks], overlap)


@pytest.mark.parametrize("chunk_tokens", [30, 60, 120])
def test_prose_comes_back_as_it_was_chunked(chunk_tokens):
    text = PROSE + "\n\nA second paragraph. " + PROSE.replace("Tomatoes", "Peppers")
    joined = rebuilt([Page(None, text)], chunk_tokens, chunk_tokens // 5)
    assert joined is not None and joined.split() == text.split()


def test_text_that_repeats_itself_is_not_shortened():
    text = "Water the basil. Turn the pot. " * 30
    joined = rebuilt([Page(None, text)], 40, 8)
    assert joined is not None and joined.split() == text.split()


def test_pages_are_joined_by_a_blank_line_without_losing_a_word():
    pages = [Page(1, PROSE), Page(2, PROSE.replace("Basil", "Thyme"))]
    joined = rebuilt(pages, 40, 8)
    assert joined is not None
    assert joined.split() == (pages[0].text + " " + pages[1].text).split()
    assert "\n\n" in joined


def test_a_file_without_passages_has_no_text():
    assert join_passages([], 50) is None
