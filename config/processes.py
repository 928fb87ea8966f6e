"""Processes that end with their parent (Linux's parent-death signal).

`make run` supervises a web process and a worker, and the worker forks django-q2's
cluster (sentinel, workers, monitor, pusher), each from the one before. A parent killed
outright (SIGKILL, the OOM killer) signals nobody: its children would be adopted by init
and carry on, a worker's cluster taking jobs with no clock, holding the database, deaf to
the next start's Ctrl-C. Each child asks the kernel instead to be sent a signal when the
process that started it dies. Elsewhere than on Linux these do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # linux/prctl.h
_LINUX = sys.platform.startswith("linux")
_parent_pid = 0


def _set_parent_death_signal(signum: int) -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signum)
    if os.getppid() != _parent_pid:  # the parent died before the kernel was asked
        os.kill(os.getpid(), signum)


def _remember_parent() -> None:
    global _parent_pid
    _parent_pid = os.getpid()


def _forked_child() -> None:
    _set_parent_death_signal(signal.SIGKILL)


def forks_die_with_their_parent() -> None:
    """From now on, every process this one forks (and they fork) is killed when the
    process that forked it dies. For the worker, before it starts its cluster; a run the
    cluster was in the middle of is recovered by the next worker's clock as a lost run."""
    if _LINUX:
        os.register_at_fork(before=_remember_parent, after_in_child=_forked_child)


def ends_with_this_process() -> None:
    """A `preexec_fn` for subprocess: the child is sent SIGTERM, and stops as if asked,
    when this process dies."""
    if _LINUX:
        _set_parent_death_signal(signal.SIGTERM)


def remember_this_process() -> None:
    """Call before starting children with `ends_with_this_process`."""
    _remember_parent()
