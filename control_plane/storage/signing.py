"""Signed, expiring URLs for the local object store, served by the control plane itself.

A URL carries its expiry and an HMAC-SHA256 over (method, key, expiry, content type) made with a
secret kept in the data dir; changing any of them, or waiting past the expiry, makes it useless.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from control_plane.storage.exceptions import SignatureInvalid, UrlExpired

SECRET_BYTES = 32


def load_or_create(path: Path, make: Callable[[], bytes]) -> bytes:
    """The bytes stored at `path`; made by `make` and written (mode 0600) on first use. Two
    processes starting at once agree: the first to link its file wins, the other reads it."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(make())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
        return path.read_bytes()


def load_or_create_secret(path: Path) -> bytes:
    """The signing secret stored at `path`, created (mode 0600) on first use."""
    return load_or_create(path, lambda: secrets.token_bytes(SECRET_BYTES))


class UrlSigner:
    """Makes and checks the signatures of local-store URLs."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, method: str, key: str, expires: int, content_type: str) -> str:
        message = f"{method.upper()}\n{key}\n{expires}\n{content_type}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def sign(self, method: str, key: str, expires_in_s: int,
             content_type: str | None = None) -> dict[str, str]:
        """The query parameters that authorize `method` on `key` for `expires_in_s` seconds."""
        expires = int(time.time()) + expires_in_s
        params = {"expires": str(expires),
                  "signature": self._mac(method, key, expires, content_type or "")}
        if content_type:
            params["content_type"] = content_type
        return params

    def verify(self, method: str, key: str, expires: str | None, signature: str | None,
               content_type: str | None = None) -> None:
        """Raise unless the parameters are a valid, unexpired signature for `method` on `key`."""
        if not expires or not signature or not expires.isdigit():
            raise SignatureInvalid("this URL is not signed; ask for a new one")
        expected = self._mac(method, key, int(expires), content_type or "")
        if not hmac.compare_digest(expected, signature):
            raise SignatureInvalid("this URL's signature does not match; ask for a new one")
        if int(expires) < time.time():
            raise UrlExpired("this URL has expired; ask for a new one")
