"""Typed reading of the JSON values of an Agent File: each reader names the path of a value
that is missing or of the wrong type (`agents[0].tags: must be a list, not a string`).
Framework-free."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import Any

from agents.agentfile.entries import MAX_HANDLE, MAX_NAME, AgentFileInvalid

# An agent name Reverie accepts (agents.services.NAME_PATTERN); other characters are
# replaced when a file's name has them.
_NAME_CHARS = re.compile(r"[^A-Za-z0-9 _.-]+")


def kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def an_object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise AgentFileInvalid(path, f"must be an object, not {kind_of(value)}")
    return value


def text_at(
    obj: dict[str, Any],
    key: str,
    path: str,
    *,
    required: bool = False,
    max_length: int | None = None,
) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise AgentFileInvalid(at(path, key), "is required")
        return None
    if not isinstance(value, str):
        raise AgentFileInvalid(at(path, key), f"must be a string, not {kind_of(value)}")
    if max_length is not None and len(value) > max_length:
        raise AgentFileInvalid(at(path, key), f"is longer than {max_length} characters")
    return value


def id_at(obj: dict[str, Any], path: str, key: str = "id", *, max_length: int = 1000) -> str:
    value = text_at(obj, key, path, required=True, max_length=max_length)
    assert value is not None
    if not value:
        raise AgentFileInvalid(at(path, key), "must not be empty")
    return value


def integer_at(obj: dict[str, Any], key: str, path: str, *, minimum: int = 0) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    # JSON's true is not a number, though Python's bool is an int.
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise AgentFileInvalid(at(path, key), f"must be a whole number, not {kind_of(value)}")
    if value < minimum:
        raise AgentFileInvalid(at(path, key), f"must be at least {minimum}")
    if value > 2**31 - 1:
        raise AgentFileInvalid(at(path, key), "is too large")
    return int(value)


def number_at(obj: dict[str, Any], key: str, path: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AgentFileInvalid(at(path, key), f"must be a number, not {kind_of(value)}")
    return float(value)


def flag_at(obj: dict[str, Any], key: str, path: str) -> bool | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise AgentFileInvalid(at(path, key), f"must be true or false, not {kind_of(value)}")
    return value


def mapping_at(obj: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    return dict(an_object(value, at(path, key)))


def items_at(
    obj: dict[str, Any], key: str, path: str, *, required: bool = False
) -> Iterator[tuple[Any, str]]:
    value = obj.get(key)
    if value is None:
        if required:
            raise AgentFileInvalid(at(path, key), "is required")
        return
    if not isinstance(value, list):
        raise AgentFileInvalid(at(path, key), f"must be a list, not {kind_of(value)}")
    for index, item in enumerate(value):
        yield item, f"{at(path, key)}[{index}]"


def texts_at(obj: dict[str, Any], key: str, path: str) -> list[str]:
    out = []
    for item, where in items_at(obj, key, path):
        if not isinstance(item, str):
            raise AgentFileInvalid(where, f"must be a string, not {kind_of(item)}")
        out.append(item)
    return out


def handle(value: str, path: str) -> str:
    if len(value) > MAX_HANDLE:
        raise AgentFileInvalid(path, f"is longer than {MAX_HANDLE} characters")
    provider, _, model = value.partition("/")
    if not provider.strip() or not model.strip():
        raise AgentFileInvalid(path, f"{value!r} must look like 'provider/model-name'")
    return value


def agent_name(name: str | None) -> str:
    """`name` as Reverie accepts agent names: accents dropped, other characters '-'."""
    ascii_name = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode()
    cleaned = _NAME_CHARS.sub("-", " ".join(ascii_name.split())).strip(" -")[:MAX_NAME]
    return cleaned.strip() or "imported-agent"
