"""The agent's disk full, on a real small filesystem (a tmpfs the test mounts, as root): the
cache counts the disk's free space as part of its quota, so files no playlist needs go, oldest
first, to make room for what a new playlist needs; the journal is never touched; when nothing
more can go (something else filled the disk), the status says `disk_full` and why, the screen
plays on, and everything comes right once there is room again."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from player_agent.cache import MediaCache
from tests.conftest import IN_CI
from tests.player_agent.conftest import RunningAgent, agent_settings, until

MB = 1024 * 1024


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs of its own, unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        message = f"cannot mount a tmpfs here ({done.stderr.strip()})"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(path: Path, *, leave_bytes: int = 0) -> None:
    """Write `path` until the disk has `leave_bytes` free (or none: ENOSPC)."""
    with path.open("ab") as f:
        while (free := shutil.disk_usage(path.parent).free) > leave_bytes:
            try:
                f.write(b"\0" * min(MB, free - leave_bytes))
                f.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                return


def test_room_on_a_full_disk_is_made_from_the_oldest_files_no_playlist_needs(small_disk):
    cache = MediaCache(small_disk / "cache", quota_bytes=10**12)  # the quota never binds
    old, needed = f"{1:064x}", f"{2:064x}"
    cache.path(old).write_bytes(b"o" * 3 * MB)
    cache.path(needed).write_bytes(b"n" * 3 * MB)
    os.utime(cache.path(old), (1, 1))  # used long ago
    fill(small_disk / "ballast", leave_bytes=2 * MB)
    assert cache.evict(keep={needed}, room_for=3 * MB) == [old]
    assert "disk_full" not in cache.stats()
    # nothing left that may go: the disk is full, and the status says by how much
    assert cache.evict(keep={needed}, room_for=8 * MB) == []
    stats = cache.stats()
    assert stats["disk_full"] is True and stats["shortfall_bytes"] > 2 * MB
    assert cache.path(needed).exists()  # what a playlist needs is kept however full


def noise_png(path: Path, side: int) -> Path:
    """A picture that does not compress: its rendition is about side² × 3 bytes."""
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(path)
    return path


def cached(agent, sha: str) -> bool:
    return any(p.name == sha for p in agent.cache.files())


def shas(agent) -> set[str]:
    playlist = agent.programme.playlist
    return {m.sha256 for m in playlist.media} if playlist else set()


@pytest.mark.long
def test_a_full_disk_evicts_the_oldest_keeps_the_journal_and_says_so(stack, small_disk,
                                                                     tmp_path):
    state = small_disk / "agent"
    with RunningAgent(agent_settings(stack, state)) as running:
        agent = running.paired(stack).agent
        first = stack.campaign(noise_png(tmp_path / "a.png", 900))
        until(lambda: shas(agent) and all(cached(agent, s) for s in shas(agent)), 60,
              "the first file cached")
        (a,) = shas(agent)
        size = agent.cache.path(a).stat().st_size
        until(lambda: len(stack.pops()) >= 1, 60, "a play reported")
        stack.http.post(f"/v1/campaigns/{first['id']}/pause",
                        headers=first["advertiser_headers"]).raise_for_status()
        until(lambda: a not in agent.programme.needed(), 60, "a playlist without it on")
        assert cached(agent, a)  # under its quota, nothing made it go yet
        # room for half a file more than the reserve: the next one fits only if it goes
        _free, reserve = agent.cache._disk()
        fill(small_disk / "ballast", leave_bytes=reserve + size // 2)

        stack.campaign(noise_png(tmp_path / "b.png", 900))
        until(lambda: (b := shas(agent) - {a}) and all(cached(agent, s) for s in b), 60,
              "the second file cached")
        assert not cached(agent, a)  # the oldest, that no playlist needed, made room
        assert "disk_full" not in agent.status()["cache"]
        (b,) = shas(agent)
        until(lambda: (agent.playback.now_playing or {}).get("media_sha256") == b, 30,
              "the second file on screen")

        fill(small_disk / "ballast")  # something else fills the disk to the last byte
        third = stack.campaign(noise_png(tmp_path / "c.png", 900))
        until(lambda: agent.status()["cache"].get("disk_full"), 60, "the status says so")
        status = agent.status()["cache"]
        assert status["shortfall_bytes"] > 0 or "no space" in (status["disk_error"] or "")
        assert cached(agent, b)  # what plays now is kept
        plays = agent.playback.plays + agent.playback.unjournaled_plays
        until(lambda: agent.playback.plays + agent.playback.unjournaled_plays > plays, 30,
              "playing on")

        (small_disk / "ballast").unlink()  # room again
        until(lambda: len(shas(agent)) == 2 and all(cached(agent, s) for s in shas(agent)), 90,
              "the third file cached")
        until(lambda: "disk_full" not in agent.status()["cache"], 30, "the disk no longer full")
        assert third["id"] in {item.campaign_id for w in agent.programme.playlist.timeline
                               for item in w.loop}
        journaled = agent.journal.stats()
    assert journaled["dropped"] == 0  # the journal lost nothing to the full disk
    records = stack.pops()
    assert len({r["play_id"] for r in records}) == len(records) == agent.playback.plays
