"""Organisations and their members: adding, inviting, roles, and the last admin."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from control_plane.db import utcnow
from control_plane.orgs.models import Invitation
from tests.helpers import PASSWORD, bearer, error_code, login, signup


def test_existing_user_joins_at_once_and_can_switch_org(client):
    venue = signup(client, "venue")
    other = signup(client, "advertiser")
    r = client.post(f"/v1/orgs/{venue.org_id}/members", headers=venue.headers,
                    json={"email": other.email, "role": "technician"})
    assert r.status_code == 201 and r.json()["invited"] is False
    assert r.json()["invite_token"] is None
    token = login(client, other.email, org_id=venue.org_id)
    me = client.get("/v1/me", headers=bearer(token)).json()
    assert me["org_id"] == venue.org_id and me["role"] == "technician"
    assert {m["org"]["id"] for m in me["memberships"]} == {venue.org_id, other.org_id}
    listed = client.get(f"/v1/orgs/{venue.org_id}/members", headers=venue.headers).json()
    assert sorted(m["role"] for m in listed["items"]) == ["admin", "technician"]


def test_invitation_sets_a_password_once(client):
    venue = signup(client, "venue")
    r = client.post(f"/v1/orgs/{venue.org_id}/members", headers=venue.headers,
                    json={"email": "new.hire@example.com", "role": "member", "name": "New Hire"})
    body = r.json()
    assert body["invited"] is True and body["user"]["status"] == "invited"
    invite = body["invite_token"]
    # no password yet: cannot sign in
    assert client.post("/v1/auth/token", json={"email": "new.hire@example.com",
                                               "password": PASSWORD}).status_code == 401
    r = client.post("/v1/auth/invitations/accept", json={"token": invite, "password": PASSWORD})
    assert r.status_code == 200
    assert login(client, "new.hire@example.com")
    r = client.post("/v1/auth/invitations/accept", json={"token": invite, "password": PASSWORD})
    assert r.status_code == 422 and error_code(r) == "invalid_invitation"


def test_expired_invitation_is_refused(client, app):
    venue = signup(client, "venue")
    invite = client.post(f"/v1/orgs/{venue.org_id}/members", headers=venue.headers,
                         json={"email": "late@example.com"}).json()["invite_token"]
    with app.state.sessionmaker() as session:
        session.execute(update(Invitation).values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    r = client.post("/v1/auth/invitations/accept", json={"token": invite, "password": PASSWORD})
    assert r.status_code == 422 and error_code(r) == "invitation_expired"


def test_adding_a_member_twice_is_409(client):
    venue = signup(client, "venue")
    body = {"email": "twice@example.com", "role": "member"}
    assert client.post(f"/v1/orgs/{venue.org_id}/members", headers=venue.headers,
                       json=body).status_code == 201
    r = client.post(f"/v1/orgs/{venue.org_id}/members", headers=venue.headers, json=body)
    assert r.status_code == 409 and error_code(r) == "already_member"


def test_the_last_admin_stays(client):
    venue = signup(client, "venue")
    r = client.patch(f"/v1/orgs/{venue.org_id}/members/{venue.user_id}", headers=venue.headers,
                     json={"role": "member"})
    assert r.status_code == 409 and error_code(r) == "last_admin"
    r = client.delete(f"/v1/orgs/{venue.org_id}/members/{venue.user_id}", headers=venue.headers)
    assert r.status_code == 409
    # with a second admin, the first may step down
    second = signup(client, "advertiser")
    client.post(f"/v1/orgs/{venue.org_id}/members", headers=venue.headers,
                json={"email": second.email, "role": "admin"})
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
