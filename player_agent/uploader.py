"""Sending the journal to the server: signed batches, retried with backoff, deleted only once
the server's receipt says it has them.

The same batch goes again (same id, same records, same bytes, same signature: Ed25519 is
deterministic; only the batch's `device_time`, the clock as it is sent, is read anew) until a
receipt comes back; records the server rejects are final too — it keeps no record of them, and
sending them again would only be rejected again — so they are counted and dropped with the
batch. A batch the server refuses as a whole (a 4xx other than 401, e.g. a signature it cannot
verify) is kept and retried at the slowest pace, so nothing is lost while someone looks. While
the server cannot take batches (a 503 when its database is away), the journal keeps them and the
retries back off, waiting at least the server's `Retry-After`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from player_agent.api import ApiError, DeviceApi, Offline, Unauthorized
from player_agent.journal import Journal
from shared.pop import PopBatch, Signer, sign, signed_message

log = logging.getLogger(__name__)


def busy(exc: Offline | ApiError) -> bool:
    """Whether a failed send met a server that is there but busy (a 429 or a 5xx, or a request
    that timed out), which a stopping unit waits for; not one refused at the door."""
    if isinstance(exc, ApiError):
        return exc.status == 429 or exc.status >= 500
    return "timed out" in str(exc).lower() or "timeout" in str(exc).lower()


class PopUploader:
    """Moves closed plays from the journal to the server."""

    busy = False  # the last send failed against a busy server (`busy`)

    def __init__(self, *, api: DeviceApi, journal: Journal, key: Signer,
                 device_id: str, batch_size: int, interval_s: float, retry_min_s: float,
                 retry_max_s: float, on_revoked: Callable[[], None]) -> None:
        self.api = api
        self.journal = journal
        self.key = key
        self.device_id = device_id
        self.batch_size = batch_size
        self.interval_s = interval_s
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self.on_revoked = on_revoked
        self.wake = threading.Event()
        self.sent = self.accepted = self.duplicates = self.rejected = 0
        self.failures = 0  # tries in a row that did not get through
        self.last_error: str | None = None
        self.retry_after_s: float | None = None  # what the server last asked us to wait

    def batch(self, batch_id: str, records: list[dict[str, Any]]) -> PopBatch:
        """The signed wire form of a batch."""
        signature = sign(self.key, signed_message(batch_id, self.device_id, records))
        # the uncorrected clock, read as it goes: the server sees what the clock's error is now
        return PopBatch(batch_id=batch_id, device_id=self.device_id, records=records,
                        signature=signature, device_time=datetime.fromtimestamp(time.time(), UTC))

    def flush(self) -> bool:
        """Send every closed play now; whether the journal has none left to send."""
        while (batch := self.journal.next_batch(self.batch_size)) is not None:
            try:
                receipt = self.api.post_pop(self.batch(batch.batch_id, batch.records))
            except Unauthorized:
                self.last_error = "the device token was refused"
                self.on_revoked()
                return False
            except (Offline, ApiError) as exc:
                self.last_error = str(exc)
                self.busy = busy(exc)
                self.retry_after_s = exc.retry_after_s if isinstance(exc, ApiError) else None
                log.info("proof of play not sent yet (%d records): %s", len(batch.records), exc)
                return False
            self.retry_after_s = None
            self.busy = False
            self.journal.acknowledge(batch.batch_id)
            self.sent += len(batch.records)
            self.accepted += receipt.accepted
            self.duplicates += receipt.duplicates
            self.rejected += len(receipt.rejected)
            for rejection in receipt.rejected:
                log.warning("the server rejected play %s: %s", rejection.play_id, rejection.code)
            self.last_error = None
        return True

    def flush_before_stop(self, within_s: float, *, revoked: threading.Event | None = None,
                          sleep: Callable[[float], None] = time.sleep) -> bool:
        """A stopping unit's send of its journal: tried again while the server is busy (a
        fleet stopping at once; honouring its Retry-After) for up to `within_s`, not when it is
        unreachable or the token refused; whether nothing is left to send (what is left stays
        journaled for the next start)."""
        deadline = time.monotonic() + within_s
        while not self.flush():
            pause = min(max(self.retry_after_s or 0, 1.0), deadline - time.monotonic())
            if not self.busy or (revoked and revoked.is_set()) or pause <= 0:
                log.info("stopping with proof of play still journaled: %s", self.last_error)
                return False
            sleep(pause)
        return True

    def run(self, stop: threading.Event) -> None:
        """Flush every `interval_s` (or when woken), backing off while the server is away."""
        failures = 0
        while not stop.is_set():
            self.wake.clear()
            failures = 0 if self.flush() else failures + 1
            pause = (min(self.retry_max_s, max(self.retry_min_s * 2 ** (failures - 1),
                                               self.retry_after_s or 0)) if failures
                     else self.interval_s)
            self.failures = failures
            self.wake.wait(pause)

    def stats(self) -> dict[str, Any]:
        """What was sent and what the server said."""
        return {"sent": self.sent, "accepted": self.accepted, "duplicates": self.duplicates,
                "rejected": self.rejected, "last_error": self.last_error,
                "failures": self.failures}
