"""Whose turn it is to run ingestion's Python in this process: one batch at a time, and a batch
that holds the database's write lock first.

Two batches computing at once in one interpreter only fight over the GIL, and the one holding
the write lock loses most: after each statement it waits for the GIL while the other computes,
so every other process waits for the lock too. So one batch runs at a time (`turn()`).

But a batch waiting for the write lock (another process is writing) holds no turn: it waits in
the kernel, and the next batch of this process checks, reads and judges its records meanwhile,
so the process does not sit idle while the database is busy. Once the write lock is its, the
batch asks for the turn first (`turn(first=True)`); the batch computing reaches a pause point
(`pause()`, between the steps of the checks, never more than a millisecond or two apart) and
lets it write, then goes on before any other upload: it may hold a pooled database connection,
and an upload taking the turn from it could wait for that connection while the paused batch
waits for the turn.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Turn:
    """A lock for a process's ingestion work, where holders of the write lock go first."""

    def __init__(self) -> None:
        lock = threading.Lock()
        self._first = threading.Condition(lock)  # callers going first wait here
        self._resuming = threading.Condition(lock)  # a holder that paused for them
        self._others = threading.Condition(lock)
        self._held = False
        self._first_waiting = 0
        self._resuming_waiting = 0

    def acquire(self, *, first: bool = False) -> None:
        """Wait for the turn; `first`: ahead of every caller without it."""
        with self._first:
            if first:
                self._first_waiting += 1
                try:
                    while self._held:
                        self._first.wait()
                finally:
                    self._first_waiting -= 1
            else:
                while self._held or self._first_waiting or self._resuming_waiting:
                    self._others.wait()
            self._held = True

    def release(self) -> None:
        """Give the turn up: to one caller going first, else to the holder that paused for
        them, else to one other (waking one, not all: a dozen uploads may be waiting)."""
        with self._first:
            self._held = False
            if self._first_waiting:
                self._first.notify()
            elif self._resuming_waiting:
                self._resuming.notify()
            else:
                self._others.notify()

    def pause(self) -> None:
        """Called by the holder between two steps: a caller waiting to go first goes now.

        The holder then resumes before any other caller: it may hold a database connection,
        and another caller taking the turn might wait for one.
        """
        if not self._first_waiting:  # read without the lock: a late look only costs a step
            return
        with self._first:
            self._held = False
            self._first.notify()
            self._resuming_waiting += 1
            try:
                while self._held or self._first_waiting:
                    self._resuming.wait()
            finally:
                self._resuming_waiting -= 1
            self._held = True

    @contextmanager
    def __call__(self, *, first: bool = False) -> Iterator[None]:
        self.acquire(first=first)
        try:
            yield
        finally:
            self.release()


TURN = Turn()
