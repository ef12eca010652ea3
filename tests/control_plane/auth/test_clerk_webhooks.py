"""Clerk's Svix-signed webhooks upsert users, orgs and memberships; bad signatures write nothing."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from svix.webhooks import Webhook

from control_plane.app import create_app
from control_plane.orgs import service as orgs_service
from tests.helpers import error_code, with_settings

SECRET = "whsec_" + base64.b64encode(b"adsbin-test-webhook-secret-32byt").decode()


@pytest.fixture
def hook_client(settings):
    s = with_settings(settings, **{"clerk_webhook_secret": SECRET})
    app = create_app(s)
    with TestClient(app) as client:
        yield client, app


def send(client, event: dict, *, secret: str = SECRET, when: datetime | None = None,
         msg_id: str | None = None, tamper: bool = False):
    msg_id = msg_id or f"msg_{secrets.token_hex(8)}"
    when = when or datetime.now(UTC)
    body = json.dumps(event)
    signature = Webhook(secret).sign(msg_id, when, body)
    if tamper:
        body = body.replace("Acme", "Evil")
    return client.post("/v1/webhooks/clerk", content=body.encode(), headers={
        "svix-id": msg_id, "svix-timestamp": str(int(when.timestamp())),
        "svix-signature": signature, "content-type": "application/json"})


USER = {"type": "user.created", "data": {
    "id": "user_2abc", "first_name": "Ada", "last_name": "Lovelace",
    "primary_email_address_id": "idn_1",
    "email_addresses": [{"id": "idn_0", "email_address": "old@example.com"},
                        {"id": "idn_1", "email_address": "Ada@Example.com"}]}}
ORG = {"type": "organization.created", "data": {
    "id": "org_2acme", "name": "Acme Gyms", "slug": "acme", "public_metadata": {"kind": "venue"}}}
MEMBERSHIP = {"type": "organizationMembership.created", "data": {
    "id": "orgmem_1", "role": "org:admin",
    "organization": {"id": "org_2acme", "name": "Acme Gyms"},
    "public_user_data": {"user_id": "user_2abc", "identifier": "ada@example.com"}}}


def test_signed_events_upsert_user_org_and_membership(hook_client):
    client, app = hook_client
    for event in (USER, ORG, MEMBERSHIP):
        r = send(client, event)
        assert r.status_code == 200 and r.json()["handled"], r.text
    with app.state.sessionmaker() as session:
        user = orgs_service.get_user_by_external_id(session=session, external_id="user_2abc")
        org = orgs_service.get_org_by_external_id(session=session, external_id="org_2acme")
        assert user.email == "ada@example.com" and user.name == "Ada Lovelace"
        assert org.name == "Acme Gyms" and org.kind == "venue"
        assert orgs_service.get_membership(session=session, org_id=org.id,
                                           user_id=user.id).role == "admin"

    send(client, {"type": "organizationMembership.updated",
                  "data": {**MEMBERSHIP["data"], "role": "org:member"}})
    send(client, {"type": "organization.updated", "data": {**ORG["data"], "name": "Acme Fitness"}})
    with app.state.sessionmaker() as session:
        org = orgs_service.get_org_by_external_id(session=session, external_id="org_2acme")
        assert org.name == "Acme Fitness"
        members = orgs_service.list_members(session=session, org_id=org.id)
        assert [(m.user.external_id, m.role) for m in members] == [("user_2abc", "member")]

    send(client, {"type": "user.deleted", "data": {"id": "user_2abc", "deleted": True}})
    with app.state.sessionmaker() as session:
        user = orgs_service.get_user_by_external_id(session=session, external_id="user_2abc")
        assert user.status == "disabled"
        assert orgs_service.memberships_of(session=session, user_id=user.id) == []


def test_redelivery_is_a_duplicate_and_changes_nothing(hook_client):
    client, app = hook_client
    assert send(client, ORG, msg_id="msg_same").json()["duplicate"] is False
    assert send(client, ORG, msg_id="msg_same").json()["duplicate"] is True
    with app.state.sessionmaker() as session:
        assert len([o for o in orgs_service.list_orgs(session=session)
                    if o.external_id == "org_2acme"]) == 1


@pytest.mark.parametrize("how", ["tampered", "wrong_secret", "stale", "future", "unsigned"])
def test_bad_signatures_are_refused_and_write_nothing(hook_client, how):
    client, app = hook_client
    now = datetime.now(UTC)
    if how == "tampered":
        r = send(client, ORG, tamper=True)
    elif how == "wrong_secret":
        r = send(client, ORG, secret="whsec_" + base64.b64encode(b"x" * 32).decode())
    elif how == "stale":
        r = send(client, ORG, when=now - timedelta(minutes=10))
    elif how == "future":
        r = send(client, ORG, when=now + timedelta(minutes=10))
    else:
        r = client.post("/v1/webhooks/clerk", json=ORG)
    assert r.status_code in (400, 401) and error_code(r) == "invalid_signature"
    with app.state.sessionmaker() as session:
        assert orgs_service.get_org_by_external_id(session=session,
                                                   external_id="org_2acme") is None


def test_signed_but_malformed_events_are_422(hook_client):
    client, _ = hook_client
    r = send(client, {"type": "organizationMembership.created", "data": {"role": "org:admin"}})
    assert r.status_code == 422 and error_code(r) == "malformed_event"
    r = send(client, {"no": "type"})
    assert r.status_code == 422


def test_unhandled_event_types_are_acknowledged(hook_client):
    client, _ = hook_client
    r = send(client, {"type": "session.created", "data": {"id": "sess_1"}})
    assert r.status_code == 200 and r.json()["handled"] is False


def test_without_a_secret_the_endpoint_says_so(client):
    r = client.post("/v1/webhooks/clerk", json=ORG)
    assert r.status_code == 404 and error_code(r) == "webhook_not_configured"
