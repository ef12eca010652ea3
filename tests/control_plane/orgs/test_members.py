"""Organisations and their members: adding, inviting, roles, and the last admin."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from control_plane.db import utcnow
from control_plane.orgs.models import Invitation
from tests.helpers import PASSWORD, bearer, error_code, login, signup


def _invite(client, admin, email, role="member", **extra):
    r = client.post(f"/v1/orgs/{admin.org_id}/members", headers=admin.headers,
                    json={"email": email, "role": role, **extra})
    assert r.status_code == 201, r.text
    return r.json()


def test_an_existing_user_joins_only_by_accepting_and_can_switch_org(client):
    venue = signup(client, "venue")
    other = signup(client, "advertiser")
    invite = _invite(client, venue, other.email, "technician")
    assert invite["invited"] is True and invite["status"] == "pending"
    assert invite["email"] == other.email and invite["role"] == "technician"
    # not a member until they say yes
    listed = client.get(f"/v1/orgs/{venue.org_id}/members", headers=venue.headers).json()
    assert [m["user"]["id"] for m in listed["items"]] == [venue.user_id]
    r = client.post("/v1/auth/token", json={"email": other.email, "password": PASSWORD,
                                            "org_id": venue.org_id})
    assert r.status_code == 404
    # an account accepts with its own password, not a new one
    r = client.post("/v1/auth/invitations/accept",
                    json={"token": invite["invite_token"], "password": "not my password"})
    assert r.status_code == 401 and error_code(r) == "invalid_credentials"
    r = client.post("/v1/auth/invitations/accept",
                    json={"token": invite["invite_token"], "password": PASSWORD})
    assert r.status_code == 200, r.text
    me = client.get("/v1/me", headers=bearer(r.json()["access_token"])).json()
    assert me["org_id"] == venue.org_id and me["role"] == "technician"
    token = login(client, other.email, org_id=venue.org_id)
    me = client.get("/v1/me", headers=bearer(token)).json()
    assert {m["org"]["id"] for m in me["memberships"]} == {venue.org_id, other.org_id}
    listed = client.get(f"/v1/orgs/{venue.org_id}/members", headers=venue.headers).json()
    assert sorted(m["role"] for m in listed["items"]) == ["admin", "technician"]
    assert client.get(f"/v1/orgs/{venue.org_id}/invitations",
                      headers=venue.headers).json()["items"] == []


def test_inviting_answers_alike_whether_or_not_the_address_has_an_account(client):
    venue = signup(client, "venue")
    known = signup(client, "advertiser")
    answers = [_invite(client, venue, email) for email in (known.email, "nobody@example.com")]
    varying = {"id", "email", "invite_token", "expires_at", "created_at"}
    assert [{k: v for k, v in a.items() if k not in varying} for a in answers] == \
        [{"org_id": venue.org_id, "role": "member", "status": "pending", "invited": True}] * 2
    assert all(set(a) == set(answers[0]) for a in answers)


def test_invitation_sets_a_password_once(client):
    venue = signup(client, "venue")
    body = _invite(client, venue, "new.hire@example.com", name="New Hire")
    invite = body["invite_token"]
    # no password yet: cannot sign in
    assert client.post("/v1/auth/token", json={"email": "new.hire@example.com",
                                               "password": PASSWORD}).status_code == 401
    r = client.post("/v1/auth/invitations/accept", json={"token": invite, "password": PASSWORD})
    assert r.status_code == 200
    me = client.get("/v1/me", headers=bearer(r.json()["access_token"])).json()
    assert me["org_id"] == venue.org_id and me["role"] == "member"
    assert me["user"]["name"] == "New Hire" and me["user"]["status"] == "active"
    # the invitation came to the address: it is confirmed
    assert me["user"]["email_verified_at"] is not None
    assert login(client, "new.hire@example.com")
    r = client.post("/v1/auth/invitations/accept", json={"token": invite, "password": PASSWORD})
    assert r.status_code == 422 and error_code(r) == "invalid_invitation"


def test_expired_invitation_is_refused(client, app):
    venue = signup(client, "venue")
    invite = _invite(client, venue, "late@example.com")["invite_token"]
    with app.state.sessionmaker() as session:
        session.execute(update(Invitation).values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    r = client.post("/v1/auth/invitations/accept", json={"token": invite, "password": PASSWORD})
    assert r.status_code == 422 and error_code(r) == "invitation_expired"


def test_inviting_again_replaces_the_pending_invitation_and_a_member_twice_is_409(client):
    venue = signup(client, "venue")
    first = _invite(client, venue, "twice@example.com")
    second = _invite(client, venue, "twice@example.com", "admin")
    pending = client.get(f"/v1/orgs/{venue.org_id}/invitations", headers=venue.headers).json()
    assert [(i["id"], i["role"]) for i in pending["items"]] == [(second["id"], "admin")]
    r = client.post("/v1/auth/invitations/accept",
                    json={"token": first["invite_token"], "password": PASSWORD})
    assert r.status_code == 422 and error_code(r) == "invalid_invitation"
    r = client.post("/v1/auth/invitations/accept",
                    json={"token": second["invite_token"], "password": PASSWORD})
    assert r.status_code == 200
    r = client.post(f"/v1/orgs/{venue.org_id}/members", headers=venue.headers,
                    json={"email": "twice@example.com"})
    assert r.status_code == 409 and error_code(r) == "already_member"


def test_a_withdrawn_invitation_stops_working(client):
    venue = signup(client, "venue")
    other = signup(client, "venue")
    invite = _invite(client, venue, "maybe@example.com")
    path = f"/v1/orgs/{venue.org_id}/invitations/{invite['id']}"
    # another org cannot see or withdraw it
    r = client.delete(f"/v1/orgs/{other.org_id}/invitations/{invite['id']}",
                      headers=other.headers)
    assert r.status_code == 404 and error_code(r) == "invitation_not_found"
    assert client.get(f"/v1/orgs/{venue.org_id}/invitations",
                      headers=other.headers).status_code == 404
    assert client.delete(path, headers=venue.headers).status_code == 204
    assert client.delete(path, headers=venue.headers).status_code == 404
    r = client.post("/v1/auth/invitations/accept",
                    json={"token": invite["invite_token"], "password": PASSWORD})
    assert r.status_code == 422 and error_code(r) == "invalid_invitation"


def test_invitations_are_rate_limited_per_org(client, app):
    venue = signup(client, "venue")
    app.state.invitation_limiter.limit = 2
    for n in range(2):
        _invite(client, venue, f"n{n}@example.com")
    r = client.post(f"/v1/orgs/{venue.org_id}/members", headers=venue.headers,
                    json={"email": "n3@example.com"})
    assert r.status_code == 429 and error_code(r) == "rate_limited"
    assert int(r.headers["Retry-After"]) >= 1


def test_the_last_admin_stays(client):
    venue = signup(client, "venue")
    r = client.patch(f"/v1/orgs/{venue.org_id}/members/{venue.user_id}", headers=venue.headers,
                     json={"role": "member"})
    assert r.status_code == 409 and error_code(r) == "last_admin"
    r = client.delete(f"/v1/orgs/{venue.org_id}/members/{venue.user_id}", headers=venue.headers)
    assert r.status_code == 409
    # with a second admin, the first may step down
    second = signup(client, "advertiser")
    r = client.post("/v1/auth/invitations/accept", json={
        "token": _invite(client, venue, second.email, "admin")["invite_token"],
        "password": PASSWORD})
    assert r.status_code == 200
    r = client.patch(f"/v1/orgs/{venue.org_id}/members/{venue.user_id}", headers=venue.headers,
                     json={"role": "member"})
    assert r.status_code == 200 and r.json()["role"] == "member"
    # and the change applies to the token already issued
    r = client.post(f"/v1/orgs/{venue.org_id}/members", headers=venue.headers,
                    json={"email": "x@example.com"})
    assert r.status_code == 403


def test_unknown_member_is_404(client):
    venue = signup(client, "venue")
    r = client.delete(f"/v1/orgs/{venue.org_id}/members/usr_nobody", headers=venue.headers)
    assert r.status_code == 404 and error_code(r) == "member_not_found"


def test_orgs_list_shows_only_mine(client):
    a = signup(client, "venue")
    signup(client, "advertiser")
    orgs = client.get("/v1/orgs", headers=a.headers).json()["items"]
    assert [o["id"] for o in orgs] == [a.org_id]


def test_cross_org_reads_are_404_not_403(client):
    a = signup(client, "venue")
    b = signup(client, "venue")
    for suffix in ("", "/members"):
        theirs = client.get(f"/v1/orgs/{b.org_id}{suffix}", headers=a.headers)
        nobodys = client.get(f"/v1/orgs/org_does_not_exist{suffix}", headers=a.headers)
        assert theirs.status_code == nobodys.status_code == 404
        assert theirs.json() == nobodys.json()
        assert error_code(theirs) == "org_not_found"
