"""The string rules of forgetting: what counts as an occurrence and what it becomes."""

from __future__ import annotations

import json

from forgetting.redaction import MARKER, Redactor, remove_chunks, strings_in


def test_an_occurrence_in_any_letter_case_becomes_the_marker():
    redactor = Redactor(["Project Zephyr"])

    assert redactor.clean("Lead of PROJECT zephyr and project Zephyr") == (
        f"Lead of {MARKER} and {MARKER}"
    )


def test_it_is_found_once_and_twice_json_escaped():
    text = 'the "Zéphyr"\nplan'
    redactor = Redactor([text])
    once = json.dumps({"message": f"about {text}"})
    twice = json.dumps({"status": "OK", "message": once})

    assert redactor.found(once)
    assert redactor.found(twice)
    assert not redactor.found(redactor.clean(twice))
    assert json.loads(json.loads(redactor.clean(twice))["message"])["message"] == f"about {MARKER}"


def test_a_text_inside_the_marker_is_removed_rather_than_marked():
    redactor = Redactor(["forgot"])

    assert redactor.clean("I forgot my FORGOTten keys") == "I  my ten keys"


def test_removing_drops_occurrences_without_a_marker():
    assert Redactor(["secret"]).removing().clean("a secret b") == "a  b"


def test_case_can_be_kept_when_asked():
    redactor = Redactor(["Ada"], ignore_case=False)

    assert redactor.clean("Ada and ada") == f"{MARKER} and ada"


def test_blank_texts_are_ignored_and_an_empty_redactor_changes_nothing():
    redactor = Redactor(["", "   "])

    assert not redactor
    assert redactor.clean("anything") == "anything"


def test_json_values_are_cleaned_inside_and_their_keys_kept():
    redactor = Redactor(["zephyr"])
    value = {"zephyr": [{"arguments": '{"matter": "Zephyr"}'}, 3, None]}

    assert redactor.found_in(value)
    assert redactor.clean_json(value) == {
        "zephyr": [{"arguments": '{"matter": "[forgotten]"}'}, 3, None]
    }


def test_strings_in_opens_json_text_such_as_tool_arguments():
    calls = [{"id": "c1", "name": "send_message", "arguments": '{"message": "hello there"}'}]

    assert "hello there" in strings_in(calls)


def test_remove_chunks_takes_out_whole_lines_once_each():
    text = "HEADER\nuser: hi\nuser: hi there\nassistant: ok\nuser: hi"

    cleaned, removed = remove_chunks(text, ["user: hi", "assistant: ok"])

    assert removed == 2
    assert cleaned == "HEADER\nuser: hi there\nuser: hi"
