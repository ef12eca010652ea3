"""The tenancy matrix: role × resource × action, over HTTP, with other tenants answering 404.

Later domains add their rows to `MATRIX`; each row runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from control_plane.auth.policy import (
    API_KEY_READABLE,
    POLICY,
    Action,
    Principal,
    Resource,
    allowed,
    authorize,
)
from control_plane.errors import Forbidden, NotFound
from control_plane.orgs import service as orgs_service
from tests.helpers import PASSWORD, bearer, login, signup


@dataclass
class World:
    tokens: dict[str, str]
    org_a: str
    org_b: str
    key_a_id: str


@pytest.fixture
def world(client, app) -> World:
    """Org A (venue) with an admin, a member and a technician; org B (advertiser); a super-admin;
    an API key of org A."""
    a = signup(client, "venue")
    b = signup(client, "advertiser")
    tokens = {"a_admin": a.token, "b_admin": b.token}
    for role in ("member", "technician"):
        r = client.post(f"/v1/orgs/{a.org_id}/members", headers=a.headers,
                        json={"email": f"{role}@a.example.com", "role": role})
        r = client.post("/v1/auth/invitations/accept",
                        json={"token": r.json()["invite_token"], "password": PASSWORD})
        tokens[f"a_{role}"] = r.json()["access_token"]
    with app.state.sessionmaker() as session:
        orgs_service.ensure_superuser(session=session, email="root@example.com",
                                      password=PASSWORD)
    tokens["super"] = login(client, "root@example.com")
    r = client.post("/v1/api-keys", headers=a.headers, json={"name": "warehouse"})
    tokens["a_apikey"] = r.json()["key"]
    target = client.post("/v1/api-keys", headers=a.headers, json={"name": "to revoke"})
    return World(tokens, a.org_id, b.org_id, target.json()["id"])


ACTORS = ("a_admin", "a_member", "a_technician", "b_admin", "super", "a_apikey")

# (method, path template, json body or None, expected status per actor in ACTORS order)
MATRIX = [
    ("GET", "/v1/orgs/{a}", None, (200, 200, 200, 404, 200, 403)),
    ("GET", "/v1/orgs/{a}/members", None, (200, 200, 200, 404, 200, 403)),
    ("POST", "/v1/orgs/{a}/members", {"email": "new-{actor}@x.example.com", "role": "member"},
     (201, 403, 403, 404, 201, 403)),
    ("GET", "/v1/api-keys", None, (200, 403, 403, 200, 200, 403)),
    # a super-admin's key belongs to the platform org (platform-wide analytics)
    ("POST", "/v1/api-keys", {"name": "k"}, (201, 403, 403, 201, 201, 403)),
    ("DELETE", "/v1/api-keys/{key_a}", None, (200, 403, 403, 404, 200, 403)),
    ("GET", "/v1/me", None, (200, 200, 200, 200, 200, 403)),
    ("GET", "/v1/venues", None, (200, 200, 200, 403, 200, 403)),
    ("POST", "/v1/venues", {"name": "V {actor}", "lat": 1.0, "lon": 2.0, "timezone": "UTC",
                            "venue_type_id": 1}, (201, 201, 403, 403, 201, 403)),
    ("GET", "/v1/media", None, (200, 200, 403, 200, 200, 403)),
    ("GET", "/v1/campaigns", None, (403, 403, 403, 200, 200, 200)),
    ("POST", "/v1/campaigns", {"name": "c", "category": "1002", "budget_cents": 1,
                               "cpm_cents": 1, "currency": "EUR",
                               "start_at": "2030-01-01T00:00:00Z",
                               "end_at": "2030-02-01T00:00:00Z"}, (403, 403, 403, 201, 201, 403)),
    # reports: people of advertiser and venue orgs (not technicians), keys, the platform;
    # the raw export: API keys and super-admins; its batches: also the screen's venue org
    # (everyone else finds none)
    ("GET", "/v1/reports/delivery", None, (200, 200, 403, 200, 200, 200)),
    ("GET", "/v1/pop", None, (403, 403, 403, 403, 200, 200)),
    ("GET", "/v1/pop/batches/unknown", None, (404, 404, 403, 404, 404, 404)),
]


@pytest.mark.parametrize(("method", "template", "body", "expected"), MATRIX,
                         ids=[f"{m} {t}" for m, t, _, _ in MATRIX])
def test_access_matrix(client, world, method, template, body, expected):
    for actor, want in zip(ACTORS, expected, strict=True):
        path = template.format(a=world.org_a, b=world.org_b, key_a=world.key_a_id)
        json_body = None if body is None else {
            k: v.format(actor=actor) if isinstance(v, str) else v for k, v in body.items()}
        r = client.request(method, path, json=json_body, headers=bearer(world.tokens[actor]))
        assert r.status_code == want, f"{actor} {method} {path}: {r.status_code} {r.text}"
        if want >= 400:
            assert set(r.json()["error"]) == {"code", "message", "details"}


def test_api_key_reads_nothing_of_another_org(client, world):
    r = client.get(f"/v1/orgs/{world.org_b}", headers=bearer(world.tokens["a_apikey"]))
    assert r.status_code == 404


def test_revoked_api_key_is_refused(client, world):
    admin = bearer(world.tokens["a_admin"])
    r = client.post("/v1/api-keys", headers=admin, json={"name": "temp"})
    key, key_id = r.json()["key"], r.json()["id"]
    listed = client.get("/v1/api-keys", headers=admin).json()["items"]
    assert key_id in [k["id"] for k in listed]
    assert all("key" not in k and "key_hash" not in k for k in listed)
    assert client.delete(f"/v1/api-keys/{key_id}", headers=admin).json()["revoked_at"]
    r = client.get("/v1/orgs/" + world.org_a, headers=bearer(key))
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert client.get("/v1/me", headers=bearer(key[:-3] + "xyz")).status_code == 401


# -- the table itself: invariants every later row must keep --------------------------------

def test_api_keys_never_write():
    key = Principal(kind="api_key", user_id=None, org_id="org_a", org_kind="venue", role=None,
                    scopes=frozenset({"read"}))
    for resource in Resource:
        for action in Action:
            assert allowed(key, resource, action) == (
                action is Action.read and resource in API_KEY_READABLE), (resource, action)


def test_only_the_right_org_kinds_hold_each_resource():
    kinds = {(kind, resource) for kind, resource in POLICY}
    assert not {k for k in kinds if k[1] in (Resource.venue, Resource.screen,
                                             Resource.moderation, Resource.payout)
                and k[0] != "venue"}
    assert not {k for k in kinds if k[1] in (Resource.campaign, Resource.invoice)
                and k[0] != "advertiser"}


def test_admin_can_do_whatever_a_member_can():
    for roles in POLICY.values():
        assert roles.get("member", frozenset()) <= roles.get("admin", frozenset())


def test_other_tenant_is_not_found_even_for_admins():
    admin = Principal(kind="user", user_id="u", org_id="org_a", org_kind="venue", role="admin")
    with pytest.raises(NotFound):
        authorize(admin, Resource.venue, Action.read, owner_org_id="org_b")
    member = Principal(kind="user", user_id="u", org_id="org_a", org_kind="venue",
                       role="technician")
    with pytest.raises(Forbidden):
        authorize(member, Resource.venue, Action.delete, owner_org_id="org_a")
    authorize(member, Resource.screen, Action.manage, owner_org_id="org_a")
