"""Signup must answer 409 email_taken (it hands out a token, so it cannot pretend), but that
answer is no cheap oracle of who has an account: attempts are limited per client address, a few
taken emails an hour stop every signup from the address, and a taken email takes as long."""

from __future__ import annotations

import statistics
import time

import pytest
from fastapi.testclient import TestClient

from control_plane.app import create_app
from control_plane.auth.router import TAKEN_EMAILS_PER_HOUR
from tests.helpers import PASSWORD, error_code, signup, with_settings


def _body(email: str) -> dict[str, str]:
    return {"email": email, "password": PASSWORD, "name": "Ann", "org_name": "Ann's",
            "org_kind": "advertiser"}


@pytest.fixture
def make_client(settings):
    """Clients of one app (these signup limits), each from its own address."""
    apps = {}

    def make(address: str, **limits) -> TestClient:
        if "app" not in apps:
            apps["app"] = create_app(with_settings(settings, **limits))
        client = TestClient(apps["app"], client=(address, 50000))
        client.__enter__()
        opened.append(client)
        return client

    opened: list[TestClient] = []
    yield make
    for client in reversed(opened):
        client.__exit__(None, None, None)


def test_signups_are_limited_per_client_address(make_client):
    client = make_client("203.0.113.7", signup_attempts_per_minute=3)
    taken = signup(client).email
    codes = [client.post("/v1/auth/signup", json=_body(e)).status_code
             for e in (taken, "new-1@example.com", "new-2@example.com", taken)]
    assert codes == [409, 201, 429, 429]
    r = client.post("/v1/auth/signup", json=_body("new-3@example.com"))
    assert r.status_code == 429 and error_code(r) == "rate_limited"
    assert int(r.headers["Retry-After"]) >= 1
    # another address is not held up by this one
    other = make_client("198.51.100.2")
    assert other.post("/v1/auth/signup", json=_body("new-3@example.com")).status_code == 201


def test_a_few_taken_emails_stop_every_signup_from_the_address(make_client):
    client = make_client("203.0.113.8", signup_attempts_per_minute=100)
    taken = signup(client).email
    for _ in range(TAKEN_EMAILS_PER_HOUR):
        r = client.post("/v1/auth/signup", json=_body(taken))
        assert r.status_code == 409 and error_code(r) == "email_taken"
    # from now on, taken or not, the answer is the same and says nothing about the email
    refused_taken = client.post("/v1/auth/signup", json=_body(taken))
    refused_new = client.post("/v1/auth/signup", json=_body("fresh@example.com"))
    assert refused_taken.status_code == refused_new.status_code == 429
    taken_body, new_body = refused_taken.json(), refused_new.json()
    # the wait counts down between the two answers (0.1 s apart on a busy machine): alike else
    waits = [b["error"]["details"].pop("retry_after_s") for b in (taken_body, new_body)]
    assert taken_body == new_body and abs(waits[0] - waits[1]) <= 1
    assert make_client("198.51.100.3").post(
        "/v1/auth/signup", json=_body("fresh@example.com")).status_code == 201


def test_a_taken_email_answers_no_sooner_than_a_new_one(make_client):
    # with the production hashing, which is what makes the two take the same time
    client = make_client("203.0.113.9", signup_attempts_per_minute=100,
                         password_hashing="rfc9106")
    taken = signup(client).email

    def timed(email: str, status: int) -> float:
        start = time.perf_counter()
        r = client.post("/v1/auth/signup", json=_body(email))
        elapsed = time.perf_counter() - start
        assert r.status_code == status, r.text
        return elapsed

    # alternated, so both see the same load; the taken ones stay under the hourly limit
    new, old = [], []
    for i in range(TAKEN_EMAILS_PER_HOUR - 1):
        new.append(timed(f"timing-{i}@example.com", 201))
        old.append(timed(taken, 409))
    # without hashing the password first, a taken email answered ~20× sooner
    assert statistics.median(old) > 0.5 * statistics.median(new), (old, new)


def test_passwords_are_hashed_with_rfc_9106_parameters_unless_a_test_suite_asks(settings):
    from control_plane.orgs import passwords
    from control_plane.settings import Settings

    assert Settings.model_fields["password_hashing"].default == "rfc9106"
    try:
        passwords.use("rfc9106")
        strong = passwords.hash_password("a password of ten")
        assert strong.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
        passwords.use("fast")
        fast = passwords.hash_password("a password of ten")
        assert fast.startswith("$argon2id$v=19$m=8,t=1,p=1$")
        # each verifies the other's, and a sign-in under the strong one rehashes a fast hash
        assert passwords.verify_password(strong, "a password of ten")
        passwords.use("rfc9106")
        assert passwords.verify_password(fast, "a password of ten")
        assert passwords.needs_rehash(fast) and not passwords.needs_rehash(strong)
    finally:
        passwords.use(settings.password_hashing)
