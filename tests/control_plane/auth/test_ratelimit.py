"""Rate limits across API processes: in scale mode (the queue on Redis) every app counts into
one window in Redis, so a second process does not give a guesser a second allowance; on
embedded defaults each app keeps its own window in memory."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient

from control_plane.app import create_app
from tests.control_plane.devices.test_pairing import pairing_request
from tests.helpers import error_code, signup, with_settings
from tests.live import free_port

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def scale_settings(settings):
    """The test settings with the queue (and so the rate limits) on this machine's Redis, under
    a queue name of their own; its keys are deleted afterwards."""
    name = f"adsbin-test-{secrets.token_hex(4)}"
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis is part of this machine and must be up: {exc}")
    yield with_settings(settings, queue_url=REDIS_URL, queue_name=name,
                        login_attempts_per_minute=3, pairing_requests_per_minute=2)
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"*{name}*"):
        client.delete(key)


def _two_clients(settings) -> Iterator[tuple[TestClient, TestClient]]:
    with TestClient(create_app(settings)) as a, TestClient(create_app(settings)) as b:
        yield a, b


@pytest.fixture
def shared(scale_settings):
    """Two API apps (as two processes would be) on the same database and Redis."""
    yield from _two_clients(scale_settings)


@pytest.fixture
def apart(settings):
    """Two API apps on embedded defaults: each counts in its own memory."""
    yield from _two_clients(with_settings(settings, login_attempts_per_minute=3,
                                          pairing_requests_per_minute=2))


def _guess(client: TestClient, email: str, n: int):
    return client.post("/v1/auth/token", json={"email": email, "password": f"guess-{n:06d}"})


def test_sign_in_attempts_are_counted_across_api_processes_on_redis(shared):
    a, b = shared
    account = signup(a)
    answers = [_guess(client, account.email, n) for n, client in enumerate([a, b, a, b, a])]
    assert [r.status_code for r in answers] == [401, 401, 401, 429, 429]
    refused = answers[3]
    assert error_code(refused) == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert 0 < refused.json()["error"]["details"]["retry_after_s"] <= 60
    # the right password is refused too while the window is full, on either process
    for client in (a, b):
        r = client.post("/v1/auth/token", json={"email": account.email,
                                                "password": "correct horse battery"})
        assert r.status_code == 429


def test_a_successful_sign_in_clears_the_window_for_every_process(shared):
    a, b = shared
    account = signup(a)
    assert [_guess(c, account.email, n).status_code for n, c in enumerate([a, b])] == [401, 401]
    r = b.post("/v1/auth/token", json={"email": account.email, "password": "correct horse battery"})
    assert r.status_code == 200
    # counted from zero again, on the other process as well
    assert [_guess(c, account.email, n).status_code for n, c in enumerate([a, a, a, b])] \
        == [401, 401, 401, 429]


def test_pairing_codes_are_counted_across_api_processes_on_redis(shared):
    a, b = shared
    answers = [pairing_request(client) for client in (a, b, a, b)]
    assert [r.status_code for r in answers] == [201, 201, 429, 429]
    assert error_code(answers[2]) == "rate_limited"
    assert int(answers[2].headers["Retry-After"]) >= 1


def test_on_embedded_defaults_each_process_keeps_its_own_window(apart):
    a, b = apart
    account = signup(a)
    codes = [_guess(c, account.email, n).status_code for n, c in enumerate([a, a, a, a, b])]
    assert codes == [401, 401, 401, 429, 401]  # b has seen one attempt only
    assert [pairing_request(c).status_code for c in (a, a, b, b, a, b)] \
        == [201, 201, 201, 201, 429, 429]


def test_an_unreachable_limits_store_answers_503_and_lets_nobody_through(settings):
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    with TestClient(create_app(with_settings(settings, rate_limit_url=nowhere))) as client:
        r = client.post("/v1/auth/token", json={"email": "someone@example.com",
                                                "password": "whatever-it-is"})
        assert r.status_code == 503 and error_code(r) == "rate_limiter_unavailable"
        assert r.headers["Retry-After"] == "5"
