from __future__ import annotations

import pytest

from memory.editing import (
    LINE_NUMBER_WARNING,
    EditRefused,
    check_limit,
    core_memory_append,
    core_memory_replace,
    memory_insert,
    memory_replace,
    memory_rethink,
    render_with_line_numbers,
)

# --- EditRefused ------------------------------------------------------------


def test_edit_refused_exposes_its_message_as_attribute_and_str() -> None:
    error = EditRefused("nope")
    assert error.message == "nope"
    assert str(error) == "nope"
    assert isinstance(error, Exception)


# --- banner and rendering ---------------------------------------------------


def test_warning_is_a_single_note_line() -> None:
    assert LINE_NUMBER_WARNING.startswith("# NOTE:")
    assert "\n" not in LINE_NUMBER_WARNING


def test_render_prefixes_each_line_with_its_one_based_number_after_the_banner() -> None:
    rendered = render_with_line_numbers("alpha\nbeta\ngamma")
    assert rendered == (LINE_NUMBER_WARNING + "\nLine 1: alpha\nLine 2: beta\nLine 3: gamma")


def test_render_of_a_single_line_value_numbers_it_line_one() -> None:
    assert render_with_line_numbers("only") == LINE_NUMBER_WARNING + "\nLine 1: only"


def test_render_of_an_empty_value_is_just_the_banner() -> None:
    assert render_with_line_numbers("") == LINE_NUMBER_WARNING


def test_render_numbers_a_trailing_empty_line_too() -> None:
    assert render_with_line_numbers("a\n") == LINE_NUMBER_WARNING + "\nLine 1: a\nLine 2: "


def test_render_numbers_match_the_lines_memory_insert_counts() -> None:
    value = "a\nb\nc"
    rendered_lines = render_with_line_numbers(value).split("\n")[1:]
    # Inserting after the last rendered line number must be valid and append.
    assert memory_insert(value, "human", "d", insert_line=len(rendered_lines)) == "a\nb\nc\nd"


# --- check_limit ------------------------------------------------------------


def test_check_limit_accepts_a_value_exactly_at_the_limit() -> None:
    check_limit("x" * 10, 10)


def test_check_limit_accepts_a_value_under_the_limit() -> None:
    check_limit("", 10)


def test_check_limit_refuses_one_character_over_with_the_exact_message() -> None:
    with pytest.raises(EditRefused) as excinfo:
        check_limit("x" * 11, 10)
    assert excinfo.value.message == "Edit failed: Exceeds 10 character limit (requested 11)."


# --- memory_replace ---------------------------------------------------------


def test_replace_swaps_a_unique_old_str_for_new_str() -> None:
    value = "name: Ada\nlikes: tea"
    assert memory_replace(value, "human", "tea", "coffee") == "name: Ada\nlikes: coffee"


def test_replace_can_delete_text_with_an_empty_new_str() -> None:
    assert memory_replace("keep drop keep2", "human", " drop", "") == "keep keep2"


def test_replace_handles_a_unique_multi_line_old_str() -> None:
    value = "one\ntwo\nthree\nfour"
    assert memory_replace(value, "human", "two\nthree", "2\n3") == "one\n2\n3\nfour"


def test_replace_refuses_an_old_str_that_does_not_appear() -> None:
    with pytest.raises(EditRefused) as excinfo:
        memory_replace("abc", "persona", "xyz", "q")
    assert excinfo.value.message == (
        "No replacement was performed, old_str `xyz` did not appear verbatim in "
        "memory block with label `persona`."
    )


def test_replace_is_case_sensitive() -> None:
    with pytest.raises(EditRefused, match="did not appear verbatim"):
        memory_replace("Hello", "human", "hello", "bye")


def test_replace_refuses_an_old_str_that_appears_twice() -> None:
    value = "cat\ndog\ncat"
    with pytest.raises(EditRefused) as excinfo:
        memory_replace(value, "human", "cat", "bird")
    assert excinfo.value.message == (
        "No replacement was performed. Multiple occurrences of old_str `cat` in "
        "lines [1, 3]. Please ensure it is unique."
    )


def test_replace_lists_every_line_of_three_occurrences() -> None:
    value = "x a\ny\nz a\nw\nv a"
    with pytest.raises(EditRefused) as excinfo:
        memory_replace(value, "human", "a", "b")
    assert "in lines [1, 3, 5]." in excinfo.value.message


def test_replace_names_a_line_once_when_it_holds_two_occurrences() -> None:
    value = "ha ha\nno"
    with pytest.raises(EditRefused) as excinfo:
        memory_replace(value, "human", "ha", "he")
    assert "in lines [1]." in excinfo.value.message


def test_replace_reports_the_start_line_of_each_multi_line_occurrence() -> None:
    value = "a\nb\nc\na\nb"
    with pytest.raises(EditRefused) as excinfo:
        memory_replace(value, "human", "a\nb", "z")
    assert "in lines [1, 4]." in excinfo.value.message


def test_replace_refuses_an_empty_old_str() -> None:
    with pytest.raises(EditRefused, match="old_str is empty"):
        memory_replace("abc", "human", "", "x")


def test_replace_refuses_an_empty_old_str_even_on_an_empty_value() -> None:
    with pytest.raises(EditRefused, match="old_str is empty"):
        memory_replace("", "human", "", "x")


def test_replace_refuses_a_line_number_prefix_in_old_str() -> None:
    with pytest.raises(EditRefused) as excinfo:
        memory_replace("likes: tea", "human", "Line 1: likes: tea", "likes: coffee")
    assert "old_str" in excinfo.value.message
    assert "line number prefix" in excinfo.value.message
    assert "not allowed" in excinfo.value.message


def test_replace_refuses_an_indented_line_number_prefix_in_old_str() -> None:
    with pytest.raises(EditRefused, match="line number prefix"):
        memory_replace("  x", "human", "  Line 3: x", "y")


def test_replace_refuses_a_tab_indented_line_number_prefix_with_loose_spacing() -> None:
    with pytest.raises(EditRefused, match="line number prefix"):
        memory_replace("x", "human", "\tLine\t12 : x", "y")


def test_replace_refuses_a_line_number_prefix_on_the_second_line_of_old_str() -> None:
    with pytest.raises(EditRefused, match="line number prefix"):
        memory_replace("a\nb", "human", "a\nLine 2: b", "c")


def test_replace_refuses_a_line_number_prefix_in_new_str() -> None:
    with pytest.raises(EditRefused) as excinfo:
        memory_replace("likes: tea", "human", "tea", "Line 1: coffee")
    assert excinfo.value.message.startswith("new_str")
    assert "line number prefix" in excinfo.value.message


def test_replace_refuses_a_line_number_prefix_on_the_second_line_of_new_str() -> None:
    with pytest.raises(EditRefused, match="line number prefix"):
        memory_replace("tea", "human", "tea", "coffee\nLine 2: milk")


def test_replace_checks_old_str_prefix_before_new_str_prefix() -> None:
    with pytest.raises(EditRefused) as excinfo:
        memory_replace("a", "human", "Line 1: a", "Line 1: b")
    assert excinfo.value.message.startswith("old_str")


def test_replace_checks_line_prefixes_before_looking_for_old_str() -> None:
    # The old_str is absent from the value, yet the prefix refusal wins
    # because it tells the model what it actually did wrong.
    with pytest.raises(EditRefused, match="line number prefix"):
        memory_replace("abc", "human", "Line 9: zzz", "q")


def test_replace_allows_the_word_line_when_it_is_not_a_prefix() -> None:
    value = "Favourite Line 5: the best one"
    assert (
        memory_replace(value, "human", "the best one", "the worst one")
        == "Favourite Line 5: the worst one"
    )


def test_replace_allows_line_without_a_number_at_the_start() -> None:
    assert memory_replace("Line: x", "human", "Line: x", "Line: y") == "Line: y"


def test_replace_refuses_old_str_containing_the_banner() -> None:
    value = "a"
    with pytest.raises(EditRefused) as excinfo:
        memory_replace(value, "human", LINE_NUMBER_WARNING, "b")
    assert "banner" in excinfo.value.message


def test_replace_refuses_old_str_containing_a_partial_recased_banner() -> None:
    fragment = LINE_NUMBER_WARNING.removeprefix("# NOTE: ")[:50].upper()
    with pytest.raises(EditRefused, match="banner"):
        memory_replace("a", "human", fragment, "b")


def test_replace_refuses_a_pasted_rendering_for_its_line_prefix_first() -> None:
    rendered = render_with_line_numbers("a\nb")
    with pytest.raises(EditRefused, match="line number prefix"):
        memory_replace("a\nb", "human", rendered, "c")


def test_replace_expands_tabs_in_value_and_arguments() -> None:
    value = "key:\tvalue"
    # The old_str written with spaces matches the tab in the stored value.
    assert memory_replace(value, "human", "key:    value", "k\tv") == "k       v"


def test_replace_matches_a_tabbed_old_str_against_a_tabbed_value() -> None:
    value = "\tindented\nplain"
    assert memory_replace(value, "human", "\tindented", "flat") == "flat\nplain"


def test_replace_returns_the_value_with_tabs_expanded() -> None:
    value = "a\tb\nc"
    assert memory_replace(value, "human", "c", "d") == "a       b\nd"


def test_replace_message_uses_the_tab_expanded_old_str() -> None:
    with pytest.raises(EditRefused) as excinfo:
        memory_replace("abc", "human", "x\ty", "q")
    assert "`x       y`" in excinfo.value.message


def test_replace_does_not_mutate_anything_when_refused() -> None:
    value = "cat cat"
    with pytest.raises(EditRefused):
        memory_replace(value, "human", "cat", "dog")
    assert value == "cat cat"


# --- memory_insert ----------------------------------------------------------


def test_insert_with_default_appends_after_the_last_line() -> None:
    assert memory_insert("a\nb", "human", "c") == "a\nb\nc"


def test_insert_at_minus_one_appends_after_the_last_line() -> None:
    assert memory_insert("a\nb", "human", "c", insert_line=-1) == "a\nb\nc"


def test_insert_at_zero_goes_before_the_first_line() -> None:
    assert memory_insert("a\nb", "human", "z", insert_line=0) == "z\na\nb"


def test_insert_at_k_goes_after_line_k() -> None:
    assert memory_insert("a\nb\nc", "human", "x", insert_line=2) == "a\nb\nx\nc"


def test_insert_at_n_goes_after_the_last_line() -> None:
    assert memory_insert("a\nb\nc", "human", "x", insert_line=3) == "a\nb\nc\nx"


def test_insert_splices_a_multi_line_new_str_as_separate_lines() -> None:
    assert memory_insert("a\nd", "human", "b\nc", insert_line=1) == "a\nb\nc\nd"


def test_insert_counts_a_trailing_empty_line_as_a_line() -> None:
    # "a\n" is two lines, "a" and "", so appending lands after the empty one.
    assert memory_insert("a\n", "human", "b") == "a\n\nb"
    assert memory_insert("a\n", "human", "b", insert_line=1) == "a\nb\n"


def test_insert_refuses_one_past_the_last_line() -> None:
    with pytest.raises(EditRefused) as excinfo:
        memory_insert("a\nb\nc", "human", "x", insert_line=4)
    assert excinfo.value.message == (
        "Invalid `insert_line` parameter: 4. It should be within the range of "
        "lines of the memory block: [0, 3], or -1 to append to the end of the "
        "memory block."
    )


def test_insert_refuses_negative_values_other_than_minus_one() -> None:
    with pytest.raises(EditRefused) as excinfo:
        memory_insert("a\nb\nc", "human", "x", insert_line=-2)
    assert excinfo.value.message.startswith("Invalid `insert_line` parameter: -2.")
    assert "[0, 3]" in excinfo.value.message


def test_insert_into_an_empty_value_is_just_new_str_when_appending() -> None:
    assert memory_insert("", "human", "first") == "first"


def test_insert_into_an_empty_value_is_just_new_str_at_line_zero() -> None:
    assert memory_insert("", "human", "first\nsecond", insert_line=0) == "first\nsecond"


def test_insert_into_an_empty_value_refuses_line_one() -> None:
    with pytest.raises(EditRefused) as excinfo:
        memory_insert("", "human", "x", insert_line=1)
    assert "[0, 0]" in excinfo.value.message


def test_insert_refuses_a_line_number_prefix_in_new_str() -> None:
    with pytest.raises(EditRefused) as excinfo:
        memory_insert("a", "human", "Line 2: b")
    assert excinfo.value.message.startswith("new_str")
    assert "line number prefix" in excinfo.value.message


def test_insert_refuses_an_indented_line_number_prefix_on_a_later_line() -> None:
    with pytest.raises(EditRefused, match="line number prefix"):
        memory_insert("a", "human", "b\n  Line 3: c")


def test_insert_refuses_new_str_containing_the_banner() -> None:
    with pytest.raises(EditRefused, match="banner"):
        memory_insert("a", "human", LINE_NUMBER_WARNING)


def test_insert_checks_new_str_before_insert_line() -> None:
    with pytest.raises(EditRefused, match="line number prefix"):
        memory_insert("a", "human", "Line 1: b", insert_line=99)


def test_insert_expands_tabs_in_value_and_new_str() -> None:
    assert memory_insert("a\tb", "human", "\tc") == "a       b\n        c"


# --- memory_rethink ---------------------------------------------------------


def test_rethink_replaces_the_whole_value() -> None:
    assert memory_rethink("old\nstuff", "human", "brand new") == "brand new"


def test_rethink_can_empty_the_block() -> None:
    assert memory_rethink("old", "human", "") == ""


def test_rethink_refuses_a_line_number_prefix() -> None:
    with pytest.raises(EditRefused) as excinfo:
        memory_rethink("old", "human", "fine\nLine 2: not fine")
    assert excinfo.value.message.startswith("new_memory")
    assert "line number prefix" in excinfo.value.message


def test_rethink_refuses_the_banner() -> None:
    with pytest.raises(EditRefused, match="banner"):
        memory_rethink("old", "human", LINE_NUMBER_WARNING + "\nnew")


def test_rethink_refuses_a_pasted_rendering() -> None:
    with pytest.raises(EditRefused):
        memory_rethink("a", "human", render_with_line_numbers("a\nb"))


# --- core_memory_append -----------------------------------------------------


def test_append_adds_content_on_a_new_line() -> None:
    assert core_memory_append("a", "human", "b") == "a\nb"


def test_append_to_an_empty_value_is_just_the_content() -> None:
    assert core_memory_append("", "human", "b") == "b"


def test_append_does_not_collapse_an_existing_trailing_newline() -> None:
    assert core_memory_append("a\n", "human", "b") == "a\n\nb"


# --- core_memory_replace ----------------------------------------------------


def test_core_replace_swaps_a_single_occurrence() -> None:
    assert core_memory_replace("likes tea", "human", "tea", "coffee") == "likes coffee"


def test_core_replace_replaces_every_occurrence() -> None:
    value = "tea\nmore tea\ntea"
    assert core_memory_replace(value, "human", "tea", "milk") == "milk\nmore milk\nmilk"


def test_core_replace_refuses_content_that_is_not_there() -> None:
    with pytest.raises(EditRefused) as excinfo:
        core_memory_replace("likes tea", "persona", "coffee", "milk")
    assert excinfo.value.message == "Old content 'coffee' not found in memory block 'persona'."


def test_core_replace_refuses_empty_old_content() -> None:
    with pytest.raises(EditRefused) as excinfo:
        core_memory_replace("likes tea", "human", "", "x")
    assert excinfo.value.message == "Old content '' not found in memory block 'human'."


def test_core_replace_can_delete_content() -> None:
    assert core_memory_replace("a b c", "human", " b", "") == "a c"
