"""What the built-in evaluation replays into an agent, and asks it afterwards. Framework-free.

The question behind issue 17 is the one of "Sleep-time Compute" (arXiv 2504.13171): if
sleep-time agents read a context ahead of time and consolidate it into memory blocks, does
the agent then answer questions about it as well or better, with fewer tokens at question
time? That needs material where the right answer is known exactly:

- ``stateful_arithmetic``: a day at a small shop told as a few facts (a stock, a container
  size, deliveries and sales, a neighbour's stock), then several questions about it, each
  with an integer answer the generator computes from the quantities it drew. Some need one
  operation, some two to four: work a sleep-time agent can do before it is asked.
- ``personal_memory``: a user talks about themselves between small talk, and some facts
  change, said outright ("We just moved to Porto.") or only implied by a later remark that
  contradicts the old value. The questions ask for the current value, the one before it,
  and facts that never changed: the memory has to be kept up to date, not appended to.
- ``from_jsonl`` / ``to_jsonl``: a user's own material, one item per line.

Everything is deterministic: the generators draw from small word lists with a
``random.Random(seed)``, so a seed names a data set (for a given Python version).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "KINDS",
    "MAX_ARITHMETIC_QUESTIONS",
    "MAX_UPDATES",
    "Item",
    "MaterialError",
    "Question",
    "from_dict",
    "from_history",
    "from_jsonl",
    "personal_memory",
    "stateful_arithmetic",
    "to_dict",
    "to_jsonl",
]

KINDS = ("arithmetic", "personal", "jsonl", "history")


@dataclass(frozen=True)
class Question:
    """A question asked after the turns, with its expected answer. `kind` groups results:
    "single-step" / "multi-step" (arithmetic), "current" / "previous" / "stable"
    (personal memory), "jsonl" unless a user's file says otherwise."""

    text: str
    answer: str
    kind: str


@dataclass(frozen=True)
class Item:
    """One context and its questions. `context` is background text (may be empty), `turns`
    are user messages replayed one per turn, `questions` are asked afterwards. `facts`
    holds what a generator drew (JSON values only), so a test or a report can re-derive
    the answers; it is empty for a user's material."""

    id: str
    kind: str
    context: str
    turns: list[str]
    questions: list[Question]
    facts: dict[str, Any] = field(default_factory=dict)


class MaterialError(ValueError):
    """A user's material cannot be read; the message names the line and the problem."""


# --- Stateful arithmetic -------------------------------------------------------------------


@dataclass(frozen=True)
class _Shop:
    place: str
    unit: str  # plural: "rolls"
    container: str
    containers: str
    add: tuple[str, str]  # ("bakes", "bake"): in a statement, after "did"
    remove: tuple[str, str]


_SHOPS = (
    _Shop("bakery", "rolls", "tray", "trays", ("bakes", "bake"), ("sells", "sell")),
    _Shop("library", "books", "box", "boxes", ("receives", "receive"), ("lends out", "lend out")),
    _Shop("farm shop", "eggs", "carton", "cartons", ("collects", "collect"), ("sells", "sell")),
    _Shop("stationery shop", "pencils", "pack", "packs", ("unpacks", "unpack"), ("sells", "sell")),
    _Shop("orchard stall", "apples", "crate", "crates", ("picks", "pick"), ("sells", "sell")),
    _Shop("flower stall", "tulips", "bucket", "buckets", ("cuts", "cut"), ("sells", "sell")),
    _Shop("toy shop", "marbles", "bag", "bags", ("orders", "order"), ("sells", "sell")),
)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_OWNERS = _words("Maya Tomas Aisha Kenji Lena Rafael Zoe Omar Ines Viktor Nadia Hugo Freya Dev")

# (at the start of the event's sentence, within a question, the end of the period)
_PERIODS = (
    ("In the morning", "in the morning", "at the end of the morning"),
    ("At lunchtime", "at lunchtime", "after lunchtime"),
    ("In the afternoon", "in the afternoon", "at the end of the afternoon"),
    ("In the evening", "in the evening", "at the end of the evening"),
)

# Operations that the wording of an event leaves to the reader: "5 full trays" of 6 is a
# multiplication, then an addition to the stock; "20 more rolls" only the addition.
_COST = {"add_containers": 2, "add_units": 1, "remove_units": 1, "remove_containers": 2}

MAX_ARITHMETIC_QUESTIONS = 5  # every generated day has at least this many questions to ask


def _units_moved(event: dict[str, Any], per_container: int) -> int:
    amount: int = event["amount"]
    return amount * per_container if event["op"].endswith("containers") else amount


def _draw_events(rng: random.Random, start: int, per_container: int) -> list[dict[str, Any]]:
    periods = sorted(rng.sample(range(1, len(_PERIODS)), rng.randint(2, 3)))
    # The first event always fills containers, so every day has a multiplication to ask about.
    events: list[dict[str, Any]] = [{"period": 0, "op": "add_containers", "amount": 0}]
    events[0]["amount"] = rng.randint(2, 6)
    stock = start + events[0]["amount"] * per_container
    for period in periods:
        ops = ["add_containers", "add_units", "remove_units"]
        if stock >= 2 * per_container:
            ops.append("remove_containers")
        op = rng.choice(ops)
        if op == "add_containers":
            amount = rng.randint(2, 6)
        elif op == "add_units":
            amount = rng.randint(5, 30)
        elif op == "remove_units":
            amount = rng.randint(max(1, stock // 4), max(1, stock * 3 // 4))
        else:
            amount = rng.randint(2, min(5, stock // per_container))
        event = {"period": period, "op": op, "amount": amount}
        moved = _units_moved(event, per_container)
        stock += -moved if op.startswith("remove") else moved
        events.append(event)
    return events


def _stocks(facts: dict[str, Any]) -> list[int]:
    """The stock before any event, then after each event."""
    stocks = [facts["start"]]
    for event in facts["events"]:
        moved = _units_moved(event, facts["per_container"])
        stocks.append(stocks[-1] + (-moved if event["op"].startswith("remove") else moved))
    return stocks


def _draw_day(rng: random.Random) -> tuple[_Shop, dict[str, Any]]:
    shop = rng.choice(_SHOPS)
    owner, other = rng.sample(_OWNERS, 2)
    start, per_container = rng.randint(12, 60), rng.randint(3, 12)
    events = _draw_events(rng, start, per_container)
    facts: dict[str, Any] = {
        "owner": owner,
        "other": other,
        "place": shop.place,
        "unit": shop.unit,
        "container": shop.container,
        "start": start,
        "per_container": per_container,
        "events": events,
    }
    # The neighbour's stock is compared with the stock at the start, or after the morning;
    # "3 times as many as at the end of the morning" reads oddly, so that one is "more".
    state = rng.choice((0, 1))
    op = rng.choice(("times", "more", "fewer"))
    if state == 1 and op == "times":
        op = "more"
    reference = _stocks(facts)[state]
    if op == "times":
        amount = rng.randint(2, 4)
    elif op == "more":
        amount = rng.randint(3, 25)
    else:
        amount = rng.randint(1, min(25, reference - 1))
    facts["relation"] = {"op": op, "amount": amount, "state": state}
    return shop, facts


def _other_stock(facts: dict[str, Any]) -> int:
    relation = facts["relation"]
    reference = _stocks(facts)[relation["state"]]
    if relation["op"] == "times":
        return int(reference * relation["amount"])
    sign = 1 if relation["op"] == "more" else -1
    return int(reference + sign * relation["amount"])


def _end_of(facts: dict[str, Any], state: int) -> str:
    """How a question names the moment after event `state - 1`."""
    if state == len(facts["events"]):
        return "at the end of the day"
    return _PERIODS[facts["events"][state - 1]["period"]][2]


def _day_turns(shop: _Shop, facts: dict[str, Any]) -> list[str]:
    owner, other, unit = facts["owner"], facts["other"], shop.unit
    turns = [
        f"{owner}'s {shop.place} starts the day with {facts['start']} {unit}.",
        f"Each {shop.container} holds {facts['per_container']} {unit}.",
    ]
    for event in facts["events"]:
        when = _PERIODS[event["period"]][0]
        verb = shop.remove[0] if event["op"].startswith("remove") else shop.add[0]
        if event["op"].endswith("containers"):
            what = f"{event['amount']} full {shop.containers} of {unit}"
        else:
            more = " more" if event["op"] == "add_units" else ""
            what = f"{event['amount']}{more} {unit}"
        turns.append(f"{when}, {owner} {verb} {what}.")
    relation = facts["relation"]
    compared = "at the start of the day" if relation["state"] == 0 else _end_of(facts, 1)
    if relation["op"] == "times":
        how_many = f"{relation['amount']} times as many {unit} as"
    else:
        how_many = f"{relation['amount']} {relation['op']} {unit} than"
    turns.append(
        f"{other}'s {shop.place} across the street has {how_many} {owner} had {compared}, "
        f"and {other} {shop.remove[0]} none of them today."
    )
    return turns


# What is asked (as recorded in facts["asked"]), the question, its answer, and how many
# operations it needs.
_Candidate = tuple[dict[str, Any], str, int, int]


def _day_questions(shop: _Shop, facts: dict[str, Any]) -> list[_Candidate]:
    """Every question the day allows, in the order of the story."""
    owner, other, unit = facts["owner"], facts["other"], shop.unit
    events, per_container = facts["events"], facts["per_container"]
    stocks, other_stock = _stocks(facts), _other_stock(facts)
    candidates: list[_Candidate] = []
    for index, event in enumerate(events):
        if event["op"].endswith("containers"):
            verb = shop.remove[1] if event["op"].startswith("remove") else shop.add[1]
            when = _PERIODS[event["period"]][1]
            question = f"How many {unit} did {owner} {verb} {when}?"
            moved = _units_moved(event, per_container)
            candidates.append(({"quantity": "change", "event": index}, question, moved, 1))
    relation_state = facts["relation"]["state"]
    other_ops = 1 + sum(_COST[e["op"]] for e in events[:relation_state])
    question = f"How many {unit} does {other} have?"
    candidates.append(({"quantity": "other"}, question, other_stock, other_ops))
    ops = 0
    for state in range(1, len(stocks)):
        ops += _COST[events[state - 1]["op"]]
        moment = _end_of(facts, state)
        stock = stocks[state]
        candidates += [
            (
                {"quantity": "stock", "state": state},
                f"How many {unit} does {owner} have {moment}?",
                stock,
                ops,
            ),
            (
                {"quantity": "full", "state": state},
                f"How many full {shop.containers} could {owner} fill with the {unit} "
                f"left {moment}?",
                stock // per_container,
                ops + 1,
            ),
            (
                {"quantity": "together", "state": state},
                f"How many {unit} do {owner} and {other} have together {moment}?",
                stock + other_stock,
                ops + other_ops + 1,
            ),
        ]
    for direction, verb in (("added", shop.add[1]), ("removed", shop.remove[1])):
        moves = [e for e in events if e["op"].startswith("remove") == (direction == "removed")]
        if len(moves) >= 2:  # a single move is asked about as a "change" already
            total = sum(_units_moved(e, per_container) for e in moves)
            total_ops = sum(e["op"].endswith("containers") for e in moves) + len(moves) - 1
            question = f"How many {unit} did {owner} {verb} over the whole day?"
            candidates.append(({"quantity": direction}, question, total, total_ops))
    return candidates


def _arithmetic_item(rng: random.Random, item_id: str, questions_per_context: int) -> Item:
    shop, facts = _draw_day(rng)
    usable = [c for c in _day_questions(shop, facts) if 1 <= c[3] <= 4]
    single = [c for c in usable if c[3] == 1]
    multi = [c for c in usable if c[3] > 1]
    # One single-step question (the first event always gives one), then multi-step ones:
    # the work a sleep-time agent could do ahead. Days with too few of those (at least 3
    # always) make up the rest with single-step questions.
    chosen = [rng.choice(single)]
    chosen += rng.sample(multi, min(len(multi), questions_per_context - 1))
    spare = [c for c in single if c is not chosen[0]]
    chosen += rng.sample(spare, questions_per_context - len(chosen))
    chosen.sort(key=usable.index)
    facts["asked"] = [dict(asked, operations=ops) for asked, _, _, ops in chosen]
    questions = [
        Question(text, str(answer), "single-step" if ops == 1 else "multi-step")
        for _, text, answer, ops in chosen
    ]
    context = f"A working day at {facts['owner']}'s {shop.place}."
    return Item(item_id, "arithmetic", context, _day_turns(shop, facts), questions, facts)


def stateful_arithmetic(seed: int, count: int, questions_per_context: int = 5) -> list[Item]:
    """`count` days at small shops, in the style of Stateful GSM-Symbolic: the facts are
    told in the turns, then `questions_per_context` questions (at most
    ``MAX_ARITHMETIC_QUESTIONS``), at least one single-step and the others needing one to four
    operations. Answers are non-negative integers. Item ids are "arithmetic-<seed>-<n>"."""
    if count < 0:
        raise ValueError(f"count must be 0 or more, not {count}")
    if not 1 <= questions_per_context <= MAX_ARITHMETIC_QUESTIONS:
        raise ValueError(
            f"questions_per_context must be between 1 and {MAX_ARITHMETIC_QUESTIONS}, "
            f"not {questions_per_context}"
        )
    rng = random.Random(seed)
    return [
        _arithmetic_item(rng, f"arithmetic-{seed}-{n}", questions_per_context) for n in range(count)
    ]


# --- Personal memory -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Attribute:
    name: str
    values: tuple[str, ...]
    stated: tuple[str, ...]  # how it is first said; {v} is the value, {a} its article
    updated: tuple[str, ...]  # a change said outright
    implied: tuple[str, ...]  # a remark that only makes sense with the new value
    current: str  # also asked of facts that never change, so the wording gives nothing away
    previous: str  # {v}: the current value


_ATTRIBUTES = (
    _Attribute(
        "city",
        _words("Lyon Porto Oslo Krakow Seville Ghent Tallinn Bergen Turin Leipzig"),
        ("I live in {v}.", "I'm based in {v}."),
        ("We just moved to {v}.", "Big news: I've relocated to {v}."),
        ("It's been raining all week here in {v}.", "The trams here in {v} were late again."),
        "Where does the user live now?",
        "Where did the user live before {v}?",
    ),
    _Attribute(
        "job",
        _words("nurse architect teacher electrician librarian pilot chef accountant engineer vet"),
        ("I work as {a} {v}.", "I'm {a} {v} by profession."),
        ("I changed careers: I'm {a} {v} now.", "I started a new job as {a} {v} this week."),
        ("Long day at work; being {a} {v} is exhausting.", "My shift as {a} {v} ran late."),
        "What is the user's job now?",
        "What was the user's job before they became {a} {v}?",
    ),
    _Attribute(
        "dog",
        _words("Biscuit Juniper Rufus Pixel Clover Bramble Ziggy Nutmeg Otis Waffles"),
        ("My dog is called {v}.", "I have a dog named {v}."),
        ("We renamed our dog; she answers to {v} now.", "We decided to call our dog {v}."),
        ("Took {v}, my dog, to the park this morning.", "My dog {v} stole a sock again."),
        "What is the user's dog called now?",
        "What was the user's dog called before {v}?",
    ),
    _Attribute(
        "food",
        _words("lasagne sushi paella ramen tacos curry risotto dumplings falafel pho"),
        ("My favourite food is {v}.", "Nothing beats {v}; it's my favourite food."),
        ("My tastes have changed: {v} is my favourite food now.", "These days I love {v} most."),
        ("Ordered {v} again tonight; nothing else comes close.", "I could eat {v} every day."),
        "What is the user's favourite food now?",
        "What was the user's favourite food before {v}?",
    ),
    _Attribute(
        "hobby",
        _words(
            "climbing pottery chess birdwatching rowing knitting photography sailing fencing judo"
        ),
        ("My hobby is {v}.", "In my free time I do {v}."),
        ("I've given up my old hobby and taken up {v}.", "My new hobby is {v}."),
        ("Spent all Saturday on {v}, my favourite pastime.", "Joined {a} {v} club; I'm hooked."),
        "What is the user's hobby now?",
        "What was the user's hobby before {v}?",
    ),
    _Attribute(
        "partner",
        _words("Sam Priya Jonas Amara Lucas Ingrid Mateo Noor Felix Hana"),
        ("My partner's name is {v}.", "I live with my partner, {v}."),
        ("I'm seeing someone new; their name is {v}.", "My new partner is called {v}."),
        ("{v}, my partner, is cooking tonight.", "My partner {v} and I went hiking today."),
        "What is the name of the user's partner now?",
        "What was the name of the user's partner before {v}?",
    ),
)

_USERS = _words("Alex Robin Charlie Jamie Morgan Taylor Quinn Riley")

# Small talk mentions none of the values above, nor the topics they belong to.
_SMALL_TALK = (
    "Can you suggest a good book for a long train ride?",
    "The weather has been so changeable this week.",
    "I finally fixed the squeaky door in the hallway.",
    "Do you think it's worth learning to touch-type?",
    "I watched a documentary about octopuses last night.",
    "My phone battery dies so quickly lately.",
    "What's a good way to remember people's birthdays?",
    "I tried a new route on my walk today.",
    "Is it better to water plants in the morning or the evening?",
    "I can never decide what to watch on a quiet evening.",
    "A friend recommended a podcast about the history of maps.",
    "The neighbours are renovating and it's very noisy.",
    "How long should a power nap be?",
    "I've been trying to drink more water.",
    "I really need to sort out my email inbox.",
    "It's amazing how fast this year is going.",
)

_STABLE_ASKED = 2  # attributes that never change, and are asked about
MAX_UPDATES = (len(_ATTRIBUTES) - _STABLE_ASKED) * (len(_ATTRIBUTES[0].values) - 1)


def _say(template: str, value: str) -> str:
    article = "an" if value[0].lower() in "aeiou" else "a"
    return template.format(v=value, a=article)


def _personal_item(rng: random.Random, item_id: str, updates: int) -> Item:
    user = rng.choice(_USERS)
    changing = min(updates, len(_ATTRIBUTES) - _STABLE_ASKED)
    order = rng.sample(range(len(_ATTRIBUTES)), len(_ATTRIBUTES))
    changed, stable = order[:changing], order[changing:]
    # Each changed attribute changes once, the updates left over fall on any of them.
    changes = list(changed)
    while len(changes) < updates:
        candidate = rng.choice(changed)
        if changes.count(candidate) < len(_ATTRIBUTES[candidate].values) - 1:
            changes.append(candidate)
    rng.shuffle(changes)
    history = {
        a.name: rng.sample(a.values, 1 + changes.count(i)) for i, a in enumerate(_ATTRIBUTES)
    }

    statements: list[str] = []  # every fact first, then the changes
    for i in rng.sample(range(len(_ATTRIBUTES)), len(_ATTRIBUTES)):
        attribute = _ATTRIBUTES[i]
        statements.append(_say(rng.choice(attribute.stated), history[attribute.name][0]))
    said = dict.fromkeys((a.name for a in _ATTRIBUTES), 1)
    change_log: list[dict[str, str]] = []
    for i in changes:
        attribute = _ATTRIBUTES[i]
        value = history[attribute.name][said[attribute.name]]
        said[attribute.name] += 1
        how = rng.choice(("updated", "implied"))
        templates = attribute.updated if how == "updated" else attribute.implied
        statements.append(_say(rng.choice(templates), value))
        change_log.append({"attribute": attribute.name, "value": value, "how": how})

    talk: list[str] = []

    def small_talk() -> str:
        # A long conversation goes round the small talk again, in another order.
        if not talk:
            talk.extend(rng.sample(_SMALL_TALK, len(_SMALL_TALK)))
        return talk.pop()

    turns: list[str] = []
    for n, text in enumerate(statements):
        # Small talk before most facts, and always between the first values and the changes,
        # so that no change comes right after the value it replaces is first said.
        if n > 0 and (n == len(_ATTRIBUTES) or rng.random() < 0.7):
            turns.extend(small_talk() for _ in range(rng.randint(1, 2)))
        turns.append(text)
    turns.append(small_talk())  # the last fact is not the last thing said

    now: list[tuple[dict[str, str], Question]] = []
    before: list[tuple[dict[str, str], Question]] = []
    for i in changed:
        attribute, values = _ATTRIBUTES[i], history[_ATTRIBUTES[i].name]
        now.append(
            ({"attribute": attribute.name}, Question(attribute.current, values[-1], "current"))
        )
        text = _say(attribute.previous, values[-1])
        before.append(({"attribute": attribute.name}, Question(text, values[-2], "previous")))
    for i in rng.sample(stable, _STABLE_ASKED):
        attribute = _ATTRIBUTES[i]
        value = history[attribute.name][0]
        now.append(({"attribute": attribute.name}, Question(attribute.current, value, "stable")))
    # "Where did the user live before Porto?" gives away where they live now: the questions
    # about earlier values come after all the others.
    asked = rng.sample(now, len(now)) + rng.sample(before, len(before))
    facts: dict[str, Any] = {
        "user": user,
        "history": history,
        "changes": change_log,
        "asked": [dict(key, kind=question.kind) for key, question in asked],
    }
    context = f"Messages from {user}, sent to the assistant over several days."
    return Item(item_id, "personal", context, turns, [q for _, q in asked], facts)


def personal_memory(seed: int, count: int, updates: int = 2) -> list[Item]:
    """`count` conversations in which a user states six facts about themselves (city, job,
    dog's name, favourite food, hobby, partner's name), then changes facts `updates` times
    in all, said outright or only implied, between lines of small talk.

    Questions: for each fact that changed, its value now ("current") and the one before
    ("previous", asked last); for two facts that never changed, their value ("stable").
    Answers are the values as stated ("Porto", "nurse"). Ids are "personal-<seed>-<n>".
    """
    if count < 0:
        raise ValueError(f"count must be 0 or more, not {count}")
    if not 0 <= updates <= MAX_UPDATES:
        raise ValueError(f"updates must be between 0 and {MAX_UPDATES}, not {updates}")
    rng = random.Random(seed)
    return [_personal_item(rng, f"personal-{seed}-{n}", updates) for n in range(count)]


# --- A user's JSONL ------------------------------------------------------------------------

_ITEM_FIELDS = ("id", "kind", "context", "turns", "questions", "question", "answer", "facts")
_QUESTION_FIELDS = ("question", "answer", "kind")


def _answer(value: object, where: str) -> str:
    # bool is an int to Python, but `true` is no answer to compare with.
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise MaterialError(f"{where}: answer must be a string or a number, not {_json(value)}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise MaterialError(f"{where}: answer must be a finite number, not {value}")
        return str(int(value)) if value.is_integer() else repr(value)
    text = str(value)
    if not text.strip():
        raise MaterialError(f"{where}: answer is empty")
    return text


def _json(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:40] + "…"


def _question(value: object, where: str) -> Question:
    if not isinstance(value, dict):
        raise MaterialError(
            f'{where}: must be an object {{"question": ..., "answer": ...}}, not {_json(value)}'
        )
    unknown = sorted(set(value) - set(_QUESTION_FIELDS))
    if unknown:
        raise MaterialError(
            f"{where}: unknown field {unknown[0]!r} (known: question, answer, kind)"
        )
    text = value.get("question")
    if not isinstance(text, str):
        raise MaterialError(f"{where}: question must be a string, not {_json(text)}")
    if not text.strip():
        raise MaterialError(f"{where}: question is empty")
    if "answer" not in value:
        raise MaterialError(f"{where}: missing answer")
    kind = value.get("kind", "jsonl")
    if not isinstance(kind, str) or not kind.strip():
        raise MaterialError(f"{where}: kind must be a non-empty string, not {_json(kind)}")
    return Question(text, _answer(value["answer"], where), kind)


def _item(data: object, line: int, default_id: str) -> Item:
    where = f"line {line}"
    if not isinstance(data, dict):
        raise MaterialError(f"{where}: must be a JSON object, not {_json(data)}")
    unknown = sorted(set(data) - set(_ITEM_FIELDS))
    if unknown:
        raise MaterialError(
            f"{where}: unknown field {unknown[0]!r} (known: {', '.join(_ITEM_FIELDS)})"
        )
    item_id = data.get("id", default_id)
    if not isinstance(item_id, str) or not item_id.strip():
        raise MaterialError(f"{where}: id must be a non-empty string, not {_json(item_id)}")
    kind = data.get("kind", "jsonl")
    if kind not in KINDS:
        raise MaterialError(f"{where}: kind must be one of {', '.join(KINDS)}, not {_json(kind)}")
    context = data.get("context", "")
    if not isinstance(context, str):
        raise MaterialError(f"{where}: context must be a string, not {_json(context)}")
    turns = data.get("turns", [])
    if not isinstance(turns, list):
        raise MaterialError(f"{where}: turns must be a list of strings, not {_json(turns)}")
    for n, turn in enumerate(turns, 1):
        if not isinstance(turn, str):
            raise MaterialError(f"{where}: turn {n} must be a string, not {_json(turn)}")
        if not turn.strip():
            raise MaterialError(f"{where}: turn {n} is empty")
    facts = data.get("facts", {})
    if not isinstance(facts, dict):
        raise MaterialError(f"{where}: facts must be an object, not {_json(facts)}")

    if "questions" in data:
        if "question" in data or "answer" in data:
            raise MaterialError(
                f'{where}: give either "questions" or one "question" with its "answer", not both'
            )
        raw = data["questions"]
        if not isinstance(raw, list):
            raise MaterialError(f"{where}: questions must be a list, not {_json(raw)}")
        if not raw:
            raise MaterialError(f"{where}: questions is empty")
        questions = [_question(q, f"{where}, question {n}") for n, q in enumerate(raw, 1)]
    elif "question" in data:
        single = {k: data[k] for k in ("question", "answer") if k in data}
        questions = [_question(single, where)]
    else:
        raise MaterialError(f'{where}: missing questions (give "questions" or "question")')
    return Item(item_id, kind, context, list(turns), questions, facts)


def from_jsonl(lines: Iterable[str]) -> list[Item]:
    """Items from JSON Lines, one object per line; blank lines are skipped. A whole text
    (a single str) is split into lines at "\\n" first. Each object is::

        {"id": str?, "kind": str?, "context": str?, "turns": [str]?,
         "questions": [{"question": str, "answer": str | number, "kind": str?}],
         "facts": object?}

    or, for one question, ``{"context": ..., "question": str, "answer": str | number}``.
    Defaults: id "line-<n>", kind "jsonl" (or "arithmetic" / "personal", as ``to_jsonl``
    writes generated items), context "", no turns, question kind "jsonl", facts {}. Numbers
    as answers become their text ("12.0" -> "12"). Ids must be unique.

    Anything else raises MaterialError naming the line (counted from 1, blank ones included).
    """
    if isinstance(lines, str):
        lines = lines.split("\n")
    items: list[Item] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, 1):
        if number == 1:
            line = line.removeprefix("\ufeff")  # a byte-order mark some editors write
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            raise MaterialError(f"line {number}: not JSON ({error.msg})") from None
        item = _item(data, number, f"line-{number}")
        if item.id in seen:
            raise MaterialError(
                f"line {number}: id {item.id!r} is already used on line {seen[item.id]}"
            )
        seen[item.id] = number
        items.append(item)
    return items


def from_history(turns: list[str], questions: object, item_id: str = "history") -> Item:
    """An agent's own history as one item: what its user said, turn by turn, and the
    questions a person wrote about it (``[{"question": str, "answer": str | number}]``)."""
    if not isinstance(questions, list) or not questions:
        raise MaterialError("history: write at least one question with its answer")
    asked = [
        _question({"kind": "history", **q} if isinstance(q, dict) else q, f"question {n}")
        for n, q in enumerate(questions, 1)
    ]
    said = [turn for turn in turns if turn.strip()]
    if not said:
        raise MaterialError("history: the agent has no messages from its user to replay")
    return Item(item_id, "history", "", said, asked)


def to_dict(item: Item) -> dict[str, Any]:
    """The item as a JSON object that ``from_dict`` reads back into an equal item."""
    return {
        "id": item.id,
        "kind": item.kind,
        "context": item.context,
        "turns": item.turns,
        "questions": [
            {"question": q.text, "answer": q.answer, "kind": q.kind} for q in item.questions
        ],
        "facts": item.facts,
    }


def from_dict(data: object, number: int = 1) -> Item:
    """An item from a JSON object (as ``to_dict`` writes it, or a line of JSONL)."""
    return _item(data, number, f"line-{number}")


def to_jsonl(items: Iterable[Item]) -> str:
    """The items as JSON Lines that ``from_jsonl`` reads back into equal items: every field
    written, one line per item, each ending with a newline."""
    out = []
    for item in items:
        line = json.dumps(to_dict(item), ensure_ascii=False)
        # JSON leaves these unescaped, but str.splitlines() and some editors break lines there.
        for separator in ("\x85", "\u2028", "\u2029"):
            line = line.replace(separator, f"\\u{ord(separator):04x}")
        out.append(line + "\n")
    return "".join(out)
