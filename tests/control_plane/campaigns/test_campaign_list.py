"""Listing campaigns by the state people see on them: `?state=`, the field's own name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from control_plane.campaigns.models import Campaign
from control_plane.orgs import service as orgs_service
from tests.helpers import PASSWORD, bearer, error_code, login, signup

NOW = datetime.now(UTC)
FLIGHTS = {  # stored status, flight → the state it reads as
    "draft": ("draft", NOW, NOW + timedelta(days=1)),
    "pending_review": ("pending_review", NOW, NOW + timedelta(days=1)),
    "rejected": ("rejected", NOW, NOW + timedelta(days=1)),
    "paused": ("paused", NOW - timedelta(days=1), NOW + timedelta(days=1)),
    "approved": ("approved", NOW + timedelta(days=2), NOW + timedelta(days=3)),
    "active": ("approved", NOW - timedelta(days=1), NOW + timedelta(days=1)),
    "completed": ("approved", NOW - timedelta(days=3), NOW - timedelta(days=2)),
}


def _campaigns(app, org_id: str) -> dict[str, str]:
    ids = {}
    with app.state.sessionmaker() as session:
        for state, (stored, start, end) in FLIGHTS.items():
            row = Campaign(org_id=org_id, name=state, category="1003", start_at=start,
                           end_at=end, dayparts=[], targeting={}, budget_cents=1000,
                           cpm_cents=500, currency="EUR", pacing="even", status=stored)
            session.add(row)
            session.flush()
            ids[state] = row.id
        session.commit()
    return ids


def test_state_filters_by_the_state_people_see(client, app):
    advertiser = signup(client, "advertiser")
    ids = _campaigns(app, advertiser.org_id)
    theirs = _campaigns(app, signup(client, "advertiser").org_id)
    for state, campaign_id in ids.items():
        r = client.get("/v1/campaigns", headers=advertiser.headers, params={"state": state})
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        assert [(c["id"], c["state"]) for c in items] == [(campaign_id, state)], state
    assert len(client.get("/v1/campaigns", headers=advertiser.headers).json()["items"]) == 7

    with app.state.sessionmaker() as session:
        orgs_service.ensure_superuser(session=session, email="root@example.com",
                                      password=PASSWORD)
    admin = bearer(login(client, "root@example.com"))
    review = client.get("/v1/campaigns?state=pending_review", headers=admin).json()["items"]
    assert {c["id"] for c in review} == {ids["pending_review"], theirs["pending_review"]}


def test_the_old_and_unknown_filters_are_refused_not_ignored(client):
    advertiser = signup(client, "advertiser")
    r = client.get("/v1/campaigns?status=pending_review", headers=advertiser.headers)
    assert r.status_code == 422 and error_code(r) == "unknown_parameter"
    assert r.json()["error"]["details"]["parameters"] == ["status"]
    assert "`state`" in r.json()["error"]["message"]
    r = client.get("/v1/campaigns?state=live", headers=advertiser.headers)
    assert r.status_code == 422 and error_code(r) == "validation_error"
