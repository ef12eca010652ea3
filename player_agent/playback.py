"""The playback loop: one item after another, gapless, journaled, watched.

At each boundary the next item (chosen and preloaded while the current one played) is started
first, and only then is the finished play closed in the journal, so disk writes never widen the
gap. A play is journaled as soon as the renderer says it is playing, with the renderer's own
event time corrected by the measured clock offset; its end and progress are corrected by that
same offset, so a measurement during the play (an hour's correction, once a unit that booted
with a wrong clock reaches the server) cannot stretch its length by the change. A watchdog
restarts the renderer when the playback position stops advancing (or an item never starts), and
the play it cut is recorded as incomplete; `progress_mono` tells systemd's watchdog whether
playback is alive.

An interlude (the identify card) goes up at the next boundary, before the item already chosen,
which then plays as it would have: a paid play is never cut for it (a cut play is not billable),
only filler (house content, a card) is.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from player_agent.clock import Clock
from player_agent.journal import Journal, PlayStart
from player_agent.programme import Choice, Programme
from player_agent.render import Event, MediaPlayer
from player_agent.state import new_play_id

PROGRESS_EVERY_S = 5.0  # how often an open play's progress is written (what a crash keeps)
EVENT_WAIT_S = 0.2  # also how soon a cut (a new code, identify over filler) is noticed
MAX_OVERRUN_FACTOR = 3.0  # an item running this many times its length (+30 s) is wedged
START_FAILURE_PAUSE_S = 1.0

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """How a play ended."""

    ended_wall_s: float
    ended_mono_s: float
    completed: bool


class Playback:
    """Plays the programme until stopped."""

    def __init__(self, *, player: MediaPlayer, programme: Programme, journal: Journal,
                 clock: Clock, screen_id: Any, stall_s: float, start_timeout_s: float) -> None:
        self.player = player
        self.programme = programme
        self.journal = journal
        self.clock = clock
        self.screen_id = screen_id  # a callable: the paired screen, or None
        self.stall_s = stall_s
        self.start_timeout_s = start_timeout_s
        self.stop_event = threading.Event()
        self.progress_mono = time.monotonic()
        self.now_playing: dict[str, Any] | None = None
        self.plays = 0  # journaled: what goes to the server as proof of play
        self.unreported_plays = 0  # cards, and anything played while unpaired
        self.restarts = 0
        self.unjournaled_plays = 0  # the journal could not take them (a full disk): not reported
        self.journal_error: str | None = None
        self._unclosed: list[tuple[str, Outcome, int]] = []  # closes the journal refused
        self.gaps_ms: deque[float] = deque(maxlen=1000)
        self._offset_ms = 0  # the clock offset of the play on screen

    def stop(self) -> None:
        """Stop after cutting the current item short."""
        self.stop_event.set()
        self.programme.changed.set()

    def run(self) -> None:
        """Play until `stop()`."""
        pending_close: tuple[str, Outcome, int] | None = None
        last_end_mono: float | None = None
        choice = self.programme.choose()
        after: Choice | None = None  # chosen before an interlude took its turn: plays next
        while not self.stop_event.is_set():
            self.programme.changed.clear()
            token = self.player.start(choice.playable)
            if pending_close is not None:  # after the start: disk writes never widen the gap
                self._close(*pending_close)
                pending_close = None
            elif self._unclosed:
                self._close_waiting()
            started = self._wait_start(token)
            if started is None:
                if choice.item is not None:
                    self.programme.mark_broken(choice.item.media_sha256)
                self.stop_event.wait(START_FAILURE_PAUSE_S)
                choice, after, last_end_mono = after or self.programme.choose(), None, None
                continue
            if last_end_mono is not None:
                self.gaps_ms.append((started.mono_s - last_end_mono) * 1000)
            self.progress_mono = started.mono_s
            if choice.interlude is not None:
                choice.interlude.mark_shown(started.mono_s)
            play_id = self._open(choice, started)
            generation = self.programme.generation
            upcoming, after = after or self.programme.choose(), None
            self.player.preload(upcoming.playable)
            outcome = self._wait_end(token, choice, play_id, started)
            if play_id is not None:
                self.plays += 1
                pending_close = (play_id, outcome, self._offset_ms)
            else:
                self.unreported_plays += 1
            last_end_mono = outcome.ended_mono_s if outcome.completed else None
            if self.programme.changed.is_set() or self.programme.generation != generation:
                upcoming = self.programme.choose()  # cut short, or a new playlist: choose again
            interlude = self.programme.take_interlude()
            if interlude is not None:  # identify: between two items, the next one kept
                choice, after = interlude, upcoming
            else:
                choice = upcoming
        if pending_close is not None:
            self._close(*pending_close)
        self._close_waiting()
        self.now_playing = None

    def _wait_start(self, token: int) -> Event | None:
        deadline = time.monotonic() + self.start_timeout_s
        while (left := deadline - time.monotonic()) > 0:
            event = self.player.next_event(min(left, EVENT_WAIT_S))
            if event is None or event.token != token:
                continue
            if event.kind == "playing":
                return event
            log.warning("the renderer could not play the item (%s)", event.kind)
            return None
        log.error("the item did not start within %.0f s; restarting the renderer",
                  self.start_timeout_s)
        self._restart()
        return None

    def _open(self, choice: Choice, started: Event) -> str | None:
        self._offset_ms = self.clock.offset_ms  # the play's times all use this one
        started_at = self.clock.to_utc(started.wall_s, self._offset_ms)
        self.programme.playing_kind = choice.kind
        self.now_playing = {"kind": choice.kind, "label": choice.playable.label,
                            "showing": choice.showing,
                            "started_at": started_at.isoformat(),
                            "campaign_id": choice.item.campaign_id if choice.item else None,
                            "creative_id": choice.item.creative_id if choice.item else None,
                            "media_sha256": choice.item.media_sha256 if choice.item else None}
        screen_id = self.screen_id()
        if choice.item is None or screen_id is None:
            return None
        play_id = new_play_id()
        try:
            self.journal.start(PlayStart(
                play_id=play_id, screen_id=screen_id, campaign_id=choice.item.campaign_id,
                creative_id=choice.item.creative_id, media_sha256=choice.item.media_sha256,
                started_at=started_at, expected_ms=choice.expected_ms,
                clock_offset_ms=self._offset_ms))
        except sqlite3.OperationalError as exc:  # "database or disk is full": play on regardless
            self.unjournaled_plays += 1
            self.journal_error = str(exc)
            log.error("the journal cannot take this play (%s): it will not be reported", exc)
            return None
        self.journal_error = None
        self.programme.cache.touch(choice.item.media_sha256)
        return play_id

    def _close(self, play_id: str, outcome: Outcome, offset_ms: int) -> None:
        """Close the play in the journal, and any whose close it refused before (a full disk:
        tried again at each close; a crash meanwhile closes them as incomplete at restart)."""
        self._unclosed.append((play_id, outcome, offset_ms))
        self._close_waiting()

    def _close_waiting(self) -> None:
        waiting, self._unclosed = self._unclosed, []
        for n, (each, how, offset) in enumerate(waiting):
            try:
                self.journal.finish(each, completed=how.completed,
                                    ended_at=self.clock.to_utc(how.ended_wall_s, offset))
            except sqlite3.OperationalError as exc:
                self.journal_error = str(exc)
                log.error("the journal cannot close play %s yet: %s", each, exc)
                self._unclosed = waiting[n:]
                return

    def _wait_end(self, token: int, choice: Choice, play_id: str | None,
                  started: Event) -> Outcome:
        limit_s = choice.playable.duration_s * MAX_OVERRUN_FACTOR + 30
        last_position, last_advance = -1, time.monotonic()
        next_progress = time.monotonic() + PROGRESS_EVERY_S
        while True:
            event = self.player.next_event(EVENT_WAIT_S)
            now = time.monotonic()
            if event is not None and event.token == token and event.kind in ("ended", "error"):
                if event.kind == "error" and choice.item is not None:
                    self.programme.mark_broken(choice.item.media_sha256)
                return Outcome(event.wall_s, event.mono_s, event.kind == "ended")
            if self.programme.changed.is_set() or (
                    choice.kind != "campaign" and self.programme.interlude_waiting):
                return Outcome(time.time(), now, False)  # a paid play is never cut for a card
            position = self.player.position_ms()
            if position is not None and position != last_position:
                last_position, last_advance = position, now
                self.progress_mono = now
            if now - last_advance > self.stall_s or now - started.mono_s > limit_s:
                log.error("playback stopped advancing on %s; restarting the renderer",
                          choice.playable.label)
                self._restart()
                return Outcome(time.time(), now, False)
            if play_id is not None and now >= next_progress:
                try:
                    self.journal.progress(play_id,
                                          self.clock.to_utc(time.time(), self._offset_ms))
                except sqlite3.OperationalError as exc:
                    self.journal_error = str(exc)
                next_progress = now + PROGRESS_EVERY_S

    def _restart(self) -> None:
        self.restarts += 1
        self.player.restart()

    def stats(self) -> dict[str, Any]:
        """Plays (reported as proof of play, and not), restarts and gaps so far (for status
        and benchmarks)."""
        gaps = sorted(self.gaps_ms)
        return {"plays": self.plays, "unreported_plays": self.unreported_plays,
                "unjournaled_plays": self.unjournaled_plays, "journal_error": self.journal_error,
                "renderer_restarts": self.restarts,
                "median_gap_ms": round(gaps[len(gaps) // 2], 1) if gaps else None}
