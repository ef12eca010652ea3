"""VAPID (RFC 8292): the key by which push services know that our pushes come from us.

A browser subscribes with the public half of the key (its `applicationServerKey`) and its push
service then takes only pushes signed by the private half, so the key must outlive restarts:
it is an EC P-256 key made on first start and kept in the data dir (`keys/vapid.pem`, 0600),
unless ADSBIN_VAPID_PRIVATE_KEY gives one (PEM, or the base64url forms pywebpush and py_vapid
print: the raw 32-byte private scalar, or DER). Changing the key strands every subscription.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from control_plane.settings import Settings
from control_plane.storage.signing import load_or_create

KEY_FILE = "vapid.pem"


def b64url(data: bytes) -> str:
    """base64url without padding, as Web Push writes keys."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """The bytes of base64url text (padding optional); `ValueError` if it is not."""
    try:
        return base64.b64decode(text.strip() + "=" * (-len(text.strip()) % 4), altchars=b"-_",
                                validate=True)
    except binascii.Error as exc:
        raise ValueError("not base64url") from exc


def parse_private_key(text: str) -> ec.EllipticCurvePrivateKey:
    """A P-256 private key from PEM or base64url (raw scalar or DER); `ValueError` if not."""
    if "-----BEGIN" in text:
        key = serialization.load_pem_private_key(text.encode(), password=None)
    else:
        raw = b64url_decode(text.replace("\n", ""))
        if len(raw) == 32:
            key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
        else:
            key = serialization.load_der_private_key(raw, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("a VAPID key must be an EC P-256 private key")
    return key


def load_or_create_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The key stored at `path`, created (PEM, mode 0600) on first use."""
    pem = load_or_create(path, lambda: ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return parse_private_key(pem.decode())


def private_key(settings: Settings) -> ec.EllipticCurvePrivateKey:
    """The installation's VAPID key: the configured one, else the data dir's (made if new)."""
    if settings.vapid_private_key is not None:
        try:
            return parse_private_key(settings.vapid_private_key.get_secret_value())
        except ValueError as exc:
            raise ValueError(f"ADSBIN_VAPID_PRIVATE_KEY is not usable: {exc}") from exc
    return load_or_create_key(settings.keys_dir / KEY_FILE)


def application_server_key(key: ec.EllipticCurvePrivateKey) -> str:
    """The public half as browsers take it: the uncompressed point, base64url."""
    return b64url(key.public_key().public_bytes(serialization.Encoding.X962,
                                                serialization.PublicFormat.UncompressedPoint))


def public_key(settings: Settings) -> str:
    """The application server key of this installation."""
    return application_server_key(private_key(settings))
