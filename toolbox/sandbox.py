"""Custom tools' code runs here: in a bubblewrap sandbox, never in a Reverie process.

A tool is Python an API client sent, so it is treated as hostile. Each call runs in a
fresh sandbox (bwrap from the `bubblewrap` package) with:

- its own user, PID, IPC, UTS, cgroup and network namespaces (`--unshare-all`), and no
  way to make further user namespaces. With no network namespace of its own a tool could
  reach loopback services; it also never sees the filesystem sockets under DATA_DIR or
  /run (the embedded Postgres listens on one, where a network namespace alone would not
  keep it out), because:
- a filesystem of its own: read-only /usr (and /bin, /lib*), a few files of /etc, the
  interpreter and the tool's virtualenv (toolbox/requirements.py), a private /proc and
  /dev, and a small tmpfs /tmp as its home and working directory. No project directory,
  no DATA_DIR, no /run, no /home;
- an environment of PATH, HOME, LANG and the tool's own variables, nothing of the server's
  (no DATABASE_URL, SECRET_KEY, *_API_KEY);
- limits set before the tool's code runs (toolbox/sandbox_runner.py): address space
  (TOOL_MEMORY_MB), CPU time (the timeout plus a second), processes and threads, file size
  and open files. RLIMIT_NPROC counts per user *in the user namespace*, so it caps this
  sandbox alone, except that the kernel never enforces it for host root (uid 0 outside),
  namespace or not. A server running as root therefore starts the sandbox as `nobody`:
  from a private mount namespace it binds the directories `nobody` cannot reach (a
  virtualenv under a 0700 DATA_DIR, an interpreter under /root) into a scratch
  directory, then drops to `nobody` and runs bwrap as an ordinary user would;
- a wall-clock timeout (TOOL_TIMEOUT_SECONDS) after which bwrap is killed; the sandbox's
  init goes with it (--die-with-parent) and the kernel kills everything in its PID
  namespace. bwrap also dies with the process that started it.

Why bubblewrap: it needs no daemon and no root (it uses unprivileged user namespaces, as
Flatpak does), it is one small Debian/Ubuntu package, and it sets up exactly the mounts
asked for. `unshare` plus hand-made mounts would rebuild the same thing with more room
for mistakes; containers need a daemon. There is no unsandboxed mode: a setting that
runs API-supplied code in the server's own account would be one typo from handing out
the database and SECRET_KEY. A deployment that cannot run bwrap sets TOOL_SANDBOX=off.

What the sandbox does not cap: memory is limited per process, so a tool that forks up to
its process limit may use that many times TOOL_MEMORY_MB; cgroups would cap the total.
The kernel's system-call surface is the one every unprivileged process has (there is no
seccomp filter).
"""

from __future__ import annotations

import functools
import json
import math
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from toolbox.requirements import RequirementsFailed, tool_environment

RUNNER = Path(__file__).with_name("sandbox_runner.py")
# Where the runner appears inside the sandbox.
RUNNER_IN_SANDBOX = "/run/reverie/runner.py"
# What a tool's stdout and stderr keep, each; the rest is read and dropped.
OUTPUT_CHARS = 10_000
# A result line longer than this is not read (the runner cuts return values well below).
RESULT_BYTES = 8 * 1024 * 1024
# Processes and threads one call may have at once; numeric libraries start a thread per
# core, a fork bomb stops here.
PROCESS_LIMIT = 64
FILE_BYTES = 64 * 1024 * 1024
TMP_BYTES = 64 * 1024 * 1024
SHM_BYTES = 16 * 1024 * 1024
OPEN_FILES = 256
# The unprivileged account a root server runs sandboxes as.
NOBODY = 65534
# The few files of /etc a Python program expects; the rest of /etc stays outside.
ETC_FILES = ("ssl", "ca-certificates", "ld.so.cache", "localtime", "nsswitch.conf", "mime.types")
ETC_NETWORK_FILES = ("resolv.conf", "hosts", "host.conf", "gai.conf", "services", "protocols")
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class Outcome:
    """What a tool call came to. `value` is the return value as text when `ok`, else a
    reason a model can read ("the tool ran out of time (10 s)", "ValueError: bad input"
    and the tool's own lines of the traceback)."""

    ok: bool
    value: str
    stdout: str
    stderr: str
    duration_ms: int


class SandboxUnavailable(Exception):
    """Custom tools are off on this server, or this machine cannot isolate them."""


def available() -> str | None:
    """None when custom tools can run here, else why not (for the ADE and the API)."""
    if settings.TOOL_SANDBOX == "off":
        return (
            "Custom tools are turned off on this server (TOOL_SANDBOX=off); tools of MCP "
            "servers and the built-in tools still work."
        )
    return _bwrap_problem()


def run_python(
    source_code: str,
    function_name: str,
    arguments: dict[str, Any],
    *,
    environment: dict[str, str] | None = None,
    pip_requirements: list[dict[str, str]] | None = None,
    timeout: float | None = None,
) -> Outcome:
    """Define `source_code` in a fresh sandbox and call `function_name(**arguments)`.

    Whatever the tool does (raise, hang, fork, allocate, print without end, exit) comes
    back as an Outcome with ok=False and a reason. Raises SandboxUnavailable when custom
    tools are off or cannot be isolated here, and ValueError for malformed pip
    requirements or environment variables. A requirement set pip cannot install is a
    failed Outcome (it is the tool's definition that is wrong, and the model should see
    it), with pip's last lines in `stderr`.
    """
    problem = available()
    if problem:
        raise SandboxUnavailable(problem)
    environment = _checked_environment(environment or {})
    timeout = float(timeout if timeout is not None else settings.TOOL_TIMEOUT_SECONDS)
    started = time.monotonic()
    try:
        venv = tool_environment(pip_requirements)
    except RequirementsFailed as error:
        reason, _, details = str(error).partition("\n")
        return Outcome(False, reason, "", details, _since(started))
    memory_mb = int(settings.TOOL_MEMORY_MB)
    payload = {
        "source_code": source_code,
        "function_name": function_name,
        "arguments": arguments,
        "environment": environment,
        "limits": {
            "memory_bytes": memory_mb * 1024 * 1024,
            "memory_mb": memory_mb,
            "cpu_seconds": math.ceil(timeout) + 1,
            "processes": PROCESS_LIMIT,
            "file_bytes": FILE_BYTES,
            "open_files": OPEN_FILES,
        },
    }
    return _run_sandboxed(venv, payload, timeout, memory_mb, started)


def _checked_environment(environment: dict[str, str]) -> dict[str, str]:
    for key, value in environment.items():
        if not isinstance(key, str) or not key or "=" in key or "\0" in key:
            raise ValueError(f"{key!r} is not an environment variable name")
        if not isinstance(value, str) or "\0" in value:
            raise ValueError(f"Environment variable {key} must be a string")
    return dict(environment)


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _as_root() -> bool:
    return os.geteuid() == 0


def _interpreter_prefixes() -> list[Path]:
    """The installation a tool's virtualenv points at (the server's own interpreter made
    it), unless /usr already holds it."""
    prefixes = {Path(sys.base_prefix).resolve(), Path(sys.base_exec_prefix).resolve()}
    return sorted(p for p in prefixes if p != Path("/usr") and Path("/usr") not in p.parents)


def _bwrap_arguments(binds: list[tuple[str, str]], network: bool, extra: list[str]) -> list[str]:
    """bwrap's options for a sandbox with `binds` (source, destination) read-only."""
    arguments = ["--unshare-all", "--unshare-user", "--disable-userns"]
    if network:
        arguments.append("--share-net")
    arguments += [
        "--die-with-parent",
        # Its own session: a tool cannot push input into the server's terminal (TIOCSTI).
        "--new-session",
        "--uid",
        str(NOBODY),
        "--gid",
        str(NOBODY),
        "--hostname",
        "tool",
        "--clearenv",
        "--setenv",
        "PATH",
        SANDBOX_PATH,
        "--setenv",
        "HOME",
        "/tmp",
        "--setenv",
        "TMPDIR",
        "/tmp",
        "--setenv",
        "LANG",
        "C.UTF-8",
        "--ro-bind",
        "/usr",
        "/usr",
    ]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            arguments += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            arguments += ["--ro-bind", str(path), str(path)]
    for name in ETC_FILES + (ETC_NETWORK_FILES if network else ()):
        arguments += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    arguments += ["--proc", "/proc", "--dev", "/dev"]
    arguments += ["--size", str(SHM_BYTES), "--tmpfs", "/dev/shm"]
    arguments += ["--size", str(TMP_BYTES), "--tmpfs", "/tmp", "--chdir", "/tmp"]
    for source, destination in binds:
        arguments += ["--ro-bind", source, destination]
    # The root and /dev are tmpfs without a size: left writable, files there would fill the
    # host's memory. Only the sized /tmp and /dev/shm take writes.
    return [*arguments, *extra, "--remount-ro", "/dev", "--remount-ro", "/"]


def _command(
    binds: list[tuple[str, str]],
    program: list[str],
    *,
    network: bool,
    stage: str,
    extra: tuple[str, ...] = (),
) -> list[str]:
    """The command line that runs `program` in a sandbox.

    As root, bwrap runs as `nobody` (the module docstring says why); the directories to
    bind are first bound, in a mount namespace of the command's own, under `stage` (a
    directory `nobody` can enter), and bwrap binds them from there.
    """
    if not _as_root():
        return ["bwrap", *_bwrap_arguments(binds, network, list(extra)), "--", *program]
    staged = [(f"{stage}/{index}", destination) for index, (_, destination) in enumerate(binds)]
    script = [
        "set -e",
        'stage="$1"; shift',
        'mount -t tmpfs -o mode=0755,size=64k reverie-stage "$stage"',
    ]
    for index in range(len(binds)):
        script += [
            f'mkdir "$stage/{index}"',
            f'mount --bind "$1" "$stage/{index}"',
            f'mount -o remount,bind,ro "$stage/{index}"',
            "shift",
        ]
    script.append(f"exec setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups -- " + '"$@"')
    return [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        "\n".join(script),
        "sh",
        stage,
        *(source for source, _ in binds),
        "bwrap",
        *_bwrap_arguments(staged, network, list(extra)),
        "--",
        *program,
    ]


# Only the programs the server runs to start a sandbox are found on this PATH, never a
# tool's or a user's.
HELPER_ENVIRONMENT = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


@functools.cache
def _bwrap_problem() -> str | None:
    """Why bwrap cannot sandbox here, found once per process by starting an empty sandbox."""
    missing = [
        program
        for program in ["bwrap", *(["unshare", "mount", "setpriv"] if _as_root() else [])]
        if shutil.which(program, path=HELPER_ENVIRONMENT["PATH"]) is None
    ]
    if missing:
        return (
            f"Custom tools need bubblewrap to run in a sandbox, and {', '.join(missing)} "
            "is not installed here: install it (Debian and Ubuntu: apt install bubblewrap "
            "util-linux), or set TOOL_SANDBOX=off to turn custom tools off."
        )
    with tempfile.TemporaryDirectory(prefix="reverie-tool-") as stage:
        os.chmod(stage, 0o755)
        command = _command([], ["/bin/true"], network=False, stage=stage)
        try:
            result = subprocess.run(
                command,
                env=HELPER_ENVIRONMENT,
                cwd="/",
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=30,
            )
        except subprocess.TimeoutExpired:
            return "Custom tools cannot run here: starting an empty bubblewrap sandbox hung."
    if result.returncode == 0:
        return None
    said = (result.stderr.strip().splitlines() or ["no message"])[-1]
    return (
        f"Custom tools cannot run here: bubblewrap could not create a sandbox ({said}). "
        "It needs unprivileged user namespaces: sysctl kernel.unprivileged_userns_clone=1 "
        "on older Debian, kernel.apparmor_restrict_unprivileged_userns=0 (or an AppArmor "
        "profile for bwrap) on Ubuntu 24.04, and in a container a seccomp profile that "
        "allows them. Or set TOOL_SANDBOX=off to turn custom tools off."
    )


def _run_sandboxed(
    venv: Path, payload: dict[str, Any], timeout: float, memory_mb: int, started: float
) -> Outcome:
    binds = [(str(prefix), str(prefix)) for prefix in _interpreter_prefixes()]
    binds.append((str(venv), str(venv)))
    program = [
        str(venv / "bin" / "python"),
        "-I",  # no PYTHON* variables, no user site, no script directory on the path
        "-B",
        "-u",  # prints reach the server as they happen, so a timed-out tool shows them
        RUNNER_IN_SANDBOX,
    ]
    with (
        tempfile.TemporaryFile() as payload_file,
        open(RUNNER, "rb") as runner_file,
        tempfile.TemporaryDirectory(prefix="reverie-tool-") as stage,
    ):
        os.chmod(stage, 0o755)
        # A file, not a pipe: a payload bigger than a pipe's buffer needs no writer thread.
        # It is unlinked already, and reaches the sandbox only as this descriptor.
        payload_file.write(json.dumps(payload).encode())
        payload_file.flush()
        payload_file.seek(0)
        result_read, result_write = os.pipe()
        payload_fd, runner_fd = payload_file.fileno(), runner_file.fileno()
        command = _command(
            binds,
            [*program, str(payload_fd), str(result_write)],
            network=bool(settings.TOOL_ALLOW_NETWORK),
            stage=stage,
            # The runner's source is copied into the sandbox from its descriptor.
            extra=("--ro-bind-data", str(runner_fd), RUNNER_IN_SANDBOX),
        )
        try:
            process = subprocess.Popen(
                command,
                env=HELPER_ENVIRONMENT,
                cwd="/",
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(payload_fd, runner_fd, result_write),
                # Its own process group, so a timeout kills bwrap and nothing of ours.
                start_new_session=True,
            )
        finally:
            os.close(result_write)
        with os.fdopen(result_read, "rb") as result_pipe:
            streams, timed_out = _collect(process, result_pipe, started + timeout)
    stdout, stderr, result = streams
    duration = _since(started)
    if timed_out:
        return Outcome(False, f"the tool ran out of time ({timeout:g} s)", stdout, stderr, duration)
    lines = [json.loads(line) for line in result.splitlines() if _is_json(line)]
    answer = next((line for line in reversed(lines) if "ok" in line), None)
    if answer is not None:
        return Outcome(bool(answer["ok"]), str(answer["value"]), stdout, stderr, duration)
    if not any(line.get("started") for line in lines):
        said = (stderr.strip().splitlines() or ["no message"])[-1]
        raise SandboxUnavailable(f"The tool sandbox did not start: {said}")
    reason = _exit_reason(process.returncode, stderr, memory_mb, payload)
    return Outcome(False, reason, stdout, stderr, duration)


def _is_json(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def _collect(
    process: subprocess.Popen[bytes], result_pipe: Any, deadline: float
) -> tuple[tuple[str, str, bytes], bool]:
    """Read stdout, stderr and the result until the sandbox ends or the deadline passes
    (then kill it). Output past the caps is read and dropped so the tool never blocks on
    a full pipe."""
    assert process.stdout is not None and process.stderr is not None
    caps: dict[Any, int] = {process.stdout: OUTPUT_CHARS * 4, process.stderr: OUTPUT_CHARS * 4}
    caps[result_pipe] = RESULT_BYTES
    kept: dict[Any, bytearray] = {stream: bytearray() for stream in caps}
    timed_out = False
    with selectors.DefaultSelector() as selector:
        for stream in caps:
            selector.register(stream, selectors.EVENT_READ)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            for key, _ in selector.select(remaining):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                room = caps[key.fileobj] - len(kept[key.fileobj])
                kept[key.fileobj] += chunk[: max(room, 0)]
    if not timed_out:
        try:
            process.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            timed_out = True
    if timed_out:
        # bwrap's group; the sandbox's init dies with bwrap and takes the rest with it.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    process.stdout.close()
    process.stderr.close()
    return (
        _text(kept[process.stdout]),
        _text(kept[process.stderr]),
        bytes(kept[result_pipe]),
    ), timed_out


def _text(data: bytearray) -> str:
    text = data.decode("utf-8", errors="replace")
    if len(text) > OUTPUT_CHARS:
        text = text[:OUTPUT_CHARS] + f"\n[output cut at {OUTPUT_CHARS:,} characters]"
    return text


def _exit_reason(returncode: int, stderr: str, memory_mb: int, payload: dict[str, Any]) -> str:
    """Why a tool that started gave no result, from how the sandbox ended (bwrap exits
    with 128 + the signal that killed the tool)."""
    cpu_seconds = payload["limits"]["cpu_seconds"]
    signals = {
        128 + signal.SIGXCPU: f"the tool ran out of CPU time ({cpu_seconds} s)",
        128 + signal.SIGKILL: "the tool was killed (SIGKILL)",
        128 + signal.SIGSEGV: "the tool crashed (SIGSEGV)",
        128 + signal.SIGABRT: "the tool crashed (SIGABRT)",
    }
    if "MemoryError" in stderr:
        return f"the tool ran out of memory (limit {memory_mb} MB)"
    if returncode in signals:
        return signals[returncode]
    last = (stderr.strip().splitlines() or [""])[-1]
    return f"the tool exited (status {returncode}) without returning" + (
        f": {last}" if last else ""
    )
