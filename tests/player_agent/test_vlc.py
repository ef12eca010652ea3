"""Real libvlc, headless (`--intf=dummy --vout=dummy --aout=dummy`): the playback loop plays
videos to their end and images for their duration, in loop order, with the next item preloaded;
snapshots work; a restarted renderer plays on."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, datetime, timedelta

from PIL import Image

from player_agent import cards
from player_agent.cache import MediaCache
from player_agent.clock import Clock
from player_agent.journal import Journal
from player_agent.playback import Playback
from player_agent.programme import Programme
from player_agent.render.null import NullPlayer
from player_agent.render.vlc import VlcPlayer, vlc_options
from tests import media_samples
from tests.player_agent.local import cached_playlist


def make_files(tmp_path):
    dirs = [tmp_path / n for n in ("a", "b", "c")]
    for d in dirs:
        d.mkdir()
    return [(media_samples.mp4(dirs[0], seconds=1.0, audio=True), 1),
            (media_samples.png(dirs[1]), 1),
            (media_samples.mp4(dirs[2], seconds=2.0, audio=False), 2)]


def run_for(playback: Playback, seconds: float) -> None:
    thread = threading.Thread(target=playback.run, daemon=True)
    thread.start()
    time.sleep(seconds)
    playback.stop()
    thread.join(timeout=15)
    assert not thread.is_alive()


def on_screen(playback: Playback, creative_id: str, *, plays: int = 0,
              within_s: float = 0.3) -> bool:
    """Whether `creative_id` is on screen now, started less than `within_s` ago, after at least
    `plays` plays. `now_playing` alone cannot time a cut: it names an item from its start until
    the next one starts, so also while the renderer starts the next one after it ended."""
    now = playback.now_playing or {}
    if playback.plays < plays or now.get("creative_id") != creative_id:
        return False
    started = datetime.fromisoformat(now["started_at"])
    return datetime.now(UTC) - started < timedelta(seconds=within_s)


def rig(tmp_path, player):
    cache = MediaCache(tmp_path / "cache", quota_bytes=10**9)
    clock = Clock()
    programme = Programme(cache=cache, clock=clock, cards_dir=tmp_path / "cards",
                          screen_size=(320, 240), card_s=1)
    journal = Journal(tmp_path / "journal.db")
    playback = Playback(player=player, programme=programme, journal=journal, clock=clock,
                        screen_id=lambda: "scr_local", stall_s=5, start_timeout_s=10)
    return cache, programme, journal, playback


def test_two_videos_and_an_image_play_in_order_for_their_lengths(tmp_path):
    player = VlcPlayer(headless=True)
    cache, programme, journal, playback = rig(tmp_path, player)
    programme.adopt(cached_playlist(cache, make_files(tmp_path)))
    thread = threading.Thread(target=playback.run, daemon=True)
    thread.start()
    try:
        # stop half a second into the 2 s video after five plays: a stop at a fixed time could
        # land where an item ends by itself, and that item rightly says it completed
        deadline = time.monotonic() + 30
        while not on_screen(playback, "cr_2", plays=5) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert on_screen(playback, "cr_2", within_s=0.5), playback.now_playing
        time.sleep(0.5)
        playback.stop()
        thread.join(timeout=15)
        assert not thread.is_alive()
    finally:
        player.close()
    records = journal.next_batch(100).records
    complete = [r for r in records if r["completed"]]
    assert len(complete) >= 5, records
    order = [r["creative_id"] for r in complete]
    start = order.index("cr_0")
    assert order[start:start + 3] == ["cr_0", "cr_1", "cr_2"]  # loop order
    for r in complete:  # videos to their end, the image for its duration
        want = {"cr_0": 1000, "cr_1": 1000, "cr_2": 2000}[r["creative_id"]]
        assert abs(r["duration_ms"] - want) < 500, r  # generous: CI machines are busy
    for before, after in itertools.pairwise(complete):
        gap = (datetime.fromisoformat(after["started_at"])
               - datetime.fromisoformat(before["ended_at"])).total_seconds()
        assert -0.05 <= gap < 0.5, (before, after)  # preloaded (the bench measures the gap)
    assert playback.stats()["renderer_restarts"] == 0
    assert records[-1]["completed"] is False  # the item cut by stop() says so


class SlowStart(NullPlayer):
    """The null renderer taking half a second to start an item (VLC takes tens of ms)."""

    def start(self, item):
        time.sleep(0.5)
        return super().start(item)


def test_an_item_that_just_ended_is_not_taken_for_the_one_on_screen(tmp_path):
    # The cause of the flake of the test above (an item cut by stop() recorded completed):
    # it waited for five plays and `now_playing` naming the 2 s video, then stopped 1 s later.
    # When the fifth play was that video, both held as soon as it ended, while the renderer
    # started the 1 s video after it, and the stop landed as that one ended by itself.
    cache, programme, journal, playback = rig(tmp_path, SlowStart())
    programme.adopt(cached_playlist(cache, [(media_samples.png(tmp_path), 1)]))
    thread = threading.Thread(target=playback.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while playback.plays < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        # the play has ended and the next is not on screen yet: the old wait would stop here
        assert playback.plays == 1 and playback.now_playing["creative_id"] == "cr_0"
        assert not on_screen(playback, "cr_0", plays=1)
        while not on_screen(playback, "cr_0", plays=1) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert on_screen(playback, "cr_0", plays=1)
        time.sleep(0.3)
    finally:
        playback.stop()
        thread.join(timeout=15)
    records = journal.next_batch(100).records
    assert [r["completed"] for r in records] == [True, False], records


def test_a_snapshot_and_a_wedged_renderer_restarted_by_the_watchdog(tmp_path):
    player = VlcPlayer(headless=True)
    cache, programme, journal, playback = rig(tmp_path, player)
    playback.stall_s = 1.5
    programme.adopt(cached_playlist(cache, make_files(tmp_path)))
    thread = threading.Thread(target=playback.run, daemon=True)
    thread.start()
    try:
        time.sleep(1.5)
        shot = tmp_path / "shot.png"
        assert player.snapshot(shot)
        with Image.open(shot) as image:
            assert image.size in ((320, 240), (640, 360))  # a video's frame, or the picture
        wedged = player._players[player._active]
        wedged.set_pause(1)  # the picture freezes, as with a wedged decoder
        deadline = time.monotonic() + 10
        while playback.restarts == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert playback.restarts == 1
        plays = playback.plays
        time.sleep(3)
        assert playback.plays > plays  # the new renderer plays on
    finally:
        playback.stop()
        thread.join(timeout=15)
        player.close()
    records = journal.next_batch(100).records
    assert any(not r["completed"] for r in records[:-1])  # the frozen play, cut short, says so


def test_identify_goes_up_after_the_ad_playing_and_the_loop_goes_on_where_it_was(tmp_path):
    player = VlcPlayer(headless=True)
    cache, programme, journal, playback = rig(tmp_path, player)
    programme.adopt(cached_playlist(cache, make_files(tmp_path)))
    card = cards.identify_card(tmp_path / "cards", (320, 240), screen_name="Front",
                               screen_id="scr_local", device_id="dev_local")
    thread = threading.Thread(target=playback.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while (playback.now_playing or {}).get("creative_id") != "cr_2":  # the 2 s video
            assert time.monotonic() < deadline, "cr_2 never played"
            time.sleep(0.02)
        ad = playback.now_playing
        time.sleep(0.5)
        programme.identify(card, 1.0)
        while (playback.now_playing or {}).get("label") != "identify":
            assert time.monotonic() < deadline, "the identify card never went up"
            time.sleep(0.02)
        time.sleep(2.5)
    finally:
        playback.stop()
        thread.join(timeout=15)
        player.close()
    records = journal.next_batch(100).records
    began = datetime.fromisoformat(ad["started_at"])
    cut = next(i for i, r in enumerate(records)
               if abs((datetime.fromisoformat(r["started_at"]) - began).total_seconds()) < 0.002)
    assert records[cut]["completed"] is True, records[cut]  # played to its end: billable
    assert abs(records[cut]["duration_ms"] - 2000) < 500, records[cut]
    following = records[cut + 1]
    assert following["creative_id"] == "cr_0"  # the loop goes on: nothing skipped for the card
    gap = (datetime.fromisoformat(following["started_at"])
           - datetime.fromisoformat(records[cut]["ended_at"])).total_seconds()
    assert 0.8 < gap < 1.6  # the identify card's second in between


def test_options_for_a_display_and_for_none():
    assert "--vout=dummy" in vlc_options(headless=True, rotation_deg=0, extra=[])
    shown = vlc_options(headless=False, rotation_deg=90, extra=["--avcodec-threads=1"])
    assert "--fullscreen" in shown and "--vout=dummy" not in shown
    assert shown[-3:] == ["--video-filter=transform", "--transform-type=90",
                          "--avcodec-threads=1"]
