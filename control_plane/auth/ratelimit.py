"""Sliding-window rate limits (per key, e.g. email + client address) on the `limits` library.

Each limiter counts its hits in a `limits` storage under its own name: the app's own memory on
embedded defaults, and in scale mode the Redis the job queue already uses (or
`ADSBIN_RATE_LIMIT_URL`), so every API process counts into one window and guessing stays
bounded by the limit however many processes answer. The strategy is `limits`' moving window: at
most `limit` allowed hits in any `window_s`; a refused hit does not count.
"""

from __future__ import annotations

import itertools
import time

from limits import RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from control_plane.errors import AppError, RateLimited
from control_plane.orgs.service import normalize_email
from control_plane.settings import Settings

_names = itertools.count()


class LimiterUnavailable(AppError):
    """The shared store of the rate limits (Redis) cannot be reached: nothing was counted."""

    status_code = 503
    code = "rate_limiter_unavailable"


def make_limit_storage(settings: Settings) -> Storage:
    """Where the app's limiters count: `ADSBIN_RATE_LIMIT_URL`, else the queue's Redis when the
    queue is on Redis (scale mode), else this process's memory."""
    url = settings.rate_limit_url
    if url is None and settings.queue_url and settings.queue_url.startswith(
            ("redis://", "rediss://", "unix://")):
        url = settings.queue_url
    if url is None or url.startswith("memory://"):
        return MemoryStorage()
    # limits names its Redis storages redis://, rediss:// and redis+unix://
    url = "redis+unix://" + url.removeprefix("unix://") if url.startswith("unix://") else url
    storage = storage_from_string(url, key_prefix=f"{settings.queue_name}:limits",
                                  wrap_exceptions=True)
    if not isinstance(storage, Storage):  # an async:// storage: not for these sync routes
        raise ValueError(f"ADSBIN_RATE_LIMIT_URL must name a synchronous storage, not {url!r}")
    return storage


class SlidingWindowLimiter:
    """At most `limit` hits per `window_s` for each key, counted in `storage` under `name`
    (by default in a memory of its own)."""

    def __init__(self, *, limit: int, window_s: float, storage: Storage | None = None,
                 name: str | None = None) -> None:
        self.window_s = int(window_s)
        self.storage = storage if storage is not None else MemoryStorage()
        self.name = name or f"limiter-{next(_names)}"
        self._strategy = MovingWindowRateLimiter(self.storage)
        self.limit = limit

    @property
    def limit(self) -> int:
        """Hits allowed per window."""
        return self._item.amount

    @limit.setter
    def limit(self, value: int) -> None:
        self._item = RateLimitItemPerSecond(value, self.window_s)

    def hit(self, key: str) -> float | None:
        """Count a hit; None if allowed, else the seconds until the next one is."""
        try:
            if self._strategy.hit(self._item, self.name, key):
                return None
            return self._wait(key)
        except StorageError as exc:
            raise _unavailable(exc) from exc

    def wait_s(self, key: str) -> float | None:
        """Without counting a hit: None if `key` may go on, else the seconds until it may."""
        try:
            return None if self._strategy.test(self._item, self.name, key) else self._wait(key)
        except StorageError as exc:
            raise _unavailable(exc) from exc

    def reset(self, key: str) -> None:
        """Forget the hits of `key` (e.g. after a successful login)."""
        try:
            self._strategy.clear(self._item, self.name, key)
        except StorageError as exc:
            raise _unavailable(exc) from exc

    def _wait(self, key: str) -> float:
        reset_at = self._strategy.get_window_stats(self._item, self.name, key).reset_time
        return max(0.0, reset_at - time.time())


def _unavailable(exc: StorageError) -> LimiterUnavailable:
    return LimiterUnavailable("the rate limits' store cannot be reached; try again shortly",
                              details={"reason": type(exc.storage_error).__name__},
                              headers={"Retry-After": "5"})


def login_key(client: str, email: str) -> str:
    """The key sign-in attempts are counted under: the client address and the email."""
    return f"{client}:{email.lower()}"


def check_login_rate(client: str, limiter: SlidingWindowLimiter, email: str) -> None:
    """429 once this client tried this email too often (the API's sign-in and the pages')."""
    wait_s = limiter.hit(login_key(client, email))
    if wait_s is not None:
        raise RateLimited.after(wait_s, "sign-in attempts")


def check_signup_rate(client: str, limiter: SlidingWindowLimiter,
                      taken_limiter: SlidingWindowLimiter) -> None:
    """429 once the client address tried too many signups, or hit too many taken emails.

    Signup has to answer 409 `email_taken` (it returns a token, so it cannot pretend); these
    limits keep that answer from being a cheap way to find out who has an account. Both are
    checked before the email is looked at, so a limited client learns nothing either way.
    """
    taken_wait = taken_limiter.wait_s(client)
    wait_s = limiter.hit(client)
    if wait_s is not None or taken_wait is not None:
        raise RateLimited.after(max(wait_s or 0.0, taken_wait or 0.0), "signup attempts")


def check_reset_rate(client: str, email: str, client_limiter: SlidingWindowLimiter,
                     email_limiter: SlidingWindowLimiter) -> None:
    """429 once this client, or this address asked about, asked for too many password
    resets (the API's and the pages'); the same whether or not the address has an account."""
    wait_s = client_limiter.hit(client)
    if wait_s is None:
        wait_s = email_limiter.hit(normalize_email(email))
    if wait_s is not None:
        raise RateLimited.after(wait_s, "password reset requests")


def check_invitation_rate(org_id: str, limiter: SlidingWindowLimiter) -> None:
    """429 once the org sent too many invitations (the API's and the pages')."""
    wait_s = limiter.hit(org_id)
    if wait_s is not None:
        raise RateLimited.after(wait_s, "invitations from this org")
