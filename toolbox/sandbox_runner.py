"""Runs one custom tool call, inside the sandbox (toolbox/sandbox.py starts it).

Usage: python -I -B -u sandbox_runner.py PAYLOAD_FD RESULT_FD

The payload (read from PAYLOAD_FD, a file the server wrote) is JSON: the tool's source,
the function to call, its arguments, its environment variables and the limits. The
result goes to RESULT_FD as JSON lines: {"started": true} once the limits hold and the
tool's code is about to run, then {"ok": ..., "value": ...}. Neither is the tool's
stdout, which is the tool's to print on.

This file runs on the tool's interpreter with nothing but the standard library, and is
not part of the Django project: it must not import anything of Reverie's.
"""

from __future__ import annotations

import builtins
import json
import linecache
import os
import resource
import sys
import traceback
from typing import Any

# The file name the tool's code carries in tracebacks; frames from it are the tool's own.
TOOL_FILENAME = "<tool>"
# A return value longer than this is cut; the server cuts again to the tool's own limit.
MAX_VALUE_CHARS = 1_000_000


def _apply_limits(limits: dict[str, int]) -> None:
    memory = limits["memory_bytes"]
    cpu = limits["cpu_seconds"]
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    # SIGXCPU at the soft limit (the server reports it), SIGKILL a second later.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    # Counted per user in this user namespace, so it caps this sandbox's processes and
    # threads (a fork bomb), whatever runs beside it.
    resource.setrlimit(resource.RLIMIT_NPROC, (limits["processes"], limits["processes"]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_bytes"], limits["file_bytes"]))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits["open_files"], limits["open_files"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _as_text(value: Any) -> str:
    """The return value as the model will read it: a string as it is, else JSON, else repr."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError):
            text = repr(value)
    return text[:MAX_VALUE_CHARS]


def _describe(error: BaseException, memory_mb: int) -> str:
    """One line a model can act on, then the tool's own frames of the traceback."""
    if isinstance(error, MemoryError):
        return f"the tool ran out of memory (limit {memory_mb} MB)"
    message = str(error)
    if isinstance(error, SyntaxError) and error.filename == TOOL_FILENAME:
        message = f"{error.msg} (line {error.lineno})"
    first = f"{type(error).__name__}: {message}" if message else type(error).__name__
    frames = [
        f"  line {frame.lineno}, in {frame.name}: {(frame.line or '').strip()}"
        for frame in traceback.extract_tb(error.__traceback__)
        if frame.filename == TOOL_FILENAME
    ]
    return "\n".join([first, *frames[-3:]])


def _call(payload: dict[str, Any]) -> dict[str, Any]:
    source = payload["source_code"]
    # Lets tracebacks show the tool's lines.
    linecache.cache[TOOL_FILENAME] = (len(source), None, source.splitlines(True), TOOL_FILENAME)
    namespace: dict[str, Any] = {"__name__": "__tool__", "__builtins__": builtins}
    exec(compile(source, TOOL_FILENAME, "exec"), namespace)
    function = namespace.get(payload["function_name"])
    if not callable(function):
        return {
            "ok": False,
            "value": f"the tool's source defines no function named {payload['function_name']!r}",
        }
    return {"ok": True, "value": _as_text(function(**payload["arguments"]))}


def main() -> None:
    payload_fd, result_fd = int(sys.argv[1]), int(sys.argv[2])
    with os.fdopen(payload_fd, "rb") as handle:
        payload = json.loads(handle.read())
    result = os.fdopen(result_fd, "w", encoding="utf-8")
    os.environ.update(payload["environment"])
    _apply_limits(payload["limits"])
    result.write(json.dumps({"started": True}) + "\n")
    result.flush()

    runner = os.getpid()
    try:
        outcome = _call(payload)
    except BaseException as error:
        outcome = {"ok": False, "value": _describe(error, payload["limits"]["memory_mb"])}
    if os.getpid() != runner:
        # A process the tool forked came back here; only the runner answers.
        os._exit(0)
    try:
        line = json.dumps(outcome, ensure_ascii=False)
    except BaseException as error:
        line = json.dumps({"ok": False, "value": f"the tool's result could not be sent: {error}"})
    result.write(line + "\n")
    result.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    # Not a normal exit: threads the tool left running must not keep the call open.
    os._exit(0)


if __name__ == "__main__":
    main()
