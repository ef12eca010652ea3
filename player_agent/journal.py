"""The proof-of-play journal: every play on disk before anything else, until the server has it.

SQLite in WAL mode with `synchronous=FULL`, so a committed row survives a power cut. A play is
written when it starts (open) and completed when it ends (closed, its wire record frozen); a
crash leaves it open, and the next start closes it as incomplete — so a play may be reported as
cut short, but never lost. Closed records go out in batches: a batch id is given to a set of
records once, and the same batch (same id, same records, same bytes) is sent again until the
server acknowledges it, when its records are deleted. The server drops duplicates by play id, so
a batch sent twice counts once.

The journal is capped (`max_records`). When it is full, the policy is: drop the oldest house
content plays first (they are never billed), then the oldest campaign plays; plays already in a
batch are dropped only as a whole batch. Every dropped record is counted in `dropped`, which the
agent reports in its heartbeat and status, so a loss is never silent.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.pop import rfc3339_ms

SCHEMA = """
CREATE TABLE IF NOT EXISTS plays (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    play_id TEXT NOT NULL UNIQUE,
    screen_id TEXT NOT NULL,
    campaign_id TEXT,
    creative_id TEXT NOT NULL,
    media_sha256 TEXT NOT NULL,
    started_ms INTEGER NOT NULL,
    progress_ms INTEGER NOT NULL,
    expected_ms INTEGER NOT NULL,
    clock_offset_ms INTEGER NOT NULL,
    record TEXT,
    batch_id TEXT
);
CREATE INDEX IF NOT EXISTS plays_batch ON plays (batch_id, seq);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


def _ms(instant: datetime) -> int:
    return round(instant.timestamp() * 1000)


def _instant(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


@dataclass(frozen=True)
class PlayStart:
    """What is known of a play when it starts."""

    play_id: str
    screen_id: str
    campaign_id: str | None
    creative_id: str
    media_sha256: str
    started_at: datetime
    expected_ms: int
    clock_offset_ms: int


@dataclass(frozen=True)
class Batch:
    """Records to send together under one id."""

    batch_id: str
    records: list[dict[str, Any]]


class Journal:
    """The on-disk journal of plays (thread-safe)."""

    def __init__(self, path: Path, *, max_records: int = 200_000) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.max_records = max_records
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def _tx(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        return self._db.execute(sql, params)

    # --- plays -----------------------------------------------------------------------------

    def start(self, play: PlayStart) -> None:
        """Record that a play began (committed before this returns)."""
        with self._lock:
            self._tx("BEGIN IMMEDIATE")
            try:
                self._make_room()
                self._tx("INSERT INTO plays (play_id, screen_id, campaign_id, creative_id, "
                         "media_sha256, started_ms, progress_ms, expected_ms, clock_offset_ms) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (play.play_id, play.screen_id, play.campaign_id, play.creative_id,
                          play.media_sha256, _ms(play.started_at), _ms(play.started_at),
                          play.expected_ms, play.clock_offset_ms))
                self._tx("COMMIT")
            except BaseException:
                if self._db.in_transaction:  # SQLite ends it itself on some errors (a full disk)
                    self._tx("ROLLBACK")
                raise

    def progress(self, play_id: str, at: datetime) -> None:
        """Note that the play was still going at `at` (what a crash record ends with)."""
        with self._lock:
            self._tx("UPDATE plays SET progress_ms = ? WHERE play_id = ? AND record IS NULL",
                     (_ms(at), play_id))

    def finish(self, play_id: str, *, ended_at: datetime, completed: bool) -> None:
        """Close a play: its wire record is frozen and it can be sent."""
        with self._lock:
            self._close(play_id, _ms(ended_at), completed)

    def _close(self, play_id: str, ended_ms: int, completed: bool) -> None:
        row = self._tx("SELECT screen_id, campaign_id, creative_id, media_sha256, started_ms, "
                       "expected_ms, clock_offset_ms FROM plays "
                       "WHERE play_id = ? AND record IS NULL", (play_id,)).fetchone()
        if row is None:
            return
        screen_id, campaign_id, creative_id, sha, started_ms, expected_ms, offset_ms = row
        ended_ms = max(ended_ms, started_ms)
        record = {"play_id": play_id, "screen_id": screen_id, "campaign_id": campaign_id,
                  "creative_id": creative_id, "media_sha256": sha,
                  "started_at": rfc3339_ms(_instant(started_ms)),
                  "ended_at": rfc3339_ms(_instant(ended_ms)),
                  "duration_ms": ended_ms - started_ms, "expected_ms": expected_ms,
                  "completed": completed, "clock_offset_ms": offset_ms}
        self._tx("UPDATE plays SET record = ? WHERE play_id = ?",
                 (json.dumps(record, sort_keys=True), play_id))

    def recover(self) -> int:
        """Close the plays a crash left open, as incomplete; how many there were."""
        with self._lock:
            rows = self._tx("SELECT play_id, progress_ms FROM plays WHERE record IS NULL"
                            ).fetchall()
            self._tx("BEGIN IMMEDIATE")
            for play_id, progress_ms in rows:
                self._close(play_id, progress_ms, False)
            self._tx("COMMIT")
        return len(rows)

    # --- batches ---------------------------------------------------------------------------

    def next_batch(self, limit: int) -> Batch | None:
        """The batch to send now: one sent before and not acknowledged, else a new one."""
        with self._lock:
            row = self._tx("SELECT batch_id FROM plays WHERE batch_id IS NOT NULL "
                           "ORDER BY seq LIMIT 1").fetchone()
            if row is None:
                batch_id = str(uuid.uuid4())
                self._tx("BEGIN IMMEDIATE")
                self._tx("UPDATE plays SET batch_id = ? WHERE seq IN (SELECT seq FROM plays "
                         "WHERE batch_id IS NULL AND record IS NOT NULL ORDER BY seq LIMIT ?)",
                         (batch_id, limit))
                self._tx("COMMIT")
            else:
                batch_id = row[0]
            records = [json.loads(r) for (r,) in self._tx(
                "SELECT record FROM plays WHERE batch_id = ? ORDER BY seq", (batch_id,))]
        return Batch(batch_id, records) if records else None

    def acknowledge(self, batch_id: str) -> int:
        """The server has the batch: forget its records; how many."""
        with self._lock:
            return self._tx("DELETE FROM plays WHERE batch_id = ?", (batch_id,)).rowcount

    # --- the cap ---------------------------------------------------------------------------

    def _make_room(self) -> None:
        (count,) = self._tx("SELECT count(*) FROM plays").fetchone()
        excess = count - self.max_records + 1
        if excess <= 0:
            return
        dropped = 0
        for where in ("campaign_id IS NULL", "1 = 1"):
            if dropped >= excess:
                break
            dropped += self._tx(
                f"DELETE FROM plays WHERE seq IN (SELECT seq FROM plays WHERE {where} "  # noqa: S608
                "AND batch_id IS NULL AND record IS NOT NULL ORDER BY seq LIMIT ?)",
                (excess - dropped,)).rowcount
        while dropped < excess:
            row = self._tx("SELECT batch_id FROM plays WHERE batch_id IS NOT NULL "
                           "ORDER BY seq LIMIT 1").fetchone()
            if row is None:
                break  # only open plays left: they are never dropped
            dropped += self._tx("DELETE FROM plays WHERE batch_id = ?", row).rowcount
        self._tx("INSERT INTO counters (name, value) VALUES ('dropped', ?) "
                 "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value", (dropped,))

    # --- figures ---------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """Backlog (plays not yet acknowledged), open plays, and plays ever dropped."""
        with self._lock:
            backlog, open_ = self._tx("SELECT count(*), count(*) - count(record) FROM plays"
                                      ).fetchone()
            row = self._tx("SELECT value FROM counters WHERE name = 'dropped'").fetchone()
        return {"backlog": backlog, "open": open_, "dropped": row[0] if row else 0}
