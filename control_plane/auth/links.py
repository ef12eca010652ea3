"""The links mailed to people about their account: confirm the address, reset the password,
accept an invitation.

Each carries a token signed with a secret of this installation (HMAC-SHA256, kept in the keys
folder of the data dir, made on first use), so nothing secret is stored: the email job makes the
link again from the facts it names, and a retried send renders the same email (Resend's
idempotency key sees the same request). Tokens are bound to what using them changes, as
Django's reset tokens are:

- verification: the user and the address, dated; it lasts `VERIFY_TTL_S`, and confirms that
  address only (an address changed since is not confirmed by an old link);
- password reset: the user, the address and the current password hash, dated; it lasts
  `RESET_TTL_S`, and works once, since the reset changes the hash it was made from;
- invitation: the invitation's id; it works once and until it expires, by the invitation's row.

Tokens of one purpose are refused for another (the purpose is signed), and a token that does not
check out says only that the link is not valid, never why.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from control_plane.errors import Invalid
from control_plane.orgs import service as orgs_service
from control_plane.orgs.service import User, UserStatus
from control_plane.settings import Settings
from control_plane.storage.signing import load_or_create_secret

SECRET_FILE = "account-links.secret"  # noqa: S105 - a file name
VERIFY_TTL_S = 3 * 24 * 3600
RESET_TTL_S = 3600
VERIFY_PATH = "/account/verify-email"
RESET_PATH = "/account/reset-password"
INVITATION_PATH = "/account/invitation"


class InvalidLink(Invalid):
    code = "invalid_link"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class AccountLinks:
    """Makes and checks the tokens of account emails, and the links that carry them."""

    def __init__(self, secret: bytes, public_url: str) -> None:
        self._secret = secret
        self.public_url = public_url.rstrip("/")

    @classmethod
    def from_settings(cls, settings: Settings) -> AccountLinks:
        """With this installation's secret (made on first use) and public address."""
        return cls(load_or_create_secret(settings.keys_dir / SECRET_FILE), settings.public_url)

    def _mac(self, purpose: str, *parts: str) -> str:
        message = "\n".join((f"adsbin.account.{purpose}.v1", *parts)).encode()
        return _b64(hmac.new(self._secret, message, hashlib.sha256).digest()[:24])

    def url(self, path: str, token: str) -> str:
        """The absolute link to one of the account pages, carrying `token`."""
        return f"{self.public_url}{path}?{urlencode({'token': token})}"

    # --- verification ---------------------------------------------------------------------

    def verification_token(self, *, user: User, requested_at: int) -> str:
        """The token that confirms `user`'s current address, dated `requested_at`."""
        return f"{user.id}.{requested_at}.{self._mac('verify', user.id, user.email or '', str(requested_at))}"  # noqa: E501

    def read_verification(self, *, session: Session, token: str) -> User:
        """The user a verification token confirms; `InvalidLink` otherwise."""
        user, requested_at, mac = self._split(session, token)
        expected = self._mac("verify", user.id, user.email or "", str(requested_at))
        self._check(mac, expected, requested_at, VERIFY_TTL_S)
        return user

    # --- password reset -------------------------------------------------------------------

    def reset_token(self, *, user: User, requested_at: int) -> str:
        """The token that sets a new password for `user` once, dated `requested_at`."""
        return f"{user.id}.{requested_at}.{self._reset_mac(user, requested_at)}"

    def _reset_mac(self, user: User, requested_at: int) -> str:
        return self._mac("reset", user.id, user.email or "", user.password_hash or "",
                         str(requested_at))

    def read_reset(self, *, session: Session, token: str) -> User:
        """The active user a reset token is for, while it is unused and fresh; else
        `InvalidLink`."""
        user, requested_at, mac = self._split(session, token)
        self._check(mac, self._reset_mac(user, requested_at), requested_at, RESET_TTL_S)
        if user.status != UserStatus.active:
            raise self._invalid()
        return user

    # --- invitations ----------------------------------------------------------------------

    def invitation_token(self, invitation_id: str) -> str:
        """The token of an invitation (the invitation's row says whether it still holds)."""
        return f"{invitation_id}.{self._mac('invitation', invitation_id)}"

    # --- reading --------------------------------------------------------------------------

    @staticmethod
    def _invalid() -> InvalidLink:
        return InvalidLink("this link is not valid: it was used already, has expired, or was "
                           "changed; ask for a new one")

    def _split(self, session: Session, token: str) -> tuple[User, int, str]:
        parts = token.strip().split(".")
        if len(parts) != 3 or not parts[1].isdigit() or len(parts[0]) > 40:
            raise self._invalid()
        user = orgs_service.get_user(session=session, user_id=parts[0])
        if user is None:
            raise self._invalid()
        return user, int(parts[1]), parts[2]

    def _check(self, mac: str, expected: str, requested_at: int, ttl_s: int) -> None:
        if not hmac.compare_digest(mac.encode(), expected.encode()):
            raise self._invalid()
        if not -60 <= time.time() - requested_at <= ttl_s:  # a minute of clock skew
            raise self._invalid()
