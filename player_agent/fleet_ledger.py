"""What a simulated fleet's units journaled, set against what the server accepted.

A journal forgets a play once the server acknowledges its batch, so on its own it cannot say
afterwards what it ever held. The fleet gives each unit's journal a ledger: a table and a
trigger in the journal's own SQLite file, so every play the agent writes is also written to the
ledger by the same transaction (a play is in the ledger exactly when it was journaled, even
across a kill -9). The agent's code is untouched; the ledger only watches its inserts.

`compare` then checks, play id by play id and screen by screen: every play journaled is
accepted by the server (or still in the journal: unsent), none is journaled or accepted twice,
and the server holds no play of the fleet's screens that no unit journaled.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from player_agent.journal import Journal
from player_agent.state import StateDir
from shared.agent import read_credentials

LEDGER = """
CREATE TABLE IF NOT EXISTS fleet_ledger (play_id TEXT NOT NULL, started_ms INTEGER NOT NULL);
CREATE TRIGGER IF NOT EXISTS fleet_ledger_play AFTER INSERT ON plays
BEGIN INSERT INTO fleet_ledger (play_id, started_ms) VALUES (new.play_id, new.started_ms); END;
"""
EXPORT_PAGE = 10_000
SHOWN_PER_KIND = 10  # differences listed by name; the rest are counted


def keep(state_dir: Path) -> None:
    """Give the unit's journal a ledger (before its agent starts; idempotent)."""
    path = StateDir(state_dir).create().journal_file
    Journal(path).close()  # the journal's own schema, made as the agent makes it
    db = sqlite3.connect(path)
    try:
        db.executescript(LEDGER)
    finally:
        db.close()


@dataclass(frozen=True)
class UnitJournal:
    """One unit's journal, read after it stopped."""

    name: str
    screen_id: str | None
    journaled: list[str]  # play ids, in the order written (a repeat is a play journaled twice)
    backlog: frozenset[str]  # still in the journal: not acknowledged by the server
    dropped: int  # dropped by the journal's cap (counted by the agent, never silent)


def read(state_dir: Path, *, since_ms: int) -> UnitJournal:
    """What the unit in `state_dir` journaled from `since_ms` on, and what it still holds."""
    credentials = read_credentials(state_dir)
    db = sqlite3.connect(f"file:{StateDir(state_dir).journal_file}?mode=ro", uri=True)
    try:
        journaled = [play_id for (play_id,) in db.execute(
            "SELECT play_id FROM fleet_ledger WHERE started_ms >= ? ORDER BY rowid", (since_ms,))]
        backlog = frozenset(play_id for (play_id,) in db.execute(
            "SELECT play_id FROM plays WHERE started_ms >= ?", (since_ms,)))
        row = db.execute("SELECT value FROM counters WHERE name = 'dropped'").fetchone()
    finally:
        db.close()
    return UnitJournal(state_dir.name, credentials.screen_id if credentials else None,
                       journaled, backlog, int(row[0]) if row else 0)


def server_plays(http: httpx.Client, headers: dict[str, str], *, screen_ids: Iterable[str],
                 since_ms: int) -> dict[str, list[str]]:
    """The play ids the server accepted for these screens from `since_ms` on, by screen (read
    from the raw export, `GET /v1/pop`, which an org's API key reads for its own screens)."""
    wanted = set(screen_ids)
    found: dict[str, list[str]] = {screen_id: [] for screen_id in wanted}
    for line in _export(http, headers):
        if line["screen_id"] in wanted and _ms(line["started_at"]) >= since_ms:
            found[line["screen_id"]].append(line["play_id"])
    return found


def _export(http: httpx.Client, headers: dict[str, str]) -> Iterator[dict[str, Any]]:
    import json

    cursor = "0"
    while True:
        r = http.get("/v1/pop", headers=headers, params={"after": cursor, "limit": EXPORT_PAGE})
        if r.status_code != 200:
            raise RuntimeError(f"GET /v1/pop: {r.status_code} {r.text[:300]}")
        for text in r.text.splitlines():
            line = json.loads(text)
            if "play_id" in line:
                yield line
        cursor = r.headers["x-next-cursor"]
        if r.headers.get("x-more") != "true":
            return


def _ms(rfc3339: str) -> int:
    return round(datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp() * 1000)


@dataclass(frozen=True)
class Difference:
    """One play on which a unit's journal and the server disagree."""

    kind: str  # lost, unsent, journaled twice, accepted twice, unknown
    unit: str
    play_id: str

    def __str__(self) -> str:
        return f"{self.unit}: play {self.play_id} {self.kind}"


KINDS = {
    "lost": "journaled, not in the journal any more, and not accepted by the server",
    "unsent": "journaled and still in the journal after the stop: never acknowledged",
    "journaled twice": "written to one unit's journal more than once",
    "accepted twice": "held by the server more than once",
    "unknown": "held by the server for a fleet screen, journaled by none of its units",
}


@dataclass
class Comparison:
    """Every unit's journal set against the server's plays."""

    units: int = 0
    journaled: int = 0  # distinct plays journaled
    accepted: int = 0  # of those, held by the server
    dropped: int = 0
    differences: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Journaled = accepted, none twice, none unknown, none dropped."""
        return not self.differences and not self.dropped

    def counts(self) -> Counter[str]:
        """How many differences of each kind."""
        return Counter(d.kind for d in self.differences)

    def lines(self) -> list[str]:
        """What differed, a line each (at most `SHOWN_PER_KIND` named per kind)."""
        out = [f"{n:,} play(s) {kind}: {KINDS[kind]}" for kind, n in sorted(self.counts().items())]
        shown: Counter[str] = Counter()
        for d in self.differences:
            shown[d.kind] += 1
            if shown[d.kind] <= SHOWN_PER_KIND:
                out.append(f"  {d}")
        if self.dropped:
            out.append(f"{self.dropped:,} play(s) dropped by the journals' cap (the agents "
                       "reported it): raise ADSBIN_AGENT_JOURNAL_MAX_RECORDS")
        return out


def compare(journals: Iterable[UnitJournal], server: dict[str, list[str]]) -> Comparison:
    """Set each unit's journal against the server's plays of its screen."""
    result = Comparison()
    for unit in journals:
        result.units += 1
        result.dropped += unit.dropped
        accepted = server.get(unit.screen_id or "", [])
        held = Counter(accepted)
        journaled = Counter(unit.journaled)
        result.journaled += len(journaled)
        result.accepted += sum(1 for play_id in journaled if play_id in held)

        def add(kind: str, play_ids: Iterable[str], name: str = unit.name) -> None:
            result.differences += [Difference(kind, name, p) for p in play_ids]

        add("journaled twice", [p for p, n in journaled.items() if n > 1])
        add("accepted twice", [p for p, n in held.items() if n > 1])
        add("unknown", [p for p in held if p not in journaled])
        add("unsent", [p for p in journaled if p not in held and p in unit.backlog])
        add("lost", [p for p in journaled if p not in held and p not in unit.backlog])
    return result
