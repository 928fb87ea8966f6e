"""A custom tool's function schema, read from its source without running it.

The source is parsed (`ast`), never executed here: the web process must not run a
stranger's code, even at import. The tool is the function its schema names, else the
last function defined at the top of the source (Letta's rule: helpers come first). Its
parameters come from the signature: annotations give the JSON types, defaults make a
parameter optional. The description and each parameter's description come from the
docstring, Google style:

    def roll(sides: int, times: int = 1) -> str:
        '''Roll dice.

        Args:
            sides (int): How many sides each die has.
            times: How many dice to roll.
        '''

`agent_state`, which Letta passes to tools that ask for it, is not a parameter the model
fills; it is left out of the schema (and the sandbox passes None: a tool there cannot
reach the agent's state).
"""

from __future__ import annotations

import ast
import re
from typing import Any

from config.errors import InvalidRequest

# What OpenAI-protocol providers accept as a function name.
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
INJECTED = frozenset({"agent_state", "self"})

_SCALARS: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "dict": {"type": "object"},
    "Dict": {"type": "object"},
    "Any": {},
    "object": {},
}
_LISTS = frozenset({"list", "List", "tuple", "Tuple", "set", "Set", "Sequence"})


def check_name(name: str) -> str:
    if not NAME.match(name or ""):
        raise InvalidRequest(
            f"Tool name {name!r} must be 1-64 letters, digits, '_' or '-', "
            "starting with a letter or '_'."
        )
    return name


def parse(source_code: str) -> ast.Module:
    try:
        return ast.parse(source_code)
    except SyntaxError as error:
        raise InvalidRequest(
            f"source_code is not valid Python: {error.msg} (line {error.lineno})."
        ) from None


def function_of(module: ast.Module, name: str | None = None) -> ast.FunctionDef:
    """The tool's function: the one called `name`, else the last one defined."""
    functions = [node for node in module.body if isinstance(node, ast.FunctionDef)]
    if name is not None:
        for node in functions:
            if node.name == name:
                return node
        raise InvalidRequest(f"source_code defines no function named {name!r}.")
    if not functions:
        raise InvalidRequest("source_code defines no function (def name(...): ...).")
    return functions[-1]


def derive(source_code: str, name: str | None = None) -> dict[str, Any]:
    """The OpenAI function schema {name, description, parameters} of the source's tool."""
    function = function_of(parse(source_code), name)
    if isinstance(function, ast.AsyncFunctionDef):  # pragma: no cover - filtered above
        raise InvalidRequest("An async function cannot be a tool.")
    summary, described = _docstring(ast.get_docstring(function) or "")
    properties: dict[str, Any] = {}
    required: list[str] = []
    arguments = function.args
    if arguments.vararg or arguments.kwarg:
        raise InvalidRequest(
            f"{function.name} takes *args or **kwargs; a tool's parameters must be named."
        )
    positional = [*arguments.posonlyargs, *arguments.args]
    defaults = [None] * (len(positional) - len(arguments.defaults)) + list(arguments.defaults)
    pairs = [*zip(positional, defaults, strict=True)]
    pairs += [*zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)]
    for argument, default in pairs:
        if argument.arg in INJECTED:
            continue
        schema, optional = _annotation(argument.annotation)
        if argument.arg in described:
            schema = {**schema, "description": described[argument.arg]}
        properties[argument.arg] = schema
        if default is None and not optional:
            required.append(argument.arg)
    return {
        "name": check_name(function.name),
        "description": summary,
        "parameters": {"type": "object", "properties": properties, "required": required},
    }


def _annotation(node: ast.expr | None) -> tuple[dict[str, Any], bool]:
    """(JSON schema, optional) of an annotation; no annotation is a string, as Letta has it."""
    if node is None:
        return {"type": "string"}, False
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            node = ast.parse(node.value, mode="eval").body  # "int" written as a string
        except SyntaxError:
            return {}, False
    if isinstance(node, ast.Constant) and node.value is None:
        return {"type": "null"}, True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):  # X | None
        left, left_optional = _annotation(node.left)
        right, right_optional = _annotation(node.right)
        if right == {"type": "null"}:
            return left, True
        if left == {"type": "null"}:
            return right, True
        return {"anyOf": [left, right]}, left_optional or right_optional
    if isinstance(node, ast.Name | ast.Attribute):
        name = node.id if isinstance(node, ast.Name) else node.attr
        if name in _LISTS:
            return {"type": "array"}, False
        return dict(_SCALARS.get(name, {})), False
    if isinstance(node, ast.Subscript):
        outer = node.value.id if isinstance(node.value, ast.Name) else ""
        if isinstance(node.value, ast.Attribute):
            outer = node.value.attr
        inner = node.slice
        if outer == "Optional":
            return _annotation(inner)[0], True
        if outer == "Literal":
            values = inner.elts if isinstance(inner, ast.Tuple) else [inner]
            constants = [value.value for value in values if isinstance(value, ast.Constant)]
            return {"enum": constants}, False
        if outer in _LISTS:
            item = inner.elts[0] if isinstance(inner, ast.Tuple) and inner.elts else inner
            return {"type": "array", "items": _annotation(item)[0]}, False
        if outer in ("dict", "Dict"):
            return {"type": "object"}, False
        if outer == "Union" and isinstance(inner, ast.Tuple):
            members = [_annotation(element)[0] for element in inner.elts]
            optional = {"type": "null"} in members
            members = [member for member in members if member != {"type": "null"}]
            return (members[0] if len(members) == 1 else {"anyOf": members}), optional
    return {}, False


_SECTION = re.compile(
    r"^(Args|Arguments|Parameters|Returns|Return|Raises|Yields|Example|Examples):\s*$"
)
_PARAMETER = re.compile(r"^(\*{0,2}\w+)\s*(\([^)]*\))?\s*:\s*(.*)$")


def _docstring(text: str) -> tuple[str, dict[str, str]]:
    """(summary, {parameter: description}) of a Google-style docstring (as
    ast.get_docstring returns it: dedented)."""
    summary: list[str] = []
    described: dict[str, str] = {}
    section = ""
    current = ""
    indent: int | None = None  # of the section's parameter lines; deeper ones continue
    for raw in text.splitlines():
        line = raw.strip()
        heading = _SECTION.match(line)
        if heading:
            section, current, indent = heading.group(1), "", None
            continue
        if not section:
            summary.append(line)
            continue
        if section not in ("Args", "Arguments", "Parameters") or not line:
            continue
        depth = len(raw) - len(raw.lstrip())
        match = _PARAMETER.match(line)
        if match and (indent is None or depth <= indent):
            indent = depth
            current = match.group(1).lstrip("*")
            described[current] = match.group(3).strip()
        elif current:
            described[current] = f"{described[current]} {line}".strip()
    return " ".join(" ".join(summary).split()), described
