"""The built-in issuer's signing keys: RS256 key pairs kept as PEM files in the data dir.

Several keys may be live at once (each with a `kid`, the RFC 7638 thumbprint of its public key);
tokens are signed with the newest, and the JWKS publishes all of them so that tokens signed
before a rotation stay valid until they expire.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

RSA_KEY_BITS = 2048
KEY_FILE_GLOB = "jwt-*.pem"


@dataclass(frozen=True)
class SigningKey:
    """One RS256 key pair and the id it is published under."""

    kid: str
    private_key: rsa.RSAPrivateKey
    created_ns: int

    def public_jwk(self) -> dict[str, Any]:
        """The public half as a JWK, ready for the JWKS document."""
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.private_key.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return jwk


def _thumbprint(private_key: rsa.RSAPrivateKey) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key."""
    jwk = json.loads(RSAAlgorithm.to_jwk(private_key.public_key()))
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"),
                           sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class KeyRing:
    """The signing keys in one folder; creates the first key when the folder is empty."""

    def __init__(self, keys_dir: Path) -> None:
        self.keys_dir = keys_dir
        self._lock = threading.Lock()
        self._keys: list[SigningKey] = []
        self._dir_mtime_ns = -1
        self.reload()
        if not self._keys:
            self.rotate()

    def reload(self) -> None:
        """Read the key files again if the folder changed (another process may have rotated)."""
        with self._lock:
            try:
                mtime = self.keys_dir.stat().st_mtime_ns
            except FileNotFoundError:
                mtime = -1
            if mtime == self._dir_mtime_ns and self._keys:
                return
            keys = []
            for path in sorted(self.keys_dir.glob(KEY_FILE_GLOB)) if mtime != -1 else []:
                private_key = serialization.load_pem_private_key(path.read_bytes(), password=None)
                if not isinstance(private_key, rsa.RSAPrivateKey):
                    continue
                keys.append(SigningKey(_thumbprint(private_key), private_key,
                                       path.stat().st_mtime_ns))
            keys.sort(key=lambda k: k.created_ns)
            self._keys = keys
            self._dir_mtime_ns = mtime

    def rotate(self) -> SigningKey:
        """Create a new key pair, which signs from now on; older keys stay published."""
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
        kid = _thumbprint(private_key)
        self.keys_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.keys_dir, 0o700)
        path = self.keys_dir / f"jwt-{kid}.pem"
        tmp = path.with_suffix(".tmp")
        pem = private_key.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        self._dir_mtime_ns = -1
        self.reload()
        return self.current

    def retire(self, kid: str) -> None:
        """Stop publishing `kid`: tokens it signed are refused from now on."""
        if len(self._keys) <= 1:
            raise ValueError("cannot retire the only signing key; rotate first")
        (self.keys_dir / f"jwt-{kid}.pem").unlink(missing_ok=False)
        self._dir_mtime_ns = -1
        self.reload()

    @property
    def current(self) -> SigningKey:
        """The key new tokens are signed with (the newest)."""
        return self._keys[-1]

    @property
    def keys(self) -> list[SigningKey]:
        """All live keys, oldest first."""
        return list(self._keys)

    def jwks(self) -> dict[str, Any]:
        """The JWKS document of every live key."""
        return {"keys": [k.public_jwk() for k in self._keys]}
