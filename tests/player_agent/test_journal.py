"""The proof-of-play journal: written before anything else, closed as incomplete after a crash,
batches that stay the same until acknowledged, and a cap that drops by a stated policy and
counts what it dropped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import TypeAdapter

from player_agent.journal import Journal, PlayStart
from player_agent.state import new_play_id
from shared.pop import PopRecord

T0 = datetime(2026, 12, 4, 10, 0, 0, 123000, tzinfo=UTC)


def play(campaign: str | None = "cmp_1", at: datetime = T0) -> PlayStart:
    return PlayStart(play_id=new_play_id(), screen_id="scr_1", campaign_id=campaign,
                     creative_id="cr_1", media_sha256="ab" * 32, started_at=at,
                     expected_ms=10_000, clock_offset_ms=-250)


def test_a_play_is_recorded_when_it_starts_and_frozen_when_it_ends(tmp_path):
    journal = Journal(tmp_path / "j.db")
    p = play()
    journal.start(p)
    assert journal.stats() == {"backlog": 1, "open": 1, "dropped": 0}
    assert journal.next_batch(10) is None  # an open play is not sent
    journal.finish(p.play_id, ended_at=T0 + timedelta(seconds=10, milliseconds=7),
                   completed=True)
    batch = journal.next_batch(10)
    (record,) = batch.records
    assert record == {"play_id": p.play_id, "screen_id": "scr_1", "campaign_id": "cmp_1",
                      "creative_id": "cr_1", "media_sha256": "ab" * 32,
                      "started_at": "2026-12-04T10:00:00.123Z",
                      "ended_at": "2026-12-04T10:00:10.130Z", "duration_ms": 10_007,
                      "expected_ms": 10_000, "completed": True, "clock_offset_ms": -250}
    TypeAdapter(PopRecord).validate_python(record)  # the wire schema takes it as it is


def test_a_batch_is_the_same_until_acknowledged(tmp_path):
    journal = Journal(tmp_path / "j.db")
    for i in range(5):
        p = play(at=T0 + timedelta(seconds=10 * i))
        journal.start(p)
        journal.finish(p.play_id, ended_at=p.started_at + timedelta(seconds=10), completed=True)
    first = journal.next_batch(3)
    later = play(at=T0 + timedelta(minutes=5))
    journal.start(later)
    journal.finish(later.play_id, ended_at=later.started_at, completed=False)
    again = journal.next_batch(3)  # not acknowledged: the same id and records, byte for byte
    assert (again.batch_id, again.records) == (first.batch_id, first.records)
    assert len(first.records) == 3
    assert journal.acknowledge(first.batch_id) == 3
    rest = journal.next_batch(10)
    assert rest.batch_id != first.batch_id and len(rest.records) == 3
    assert rest.records[-1]["play_id"] == later.play_id
    journal.acknowledge(rest.batch_id)
    assert journal.next_batch(10) is None and journal.stats()["backlog"] == 0


CRASH = """
import sys
from datetime import datetime, UTC
from player_agent.journal import Journal, PlayStart
j = Journal(__import__("pathlib").Path(sys.argv[1]))
j.start(PlayStart(play_id="p-crash", screen_id="scr_1", campaign_id="cmp_1", creative_id="cr_1",
                  media_sha256="cd" * 32, started_at=datetime(2026, 12, 4, 10, tzinfo=UTC),
                  expected_ms=15000, clock_offset_ms=0))
j.progress("p-crash", datetime(2026, 12, 4, 10, 0, 5, tzinfo=UTC))
print("started", flush=True)
sys.stdin.read()
"""


def test_kill_9_during_a_play_leaves_one_incomplete_record(tmp_path):
    path = tmp_path / "j.db"
    proc = subprocess.Popen([sys.executable, "-c", CRASH, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "started"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)

    journal = Journal(path)
    assert journal.recover() == 1
    assert journal.recover() == 0  # closing is done once
    (record,) = journal.next_batch(10).records
    assert record["play_id"] == "p-crash" and record["completed"] is False
    assert record["ended_at"] == "2026-12-04T10:00:05.000Z"  # its last recorded progress
    assert record["duration_ms"] == 5000


def test_the_cap_drops_house_plays_first_then_the_oldest_and_counts_them(tmp_path):
    journal = Journal(tmp_path / "j.db", max_records=4)
    ids = []
    for i, campaign in enumerate(["cmp_1", None, "cmp_2", None]):
        p = play(campaign, at=T0 + timedelta(seconds=i))
        journal.start(p)
        journal.finish(p.play_id, ended_at=p.started_at, completed=True)
        ids.append(p.play_id)
    extra = play("cmp_3", at=T0 + timedelta(seconds=9))
    journal.start(extra)  # full: the oldest house play goes
    assert journal.stats() == {"backlog": 4, "open": 1, "dropped": 1}
    journal.finish(extra.play_id, ended_at=extra.started_at, completed=True)
    for n in range(2):
        p = play("cmp_4", at=T0 + timedelta(seconds=20 + n))
        journal.start(p)
        journal.finish(p.play_id, ended_at=p.started_at, completed=True)
    kept = [r["play_id"] for r in journal.next_batch(10).records]
    # the second house play went next, then the oldest campaign play
    assert ids[1] not in kept and ids[3] not in kept and ids[0] not in kept
    assert ids[2] in kept and extra.play_id in kept
    assert journal.stats()["dropped"] == 3


def test_the_journal_survives_reopening(tmp_path: Path):
    path = tmp_path / "j.db"
    journal = Journal(path)
    p = play()
    journal.start(p)
    journal.finish(p.play_id, ended_at=T0, completed=True)
    batch = journal.next_batch(10)
    journal.close()
    reopened = Journal(path)
    assert reopened.next_batch(10) == batch  # an unacknowledged batch outlives a restart
