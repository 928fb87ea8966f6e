"""Commits that do not wait for the disk.

PostgreSQL makes a commit durable by flushing the write-ahead log to disk before it
answers: on the benchmark machine an INSERT in autocommit took 4 ms where a SELECT took
0.06 ms, more than all the other statements of a turn together. A turn commits each
message as soon as it is stored, so that pages open on the agent show it at once, and it
used to wait for that flush four times (bench/turn.py).

The log is flushed in order: a synchronous commit makes every earlier commit durable with
it. So writes may commit without waiting as long as a synchronous commit follows them
before anyone is told they are done (for a turn, its final update of the agent); a crash of
the database server in between loses only writes whose requester gets an error anyway.
Nothing is lost half-way: such a commit is atomic and visible at once, only its durability
waits (for the next synchronous commit or the WAL writer, a fraction of a second).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError, connection


@contextmanager
def commits_without_flush() -> Iterator[None]:
    """Commits made on this connection inside the block do not wait for the disk; the
    caller makes a synchronous commit after it.

    Inside a transaction it changes nothing: the enclosing transaction decides.
    """
    if connection.in_atomic_block:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO OFF")
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("RESET synchronous_commit")
        except DatabaseError:
            # The connection broke (the database restarted): never hand it out again
            # with the setting; whatever failed in the block is the error to report.
            connection.close()


def commit_without_flush() -> None:
    """Let the current transaction commit without waiting for the disk.

    Call first thing inside `transaction.atomic()`. Inside an enclosing transaction it
    does nothing: the outermost transaction decides how it commits.
    """
    if len(connection.atomic_blocks) != 1:
        return
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO OFF")
