"""Every error answers with API.md's body and a 4xx: malformed JSON, wrong types, huge bodies."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import error_code, signup
from tests.live import serve_app


def test_malformed_json_is_422(client):
    r = client.post("/v1/auth/signup", content=b'{"email": "a@b.c", ',
                    headers={"content-type": "application/json"})
    assert r.status_code == 422 and error_code(r) == "malformed_json"


@pytest.mark.parametrize("body", [
    [1, 2, 3],
    "a string",
    {"email": 5, "password": ["x"], "name": {"a": 1}, "org_name": None, "org_kind": 3},
    {"email": "a@example.com", "password": "x" * 10, "name": "n", "org_name": "o",
     "org_kind": "venue", "unexpected": True},
])
def test_wrong_shapes_are_422_with_details(client, body):
    r = client.post("/v1/auth/signup", json=body)
    assert r.status_code == 422 and error_code(r) == "validation_error"
    details = r.json()["error"]["details"]
    assert details and all({"loc", "msg", "type"} <= set(d) for d in details)


def test_non_utf8_and_binary_bodies_are_4xx(client):
    r = client.post("/v1/auth/token", content=b"\xff\xfe\x00garbage",
                    headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500
    error_code(r)


def test_the_nul_character_is_refused_in_bodies_paths_and_queries_alike(client):
    # PostgreSQL's text cannot hold it: it was a 500 there (and stored as sent on SQLite)
    account = signup(client, "venue")
    nul = "bar\x00"
    signup_body = {"email": "nul@example.com", "password": "x" * 12, "name": nul,
                   "org_name": "o", "org_kind": "venue"}
    for r in (client.post("/v1/auth/signup", json=signup_body),
              client.post("/v1/api-keys", headers=account.headers, json={"name": nul}),
              client.get("/v1/venues/ven_%00", headers=account.headers),
              client.get("/v1/campaigns", headers=account.headers, params={"state": nul}),
              client.post("/v1/webhooks/twilio/status", content=b"MessageSid=a%00",
                          headers={"content-type": "application/x-www-form-urlencoded"})):
        assert r.status_code == 422 and error_code(r) == "validation_error", r.text
        assert r.json()["error"]["details"][0]["type"] == "nul_character"
    assert client.post("/v1/auth/token", json={"email": "nul@example.com",
                                               "password": "x" * 12}).status_code == 401
    # a backslash before "u0000" is text like any other
    r = client.post("/v1/api-keys", headers=account.headers, json={"name": "a\\u0000"})
    assert r.status_code == 201 and r.json()["name"] == "a\\u0000", r.text
    # and "%00" in JSON is three characters (only a form body percent-encodes)
    r = client.post("/v1/api-keys", headers=account.headers, json={"name": "50%00"})
    assert r.status_code == 201 and r.json()["name"] == "50%00", r.text


def test_declared_huge_body_is_413_before_reading(client):
    r = client.post("/v1/auth/signup", content=b"{" + b" " * 2_000_000 + b"}",
                    headers={"content-type": "application/json"})
    assert r.status_code == 413 and error_code(r) == "too_large"
    assert r.json()["error"]["details"] == {"limit_bytes": 1_048_576}


def test_chunked_huge_body_is_413(app):
    def chunks():
        yield b'{"email": "'
        for _ in range(40):
            yield b"a" * 65_536
        yield b'"}'

    with serve_app(app) as base, httpx.Client(base_url=base) as http:
        r = http.post("/v1/auth/signup", content=chunks(),
                      headers={"content-type": "application/json"})
    assert r.status_code == 413 and error_code(r) == "too_large"


def test_unknown_route_and_wrong_method(client):
    r = client.get("/v1/nothing-here")
    assert r.status_code == 404 and error_code(r) == "not_found"
    r = client.delete("/v1/auth/signup")
    assert r.status_code == 405 and error_code(r) == "method_not_allowed"


def test_oversized_path_ids_are_422_not_500(client):
    account = signup(client)
    r = client.get(f"/v1/orgs/{'x' * 5000}", headers=account.headers)
    assert r.status_code == 422 and error_code(r) == "validation_error"


def test_openapi_is_published(client):
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    for path in ("/v1/auth/signup", "/v1/auth/token", "/v1/me", "/v1/orgs/{org_id}/members",
                 "/v1/api-keys", "/v1/webhooks/clerk", "/.well-known/jwks.json"):
        assert path in spec["paths"], path
