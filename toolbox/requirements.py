"""The virtualenvs custom tools run in: one per set of pip requirements, built once.

A set's environment lives in TOOL_ENVS_DIR/<key>, where the key hashes the normalized,
sorted requirements together with the interpreter they were built for (a new Python makes
new environments rather than reusing ones whose compiled modules no longer fit). Tools
without requirements share the environment of the empty set: a bare virtualenv without
pip, so a tool never sees Reverie's own packages.

Environments are built outside the sandbox, by the server's own pip pointed at the new
environment, with wheels only (`--only-binary :all:`): installing a wheel runs none of the
package's code, whereas building an sdist would run its setup.py here, unsandboxed, with
the server's privileges. PyPI (or PIP_INDEX_URL and the rest of pip's PIP_* settings from
the server's environment) is the only network they use.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from django.conf import settings

# Written last: an environment without it is a build that did not finish (the process died
# mid-way) and is built again.
COMPLETE_MARKER = ".reverie-complete"
PIP_TIMEOUT_SECONDS = 600
# What pip may see of the server's environment: its own settings and how to reach an index.
PIP_ENVIRONMENT = re.compile(
    r"PIP_.*|https?_proxy|no_proxy|HTTPS?_PROXY|NO_PROXY|SSL_CERT_(FILE|DIR)|REQUESTS_CA_BUNDLE"
    r"|PATH|HOME|LANG|LC_ALL|TMPDIR"
)

# PEP 508 names; versions as PEP 440 writes them (digits, letters, dots, +, !, * for ==1.*).
# Nothing else gets through, so a requirement can never be a flag, a URL or a path.
_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+!*]*$")
_OPERATORS = ("==", ">=", "<=", "~=", "!=", ">", "<")


class RequirementsFailed(Exception):
    """pip could not install a requirement set; the message ends with pip's last lines."""


def normalize(pip_requirements: list[dict[str, str]] | None) -> list[str]:
    """The requirement set as pip specifiers (`name==1.2`), sorted and without repeats.

    A version may be bare (`1.2`, meaning ==1.2) or carry one operator (`>=1.2`). Raises
    ValueError naming the entry for anything that is not a plain name and version.
    """
    specifiers = set()
    for entry in pip_requirements or []:
        if not isinstance(entry, dict):
            raise ValueError(f"A pip requirement must be an object with a name, got {entry!r}")
        name = str(entry.get("name") or "").strip()
        version = str(entry.get("version") or "").strip()
        if not _NAME.match(name):
            raise ValueError(
                f"Pip requirement {name!r} is not a package name (letters, digits, '.', '-', "
                "'_'; no flags, URLs or paths)"
            )
        name = re.sub(r"[-_.]+", "-", name).lower()
        if not version:
            specifiers.add(name)
            continue
        operator = next((op for op in _OPERATORS if version.startswith(op)), "==")
        number = version.removeprefix(operator).strip()
        if not _VERSION.match(number):
            raise ValueError(f"Pip requirement {name}: {version!r} is not a version")
        specifiers.add(f"{name}{operator}{number}")
    return sorted(specifiers)


def environment_key(specifiers: list[str]) -> str:
    identity = {"python": sys.version, "prefix": sys.base_prefix, "requirements": specifiers}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]


def tool_environment(pip_requirements: list[dict[str, str]] | None) -> Path:
    """The virtualenv for a requirement set, built first if need be.

    Raises ValueError for a malformed requirement and RequirementsFailed when pip fails;
    a failed build leaves nothing behind. Concurrent callers, in this process or others,
    wait for one build rather than make their own (a file lock per set).
    """
    specifiers = normalize(pip_requirements)
    root = Path(settings.TOOL_ENVS_DIR)
    root.mkdir(parents=True, exist_ok=True)
    path = root / environment_key(specifiers)
    if (path / COMPLETE_MARKER).exists():
        return path
    with open(root / f"{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (path / COMPLETE_MARKER).exists():
            return path
        # Built in place rather than renamed into place: a virtualenv's scripts name its
        # path, so one moved after pip ran would not work.
        shutil.rmtree(path, ignore_errors=True)
        try:
            _build(path, specifiers)
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
        (path / COMPLETE_MARKER).write_text(json.dumps(specifiers))
    return path


def _build(path: Path, specifiers: list[str]) -> None:
    # The server's pip installs into the new environment (pip --python), so environments
    # carry no pip of their own; without one here, the environment brings its own.
    own_pip = importlib.util.find_spec("pip") is None and bool(specifiers)
    venv = [sys.executable, "-m", "venv", *([] if own_pip else ["--without-pip"]), str(path)]
    _run(venv, "could not create a virtualenv for the tool")
    if specifiers:
        python = str(path / "bin" / "python")
        pip = [python, "-m", "pip"] if own_pip else [sys.executable, "-m", "pip"]
        if not own_pip:
            pip += ["--python", python]
        pip += [
            "install",
            "--quiet",
            "--no-input",
            "--disable-pip-version-check",
            "--no-warn-script-location",
            "--only-binary=:all:",
            *specifiers,
        ]
        _run(pip, f"could not install the tool's requirements ({', '.join(specifiers)})")
    # The sandbox may run as another user than the one who built this (as `nobody` when
    # the server runs as root): everything must be readable by all, and nothing writable.
    for directory, _, files in os.walk(path):
        os.chmod(directory, 0o755)
        for name in files:
            file = os.path.join(directory, name)
            if not os.path.islink(file):
                os.chmod(file, os.stat(file).st_mode & 0o755 | 0o444)


def _run(command: list[str], failure: str) -> None:
    environ = {key: value for key, value in os.environ.items() if PIP_ENVIRONMENT.fullmatch(key)}
    try:
        result = subprocess.run(
            command,
            env=environ,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=PIP_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        raise RequirementsFailed(f"{failure}: no result after {PIP_TIMEOUT_SECONDS} s") from None
    if result.returncode != 0:
        lines = (result.stderr.strip() or result.stdout.strip()).splitlines()[-5:]
        raise RequirementsFailed(f"{failure}:\n" + "\n".join(lines))
