"""The media cache: downloads resume with Range and are verified before they get their name;
a file that fails is never kept; eviction is least-recently-used under the quota and spares
what a playlist still needs."""

from __future__ import annotations

import os
import time

from player_agent.api import DeviceApi
from player_agent.cache import MediaCache, sha256_file
from shared.playlist import PlaylistMedia


def stored(stack, data: bytes) -> PlaylistMedia:
    """A file in the control plane's object store, at a signed URL through the proxy."""
    import hashlib

    sha = hashlib.sha256(data).hexdigest()
    store = stack.app.state.object_store
    store.put(f"test/{sha}", data, content_type="application/octet-stream")
    url = store.signed_url(f"test/{sha}", expires_in_s=600)
    return PlaylistMedia(sha256=sha, size_bytes=len(data), mime="video/mp4", url=url)


def test_a_partial_download_resumes_with_range_and_is_verified(stack, tmp_path):
    data = os.urandom(1_000_000)
    media = stored(stack, data)
    cache = MediaCache(tmp_path / "cache", quota_bytes=10**8)
    part = cache.path(media.sha256).with_name(media.sha256 + ".part")
    part.write_bytes(data[:700_000])  # what an interrupted run left
    api = DeviceApi(stack.agent_url)
    try:
        report = cache.fetch(api, [media])
    finally:
        api.close()
    assert report.complete and report.downloaded == [media.sha256]
    assert sha256_file(cache.path(media.sha256)) == media.sha256 and not part.exists()
    assert stack.api_proxy.bytes_down < 400_000  # only the missing 300 kB came over the wire
    assert cache.playable(media.sha256) == cache.path(media.sha256)


def test_a_file_that_does_not_match_is_never_kept(stack, tmp_path):
    media = stored(stack, os.urandom(50_000))
    lying = media.model_copy(update={"sha256": "f" * 64})
    cache = MediaCache(tmp_path / "cache", quota_bytes=10**8)
    api = DeviceApi(stack.agent_url)
    try:
        report = cache.fetch(api, [lying])
    finally:
        api.close()
    assert list(report.failed) == ["f" * 64] and "want 50000 bytes" in report.failed["f" * 64]
    assert list((tmp_path / "cache").iterdir()) == []
    # a cached file that changed on disk is not played either: deleted, to fetch again
    cache.path(media.sha256).write_bytes(b"bit rot")
    assert cache.playable(media.sha256) is None and not cache.path(media.sha256).exists()


def test_eviction_is_lru_under_the_quota_and_spares_what_is_needed(tmp_path):
    cache = MediaCache(tmp_path / "cache", quota_bytes=3000)
    shas = [f"{n:064x}" for n in range(4)]
    for age, sha in enumerate(shas):
        cache.path(sha).write_bytes(b"x" * 1000)
        os.utime(cache.path(sha), (time.time() - 1000 + age, time.time() - 1000 + age))
    cache.touch(shas[0])  # played just now: the most recently used
    evicted = cache.evict(keep={shas[1]}, room_for=1000)
    assert evicted == [shas[2], shas[3]][:len(evicted)] and len(evicted) == 2
    assert {p.name for p in cache.files()} == {shas[0], shas[1]}
    # over quota with only needed files: they stay (and the agent warns)
    assert cache.evict(keep={shas[0], shas[1]}, room_for=10_000) == []
    assert cache.stats() == {"files": 2, "bytes": 2000, "quota_bytes": 3000}
