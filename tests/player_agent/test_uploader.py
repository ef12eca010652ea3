"""A stopping unit's last send of its journal: it waits out a busy server (a fleet stopping at
once), not an unreachable one, and keeps what it could not send."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from player_agent.api import ApiError, Offline, Unauthorized
from player_agent.journal import Journal, PlayStart
from player_agent.uploader import PopUploader
from shared.pop import PopBatch, PopReceipt


class Server:
    """A device API whose answers to `post_pop` are given in turn."""

    def __init__(self, *answers: Exception | None) -> None:
        self.answers = list(answers)
        self.received: list[PopBatch] = []

    def post_pop(self, batch: PopBatch) -> PopReceipt:
        answer = self.answers.pop(0) if self.answers else None
        if answer is not None:
            raise answer
        self.received.append(batch)
        return PopReceipt(accepted=len(batch.records), duplicates=0)


def uploader(tmp_path, server: Server, plays: int = 3) -> PopUploader:
    journal = Journal(tmp_path / "journal.db")
    start = datetime.now(UTC) - timedelta(minutes=5)
    for k in range(plays):
        play_id = str(uuid.uuid4())
        journal.start(PlayStart(play_id, "scr_1", None, "house:med_1", "ab" * 32,
                                start + timedelta(seconds=10 * k), 10_000, 0))
        journal.finish(play_id, ended_at=start + timedelta(seconds=10 * k + 10), completed=True)
    return PopUploader(api=server, journal=journal,  # type: ignore[arg-type]
                       key=Ed25519PrivateKey.generate(), device_id="dev_1", batch_size=100,
                       interval_s=10, retry_min_s=1, retry_max_s=60,
                       on_revoked=lambda: None)


def test_a_busy_server_is_waited_for_honouring_its_retry_after(tmp_path):
    server = Server(ApiError(503, "database_unavailable", "later", retry_after_s=3),
                    Offline("http://cp unreachable: timed out"), None)
    up = uploader(tmp_path, server)
    waits: list[float] = []
    assert up.flush_before_stop(20, sleep=waits.append)
    assert waits == [3, 1.0]  # its Retry-After, then a second
    assert [len(b.records) for b in server.received] == [3]
    assert up.journal.next_batch(100) is None


def test_an_unreachable_server_is_not_waited_for_and_the_journal_keeps_the_plays(tmp_path):
    up = uploader(tmp_path, Server(Offline("http://cp unreachable: connection refused")))
    waits: list[float] = []
    assert not up.flush_before_stop(20, sleep=waits.append)
    assert waits == []
    pending = up.journal.next_batch(100)
    assert pending is not None and len(pending.records) == 3


def test_the_wait_ends_at_its_deadline_and_when_the_token_is_refused(tmp_path):
    busy = [ApiError(429, "too_many_requests", "slow down", retry_after_s=60)] * 5
    up = uploader(tmp_path, Server(*busy))
    waits: list[float] = []

    def sleep(s: float) -> None:
        waits.append(s)
        time.sleep(s)

    assert not up.flush_before_stop(0.3, sleep=sleep)
    assert len(waits) == 1 and 0 < waits[0] <= 0.3  # its Retry-After cut to what is left

    revoked = threading.Event()
    server = Server(ApiError(503, "busy", "later"), Unauthorized(401, "unauthorized", "no"))
    up = uploader(tmp_path / "b", server)
    up.on_revoked = revoked.set
    assert not up.flush_before_stop(20, revoked=revoked, sleep=lambda _: None)
    assert revoked.is_set() and up.journal.next_batch(100) is not None
