"""The evaluation's material: generated days at a shop, generated conversations about a user,
and a user's own JSONL. Pure functions, no database."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evaluation.material import (
    KINDS,
    MAX_ARITHMETIC_QUESTIONS,
    MAX_UPDATES,
    Item,
    MaterialError,
    Question,
    from_jsonl,
    personal_memory,
    stateful_arithmetic,
    to_jsonl,
)

SEEDS = range(40)


# --- Stateful arithmetic -------------------------------------------------------------------


def test_the_same_seed_gives_the_same_days():
    assert stateful_arithmetic(7, 5) == stateful_arithmetic(7, 5)


def test_different_seeds_give_different_days():
    days = {to_jsonl(stateful_arithmetic(seed, 3)) for seed in SEEDS}

    assert len(days) == len(SEEDS)


def test_asking_for_more_days_keeps_the_first_ones():
    assert stateful_arithmetic(3, 6)[:4] == stateful_arithmetic(3, 4)


def test_days_have_unique_ids_naming_the_seed():
    days = stateful_arithmetic(11, 6)

    assert [day.id for day in days] == [f"arithmetic-11-{n}" for n in range(6)]
    assert {day.kind for day in days} == {"arithmetic"}


def test_every_answer_is_a_non_negative_integer():
    for seed in SEEDS:
        for day in stateful_arithmetic(seed, 5):
            for question in day.questions:
                assert re.fullmatch(r"0|[1-9][0-9]*", question.answer), question


def _units(event: dict[str, Any], per_container: int) -> int:
    return event["amount"] * (per_container if "containers" in event["op"] else 1)


def _recomputed(facts: dict[str, Any], asked: dict[str, Any]) -> int:
    """The answer, worked out again from the quantities the generator drew."""
    per_container = facts["per_container"]
    stock = [facts["start"]]
    for event in facts["events"]:
        moved = _units(event, per_container)
        stock.append(stock[-1] - moved if event["op"].startswith("remove") else stock[-1] + moved)
    relation = facts["relation"]
    compared = stock[relation["state"]]
    other = {
        "times": compared * relation["amount"],
        "more": compared + relation["amount"],
        "fewer": compared - relation["amount"],
    }[relation["op"]]
    quantity = asked["quantity"]
    if quantity == "change":
        return _units(facts["events"][asked["event"]], per_container)
    if quantity == "other":
        return other
    if quantity == "stock":
        return stock[asked["state"]]
    if quantity == "full":
        return stock[asked["state"]] // per_container
    if quantity == "together":
        return stock[asked["state"]] + other
    removing = quantity == "removed"
    return sum(
        _units(event, per_container)
        for event in facts["events"]
        if event["op"].startswith("remove") == removing
    )


def test_every_answer_follows_from_the_quantities_drawn():
    checked = set()
    for seed in SEEDS:
        for day in stateful_arithmetic(seed, 5):
            assert len(day.facts["asked"]) == len(day.questions)
            for asked, question in zip(day.facts["asked"], day.questions, strict=True):
                assert question.answer == str(_recomputed(day.facts, asked)), question
                checked.add(asked["quantity"])

    assert checked == {"change", "other", "stock", "full", "together", "added", "removed"}


def test_the_stock_never_goes_below_zero():
    for seed in SEEDS:
        for day in stateful_arithmetic(seed, 5):
            stock = day.facts["start"]
            for event in day.facts["events"]:
                moved = _units(event, day.facts["per_container"])
                stock += -moved if event["op"].startswith("remove") else moved
                assert stock >= 0


def test_the_turns_tell_every_quantity():
    for seed in SEEDS:
        for day in stateful_arithmetic(seed, 3):
            told = " ".join(day.turns)
            facts = day.facts
            numbers = [facts["start"], facts["per_container"], facts["relation"]["amount"]]
            numbers += [event["amount"] for event in facts["events"]]
            for number in numbers:
                assert re.search(rf"\b{number}\b", told), (number, told)
            assert day.facts["owner"] in day.context


def test_the_stock_after_a_step_needs_the_operations_its_steps_state():
    # "5 full trays" is a multiplication and an addition; "20 rolls" only a subtraction.
    for seed in SEEDS:
        for day in stateful_arithmetic(seed, 5):
            for asked in day.facts["asked"]:
                if asked["quantity"] == "stock":
                    events = day.facts["events"][: asked["state"]]
                    needed = sum(2 if "containers" in e["op"] else 1 for e in events)
                    assert asked["operations"] == needed


def test_questions_take_one_to_four_operations_and_say_how_many():
    kinds = set()
    for seed in SEEDS:
        for day in stateful_arithmetic(seed, 5):
            assert "single-step" in {q.kind for q in day.questions}
            for asked, question in zip(day.facts["asked"], day.questions, strict=True):
                assert 1 <= asked["operations"] <= 4
                single = asked["operations"] == 1
                assert question.kind == ("single-step" if single else "multi-step")
                kinds.add(question.kind)

    assert kinds == {"single-step", "multi-step"}


@pytest.mark.parametrize("per_context", range(1, MAX_ARITHMETIC_QUESTIONS + 1))
def test_each_day_asks_as_many_different_questions_as_requested(per_context):
    for seed in SEEDS:
        for day in stateful_arithmetic(seed, 3, questions_per_context=per_context):
            assert len({question.text for question in day.questions}) == per_context


@pytest.mark.parametrize("per_context", [0, MAX_ARITHMETIC_QUESTIONS + 1])
def test_it_refuses_a_number_of_questions_it_cannot_always_ask(per_context):
    with pytest.raises(ValueError, match="questions_per_context"):
        stateful_arithmetic(1, 1, questions_per_context=per_context)


# --- Personal memory -----------------------------------------------------------------------


def test_the_same_seed_gives_the_same_conversations():
    assert personal_memory(5, 4) == personal_memory(5, 4)


def test_different_seeds_give_different_conversations():
    conversations = {to_jsonl(personal_memory(seed, 2)) for seed in SEEDS}

    assert len(conversations) == len(SEEDS)


def _mentions(turns: list[str], value: str) -> list[int]:
    return [n for n, turn in enumerate(turns) if re.search(rf"\b{re.escape(value)}\b", turn)]


def _said_in_order(item: Item, attribute: str) -> list[str]:
    """The values of `attribute` in the order the turns first mention them."""
    values = item.facts["history"][attribute]
    firsts = {value: _mentions(item.turns, value)[0] for value in values}
    return sorted(values, key=firsts.__getitem__)


@pytest.mark.parametrize("updates", [1, 2, 5, 12])
def test_the_current_value_is_the_last_one_stated_and_the_previous_the_one_before(updates):
    for seed in SEEDS:
        for item in personal_memory(seed, 3, updates=updates):
            for asked, question in zip(item.facts["asked"], item.questions, strict=True):
                said = _said_in_order(item, asked["attribute"])
                assert question.kind == asked["kind"]
                if question.kind == "current":
                    assert len(said) >= 2
                    assert question.answer == said[-1]
                elif question.kind == "previous":
                    assert question.answer == said[-2]
                    assert said[-1] in question.text  # "Where did the user live before Porto?"
                else:
                    assert question.kind == "stable"
                    assert said == [question.answer]


def test_each_value_is_mentioned_once_and_in_no_small_talk():
    for seed in SEEDS:
        for item in personal_memory(seed, 3, updates=4):
            stated = set()
            for values in item.facts["history"].values():
                assert len(set(values)) == len(values)
                for value in values:
                    assert len(_mentions(item.turns, value)) == 1, (value, item.turns)
                    stated.update(_mentions(item.turns, value))
            small_talk = len(item.turns) - len(stated)
            assert small_talk >= 2


def test_a_change_never_directly_follows_the_first_values():
    for seed in SEEDS:
        for item in personal_memory(seed, 3):
            first_values = {values[0] for values in item.facts["history"].values()}
            changes = {change["value"] for change in item.facts["changes"]}
            for before, after in zip(item.turns, item.turns[1:], strict=False):
                said_before = {v for v in first_values if re.search(rf"\b{v}\b", before)}
                said_after = {v for v in changes if re.search(rf"\b{v}\b", after)}
                assert not (said_before and said_after), (before, after)


def test_a_conversation_covers_at_least_five_facts_and_changes_them_as_often_as_asked():
    for seed in SEEDS:
        for item in personal_memory(seed, 2, updates=3):
            history = item.facts["history"]
            assert len(history) >= 5
            assert sum(len(values) - 1 for values in history.values()) == 3
            assert len(item.facts["changes"]) == 3
            kinds = [question.kind for question in item.questions]
            assert {"current", "previous", "stable"} <= set(kinds)
            # Questions about earlier values would give the current ones away: they come last.
            first_previous = kinds.index("previous")
            assert set(kinds[first_previous:]) == {"previous"}


def test_changes_are_both_said_outright_and_only_implied():
    hows = {
        change["how"]
        for seed in SEEDS
        for item in personal_memory(seed, 2)
        for change in item.facts["changes"]
    }

    assert hows == {"updated", "implied"}


def test_without_updates_every_question_is_about_a_stable_fact():
    for item in personal_memory(3, 5, updates=0):
        assert {question.kind for question in item.questions} == {"stable"}


@pytest.mark.parametrize("updates", [-1, MAX_UPDATES + 1])
def test_it_refuses_a_number_of_updates_out_of_range(updates):
    with pytest.raises(ValueError, match="updates"):
        personal_memory(1, 1, updates=updates)


def test_as_many_updates_as_the_word_lists_allow_still_work():
    for item in personal_memory(2, 2, updates=MAX_UPDATES):
        assert len(item.facts["changes"]) == MAX_UPDATES


# --- A user's JSONL ------------------------------------------------------------------------

texts = st.text(min_size=1, max_size=30).filter(str.strip)
questions = st.builds(Question, text=texts, answer=texts, kind=texts)
json_values = st.one_of(st.integers(), st.text(max_size=10), st.lists(st.integers(), max_size=3))
items = st.builds(
    Item,
    id=texts,
    kind=st.sampled_from(KINDS),
    context=st.text(max_size=40),
    turns=st.lists(texts, max_size=4),
    questions=st.lists(questions, min_size=1, max_size=3),
    facts=st.dictionaries(st.text(max_size=10), json_values, max_size=3),
)


@given(st.lists(items, max_size=4, unique_by=lambda item: item.id))
def test_items_written_as_jsonl_read_back_the_same(written):
    text = to_jsonl(written)

    assert from_jsonl(text) == written
    assert from_jsonl(io.StringIO(text)) == written
    assert from_jsonl(text.splitlines()) == written
    assert len(text.splitlines()) == len(written)


def test_generated_material_reads_back_the_same():
    generated = stateful_arithmetic(1, 3) + personal_memory(1, 3)

    assert from_jsonl(to_jsonl(generated)) == generated


def test_a_line_with_a_list_of_questions():
    line = json.dumps(
        {
            "id": "trip",
            "context": "Notes from a trip.",
            "turns": ["We left on Monday.", "We came back on Friday."],
            "questions": [
                {"question": "When did we leave?", "answer": "Monday"},
                {"question": "How many days away?", "answer": 4, "kind": "arithmetic"},
            ],
        }
    )

    assert from_jsonl([line]) == [
        Item(
            "trip",
            "jsonl",
            "Notes from a trip.",
            ["We left on Monday.", "We came back on Friday."],
            [
                Question("When did we leave?", "Monday", "jsonl"),
                Question("How many days away?", "4", "arithmetic"),
            ],
        )
    ]


def test_a_line_with_one_question_and_defaults_for_the_rest():
    lines = ["", '{"context": "Ada was born in 1815.", "question": "Born when?", "answer": 1815}']

    (item,) = from_jsonl(lines)

    expected = Question("Born when?", "1815", "jsonl")
    assert item == Item("line-2", "jsonl", "Ada was born in 1815.", [], [expected])


@pytest.mark.parametrize(("answer", "text"), [(12.0, "12"), (2.5, "2.5"), (-3, "-3"), ("x", "x")])
def test_numbers_as_answers_become_text(answer, text):
    line = json.dumps({"question": "How many?", "answer": answer})

    assert from_jsonl([line])[0].questions[0].answer == text


def test_blank_lines_are_skipped_and_still_counted():
    text = '\n{"question": "Q?", "answer": "A"}\n   \n{"question": "Q?", "answer": "B"}\n'

    assert [item.id for item in from_jsonl(text)] == ["line-2", "line-4"]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("{not json", "not JSON"),
        ('["a", "list"]', "must be a JSON object"),
        ('{"context": "no questions"}', "missing questions"),
        ('{"questions": []}', "questions is empty"),
        ('{"questions": "Q?"}', "questions must be a list"),
        ('{"questions": ["Q?"]}', "question 1: must be an object"),
        ('{"questions": [{"question": "Q?"}]}', "question 1: missing answer"),
        ('{"questions": [{"question": "Q?", "answer": ["a"]}]}', "answer must be a string"),
        ('{"questions": [{"question": "Q?", "answer": null}]}', "answer must be a string"),
        ('{"question": "Q?", "answer": true}', "answer must be a string or a number, not true"),
        ('{"question": "Q?", "answer": NaN}', "answer must be a finite number"),
        ('{"question": "Q?", "answer": "  "}', "answer is empty"),
        ('{"question": "", "answer": "A"}', "question is empty"),
        ('{"questions": [{"question": " ", "answer": "A"}]}', "question 1: question is empty"),
        ('{"question": 3, "answer": "A"}', "question must be a string"),
        ('{"answer": "A"}', "missing questions"),
        ('{"question": "Q?", "answer": "A", "questions": []}', "not both"),
        ('{"question": "Q?", "answer": "A", "turns": "hello"}', "turns must be a list"),
        ('{"question": "Q?", "answer": "A", "turns": ["hi", 2]}', "turn 2 must be a string"),
        ('{"question": "Q?", "answer": "A", "turns": ["hi", ""]}', "turn 2 is empty"),
        ('{"question": "Q?", "answer": "A", "context": 5}', "context must be a string"),
        ('{"question": "Q?", "answer": "A", "id": ""}', "id must be a non-empty string"),
        ('{"question": "Q?", "answer": "A", "kind": "quiz"}', "kind must be one of"),
        ('{"question": "Q?", "answer": "A", "facts": []}', "facts must be an object"),
        ('{"question": "Q?", "answer": "A", "turn": ["hi"]}', "unknown field 'turn'"),
        ('{"questions": [{"question": "Q?", "answer": "A", "hint": "B"}]}', "unknown field"),
    ],
)
def test_bad_input_names_the_line_and_the_problem(line, problem):
    good = '{"question": "Q?", "answer": "A"}'

    with pytest.raises(MaterialError) as raised:
        from_jsonl([good, "", line, good])

    assert re.match(r"line 3[:,] ", str(raised.value))
    assert problem in str(raised.value)


def test_an_id_used_twice_names_both_lines():
    lines = ['{"id": "a", "question": "Q?", "answer": "A"}'] * 2

    with pytest.raises(MaterialError, match="line 2: id 'a' is already used on line 1"):
        from_jsonl(lines)


def test_a_byte_order_mark_at_the_start_is_ignored():
    assert len(from_jsonl(['\ufeff{"question": "Q?", "answer": "A"}'])) == 1
