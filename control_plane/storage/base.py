"""The object store interface every backend implements, and the rules keys must follow.

Keys are relative, slash-separated paths of safe characters (`media/ab12.../original.mp4`). They
are validated by every backend before any I/O, so no key can ever reach outside the store: no
absolute paths, no `..` or `.` segments, no hidden segments, no backslashes, no control bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from control_plane.storage.exceptions import InvalidKey, InvalidRange

MAX_KEY_BYTES = 1024
_SEGMENT = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-=+@,]*")


def validate_key(key: str) -> str:
    """`key` if it is a safe object key; `InvalidKey` otherwise."""
    if not isinstance(key, str) or not key:
        raise InvalidKey("an object key must be a non-empty string")
    if len(key.encode()) > MAX_KEY_BYTES:
        raise InvalidKey(f"an object key is at most {MAX_KEY_BYTES} bytes")
    segments = key.split("/")
    for segment in segments:
        if not _SEGMENT.fullmatch(segment):
            raise InvalidKey(f"unsafe object key {key!r}: each part between slashes must start "
                             "with a letter, digit, '_' or '-' and use only safe characters",
                             details={"key": key})
    return key


def validate_prefix(prefix: str) -> str:
    """`prefix` if it is empty or a safe key (optionally ending in '/')."""
    if prefix:
        validate_key(prefix.rstrip("/"))
    return prefix


@dataclass(frozen=True)
class ObjectInfo:
    """What a store knows of one object."""

    key: str
    size: int
    content_type: str
    modified_at: datetime | None = None


class ObjectStore(Protocol):
    """Put, get (ranges too), delete, list, and signed expiring URLs for download and upload."""

    def put(self, key: str, data: bytes | BinaryIO, *,
            content_type: str = "application/octet-stream") -> ObjectInfo:
        """Store `data` (bytes or a binary file object, read to its end) under `key`."""
        ...

    def put_file(self, key: str, path: Path, *,
                 content_type: str = "application/octet-stream") -> ObjectInfo:
        """Store the file at `path` under `key`."""
        ...

    def get(self, key: str, *, offset: int = 0, length: int | None = None) -> bytes:
        """The bytes of `key` from `offset`, `length` of them (to the end when None)."""
        ...

    def iter_bytes(self, key: str, *, offset: int = 0, length: int | None = None,
                   chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """The same bytes as `get`, in chunks (for serving large objects)."""
        ...

    def download(self, key: str, path: Path) -> ObjectInfo:
        """Write the object to `path` (atomically)."""
        ...

    def head(self, key: str) -> ObjectInfo | None:
        """The object's facts, or None if it does not exist."""
        ...

    def exists(self, key: str) -> bool:
        """Whether an object is stored under `key`."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; removing a missing one is not an error."""
        ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object whose key starts with `prefix`, in key order."""
        ...

    def signed_url(self, key: str, *, expires_in_s: int = 3600, method: str = "GET",
                   content_type: str | None = None) -> str:
        """A URL that lets anyone holding it GET (download) or PUT (upload) `key` until it
        expires."""
        ...


def check_range(size: int, offset: int, length: int | None) -> tuple[int, int]:
    """(offset, length) clipped to an object of `size` bytes; `InvalidRange` if unsatisfiable."""
    if offset < 0 or (length is not None and length < 0):
        raise InvalidRange("a range cannot be negative")
    if offset > size or (offset == size and size > 0):
        raise InvalidRange(f"the range starts at {offset} but the object has {size} bytes",
                           details={"size": size})
    available = size - offset
    return offset, available if length is None else min(length, available)
