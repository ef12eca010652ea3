"""Small helpers the tests share: sign up, sign in, read the error body, wait for a condition."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from fastapi.testclient import TestClient

PASSWORD = "correct horse battery"


@dataclass
class Account:
    """A signed-up user, their org and a token acting in it."""

    email: str
    token: str
    user_id: str
    org_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def signup(client: Any, kind: str = "advertiser", *, email: str | None = None,
           verified: bool = True, app: Any = None) -> Account:
    """A new user with a new org of `kind`, via the API (a TestClient, or an HTTP client of a
    served `app`); with its address confirmed unless `verified` is False (the link's token made
    as the email job makes it: the emails themselves are tested in
    tests/control_plane/notifications/test_account_mail.py)."""
    email = email or f"user-{secrets.token_hex(4)}@example.com"
    r = client.post("/v1/auth/signup", json={
        "email": email, "password": PASSWORD, "name": "Test User",
        "org_name": f"{kind} org", "org_kind": kind})
    assert r.status_code == 201, r.text
    body = r.json()
    account = Account(email, body["access_token"], body["user"]["id"], body["org"]["id"])
    if verified:
        verify_email(client, account.user_id, body["user"]["email"], app=app)
    return account


def verify_email(client: Any, user_id: str, email: str, *, app: Any = None) -> None:
    """Confirm a user's address through the API, with the token its emailed link carries
    (made with the keys of `app`, by default the TestClient's)."""
    links = (app or client.app).state.account_links
    token = links.verification_token(user=SimpleNamespace(id=user_id, email=email),
                                     requested_at=int(time.time()))
    r = client.post("/v1/auth/verify-email", json={"token": token})
    assert r.status_code == 200, r.text


def login(client: TestClient, email: str, password: str = PASSWORD,
          org_id: str | None = None) -> str:
    """An access token for a password login."""
    body: dict[str, Any] = {"email": email, "password": password}
    if org_id:
        body["org_id"] = org_id
    r = client.post("/v1/auth/token", json=body)
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    """Authorization header for a token or API key."""
    return {"Authorization": f"Bearer {token}"}


def error_code(response: Any) -> str:
    """The `error.code` of an API.md error body (asserting the body has that shape)."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return str(body["error"]["code"])


def with_settings(settings: Any, **updates: Any) -> Any:
    """A copy of `settings` with `updates`, validated like the environment would be."""
    return type(settings)(**{**settings.model_dump(), **updates})


def until(predicate: Callable[[], Any], timeout_s: float = 30.0, what: str = "") -> Any:
    """Poll `predicate` until it is truthy; its value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or predicate}")
