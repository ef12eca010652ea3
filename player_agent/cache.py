"""The media cache: files named by their sha256, only ever there once verified.

A download goes to `<sha256>.part` (resumed with `Range` after an interruption, even a kill -9),
is checked against its size and hash, and only then renamed into place; so a file under its own
name is one that was whole when it arrived. Files from an earlier run are hashed once more
before this run plays them (a cheap guard against a disk that changed under us). A file that fails
is deleted and fetched again, never played.

Eviction is least-recently-used under a disk quota, and never touches a file that a playlist
the agent holds still needs. "Used" is the file's mtime, touched each time it plays.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from player_agent.api import ApiError, DeviceApi, IntegrityError, Offline
from shared.playlist import PlaylistMedia

HASH_CHUNK_BYTES = 1024 * 1024

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

        def one(item: PlaylistMedia) -> tuple[str, str | None]:
            try:
                api.download(item.url, self.path(item.sha256), sha256=item.sha256,
                             size_bytes=item.size_bytes, on_bytes=on_bytes)
            except (Offline, ApiError, IntegrityError, OSError) as exc:
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

    def stats(self) -> dict[str, int]:
        """Files, bytes and quota."""
        files = self.files()
        return {"files": len(files), "bytes": sum(_size(p) for p in files),
                "quota_bytes": self.quota_bytes}

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
        evicted = []
        for _, name, size in sorted(entries):
            if used + room_for <= self.quota_bytes:
                break
            if name in keep:
                continue
            self.path(name).unlink(missing_ok=True)
            self._forget(name)
            used -= size
            evicted.append(name)
        if used + room_for > self.quota_bytes:
            log.warning("the cache needs %d bytes over its quota of %d for what must be kept",
                        used + room_for - self.quota_bytes, self.quota_bytes)
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
