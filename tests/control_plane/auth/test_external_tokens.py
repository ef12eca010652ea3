"""One verification path for every issuer: our JWKS read from outside, and Clerk's tokens."""

from __future__ import annotations

import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from jwt.algorithms import RSAAlgorithm

from control_plane.app import create_app
from tests.helpers import bearer, error_code, signup, with_settings
from tests.live import JWKSServer, serve_app

CLERK_ISSUER = "https://clerk.adsbin.example"
FRONTEND = "https://app.adsbin.example"


def test_our_tokens_verify_from_outside_with_pyjwt(app):
    with serve_app(app) as base, TestClient(app) as client:
        account = signup(client)
        jwks_client = jwt.PyJWKClient(f"{base}/.well-known/jwks.json")
        key = jwks_client.get_signing_key_from_jwt(account.token)
        claims = jwt.decode(account.token, key.key, algorithms=["RS256"],
                            issuer="http://testserver")
    assert claims["sub"] == account.user_id and claims["org_id"] == account.org_id


class ClerkKey:
    """An RSA key of the pretend Clerk instance."""

    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> dict:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}

    def token(self, **claims) -> str:
        now = int(time.time())
        body = {"iss": CLERK_ISSUER, "sub": "user_2clerk", "iat": now, "nbf": now,
                "exp": now + 60, "azp": FRONTEND, "sid": "sess_1"}
        body.update(claims)
        return jwt.encode(body, self.private, algorithm="RS256", headers={"kid": self.kid})


@pytest.fixture(scope="module")
def clerk_keys():
    return ClerkKey("ins_key_1"), ClerkKey("ins_key_2")


@pytest.fixture
def clerk(settings, clerk_keys):
    """A JWKS server for the pretend Clerk, and a factory of apps that trust it."""
    with JWKSServer() as server:
        server.jwks = {"keys": [clerk_keys[0].jwk()]}

        def make_client(cooldown_s: float = 30.0) -> TestClient:
            s = with_settings(settings, **{
                "clerk_issuer": CLERK_ISSUER, "clerk_jwks_url": server.url,
                "jwks_refetch_cooldown_s": cooldown_s,
                "authorized_parties": [FRONTEND, "http://testserver"]})
            return TestClient(create_app(s))

        yield server, make_client


def test_clerk_v2_token_is_accepted_and_provisions_just_in_time(clerk, clerk_keys):
    server, make_client = clerk
    token = clerk_keys[0].token(v=2, o={"id": "org_2acme", "rol": "admin", "slg": "acme"})
    with make_client() as client:
        r = client.get("/v1/me", headers=bearer(token))
        assert r.status_code == 200, r.text
        me = r.json()
        assert me["role"] == "admin"
        assert [m["org"]["name"] for m in me["memberships"]] == ["acme"]
        # the same user and org again: no duplicate rows
        assert client.get("/v1/me", headers=bearer(token)).json()["user"]["id"] == \
            me["user"]["id"]
    assert server.fetches == 1


def test_clerk_v1_claims_are_understood(clerk, clerk_keys):
    _, make_client = clerk
    token = clerk_keys[0].token(org_id="org_2shop", org_role="org:technician",
                                org_slug="shop")
    with make_client() as client:
        me = client.get("/v1/me", headers=bearer(token)).json()
    assert me["role"] == "technician"


def test_clerk_token_for_another_party_is_refused(clerk, clerk_keys):
    _, make_client = clerk
    with make_client() as client:
        r = client.get("/v1/me", headers=bearer(clerk_keys[0].token(azp="https://evil.example")))
    assert r.status_code == 401 and error_code(r) == "invalid_token"


def test_clerk_token_signed_by_an_unpublished_key_is_refused(clerk, clerk_keys):
    _, make_client = clerk
    forged = jwt.encode({"iss": CLERK_ISSUER, "sub": "user_x", "iat": int(time.time()),
                         "exp": int(time.time()) + 60},
                        clerk_keys[1].private, algorithm="RS256",
                        headers={"kid": clerk_keys[0].kid})
    with make_client() as client:
        assert client.get("/v1/me", headers=bearer(forged)).status_code == 401


def test_clerk_key_cannot_sign_for_our_issuer(clerk, clerk_keys):
    _, make_client = clerk
    token = clerk_keys[0].token(iss="http://testserver")
    with make_client() as client:
        assert client.get("/v1/me", headers=bearer(token)).status_code == 401


def test_unknown_kid_waits_for_the_refetch_cooldown(clerk, clerk_keys):
    server, make_client = clerk
    with make_client(cooldown_s=30) as client:
        assert client.get("/v1/me", headers=bearer(clerk_keys[0].token())).status_code == 200
        server.jwks = {"keys": [clerk_keys[0].jwk(), clerk_keys[1].jwk()]}  # Clerk rotates
        for _ in range(5):  # a flood of unknown kids costs Clerk nothing
            r = client.get("/v1/me", headers=bearer(clerk_keys[1].token()))
            assert r.status_code == 401
        assert server.fetches == 1


def test_rotated_clerk_key_is_fetched_once_cooldown_allows(clerk, clerk_keys):
    server, make_client = clerk
    with make_client(cooldown_s=0) as client:
        assert client.get("/v1/me", headers=bearer(clerk_keys[0].token())).status_code == 200
        server.jwks = {"keys": [clerk_keys[0].jwk(), clerk_keys[1].jwk()]}
        assert client.get("/v1/me", headers=bearer(clerk_keys[1].token())).status_code == 200
        assert client.get("/v1/me", headers=bearer(clerk_keys[1].token())).status_code == 200
    assert server.fetches == 2


def test_unreachable_clerk_jwks_is_503_not_500(settings, clerk_keys):
    s = with_settings(settings, **{"clerk_issuer": CLERK_ISSUER,
                                    "clerk_jwks_url": "http://127.0.0.1:9/jwks.json"})
    with TestClient(create_app(s)) as client:
        r = client.get("/v1/me", headers=bearer(clerk_keys[0].token()))
    assert r.status_code == 503 and error_code(r) == "issuer_unavailable"
