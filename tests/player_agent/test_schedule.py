"""What plays next: loop order inside a window, anchoring on the clock only when it must, house
content outside the timeline, unplayable files skipped, and a card when nothing is left."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from player_agent.schedule import Cursor, horizon_left_s, index_at, next_item, window_at
from shared.playlist import Playlist, PlaylistItem, PlaylistMedia, PlaylistWindow, with_version

T0 = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


def sha(n: int) -> str:
    return f"{n:064x}"


def item(n: int, slots: int = 1, kind: str = "campaign") -> PlaylistItem:
    return PlaylistItem(kind=kind, campaign_id=f"cmp_{n}" if kind == "campaign" else None,
                        creative_id=f"cr_{n}", media_sha256=sha(n), duration_s=10 * slots,
                        slots=slots)


def playlist(windows: list[tuple[datetime, datetime, list[PlaylistItem]]],
             house: list[PlaylistItem] | None = None, hours: int = 48) -> Playlist:
    items = [i for _, _, loop in windows for i in loop] + (house or [])
    media = [PlaylistMedia(sha256=i.media_sha256, size_bytes=1, mime="image/png",
                           url="http://x/m") for i in items]
    return with_version(Playlist(
        screen_id="scr_1", generated_at=T0, valid_from=T0, valid_until=T0 + timedelta(hours=hours),
        loop_s=60, slot_s=10, media=media,
        timeline=[PlaylistWindow(start=s, end=e, loop=loop) for s, e, loop in windows],
        house=house or []))


ALL = {sha(n) for n in range(100)}


def test_items_play_in_loop_order_after_anchoring_on_the_clock():
    p = playlist([(T0, T0 + timedelta(hours=1), [item(1), item(2, slots=3), item(3)])])
    # 25 s into the window is the second item's slots (10..40 s)
    first, cursor = next_item(p, T0 + timedelta(seconds=25), None, ALL)
    assert first == item(2, slots=3)
    order = [first.creative_id]
    for _ in range(4):  # then the loop goes on in order, whatever the clock says
        nxt, cursor = next_item(p, T0 + timedelta(seconds=26), cursor, ALL)
        order.append(nxt.creative_id)
    assert order == ["cr_2", "cr_3", "cr_1", "cr_2", "cr_3"]


def test_a_new_window_or_a_new_playlist_anchors_again():
    w1 = [item(1), item(2)]
    w2 = [item(7), item(8), item(9)]
    p = playlist([(T0, T0 + timedelta(minutes=30), w1),
                  (T0 + timedelta(minutes=30), T0 + timedelta(hours=1), w2)])
    _, cursor = next_item(p, T0, None, ALL)
    nxt, cursor = next_item(p, T0 + timedelta(minutes=30, seconds=15), cursor, ALL)
    assert nxt.creative_id == "cr_8"  # 15 s into the new window: its second slot
    other = playlist([(T0, T0 + timedelta(hours=1), [item(4), item(5)])])
    assert other.version != p.version
    nxt, _ = next_item(other, T0 + timedelta(seconds=12), cursor, ALL)
    assert nxt.creative_id == "cr_5"


def test_unplayable_files_are_skipped_and_house_content_fills_the_rest():
    house = [item(50, kind="house"), item(51, kind="house")]
    p = playlist([(T0, T0 + timedelta(hours=1), [item(1), item(2)])], house=house)
    nxt, cursor = next_item(p, T0, None, {sha(2), sha(50), sha(51)})
    assert nxt.creative_id == "cr_2"
    # outside the timeline: the house rotation
    after = T0 + timedelta(hours=2)
    a, cursor = next_item(p, after, cursor, ALL)
    b, cursor = next_item(p, after, cursor, ALL)
    c, cursor = next_item(p, after, cursor, ALL)
    assert [a.creative_id, b.creative_id, c.creative_id] == ["cr_50", "cr_51", "cr_50"]
    # nothing playable at all: a card (None)
    assert next_item(p, T0, None, set()) == (None, None)
    assert next_item(None, T0, None, ALL) == (None, None)


def test_past_the_horizon_only_house_content_plays():
    p = playlist([(T0, T0 + timedelta(hours=1), [item(1)])], house=[item(60, kind="house")],
                 hours=1)
    assert window_at(p, T0 + timedelta(minutes=59)) is not None
    assert window_at(p, T0 + timedelta(hours=1)) is None
    nxt, _ = next_item(p, T0 + timedelta(hours=3), None, ALL)
    assert nxt.kind == "house"
    assert horizon_left_s(p, T0 + timedelta(minutes=30)) == 1800
    assert horizon_left_s(p, T0 + timedelta(hours=5)) == 0


@given(st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=8),
       st.integers(min_value=0, max_value=10 * 3600))
def test_the_anchor_is_the_slot_the_clock_is_in(slot_counts, offset_s):
    loop = [item(n, slots=s) for n, s in enumerate(slot_counts)]
    window = PlaylistWindow(start=T0, end=T0 + timedelta(hours=12), loop=loop)
    index = index_at(window, T0 + timedelta(seconds=offset_s), 10)
    into = offset_s % (sum(slot_counts) * 10)
    start = sum(slot_counts[:index]) * 10
    assert start <= into < start + slot_counts[index] * 10


def test_a_cursor_from_the_house_rotation_does_not_leak_into_a_window():
    p = playlist([(T0 + timedelta(hours=1), T0 + timedelta(hours=2), [item(1), item(2)])],
                 house=[item(50, kind="house")])
    _, cursor = next_item(p, T0, None, ALL)
    assert cursor == Cursor(p.version, None, 0)
    nxt, _ = next_item(p, T0 + timedelta(hours=1, seconds=11), cursor, ALL)
    assert nxt.creative_id == "cr_2"
