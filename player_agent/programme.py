"""What should be on screen: shared by the threads that change it (sync, pairing, commands) and
the playback loop that reads it at every item boundary.

In order of precedence: the pairing card while the unit is unpaired; the schedule (a playlist
swapped in only at an item boundary); house content; and the built-in card, so the screen is
never black. An identify card is an interlude: the playback loop puts it up between two items
(cutting only filler short, never a paid play, which would then not be billable) and then plays
the item it had already chosen, so the schedule loses nothing either.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from player_agent import cards
from player_agent.cache import MediaCache
from player_agent.clock import Clock
from player_agent.render import Playable
from player_agent.schedule import Cursor, next_item
from shared.playlist import BUILTIN_CARD, Playlist, PlaylistItem, PlaylistMedia


@dataclass
class Interlude:
    """A card to put up between two items (identify), and when it went up."""

    card: Path
    seconds: float
    shown: threading.Event = field(default_factory=threading.Event)
    shown_mono: float | None = None

    def mark_shown(self, mono_s: float) -> None:
        """The renderer put the card up at `mono_s` (time.monotonic())."""
        self.shown_mono = mono_s
        self.shown.set()


@dataclass(frozen=True)
class Choice:
    """One thing to show, and whether (and as what) its plays go in the journal."""

    playable: Playable
    kind: Literal["campaign", "house", "card"]
    item: PlaylistItem | None = None
    expected_ms: int = 0
    showing: str = ""  # why this is on screen, in words (`adsbin agent status`)
    interlude: Interlude | None = field(default=None, compare=False)

    @property
    def journaled(self) -> bool:
        return self.item is not None


class Programme:
    """The state the playback loop plays from (thread-safe)."""

    def __init__(self, *, cache: MediaCache, clock: Clock, cards_dir: Path,
                 screen_size: tuple[int, int], card_s: float) -> None:
        self.cache = cache
        self.clock = clock
        self.cards_dir = cards_dir
        self.screen_size = screen_size
        self.card_s = card_s
        self.changed = threading.Event()  # set: cut the current item short
        self._lock = threading.Lock()
        self._generation = 0
        self._playlist: Playlist | None = None
        self._pending: Playlist | None = None
        self._media: dict[str, PlaylistMedia] = {}
        self._cursor: Cursor | None = None
        self._card: Path | None = None
        self._interlude: Interlude | None = None
        self._broken: set[str] = set()
        self.playing_kind: str | None = None  # set by the playback loop
        self.venue_line = "digital signage by ADSBIN"

    # --- changes from other threads ---------------------------------------------------------

    def _bump(self, *, cut: bool) -> None:
        self._generation += 1
        if cut:
            self.changed.set()

    @property
    def generation(self) -> int:
        with self._lock:
            return self._generation

    def adopt(self, playlist: Playlist) -> None:
        """A validated playlist whose media are cached. It takes over at the next item boundary
        when an ad is playing (cutting a paid play would make it unbillable), at once when only
        filler is (house content or a card)."""
        with self._lock:
            if self._playlist is None:
                self._playlist, self._media = playlist, {m.sha256: m for m in playlist.media}
            else:
                self._pending = playlist
            self._bump(cut=self.playing_kind != "campaign")

    @property
    def playlist(self) -> Playlist | None:
        """The newest playlist the agent holds (pending or playing)."""
        with self._lock:
            return self._pending or self._playlist

    def needed(self) -> set[str]:
        """Hashes the held playlists need (never evicted)."""
        with self._lock:
            lists = [p for p in (self._playlist, self._pending) if p is not None]
        return {m.sha256 for p in lists for m in p.media}

    def set_card(self, card: Path | None) -> None:
        """Show `card` instead of the schedule (the pairing code); None: back to the schedule."""
        with self._lock:
            if card != self._card:
                self._card = card
                self._bump(cut=True)

    def reset(self) -> None:
        """Forget the schedule (the unit was unpaired: its next screen may be another)."""
        with self._lock:
            self._playlist = self._pending = None
            self._media, self._cursor = {}, None
            self._bump(cut=True)

    def identify(self, card: Path, seconds: float) -> Interlude:
        """Put `card` up for `seconds` at the next item boundary (at once over filler); the
        interlude, whose `shown` is set when the card is up. One already waiting is kept."""
        with self._lock:
            if self._interlude is None:
                self._interlude = Interlude(card, seconds)
            return self._interlude

    def withdraw(self, interlude: Interlude) -> bool:
        """Give up an interlude not yet taken by the playback loop; whether it was."""
        with self._lock:
            if self._interlude is interlude:
                self._interlude = None
                return True
            return False

    @property
    def interlude_waiting(self) -> bool:
        """Whether an interlude waits for the next item boundary."""
        return self._interlude is not None  # one read of a reference: no lock needed

    # --- the playback loop's side ----------------------------------------------------------

    def mark_broken(self, sha256: str) -> None:
        """A file the renderer could not play: skipped for the rest of this run."""
        with self._lock:
            self._broken.add(sha256)

    def take_interlude(self) -> Choice | None:
        """The interlude to show now, if one waits (the playback loop, at an item boundary)."""
        with self._lock:
            interlude, self._interlude = self._interlude, None
        if interlude is None:
            return None
        return Choice(Playable(interlude.card, "image", interlude.seconds, "identify"), "card",
                      showing="the identify card", interlude=interlude)

    def choose(self) -> Choice:
        """What to show next (swapping in a pending playlist first)."""
        with self._lock:
            if self._card is not None:
                return Choice(Playable(self._card, "image", self.card_s, "pairing card"), "card",
                              showing="the pairing code")
            if self._pending is not None:
                self._playlist, self._pending = self._pending, None
                self._media = {m.sha256: m for m in self._playlist.media}
                self._cursor = None
            playlist, media, cursor = self._playlist, self._media, self._cursor
        playable = {sha for sha in media if sha not in self._broken
                    and self.cache.playable(sha) is not None} | {BUILTIN_CARD}
        item, cursor = next_item(playlist, self.clock.now(), cursor, playable)
        with self._lock:
            if playlist is self._playlist:
                self._cursor = cursor
        if item is None:
            message = ("waiting for this screen's first schedule" if playlist is None
                       else "nothing scheduled right now")
            card = cards.builtin_card(self.cards_dir, self.screen_size, message=message)
            return Choice(Playable(card, "image", self.card_s, "built-in card"), "card",
                          showing=f"the built-in card: {message}")
        if item.media_sha256 == BUILTIN_CARD:  # the venue has no house content of its own
            card = cards.builtin_card(self.cards_dir, self.screen_size, message=self.venue_line)
            return Choice(Playable(card, "image", float(item.duration_s), "built-in card"),
                          "card", showing="the built-in card: an unsold slot, and the venue "
                                  "has no house content")
        entry = media[item.media_sha256]
        kind: Literal["image", "video"] = "video" if entry.mime.startswith("video/") else "image"
        expected_ms = (entry.duration_ms if kind == "video" and entry.duration_ms
                       else item.duration_s * 1000)
        if item.kind == "campaign":
            label = f"campaign {item.campaign_id} (creative {item.creative_id})"
        else:
            label = f"house content (creative {item.creative_id})"
        return Choice(Playable(self.cache.path(item.media_sha256), kind, float(item.duration_s),
                               label),
                      item.kind, item, expected_ms, showing=f"the schedule: {label}")
