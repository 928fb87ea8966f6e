"""Tool rules as Letta has them: their shapes, and what they allow at each step of a turn.

A rule is a plain dict in Letta's wire shape (`{"tool_name": ..., "type": ..., ...}`),
stored on the agent as given once `normalise` has checked it. The functions below are
pure: they take the agent's rules, the calls run so far in this turn (oldest first) and
the names of the tools offered to the model, and answer one question each. The loop
(agents/loop.py) asks them; the API, the ADE form and Agent Files check rules here.

What each type does in a turn:

* `run_first`: the turn starts with one of these tools (the only ones offered at first).
* `constrain_child_tools`: right after `tool_name`, only its `children` may be called.
* `conditional`: right after `tool_name`, the child its output maps to in
  `child_output_mapping`, else `default_child`, else any tool; with
  `require_output_mapping`, an output that maps to nothing leaves no tool allowed.
* `parent_last_tool`: its `children` may only be called right after `tool_name`, and right
  after it only they may be.
* `max_count_per_step`: `tool_name` at most `max_count_limit` times in a turn (Letta's
  "step" is one request to the agent, a turn here).
* `exit_loop` / `continue_loop`: a successful call ends the turn / goes on with the next step.
* `required_before_exit`: the turn may not end before `tool_name` ran.
* `requires_approval`: a person approves each call first (agents.loop.needs_approval).

Rules about tools the agent is not offered (an Agent File's tools that did not come with
it) constrain nothing: they are kept, so they travel on, but a turn cannot be held to a
tool it does not have.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Each type, with the fields it has beside `tool_name`, `type` and `prompt_template`
# (Letta's own order, and each field's value when the rule leaves it out; a field
# without a default is required).
_REQUIRED = object()
TYPES: dict[str, dict[str, Any]] = {
    "run_first": {"args": None},
    "exit_loop": {},
    "continue_loop": {},
    "constrain_child_tools": {"children": _REQUIRED, "child_arg_nodes": None},
    "conditional": {
        "default_child": None,
        "child_output_mapping": _REQUIRED,
        "require_output_mapping": False,
    },
    "max_count_per_step": {"max_count_limit": _REQUIRED},
    "parent_last_tool": {"children": _REQUIRED},
    "required_before_exit": {},
    "requires_approval": {},
}
_CHILD_RULES = ("constrain_child_tools", "conditional", "parent_last_tool")
# Every field a rule of some type may have beside tool_name, type and prompt_template.
FIELDS = tuple(dict.fromkeys(field for fields in TYPES.values() for field in fields))
REQUIRED = {
    kind: [field for field, default in fields.items() if default is _REQUIRED]
    for kind, fields in TYPES.items()
}
MAX_COUNT = 2**31 - 1


class RuleInvalid(ValueError):
    """A rule that is not one of Letta's shapes; the message says what is wrong."""


# --- Shapes --------------------------------------------------------------------------------


def normalise(rule: Any) -> dict[str, Any]:
    """The rule checked, with every field of its type (the defaults for those it leaves
    out, as Letta returns them). Raises RuleInvalid."""
    if not isinstance(rule, Mapping):
        raise RuleInvalid("a tool rule must be a JSON object")
    kind = rule.get("type")
    if kind not in TYPES:
        raise RuleInvalid(
            f"unknown tool rule type {kind!r}; one of {', '.join(sorted(TYPES))}"
            if kind is not None
            else f"a tool rule needs a type, one of {', '.join(sorted(TYPES))}"
        )
    fields = TYPES[kind]
    # Another type's field is a mistake worth saying, unless it is null (as a client that
    # writes every field of a common shape sends it).
    known = {"tool_name", "type", "prompt_template", *fields}
    unknown = sorted(key for key, value in rule.items() if key not in known and value is not None)
    if unknown:
        raise RuleInvalid(f"a {kind} rule has no field {', '.join(map(repr, unknown))}")
    name = rule.get("tool_name")
    if not isinstance(name, str):
        raise RuleInvalid(f"a {kind} rule needs a tool_name")
    template = rule.get("prompt_template")
    if template is not None and not isinstance(template, str):
        raise RuleInvalid(f"prompt_template of the {kind} rule for {name} must be a string")
    out: dict[str, Any] = {"tool_name": name, "type": kind, "prompt_template": template}
    for field, default in fields.items():
        value = rule.get(field)
        if value is None:
            if default is _REQUIRED:
                raise RuleInvalid(f"the {kind} rule for {name} needs {field}")
            out[field] = default
        else:
            out[field] = _checked(kind, name, field, value)
    return out


def _checked(kind: str, name: str, field: str, value: Any) -> Any:
    where = f"{field} of the {kind} rule for {name}"
    if field == "children":
        if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
            raise RuleInvalid(f"{where} must be a list of tool names")
        return list(value)
    if field == "default_child":
        if not isinstance(value, str):
            raise RuleInvalid(f"{where} must be a tool name")
        return value
    if field == "child_output_mapping":
        if not isinstance(value, Mapping) or not value:
            raise RuleInvalid(f"{where} must map at least one output to a tool name")
        if not all(isinstance(tool, str) for tool in value.values()):
            raise RuleInvalid(f"{where} must map outputs to tool names")
        return {str(output): tool for output, tool in value.items()}
    if field == "require_output_mapping":
        if not isinstance(value, bool):
            raise RuleInvalid(f"{where} must be true or false")
        return value
    if field == "max_count_limit":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_COUNT:
            raise RuleInvalid(f"{where} must be a whole number from 1 to {MAX_COUNT}")
        return value
    if field == "args":
        if not isinstance(value, Mapping):
            raise RuleInvalid(f"{where} must be an object of argument values")
        return dict(value)
    # child_arg_nodes
    if not isinstance(value, list):
        raise RuleInvalid(f"{where} must be a list of {{name, args}} objects")
    nodes = []
    for node in value:
        if not isinstance(node, Mapping) or set(node) - {"name", "args"}:
            raise RuleInvalid(f"{where} must be a list of {{name, args}} objects")
        child, args = node.get("name"), node.get("args")
        if not isinstance(child, str):
            raise RuleInvalid(f"each of {where} needs the name of a child")
        if args is not None and not isinstance(args, Mapping):
            raise RuleInvalid(f"args of {child} in {where} must be an object")
        nodes.append({"name": child, "args": dict(args) if args is not None else None})
    return nodes


def normalise_all(rules: Iterable[Any]) -> list[dict[str, Any]]:
    """Every rule normalised; the message of the first bad one says which it is."""
    out = []
    for index, rule in enumerate(rules):
        try:
            out.append(normalise(rule))
        except RuleInvalid as error:
            raise RuleInvalid(f"tool_rules[{index}]: {error}") from None
    return out


def as_letta(rule: Any) -> Any:
    """A stored rule as Letta returns it (every field of its type); one stored before the
    rules were checked, and not valid, as it is."""
    try:
        return normalise(rule)
    except RuleInvalid:
        return rule


def tools_named(rule: Mapping[str, Any]) -> list[str]:
    """The tools a rule names: its own, and the children it leads to."""
    names = [rule["tool_name"], *(rule.get("children") or [])]
    if rule.get("default_child"):
        names.append(rule["default_child"])
    names += list((rule.get("child_output_mapping") or {}).values())
    return list(dict.fromkeys(names))


def check_names(rules: Iterable[Mapping[str, Any]], tools: Collection[str]) -> None:
    """Raises RuleInvalid when a rule names a tool that is not among `tools` (or gives
    arguments to a child it does not have)."""
    for rule in rules:
        nodes = rule.get("child_arg_nodes") or []
        strays = [node["name"] for node in nodes if node["name"] not in rule["children"]]
        if strays:
            raise RuleInvalid(
                f"child_arg_nodes of the rule for {rule['tool_name']} name "
                f"{', '.join(strays)}, which are not among its children"
            )
        missing = [name for name in tools_named(rule) if name not in tools]
        if missing:
            raise RuleInvalid(
                f"the {rule['type']} rule for {rule['tool_name']} names "
                f"{', '.join(missing)}, not among the agent's tools "
                f"({', '.join(tools) or 'none'})"
            )


# --- A turn --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """A tool call run in this turn; `output` is the text it returned (or its error)."""

    name: str
    output: str | None = None


def _of(rules: Iterable[Mapping[str, Any]], kind: str, offered: Collection[str]) -> list[Any]:
    return [rule for rule in rules if rule.get("type") == kind and rule["tool_name"] in offered]


def allowed(
    rules: Sequence[Mapping[str, Any]], history: Sequence[Call], offered: Sequence[str]
) -> list[str]:
    """The tools the model may call next, in `offered`'s order."""
    return [name for name in offered if refusal(rules, history, name, offered) is None]


def refusal(
    rules: Sequence[Mapping[str, Any]],
    history: Sequence[Call],
    name: str,
    offered: Collection[str],
) -> str | None:
    """Why a call to `name` now breaks a rule (a sentence for the model), or None.

    A tool that is not offered is no rule's business: the call fails as a call to an
    unknown tool does.
    """
    if name not in offered:
        return None
    first = [rule["tool_name"] for rule in _of(rules, "run_first", offered)]
    if not history and first:
        # The other rules wait for the first call (Letta).
        return None if name in first else f"the turn must start with {_either(first)} (run_first)"
    last = history[-1] if history else None
    for rule in _of(rules, "max_count_per_step", offered):
        if rule["tool_name"] == name:
            count = sum(call.name == name for call in history)
            if count >= rule["max_count_limit"]:
                return (
                    f"{name} may be called at most {_times(rule['max_count_limit'])} a turn "
                    "and has been (max_count_per_step)"
                )
    for rule in _of(rules, "constrain_child_tools", offered):
        children = [child for child in rule["children"] if child in offered]
        if last is not None and last.name == rule["tool_name"] and name not in children:
            return (
                f"after {last.name} only {_either(children)} may be called (constrain_child_tools)"
            )
    for rule in _of(rules, "conditional", offered):
        if last is None or last.name != rule["tool_name"]:
            continue
        child = _mapped_child(rule, last.output)
        if child is None and rule["require_output_mapping"]:
            return (
                f"{last.name} returned {_shown(last.output)}, which none of its cases maps "
                "to a tool, and the rule requires one (conditional)"
            )
        if child is not None and child in offered and name != child:
            return (
                f"after {last.name} returned {_shown(last.output)} only {child} may be "
                "called (conditional)"
            )
    for rule in _of(rules, "parent_last_tool", offered):
        children = [child for child in rule["children"] if child in offered]
        right_after = last is not None and last.name == rule["tool_name"]
        if right_after and name not in children:
            return (
                f"after {rule['tool_name']} only {_either(children)} may be called "
                "(parent_last_tool)"
            )
        if not right_after and name in children:
            return f"{name} may only be called right after {rule['tool_name']} (parent_last_tool)"
    return None


def _mapped_child(rule: Mapping[str, Any], output: str | None) -> str | None:
    """The child a conditional rule leads to after `output`: the first case that matches
    (numbers by value, true/false in any case), else its default_child."""
    text = (output or "").strip()
    for case, child in rule["child_output_mapping"].items():
        if _matches(text, case):
            return str(child)
    default = rule.get("default_child")
    return str(default) if default else None


def _matches(text: str, case: str) -> bool:
    case = case.strip()
    if text == case:
        return True
    if case.lower() in {"true", "false"}:
        return text.lower() == case.lower()
    try:
        return float(text) == float(case)
    except ValueError:
        return False


def must_call(rules: Sequence[Mapping[str, Any]], history: Sequence[Call]) -> bool:
    """Whether the model must call a tool now rather than answer in text (Letta forces a
    tool call while a run_first or child rule is in effect)."""
    if not history:
        return any(rule.get("type") == "run_first" for rule in rules)
    last = history[-1].name
    return any(rule.get("type") in _CHILD_RULES and rule["tool_name"] == last for rule in rules)


def ends_turn(rules: Sequence[Mapping[str, Any]], name: str, *, terminal: bool) -> bool:
    """Whether a successful call of `name` ends the turn: an exit_loop rule says so; a
    continue_loop rule or a rule naming children of it says the turn goes on; else the
    tool's own `terminal` flag decides."""
    kinds = {rule.get("type") for rule in rules if rule.get("tool_name") == name}
    if "exit_loop" in kinds:
        return True
    # A child rule's tool leads somewhere: its children come next.
    if "continue_loop" in kinds or kinds & set(_CHILD_RULES):
        return False
    return terminal


def still_required(
    rules: Sequence[Mapping[str, Any]], history: Sequence[Call], offered: Collection[str]
) -> list[str]:
    """The required_before_exit tools not run yet in this turn (the turn may not end)."""
    ran = {call.name for call in history}
    return [
        rule["tool_name"]
        for rule in _of(rules, "required_before_exit", offered)
        if rule["tool_name"] not in ran
    ]


def prefilled(
    rules: Sequence[Mapping[str, Any]], history: Sequence[Call], name: str
) -> dict[str, Any]:
    """Arguments the rules set for a call of `name` now, over the model's: a run_first
    rule's `args` for the turn's first call, a child rule's `child_arg_nodes` right after
    its tool."""
    args: dict[str, Any] = {}
    if not history:
        for rule in rules:
            if rule.get("type") == "run_first" and rule["tool_name"] == name:
                args.update(rule.get("args") or {})
        return args
    for rule in rules:
        if rule.get("type") == "constrain_child_tools" and rule["tool_name"] == history[-1].name:
            for node in rule.get("child_arg_nodes") or []:
                if node["name"] == name:
                    args.update(node.get("args") or {})
    return args


def refused_message(name: str, reason: str, allowed_now: Sequence[str]) -> str:
    """The failed tool result of a call a rule refused."""
    options = ", ".join(allowed_now) if allowed_now else "none"
    return f"{name} was not run: {reason}. Tools you may call now: {options}."


def required_message(missing: Sequence[str]) -> str:
    """What the model is told when it tries to end the turn too early."""
    return (
        f"The turn cannot end yet: call {_both(missing)} first (required_before_exit), then finish."
    )


def _either(names: Sequence[str]) -> str:
    if not names:
        return "no tool"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _both(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


def _shown(output: str | None) -> str:
    text = (output or "").strip()
    return json.dumps(text if len(text) <= 80 else text[:77] + "...")
