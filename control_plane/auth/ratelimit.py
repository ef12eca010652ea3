"""A small in-process sliding-window rate limiter (per key, e.g. email + client address).

It guards login and pairing-code guesses on one process; with several API processes each keeps
its own window, which still bounds guessing to N × the limit.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from control_plane.errors import RateLimited
from control_plane.orgs.service import normalize_email


class SlidingWindowLimiter:
    """At most `limit` hits per `window_s` for each key."""

    def __init__(self, *, limit: int, window_s: float, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> float | None:
        """Count a hit; None if allowed, else the seconds until the next one is."""
        now = time.monotonic()
        with self._lock:
            hits = self._hits.get(key)
            if hits is None:
                if len(self._hits) >= self.max_keys:
                    self._evict(now)
                hits = self._hits[key] = deque()
            wait = self._wait(hits, now)
            if wait is None:
                hits.append(now)
            return wait

    def wait_s(self, key: str) -> float | None:
        """Without counting a hit: None if `key` may go on, else the seconds until it may."""
        now = time.monotonic()
        with self._lock:
            hits = self._hits.get(key)
            return None if hits is None else self._wait(hits, now)

    def _wait(self, hits: deque[float], now: float) -> float | None:
        """Drop the hits that left the window; the wait while the rest fill it, else None."""
        while hits and hits[0] <= now - self.window_s:
            hits.popleft()
        return max(0.0, hits[0] + self.window_s - now) if len(hits) >= self.limit else None

    def reset(self, key: str) -> None:
        """Forget the hits of `key` (e.g. after a successful login)."""
        with self._lock:
            self._hits.pop(key, None)

    def _evict(self, now: float) -> None:
        stale = [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window_s]
        for k in stale:
            del self._hits[k]
        if len(self._hits) >= self.max_keys:  # still full: drop the oldest half
            for k in list(self._hits)[: self.max_keys // 2]:
                del self._hits[k]


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
