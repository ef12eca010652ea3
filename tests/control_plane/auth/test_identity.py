"""Signup, sign-in, /me and the tokens of the built-in issuer, on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from tests.helpers import PASSWORD, bearer, error_code, login, signup


def test_signup_token_me(client):
    account = signup(client, "venue", email="Owner@Example.com")
    token = login(client, "owner@example.com")
    r = client.get("/v1/me", headers=bearer(token))
    assert r.status_code == 200
    me = r.json()
    assert me["user"]["email"] == "owner@example.com"
    assert me["org_id"] == account.org_id
    assert me["role"] == "admin"
    assert [(m["org"]["kind"], m["role"]) for m in me["memberships"]] == [("venue", "admin")]


def test_token_response_shape_and_claims(client):
    account = signup(client)
    r = client.post("/v1/auth/token", json={"email": account.email, "password": PASSWORD})
    body = r.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == account.user_id
    assert claims["org_id"] == account.org_id and claims["org_role"] == "org:admin"
    assert claims["o"] == {"id": account.org_id, "rol": "admin"}
    assert claims["iss"] == "http://testserver"
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "RS256"


def test_duplicate_email_is_409(client):
    signup(client, email="twice@example.com")
    r = client.post("/v1/auth/signup", json={
        "email": "TWICE@example.com", "password": PASSWORD, "name": "x", "org_name": "y",
        "org_kind": "venue"})
    assert r.status_code == 409 and error_code(r) == "email_taken"


@pytest.mark.parametrize("body", [
    {"email": "a@example.com", "password": "short", "name": "n", "org_name": "o",
     "org_kind": "advertiser"},
    {"email": "not-an-email", "password": PASSWORD, "name": "n", "org_name": "o",
     "org_kind": "advertiser"},
    {"email": "a@example.com", "password": PASSWORD, "name": "n", "org_name": "o",
     "org_kind": "platform"},
    {"email": "a@example.com", "password": PASSWORD, "name": "", "org_name": "o",
     "org_kind": "venue"},
])
def test_signup_rejects_bad_input(client, body):
    r = client.post("/v1/auth/signup", json=body)
    assert r.status_code == 422 and error_code(r) == "validation_error"
    assert client.post("/v1/auth/token", json={"email": "a@example.com",
                                               "password": PASSWORD}).status_code == 401


def test_wrong_password_and_unknown_user_look_the_same(client):
    account = signup(client)
    wrong = client.post("/v1/auth/token", json={"email": account.email, "password": "nope" * 3})
    unknown = client.post("/v1/auth/token", json={"email": "nobody@example.com",
                                                  "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert error_code(wrong) == "invalid_credentials"


def test_password_guessing_is_rate_limited(client):
    account = signup(client)
    codes = [client.post("/v1/auth/token", json={"email": account.email,
                                                 "password": f"guess-{i:06d}"}).status_code
             for i in range(12)]
    assert codes[:10] == [401] * 10 and codes[10:] == [429, 429]
    r = client.post("/v1/auth/token", json={"email": account.email, "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert error_code(r) == "rate_limited"


def test_token_for_another_org_of_mine_and_not_for_others(client):
    account = signup(client)
    other = signup(client, "venue")
    r = client.post("/v1/auth/token", json={"email": account.email, "password": PASSWORD,
                                            "org_id": other.org_id})
    assert r.status_code == 404 and error_code(r) == "org_not_found"


def test_me_needs_a_token(client):
    r = client.get("/v1/me")
    assert r.status_code == 401 and error_code(r) == "unauthenticated"
    assert r.headers["WWW-Authenticate"] == "Bearer"
    r = client.get("/v1/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert r.status_code == 401


def _forge(app, **overrides):
    """A token signed with the app's real key, with claims changed."""
    keyring = app.state.keyring
    now = int(time.time())
    claims = {"iss": "http://testserver", "sub": "usr_x", "iat": now, "nbf": now,
              "exp": now + 600, "azp": "http://testserver"}
    claims.update(overrides)
    return jwt.encode(claims, keyring.current.private_key, algorithm="RS256",
                      headers={"kid": keyring.current.kid})


def _valid_claims(account):
    return {"sub": account.user_id, "org_id": account.org_id, "org_role": "org:admin"}


def test_forged_claims_still_verify_when_valid(app, client):
    account = signup(client)
    r = client.get("/v1/me", headers=bearer(_forge(app, **_valid_claims(account))))
    assert r.status_code == 200


@pytest.mark.parametrize("case", ["expired", "not_yet_valid", "wrong_issuer", "tampered",
                                  "alg_none", "hs256_with_public_key", "wrong_azp",
                                  "unknown_kid", "garbage", "missing_exp"])
def test_bad_tokens_are_401(app, client, case):
    account = signup(client)
    claims = _valid_claims(account)
    now = int(time.time())
    keyring = app.state.keyring
    if case == "expired":
        token = _forge(app, **claims, iat=now - 7200, nbf=now - 7200, exp=now - 3600)
    elif case == "not_yet_valid":
        token = _forge(app, **claims, nbf=now + 3600, exp=now + 7200)
    elif case == "wrong_issuer":
        token = _forge(app, **claims, iss="https://evil.example.com")
    elif case == "tampered":
        good = _forge(app, **claims)
        header, _payload, signature = good.split(".")
        other = _forge(app, **{**claims, "sub": "usr_someone_else"}).split(".")[1]
        token = ".".join([header, other, signature])
    elif case == "alg_none":
        token = jwt.encode({**claims, "iss": "http://testserver", "iat": now, "exp": now + 600},
                           None, algorithm="none")
    elif case == "hs256_with_public_key":
        public_pem = keyring.current.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        import hashlib
        import hmac
        import json
        from base64 import urlsafe_b64encode as b64

        def enc(obj):
            return b64(json.dumps(obj).encode()).rstrip(b"=").decode()

        signing_input = f"{enc({'alg': 'HS256', 'kid': keyring.current.kid})}." + enc(
            {**claims, "iss": "http://testserver", "iat": now, "exp": now + 600})
        sig = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
        token = signing_input + "." + b64(sig).rstrip(b"=").decode()
    elif case == "wrong_azp":
        token = _forge(app, **claims, azp="https://phishing.example.com")
    elif case == "unknown_kid":
        token = jwt.encode({**claims, "iss": "http://testserver", "iat": now, "exp": now + 600},
                           keyring.current.private_key, algorithm="RS256",
                           headers={"kid": "not-a-key-of-ours"})
    elif case == "garbage":
        token = "not.a.jwt"
    else:
        token = jwt.encode({**claims, "iss": "http://testserver", "iat": now},
                           keyring.current.private_key, algorithm="RS256",
                           headers={"kid": keyring.current.kid})
    r = client.get("/v1/me", headers=bearer(token))
    assert r.status_code == 401, r.text
    assert error_code(r) in {"invalid_token", "token_expired"}


def test_removed_member_token_stops_working(client):
    admin = signup(client, "venue")
    r = client.post(f"/v1/orgs/{admin.org_id}/members", headers=admin.headers,
                    json={"email": "helper@example.com", "role": "member"})
    invite = r.json()["invite_token"]
    r = client.post("/v1/auth/invitations/accept", json={"token": invite, "password": PASSWORD})
    helper_token = r.json()["access_token"]
    assert client.get("/v1/me", headers=bearer(helper_token)).json()["role"] == "member"
    helper_id = client.get("/v1/me", headers=bearer(helper_token)).json()["user"]["id"]
    assert client.delete(f"/v1/orgs/{admin.org_id}/members/{helper_id}",
                         headers=admin.headers).status_code == 204
    r = client.get("/v1/me", headers=bearer(helper_token))
    assert r.status_code == 401 and error_code(r) == "invalid_token"


def test_key_rotation_keeps_old_tokens_valid(app, client):
    account = signup(client)
    old_token = account.token
    app.state.keyring.rotate()
    new_token = login(client, account.email)
    assert jwt.get_unverified_header(new_token)["kid"] != jwt.get_unverified_header(
        old_token)["kid"]
    assert client.get("/v1/me", headers=bearer(old_token)).status_code == 200
    assert client.get("/v1/me", headers=bearer(new_token)).status_code == 200
    kids = {k["kid"] for k in client.get("/.well-known/jwks.json").json()["keys"]}
    assert {jwt.get_unverified_header(t)["kid"] for t in (old_token, new_token)} <= kids
