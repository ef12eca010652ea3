"""Playlists made on the spot from local files, for agent tests that need no control plane."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from player_agent.cache import MediaCache, sha256_file
from player_agent.state import StateDir
from shared.agent import AgentCredentials, write_private_json
from shared.device import MqttCredentials
from shared.playlist import Playlist, PlaylistItem, PlaylistMedia, PlaylistWindow, with_version

AWAY = "127.0.0.1:9"  # nothing listens there: the unit's server and broker are out of reach


def cached_playlist(cache: MediaCache, files: list[tuple[Path, int]], *,
                    screen_id: str = "scr_local", slot_s: int = 1) -> Playlist:
    """A playlist looping over `files` (path, duration_s) for the next hour, files in `cache`."""
    media, loop = [], []
    for n, (path, duration_s) in enumerate(files):
        sha = sha256_file(path)
        shutil.copyfile(path, cache.path(sha))
        mime = "video/mp4" if path.suffix == ".mp4" else "image/png"
        media.append(PlaylistMedia(sha256=sha, size_bytes=path.stat().st_size, mime=mime,
                                   url=f"http://unused/{sha}"))
        loop.append(PlaylistItem(kind="campaign", campaign_id=f"cmp_{n}", creative_id=f"cr_{n}",
                                 media_sha256=sha, duration_s=duration_s,
                                 slots=max(1, duration_s // slot_s)))
    now = datetime.now(UTC)
    return with_version(Playlist(
        screen_id=screen_id, generated_at=now, valid_from=now - timedelta(hours=1),
        valid_until=now + timedelta(hours=1), loop_s=sum(i.slots for i in loop) * slot_s,
        slot_s=slot_s, media=media,
        timeline=[PlaylistWindow(start=now - timedelta(hours=1), end=now + timedelta(hours=1),
                                 loop=loop)]))


def offline_unit(state_dir: Path, files: list[tuple[Path, int]]) -> Path:
    """A paired unit's state dir with `files` cached as its playlist and its server and broker
    away: an agent started on it plays (and journals, and retries) and nothing else."""
    state = StateDir(state_dir).create()
    cache = MediaCache(state.cache_dir, quota_bytes=10**10)
    state.save_playlist(cached_playlist(cache, files, screen_id="scr_offline"))
    write_private_json(state.credentials_file, AgentCredentials(
        server_url=f"http://{AWAY}", device_id="dev_offline", screen_id="scr_offline",
        device_token="offline", mqtt=MqttCredentials(url=f"mqtt://{AWAY}", username="u",
                                                     password="p")))
    return state.root
