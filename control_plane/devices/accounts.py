"""Broker accounts and the topic rules they obey, answered in Python.

A device reads only its own screen's `playlist` and `commands` and writes only its own `status`,
`heartbeat`, `acks` and `pop`; a service account (the control plane) reads and writes all of
`adsbin/v1/#`; nobody else does anything. `AccountRules` holds the accounts a process knows and
answers `check_login` / `allowed` (for an EMQX-style HTTP auth hook); `ExternalBroker` is just
that, for a broker run elsewhere; `broker.EmbeddedBroker` adds Mosquitto itself.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal, Protocol

from shared import topics

ADMIN_USERNAME = "adsbin-broker-admin"
SERVICE_FILTER = "adsbin/v1/#"
# the control plane's processes on an external broker share their subscriptions (MQTT 5
# `$share/<group>/<filter>`): each device message reaches one of them
SHARE_GROUP = "adsbin"
SHARED_SERVICE_FILTER = f"$share/{SHARE_GROUP}/{SERVICE_FILTER}"
PBKDF2_ITERATIONS = 101  # Mosquitto's own choice; our passwords are random, not guessable words

Access = Literal["read", "write"]


class BrokerAccounts(Protocol):
    """Device and service accounts of the MQTT broker, and the topic rules they obey."""

    def set_device(self, *, username: str, password: str, screen_id: str) -> None:
        """Create or replace a device account that reaches only `screen_id`'s topics."""

    def remove_device(self, *, username: str) -> None:
        """Delete a device account; its next login is refused and a live session loses access."""

    def set_service(self, *, username: str, password: str) -> None:
        """Create or replace a service account, which reaches everything under adsbin/v1/."""

    def check_login(self, username: str, password: str) -> bool:
        """Whether these credentials belong to a device or service account."""

    def allowed(self, username: str, topic: str, access: Access) -> bool:
        """Whether this account may read (subscribe, receive) or write (publish) `topic`."""


@dataclass(frozen=True)
class _Account:
    salt: bytes
    digest: bytes  # PBKDF2-SHA512, as Mosquitto stores it
    iterations: int
    screen_id: str | None  # None for a service account

    @classmethod
    def new(cls, password: str, screen_id: str | None) -> _Account:
        salt = secrets.token_bytes(12)
        return cls(salt, _pbkdf2(password, salt, PBKDF2_ITERATIONS), PBKDF2_ITERATIONS, screen_id)

    def verifies(self, password: str) -> bool:
        return hmac.compare_digest(self.digest, _pbkdf2(password, self.salt, self.iterations))


def _pbkdf2(password: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)


class AccountRules:
    """The accounts this process knows, and the topic rules answered in Python."""

    def __init__(self) -> None:
        self._accounts: dict[str, _Account] = {}

    def check_login(self, username: str, password: str) -> bool:
        """Whether these credentials belong to a device or service account."""
        account = self._accounts.get(username)
        return account is not None and account.verifies(password)

    def allowed(self, username: str, topic: str, access: Access) -> bool:
        """Whether this account may read (subscribe, receive) or write (publish) `topic`."""
        account = self._accounts.get(username)
        if account is None or "\x00" in topic:
            return False
        if account.screen_id is None:  # a filter must not widen past adsbin/v1/ at its top
            wildcard = "+" in topic or "#" in topic
            return (topic == SERVICE_FILTER[:-2] or topic.startswith(SERVICE_FILTER[:-1])) \
                and not (access == "write" and wildcard)
        parsed = topics.parse(topic)
        leaves = topics.SERVER_TO_DEVICE if access == "read" else topics.DEVICE_TO_SERVER
        return parsed is not None and parsed[0] == account.screen_id and parsed[1] in leaves

    def _changes(self, username: str, password: str, screen_id: str | None) -> bool:
        """Validate a set_* call; False when the account already has exactly these values."""
        if not username or "\x00" in username or username == ADMIN_USERNAME:
            raise ValueError(f"not a usable broker username: {username!r}")
        if not password:
            raise ValueError("a broker password must not be empty")
        if screen_id is not None:
            topics.check_screen_id(screen_id)
        known = self._accounts.get(username)
        if known is None:
            return True
        if (known.screen_id is None) != (screen_id is None):
            raise ValueError(f"{username!r} cannot change between device and service account")
        return known.screen_id != screen_id or not known.verifies(password)

    def _check_device(self, username: str) -> None:
        account = self._accounts.get(username)
        if account is not None and account.screen_id is None:
            raise ValueError(f"{username!r} is a service account, not a device")


class ExternalBroker(AccountRules):
    """A broker run elsewhere (Mosquitto or EMQX cluster): rules only, for its HTTP auth hook."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def set_device(self, *, username: str, password: str, screen_id: str) -> None:
        """Record a device account that reaches only `screen_id`'s topics."""
        self._changes(username, password, screen_id)
        self._accounts[username] = _Account.new(password, screen_id)

    def remove_device(self, *, username: str) -> None:
        """Forget a device account."""
        self._check_device(username)
        self._accounts.pop(username, None)

    def set_service(self, *, username: str, password: str) -> None:
        """Record a service account."""
        self._changes(username, password, None)
        self._accounts[username] = _Account.new(password, None)
