"""Who writes when: ingestion's write phase, serialized across processes, with group commit.

Writes are serialized: on PostgreSQL by a transaction-scoped advisory lock, on SQLite by a lock
file next to the database (and SQLite's one writer). The batches of a process that wait for the
write lock go in one transaction, one after another, each exactly as if alone (`store.py`
writes each). A commit, a wait for the lock and (on SQLite, whose page cache a connection drops
whenever another process has written) reading the index back serve several batches: on two
cores, 0.49 → 0.55 of the raw insert rate (bench/bench_pop_ingest.py).

The waits for the lock hold no turn (`turn.py`) and no connection: this process's next batches
are checked meanwhile, and the batch holding the lock writes first.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from control_plane.reporting import store
from control_plane.reporting.exceptions import IngestRaced
from control_plane.reporting.turn import TURN
from shared.pop import PopRejection

GROUP_MAX = 8  # batches one transaction writes at most


@dataclass
class _Pending:
    """A checked batch waiting for the write lock, and what came of writing it."""

    batch: store.Checked
    transport: str
    result: tuple[int, int, list[PopRejection]] | None = None
    error: BaseException | None = None


_waiting: list[_Pending] = []  # of this process, in arrival order
_waiting_guard = threading.Lock()
_one_writer = threading.Lock()  # one thread of this process writes (or waits to) at a time


def write(session: Session, batch: store.Checked,
          transport: str) -> tuple[int, int, list[PopRejection]]:
    """Store the batch's new plays: (accepted, duplicates, rejected by the hourly limit).
    Committed, with the other batches of this process waiting then (see the module's
    docstring)."""
    mine = _Pending(batch, transport)
    with _waiting_guard:
        _waiting.append(mine)
    with _one_writer:
        while mine.result is None and mine.error is None:
            with _waiting_guard:
                group = _waiting[:GROUP_MAX]
                del _waiting[:GROUP_MAX]
            try:
                _write_group(session, group)
            except BaseException as exc:  # e.g. the process stopping: no batch left waiting
                for p in group:
                    if p.result is None and p.error is None:
                        p.error = exc
                raise
    if mine.error is not None:
        raise mine.error
    assert mine.result is not None
    return mine.result


def _write_group(session: Session, group: list[_Pending]) -> None:
    """Write these batches in one transaction; each gets its result, or its error.

    The first attempt assumes every play is new (the usual case: a batch is sent again only
    when its receipt was lost) and skips looking them up; if fewer of a batch's plays went in
    than were sent, the transaction is rolled back and done again with that batch looking up
    which are stored. Any other error: each batch is written again on its own, so that only
    the one that fails gets the error.
    """
    sql = store.sql_for(session.get_bind().dialect)
    lookups: set[int] = set()
    try:
        with _sqlite_writer(session):
            while True:
                cursor = session.connection().connection.cursor()
                try:
                    if sql.postgres:
                        cursor.execute(f"SELECT pg_advisory_xact_lock({sql.mark})",
                                       (store.ADVISORY_LOCK_KEY,))
                    with TURN(first=True):
                        results = _write_each(sql, cursor, group, lookups)
                        cursor.close()  # before the commit hands the connection back
                        session.commit()
                except _Raced as raced:
                    cursor.close()
                    session.rollback()
                    if raced.index in lookups:  # cannot happen while writes are serialized
                        raise IngestRaced("the same plays are being uploaded concurrently; "
                                          "send the batch again") from raced
                    lookups.add(raced.index)
                    continue
                break
    except Exception as exc:
        session.rollback()
        if len(group) == 1:
            group[0].error = exc
            return
        for p in group:
            _write_group(session, [p])
        return
    for p, result in zip(group, results, strict=True):
        p.result = result


class _Raced(Exception):
    """Some plays of the group's batch at `index` were stored already."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


def _write_each(sql: Any, cursor: Any, group: list[_Pending],
                lookups: set[int]) -> list[tuple[int, int, list[PopRejection]]]:
    """Each batch of the group written in turn, in the open transaction; `_Raced`."""
    results = []
    for i, p in enumerate(group):
        try:
            results.append(store.write_batch(sql, cursor, p.batch, p.transport,
                                             lookup=i in lookups))
        except IngestRaced as exc:
            raise _Raced(i) from exc
    return results


_LOCK_FILES: dict[str, int] = {}
_LOCK_FILES_GUARD = threading.Lock()


@contextmanager
def _sqlite_writer(session: Session) -> Iterator[None]:
    """On SQLite, queue for the write phase on a lock file next to the database.

    SQLite's own busy handler sleeps in steps of up to 100 ms while another process writes, so
    several API processes would mostly wait for nothing; a lock file wakes the next one as soon
    as the write commits. (PostgreSQL queues on its advisory lock instead.)
    """
    bind = session.get_bind()
    url = bind.engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        yield
        return
    path = f"{url.database}-ingest.lock"
    with _LOCK_FILES_GUARD:
        fd = _LOCK_FILES.get(path)
        if fd is None:
            fd = _LOCK_FILES[path] = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
