"""Grading an agent's answer against the expected one. Pure functions, no database."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evaluation.grading import Grade, exact, grade, matches, normalise


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("The user lives in Porto now.", "user lives in porto now"),
        ("  Kraków,   Poland!  ", "krakow poland"),
        ("An apple a day", "apple day"),
        ("Crème brûlée", "creme brulee"),
        ("1,234 rolls", "1234 rolls"),
        ("12.0", "12"),
        ("2.50 euros", "2.5 euros"),
        ("It costs 1,234,567.00.", "it costs 1234567"),
        ("twelve eggs, zero ducks and Twenty geese", "12 eggs 0 ducks and 20 geese"),
        ("The user's dog", "users dog"),
        ("ice-cream sandwich", "ice cream sandwich"),
        ("pages 10-12", "pages 10 12"),
        ("-5 degrees", "-5 degrees"),
        ("Straße", "strasse"),
        ("12kg or 3rd", "12 kg or 3 rd"),
        ("", ""),
    ],
)
def test_normalise(text, normalised):
    assert normalise(text) == normalised


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("The user lives in Porto now.", "Porto"),
        ("porto", "Porto"),
        ("PORTO!", "Porto"),
        ("They live in Kraków.", "Krakow"),
        ("They live in Krakow.", "Kraków"),
        ("The user is a nurse.", "nurse"),
        ("an architect", "architect"),
        ("So the total is 42 rolls.", "42"),
        ("6 trays of 7 make 42", "42"),
        ("1,234", "1234"),
        ("She has 1,234 apples.", "1234"),
        ("12.0", "12"),
        ("twelve", "12"),
        ("There are twelve eggs left.", "12"),
        ("The user's favourite food is salsa verde.", "salsa verde"),
        ("The answer: ice-cream.", "ice cream"),
        ("the Eiffel Tower", "Eiffel Tower"),
    ],
)
def test_answers_that_match(answer, expected):
    assert matches(answer, expected)
    assert grade(answer, expected) == Grade(True, "normalised")


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("41 or 42", "41"),  # the last number counts, not any number
        ("42 rolls, so 7 trays", "42"),
        ("There are 420 rolls.", "42"),
        ("4.2", "42"),
        ("I don't know.", "42"),
        ("The user lives in Lyon.", "Porto"),
        ("Portobello", "Porto"),  # whole words only
        ("The user is a nurse practitioner.", "practitioner nurse"),
        ("The user lives in New York.", "New York City"),
        ("Her name starts like Ann.", "Anna"),
        # A long expected answer must be given in full, not found inside a longer answer.
        ("Well, he said the quick brown fox jumps over it.", "the quick brown fox jumps over"),
        ("", "Porto"),
        ("anything at all", "The"),  # nothing left of the expected answer to look for
        ("twenty-one", "21"),  # spelled-out numbers stop at twenty
    ],
)
def test_answers_that_do_not_match(answer, expected):
    assert not matches(answer, expected)
    assert grade(answer, expected) == Grade(False, "none")


def test_exact_ignores_only_surrounding_whitespace():
    assert exact(" Porto\n", "Porto")
    assert not exact("porto", "Porto")
    assert not exact("Porto.", "Porto")


def test_grade_says_exact_before_normalised():
    assert grade("Porto", "Porto") == Grade(True, "exact")
    assert grade(" 42 ", "42") == Grade(True, "exact")
    assert grade("42.0", "42") == Grade(True, "normalised")


def test_a_long_expected_answer_matches_when_equal_once_normalised():
    expected = "the quick brown fox jumps over"

    assert matches("The quick, brown fox jumps over!", expected)


@given(st.text(max_size=40))
def test_normalising_twice_changes_nothing(text):
    assert normalise(normalise(text)) == normalise(text)


@given(st.text(max_size=40).filter(lambda text: normalise(text) != ""))
def test_every_answer_matches_itself(text):
    assert matches(text, text)
    assert grade(text, text).correct
