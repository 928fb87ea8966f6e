"""Line diffs and three-way merges of block values. Pure functions, no database."""

from __future__ import annotations

from memory.merge import merge3, unified_diff

BASE = "Name: Ada\nLikes: tea\nCity: London"


# --- Edits that combine -------------------------------------------------------------------


def test_edits_on_different_lines_are_both_kept():
    ours = "Name: Ada Lovelace\nLikes: tea\nCity: London"
    theirs = "Name: Ada\nLikes: tea\nCity: Paris"

    assert merge3(BASE, ours, theirs) == "Name: Ada Lovelace\nLikes: tea\nCity: Paris"


def test_edits_on_neighbouring_lines_are_both_kept():
    ours = "Name: Ada Lovelace\nLikes: tea\nCity: London"
    theirs = "Name: Ada\nLikes: coffee\nCity: London"

    assert merge3(BASE, ours, theirs) == "Name: Ada Lovelace\nLikes: coffee\nCity: London"


def test_an_append_merges_with_an_edit_elsewhere():
    ours = BASE + "\nPet: cat"
    theirs = "Name: Ada Lovelace\nLikes: tea\nCity: London"

    merged = merge3(BASE, ours, theirs)

    assert merged == "Name: Ada Lovelace\nLikes: tea\nCity: London\nPet: cat"
    assert merge3(BASE, theirs, ours) == merged


def test_an_edit_of_the_last_line_merges_with_an_insertion_at_the_top():
    ours = "# About the user\n" + BASE
    theirs = "Name: Ada\nLikes: tea\nCity: Paris"

    assert merge3(BASE, ours, theirs) == "# About the user\nName: Ada\nLikes: tea\nCity: Paris"


def test_a_deleted_line_merges_with_an_edit_elsewhere():
    ours = "Name: Ada\nCity: London"
    theirs = "Name: Ada\nLikes: tea\nCity: Paris"

    assert merge3(BASE, ours, theirs) == "Name: Ada\nCity: Paris"


def test_identical_edits_are_applied_once():
    same = "Name: Ada\nLikes: coffee\nCity: London"

    assert merge3(BASE, same, same) == same


def test_an_identical_edit_plus_a_different_one_elsewhere_keeps_both_once():
    ours = "Name: Ada Lovelace\nLikes: tea\nCity: London"
    theirs = "Name: Ada Lovelace\nLikes: tea\nCity: Paris"

    assert merge3(BASE, ours, theirs) == "Name: Ada Lovelace\nLikes: tea\nCity: Paris"


# --- Conflicts ----------------------------------------------------------------------------


def test_different_edits_of_the_same_line_conflict():
    ours = "Name: Ada\nLikes: coffee\nCity: London"
    theirs = "Name: Ada\nLikes: green tea\nCity: London"

    assert merge3(BASE, ours, theirs) is None


def test_edits_of_overlapping_line_ranges_conflict():
    ours = "Name: Ada Lovelace\nLikes: coffee\nCity: London"
    theirs = "Name: Ada\nLikes: green tea\nCity: Paris"

    assert merge3(BASE, ours, theirs) is None


def test_a_deleted_line_conflicts_with_an_edit_of_that_line():
    ours = "Name: Ada\nCity: London"
    theirs = "Name: Ada\nLikes: coffee\nCity: London"

    assert merge3(BASE, ours, theirs) is None


def test_two_different_insertions_at_one_place_keep_both_ours_first():
    ours = "Name: Ada\nPet: cat\nLikes: tea\nCity: London"
    theirs = "Name: Ada\nJob: mathematician\nLikes: tea\nCity: London"

    assert merge3(BASE, ours, theirs) == (
        "Name: Ada\nPet: cat\nJob: mathematician\nLikes: tea\nCity: London"
    )


def test_two_different_appends_keep_both():
    assert merge3(BASE, BASE + "\nPet: cat", BASE + "\nPet: dog") == BASE + "\nPet: cat\nPet: dog"


def test_an_insertion_beside_a_replaced_line_keeps_both():
    ours = "Name: Ada\nLikes: tea\nPet: cat\nCity: London"
    theirs = "Name: Ada\nLikes: tea\nCity: Paris"

    assert merge3(BASE, ours, theirs) == "Name: Ada\nLikes: tea\nPet: cat\nCity: Paris"


# --- Trivial cases ------------------------------------------------------------------------


def test_when_only_theirs_changed_theirs_is_the_result():
    theirs = "something else entirely"

    assert merge3(BASE, BASE, theirs) == theirs


def test_when_only_ours_changed_ours_is_the_result():
    ours = "something else entirely"

    assert merge3(BASE, ours, BASE) == ours


def test_when_nothing_changed_the_base_is_the_result():
    assert merge3(BASE, BASE, BASE) == BASE


def test_merging_into_an_empty_base_works_when_one_side_is_unchanged():
    assert merge3("", "", "Name: Ada") == "Name: Ada"
    assert merge3("", "Name: Ada", "") == "Name: Ada"


# --- unified_diff -------------------------------------------------------------------------


def test_unified_diff_shows_removed_and_added_lines_under_the_given_names():
    after = "Name: Ada\nLikes: coffee\nCity: London"

    diff = unified_diff(BASE, after, before_name="human@1", after_name="human@2")

    lines = diff.splitlines()
    assert lines[0] == "--- human@1"
    assert lines[1] == "+++ human@2"
    assert "-Likes: tea" in lines
    assert "+Likes: coffee" in lines
    assert " Name: Ada" in lines  # context around the change
    assert "-Name: Ada" not in lines


def test_unified_diff_of_an_append_only_adds():
    diff = unified_diff("a", "a\nb", before_name="x", after_name="y")

    changed = [line for line in diff.splitlines()[2:] if line[:1] in "+-"]
    assert changed == ["+b"]


def test_unified_diff_of_equal_values_is_empty():
    assert unified_diff(BASE, BASE, before_name="x", after_name="y") == ""
