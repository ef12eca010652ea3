"""Unsubscribe links: a token that names (user, kind), signed so that only we can make one.

Every email carries one, in its footer and in a `List-Unsubscribe` header (RFC 8058: mail
clients POST `List-Unsubscribe=One-Click` to it without asking the user). Following it switches
that kind's email off for that user, with no login: the token is the authority. It does not
expire (an old email's link must still work) and is the same for the same (user, kind), so a
retried send renders the same email and Resend's idempotency key sees the same request. The
HMAC-SHA256 is made with a secret kept in the keys folder of the data dir, created on first use.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from urllib.parse import urlencode

from control_plane.errors import BadRequest
from control_plane.settings import Settings
from control_plane.storage.signing import load_or_create_secret

SECRET_FILE = "notifications-unsubscribe.secret"  # noqa: S105 - a file name
PATH = "/v1/notifications/unsubscribe"
_PURPOSE = b"adsbin.unsubscribe.v1\n"  # this secret signs nothing else, but say what it signs


class BadUnsubscribeToken(BadRequest):
    code = "invalid_unsubscribe_token"


@dataclass(frozen=True)
class Unsubscription:
    """Who stops receiving which kind by email."""

    user_id: str
    kind: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class UnsubscribeTokens:
    """Makes and reads unsubscribe tokens, and the links that carry them."""

    def __init__(self, secret: bytes, public_url: str) -> None:
        self._secret = secret
        self.public_url = public_url.rstrip("/")

    @classmethod
    def from_settings(cls, settings: Settings) -> UnsubscribeTokens:
        """With the installation's secret (made on first use) and public address."""
        return cls(load_or_create_secret(settings.keys_dir / SECRET_FILE), settings.public_url)

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, _PURPOSE + payload, hashlib.sha256).digest()

    def token(self, *, user_id: str, kind: str) -> str:
        """The token that unsubscribes `user_id` from `kind` by email."""
        payload = json.dumps([user_id, kind], separators=(",", ":")).encode()
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def url(self, *, user_id: str, kind: str) -> str:
        """The absolute unsubscribe link (the page, and the one-click POST target)."""
        token = self.token(user_id=user_id, kind=kind)
        return f"{self.public_url}{PATH}?{urlencode({'token': token})}"

    def read(self, token: str | None) -> Unsubscription:
        """Who and what a token unsubscribes; `BadUnsubscribeToken` unless we signed it."""
        if not token or token.count(".") != 1:
            raise BadUnsubscribeToken("this unsubscribe link is incomplete; use the one in "
                                      "the email")
        payload_part, mac_part = token.split(".")
        try:
            payload, mac = _unb64(payload_part), _unb64(mac_part)
        except (binascii.Error, ValueError) as exc:
            raise BadUnsubscribeToken("this unsubscribe link is damaged; use the one in the "
                                      "email") from exc
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise BadUnsubscribeToken("this unsubscribe link was not made by us; use the one "
                                      "in the email")
        try:
            user_id, kind = json.loads(payload)
        except (ValueError, TypeError) as exc:  # signed by us, so only an older format
            raise BadUnsubscribeToken("this unsubscribe link is no longer understood") from exc
        if not isinstance(user_id, str) or not isinstance(kind, str):
            raise BadUnsubscribeToken("this unsubscribe link is no longer understood")
        return Unsubscription(user_id=user_id, kind=kind)
