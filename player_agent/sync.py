"""Keeping the playlist current: poll with `If-None-Match` on an interval with jitter, and at once
when MQTT announces a new version or a `resync` command asks.

A new playlist is checked (its screen, its version against its content), its media fetched and
verified, and only then handed to the programme, which swaps it in at an item boundary. Without
MQTT nothing changes but latency; without the control plane the agent plays what it holds.
If some file cannot be fetched, the playlist is adopted anyway after `ADOPT_INCOMPLETE_AFTER`
tries (its items without files are skipped) so one broken file cannot pin a screen to an old
schedule.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from player_agent.api import ApiError, DeviceApi, Offline, Unauthorized
from player_agent.cache import MediaCache
from player_agent.programme import Programme
from player_agent.state import StateDir
from shared.playlist import Playlist, with_version

ADOPT_INCOMPLETE_AFTER = 3

log = logging.getLogger(__name__)


class InvalidPlaylist(Exception):
    """A playlist the agent will not play (another screen's, or not matching its version)."""


def check(playlist: Playlist, screen_id: str) -> None:
    """Refuse a playlist for another screen or whose content does not hash to its version."""
    if playlist.screen_id != screen_id:
        raise InvalidPlaylist(f"the playlist is for screen {playlist.screen_id}, not {screen_id}")
    if with_version(playlist).version != playlist.version:
        raise InvalidPlaylist(f"playlist {playlist.version[:12]} does not match its content")


class Syncer:
    """Fetches playlists and their media; one instance per paired agent."""

    def __init__(self, *, api: DeviceApi, cache: MediaCache, programme: Programme,
                 state: StateDir, screen_id: str, interval_s: float, jitter_s: float,
                 retry_min_s: float, retry_max_s: float,
                 on_revoked: Callable[[], None]) -> None:
        self.api = api
        self.cache = cache
        self.programme = programme
        self.state = state
        self.screen_id = screen_id
        self.interval_s = interval_s
        self.jitter_s = jitter_s
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self.on_revoked = on_revoked
        self.wake = threading.Event()
        self.version: str | None = None
        self.last_sync_at: float | None = None
        self.last_error: str | None = None
        self.polls = 0
        self.not_modified = 0
        self._attempts: dict[str, int] = {}
        self._done = threading.Condition()
        held = programme.playlist
        if held is not None:
            self.version = held.version

    def request(self, version: str | None = None) -> None:
        """Sync now (an MQTT announcement of `version`, or a resync); no-op if already held."""
        if version is None or version != self.version:
            self.wake.set()

    def wait_synced(self, timeout_s: float) -> bool:
        """Block until the next sync round finishes; whether it did in time."""
        with self._done:
            return self._done.wait(timeout_s)

    def run(self, stop: threading.Event) -> None:
        """Sync until `stop` is set."""
        failures = 0
        while not stop.is_set():
            self.wake.clear()  # before the round: a request during it makes another round
            ok = self.sync_once()
            failures = 0 if ok else failures + 1
            if failures:
                pause = min(self.retry_max_s, self.retry_min_s * 2 ** (failures - 1))
            else:
                pause = self.interval_s + random.uniform(-self.jitter_s, self.jitter_s)  # noqa: S311
            self.wake.wait(max(0.05, pause))

    def sync_once(self) -> bool:
        """One round: fetch what changed and adopt it; whether it went well."""
        try:
            return self._sync()
        except Unauthorized:
            log.warning("the server refused the device token: this unit was unpaired")
            self.on_revoked()
            return True
        except (Offline, ApiError, InvalidPlaylist) as exc:
            self.last_error = str(exc)
            log.info("sync: %s", exc)
            return isinstance(exc, ApiError) and exc.code == "no_playlist"
        except OSError as exc:  # the disk (full: the playlist could not be saved): try again
            self.last_error = str(exc)
            log.error("sync: %s", exc)
            return False
        finally:
            with self._done:
                self._done.notify_all()

    def _sync(self) -> bool:
        self.polls += 1
        fresh = self.api.playlist(self.version)
        if fresh is None:
            self.not_modified += 1
            held = self.programme.playlist
            if held is not None:  # after clear_cache, or a failed file: top the cache up again
                report = self.cache.fetch(self.api, held.media, keep=self.programme.needed())
                if not report.complete:
                    self.last_error = f"{len(report.failed)} file(s) missing"
                    return False
            self._synced()
            return True
        check(fresh, self.screen_id)
        report = self.cache.fetch(self.api, fresh.media, keep=self.programme.needed())
        if not report.complete:
            tries = self._attempts[fresh.version] = self._attempts.get(fresh.version, 0) + 1
            self.last_error = f"{len(report.failed)} file(s) of {fresh.version[:12]} missing"
            if tries < ADOPT_INCOMPLETE_AFTER:
                return False
            log.error("adopting playlist %s without %d file(s) after %d tries",
                      fresh.version[:12], len(report.failed), tries)
        self.state.save_playlist(fresh)
        self.programme.adopt(fresh)
        self.version = fresh.version
        self._attempts.clear()
        log.info("adopted playlist %s (%d files, valid until %s)", fresh.version[:12],
                 len(fresh.media), fresh.valid_until.isoformat())
        self.cache.evict(keep=self.programme.needed())
        self._synced()
        return report.complete

    def _synced(self) -> None:
        self.last_sync_at = time.time()
        self.last_error = None

    def stats(self) -> dict[str, Any]:
        """The sync's state for status and heartbeat."""
        return {"playlist_version": self.version, "last_sync_at": self.last_sync_at,
                "last_error": self.last_error, "polls": self.polls,
                "not_modified": self.not_modified}
