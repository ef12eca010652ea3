"""The media cache: files named by their sha256, only ever there once verified.

A download goes to `<sha256>.part` (resumed with `Range` after an interruption, even a kill -9),
is checked against its size and hash, and only then renamed into place; so a file under its own
name is one that was whole when it arrived. Files from an earlier run are hashed once more
before this run plays them (a cheap guard against a disk that changed under us). A file that fails
is deleted and fetched again, never played.

Eviction is least-recently-used under a disk quota, and never touches a file that a playlist
the agent holds still needs. "Used" is the file's mtime, touched each time it plays. The quota
is also the disk itself: files that no playlist needs go, oldest first, until what is to be
fetched fits in the free space, less a reserve left for the journal and the agent's state
(`reserve_bytes`: 5 % of the filesystem, at most 64 MiB). When it still does not fit, or a write
fails with ENOSPC (something else filled the disk), `stats()` says `disk_full` with the bytes
missing, which the status and the heartbeat carry; the fetch is tried again at the next sync.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from player_agent.api import ApiError, DeviceApi, IntegrityError, Offline
from shared.playlist import PlaylistMedia

HASH_CHUNK_BYTES = 1024 * 1024
RESERVE_FRACTION = 0.05  # of the filesystem, kept free for the journal and the state
RESERVE_MAX_BYTES = 64 * 1024**2

log = logging.getLogger(__name__)


@dataclass
class FetchReport:
    """What a round of downloads did."""

    downloaded: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.failed


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(HASH_CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


class MediaCache:
    """Content-addressed files, fetched at most `parallel` at a time, under `quota_bytes`."""

    def __init__(self, root: Path, *, quota_bytes: int, parallel: int = 2) -> None:
        self.root = root
        self.quota_bytes = quota_bytes
        self.parallel = parallel
        root.mkdir(parents=True, exist_ok=True)
        self._verified: set[str] = set()
        self._lock = threading.Lock()
        self.downloads = 0  # files fetched by this process (each sha256 once when all goes well)
        self.shortfall_bytes = 0  # what the last round could not make room for on the disk
        self.disk_error: str | None = None  # the last write the disk refused (ENOSPC)

    def _disk(self) -> tuple[int, int] | None:
        """(free bytes, reserve bytes) of the filesystem holding the cache, if it can tell."""
        try:
            usage = shutil.disk_usage(self.root)
        except OSError:
            return None
        return usage.free, min(RESERVE_MAX_BYTES, round(usage.total * RESERVE_FRACTION))

    def path(self, sha256: str) -> Path:
        """Where the file with this hash lives (whether or not it is there)."""
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256: {sha256!r}")
        return self.root / sha256

    def playable(self, sha256: str) -> Path | None:
        """The file, if it is here and verified; a file that fails is deleted."""
        path = self.path(sha256)
        if sha256 in self._verified:
            if path.exists():
                return path
            self._forget(sha256)
            return None
        if not path.exists():
            return None
        if sha256_file(path) != sha256:
            log.warning("cached %s does not match its hash; deleting it to fetch again",
                        sha256[:12])
            path.unlink(missing_ok=True)
            return None
        with self._lock:
            self._verified.add(sha256)
        return path

    def _forget(self, sha256: str) -> None:
        with self._lock:
            self._verified.discard(sha256)

    def touch(self, sha256: str) -> None:
        """Mark the file as just used (for LRU eviction)."""
        try:
            os.utime(self.path(sha256))
        except FileNotFoundError:
            self._forget(sha256)

    def fetch(self, api: DeviceApi, media: Iterable[PlaylistMedia], *,
              keep: set[str] | None = None,
              on_bytes: Callable[[int], None] | None = None) -> FetchReport:
        """Make every file of `media` playable here, downloading what is missing."""
        wanted = {m.sha256: m for m in media}
        missing = [m for sha, m in wanted.items() if self.playable(sha) is None]
        report = FetchReport()
        if not missing:
            return report
        self.evict(keep=(keep or set()) | set(wanted),
                   room_for=sum(m.size_bytes for m in missing))

        self.disk_error = None

        def one(item: PlaylistMedia) -> tuple[str, str | None]:
            try:
                api.download(item.url, self.path(item.sha256), sha256=item.sha256,
                             size_bytes=item.size_bytes, on_bytes=on_bytes)
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    self.disk_error = f"no space left on the disk for {item.sha256[:12]}"
                return item.sha256, str(exc)
            except (Offline, ApiError, IntegrityError) as exc:
                return item.sha256, str(exc)
            with self._lock:
                self._verified.add(item.sha256)
                self.downloads += 1
            return item.sha256, None

        with ThreadPoolExecutor(self.parallel, thread_name_prefix="download") as pool:
            for sha, error in pool.map(one, missing):
                if error is None:
                    report.downloaded.append(sha)
                else:
                    log.warning("could not fetch %s: %s", sha[:12], error)
                    report.failed[sha] = error
        return report

    def files(self) -> list[Path]:
        """The complete files in the cache."""
        return [p for p in self.root.iterdir() if len(p.name) == 64 and p.is_file()]

    def stats(self) -> dict[str, Any]:
        """Files, bytes and quota; and, when the disk is full, `disk_full` with what it says."""
        files = self.files()
        stats: dict[str, Any] = {"files": len(files), "bytes": sum(_size(p) for p in files),
                                 "quota_bytes": self.quota_bytes}
        if self.shortfall_bytes or self.disk_error:
            stats |= {"disk_full": True, "shortfall_bytes": self.shortfall_bytes,
                      "disk_error": self.disk_error}
        return stats

    def evict(self, *, keep: set[str], room_for: int = 0) -> list[str]:
        """Delete least-recently-used files outside `keep` until `room_for` more bytes fit."""
        entries = []
        for p in self.files():
            try:
                st = p.stat()
            except FileNotFoundError:
                continue
            entries.append((st.st_mtime, p.name, st.st_size))
        used = sum(size for _, _, size in entries)
        for part in self.root.glob("*.part"):  # a .part is resumed if still wanted, else junk
            if part.name.removesuffix(".part") not in keep:
                part.unlink(missing_ok=True)
        disk = self._disk()
        # what the cache holds now and what the disk has left for it, less the reserve
        disk_limit = used + disk[0] - disk[1] if disk is not None else self.quota_bytes
        limit = min(self.quota_bytes, disk_limit)
        evicted = []
        for _, name, size in sorted(entries):
            if used + room_for <= limit:
                break
            if name in keep:
                continue
            self.path(name).unlink(missing_ok=True)
            self._forget(name)
            used -= size
            evicted.append(name)
        if evicted:
            log.info("evicted %d file(s), least recently used first, to make room", len(evicted))
        if used + room_for > self.quota_bytes:
            log.warning("the cache needs %d bytes over its quota of %d for what must be kept",
                        used + room_for - self.quota_bytes, self.quota_bytes)
        self.shortfall_bytes = max(0, used + room_for - disk_limit)
        if self.shortfall_bytes:
            log.warning("the disk is full: %d bytes more are needed for what must be kept",
                        self.shortfall_bytes)
        return evicted

    def clear(self, *, keep: set[str]) -> tuple[int, int]:
        """Delete every file but `keep` (the clear_cache command); (files, bytes) removed."""
        removed = freed = 0
        for p in self.files() + list(self.root.glob("*.part")):
            if p.name in keep:
                continue
            freed += _size(p)
            p.unlink(missing_ok=True)
            self._forget(p.name)
            removed += 1
        return removed, freed


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
