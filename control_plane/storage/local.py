"""The embedded object store: a folder on disk, its signed URLs served by the control plane.

Objects are written to a temporary file and renamed into place, so a reader never sees half an
object. The content type of each object is kept beside the data in `.meta/` (a name no valid key
can take, since key segments never start with a dot).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, urlencode

from control_plane.storage.base import ObjectInfo, check_range, validate_key, validate_prefix
from control_plane.storage.exceptions import ObjectNotFound
from control_plane.storage.signing import UrlSigner

COPY_CHUNK = 1 << 20
META_DIR = ".meta"


class LocalObjectStore:
    """Objects as files under `root`; signed URLs point at `{public_url}/v1/storage/{key}`."""

    def __init__(self, root: Path, *, signer: UrlSigner, public_url: str) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.signer = signer
        self.public_url = public_url.rstrip("/")

    def _path(self, key: str) -> Path:
        path = (self.root / validate_key(key)).resolve()
        # validate_key already forbids escaping; this is the belt to its braces
        if not path.is_relative_to(self.root):
            raise ValueError(f"key {key!r} escapes the store")
        return path

    def _meta_path(self, key: str) -> Path:
        return self.root / META_DIR / f"{validate_key(key)}.json"

    def _write(self, key: str, source: BinaryIO, content_type: str) -> ObjectInfo:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as tmp:
                shutil.copyfileobj(source, tmp, COPY_CHUNK)
                tmp.flush()
                os.fsync(tmp.fileno())
            meta = self._meta_path(key)
            meta.parent.mkdir(parents=True, exist_ok=True)
            meta.write_text(json.dumps({"content_type": content_type}))
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return self._info(key, path)

    def _info(self, key: str, path: Path) -> ObjectInfo:
        stat = path.stat()
        try:
            content_type = json.loads(self._meta_path(key).read_text())["content_type"]
        except (FileNotFoundError, ValueError, KeyError):
            content_type = "application/octet-stream"
        return ObjectInfo(key=key, size=stat.st_size, content_type=content_type,
                          modified_at=datetime.fromtimestamp(stat.st_mtime, UTC))

    def put(self, key: str, data: bytes | BinaryIO, *,
            content_type: str = "application/octet-stream") -> ObjectInfo:
        """Store `data` under `key`, atomically."""
        if isinstance(data, bytes):
            return self._write(key, io.BytesIO(data), content_type)
        return self._write(key, data, content_type)

    def put_file(self, key: str, path: Path, *,
                 content_type: str = "application/octet-stream") -> ObjectInfo:
        """Store the file at `path` under `key`, atomically."""
        with path.open("rb") as f:
            return self._write(key, f, content_type)

    def get(self, key: str, *, offset: int = 0, length: int | None = None) -> bytes:
        """The bytes of `key` from `offset`, `length` of them."""
        return b"".join(self.iter_bytes(key, offset=offset, length=length))

    def iter_bytes(self, key: str, *, offset: int = 0, length: int | None = None,
                   chunk_size: int = COPY_CHUNK) -> Iterator[bytes]:
        """The bytes of `key` in chunks."""
        path = self._path(key)
        try:
            f = path.open("rb")
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise ObjectNotFound(f"no object {key!r}") from exc
        offset, remaining = check_range(os.fstat(f.fileno()).st_size, offset, length)
        return self._chunks(f, offset, remaining, chunk_size)

    @staticmethod
    def _chunks(f: BinaryIO, offset: int, remaining: int, chunk_size: int) -> Iterator[bytes]:
        with f:
            f.seek(offset)
            while remaining > 0:
                chunk = f.read(min(chunk_size, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                yield chunk

    def download(self, key: str, path: Path) -> ObjectInfo:
        """Copy the object to `path`, atomically."""
        source = self._path(key)
        if not source.is_file():
            raise ObjectNotFound(f"no object {key!r}")
        tmp = path.with_name(f".{path.name}.part")
        shutil.copyfile(source, tmp)
        os.replace(tmp, path)
        return self._info(key, source)

    def head(self, key: str) -> ObjectInfo | None:
        """The object's facts, or None."""
        path = self._path(key)
        return self._info(key, path) if path.is_file() else None

    def exists(self, key: str) -> bool:
        """Whether `key` is stored."""
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        """Remove `key` (no error if missing), and folders it leaves empty."""
        path = self._path(key)
        path.unlink(missing_ok=True)
        self._meta_path(key).unlink(missing_ok=True)
        parent = path.parent
        while parent != self.root:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects whose key starts with `prefix`, in key order."""
        validate_prefix(prefix)
        base = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self.root / base if base else self.root
        if not start.is_dir():
            return
        keys = []
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel = Path(dirpath).relative_to(self.root)
            for name in filenames:
                if name.startswith("."):
                    continue
                key = (rel / name).as_posix() if str(rel) != "." else name
                if key.startswith(prefix):
                    keys.append(key)
        for key in sorted(keys):
            yield self._info(key, self.root / key)

    def signed_url(self, key: str, *, expires_in_s: int = 3600, method: str = "GET",
                   content_type: str | None = None) -> str:
        """A URL of the control plane that serves (GET) or accepts (PUT) `key` until it
        expires."""
        validate_key(key)
        params = self.signer.sign(method, key, expires_in_s, content_type)
        return f"{self.public_url}/v1/storage/{quote(key)}?{urlencode(params)}"
