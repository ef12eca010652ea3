"""Explain and preview over the API: a screen's timeline with reasons, and where a campaign may
play (blocked categories and geo named in plain words)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from control_plane.campaigns.models import Campaign, Creative
from control_plane.media.models import Media
from control_plane.orgs import service as orgs_service
from tests.helpers import PASSWORD, bearer, login, signup

ALWAYS = {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def test_timeline_and_eligibility(client, app):
    owner = signup(client, "venue")
    pub = client.post("/v1/venues", headers=owner.headers, json={
        "name": "The Anchor", "lat": 48.85, "lon": 2.35, "timezone": "Europe/Paris",
        "venue_type_id": 1, "opening_hours": ALWAYS, "blocked_categories": ["1002"]}).json()
    gym = client.post("/v1/venues", headers=owner.headers, json={
        "name": "Gym", "lat": 48.86, "lon": 2.34, "timezone": "Europe/Paris",
        "venue_type_id": 1, "opening_hours": ALWAYS}).json()
    far = client.post("/v1/venues", headers=owner.headers, json={
        "name": "Far away", "lat": 43.3, "lon": 5.4, "timezone": "Europe/Paris",
        "venue_type_id": 1, "opening_hours": ALWAYS}).json()
    screens = {v["name"]: client.post(f"/v1/venues/{v['id']}/screens", headers=owner.headers,
                                      json={"name": "s", "width_px": 1920, "height_px": 1080}
                                      ).json() for v in (pub, gym, far)}
    advertiser = signup(client, "advertiser")
    now = datetime.now(UTC)
    with app.state.sessionmaker() as session:  # an approved campaign with a ready creative
        media = Media(org_id=advertiser.org_id, sha256="e" * 64, kind="image", mime="image/png",
                      size_bytes=1, original_key="media/x/original", status="ready", info={})
        session.add(media)
        session.flush()
        campaign = Campaign(org_id=advertiser.org_id, name="Craft beer", category="1003",
                            start_at=now - timedelta(hours=1), end_at=now + timedelta(days=3),
                            dayparts=[], budget_cents=100_000, cpm_cents=500, currency="EUR",
                            pacing="asap", status="approved",
                            targeting={"geo": {"lat": 48.85, "lon": 2.35, "radius_km": 20}})
        campaign.creatives.append(Creative(media_id=media.id, duration_s=10, status="approved"))
        session.add(campaign)
        session.commit()
        campaign_id = campaign.id
        orgs_service.ensure_superuser(session=session, email="root@example.com",
                                      password=PASSWORD)

    admin = bearer(login(client, "root@example.com"))
    r = client.get(f"/v1/campaigns/{campaign_id}/eligibility", headers=admin)
    assert r.status_code == 200
    verdicts = {s["venue_name"]: s for s in r.json()["screens"]}
    assert verdicts["Gym"]["eligible"] is True
    assert not verdicts["The Anchor"]["eligible"]
    assert any("Alcohol" in reason for reason in verdicts["The Anchor"]["reasons"])
    assert any("radius" in reason for reason in verdicts["Far away"]["reasons"])

    r = client.get(f"/v1/screens/{screens['Gym']['id']}/timeline", headers=owner.headers)
    assert r.status_code == 200
    windows = r.json()["windows"]
    assert windows and all(sum(i["slots"] for i in w["loop"]) == 6 for w in windows)
    assert any(i["campaign_id"] == campaign_id for w in windows for i in w["loop"])
    assert all(w["explain"] for w in windows)
    pub_timeline = client.get(f"/v1/screens/{screens['The Anchor']['id']}/timeline",
                              headers=owner.headers).json()
    assert not any(i["campaign_id"] == campaign_id for w in pub_timeline["windows"]
                   for i in w["loop"])
    assert any("Alcohol" in reason for reason in pub_timeline["exclusions"][campaign_id])

    # tenancy: another venue org sees neither; the advertiser cannot read the venue's timeline
    stranger = signup(client, "venue")
    assert client.get(f"/v1/screens/{screens['Gym']['id']}/timeline",
                      headers=stranger.headers).status_code == 404
    assert client.get(f"/v1/campaigns/{campaign_id}/eligibility",
                      headers=signup(client, "advertiser").headers).status_code == 404
    r = client.get(f"/v1/screens/{screens['Gym']['id']}/timeline?from=2020-01-01T00:00:00",
                   headers=admin)
    assert r.status_code == 422


def test_forecast_for_a_draft(client):
    owner = signup(client, "venue")
    for name, blocked in (("Gym", []), ("Pub", ["1002"])):
        venue = client.post("/v1/venues", headers=owner.headers, json={
            "name": name, "lat": 48.85, "lon": 2.35, "timezone": "Europe/Paris",
            "venue_type_id": 1, "opening_hours": ALWAYS, "blocked_categories": blocked}).json()
        client.post(f"/v1/venues/{venue['id']}/screens", headers=owner.headers,
                    json={"name": "s", "width_px": 1920, "height_px": 1080,
                          "audience_multiplier": 2.0})
    advertiser = signup(client, "advertiser")
    now = datetime.now(UTC)
    body = {"name": "Draft", "category": "1003", "start_at": (now - timedelta(hours=1))
            .isoformat(), "end_at": (now + timedelta(days=10)).isoformat(),
            "budget_cents": 5_000, "cpm_cents": 1_000, "currency": "EUR", "pacing": "asap"}
    r = client.post("/v1/campaigns/forecast", headers=advertiser.headers, json=body)
    assert r.status_code == 200, r.text
    forecast = r.json()
    assert forecast["eligible_screens"] == 1  # the pub blocks alcohol
    assert forecast["available_impressions"] >= forecast["planned_impressions"] > 0
    # asap within a 5,000-cent budget at 10.00 per mille buys at most 5,000 impressions
    assert forecast["planned_impressions"] <= 5_000
    assert forecast["expected_spend_cents"] <= 5_000
    assert forecast["planned_impressions"] == forecast["planned_plays"] * 2.0
    r = client.post("/v1/campaigns/forecast", headers=advertiser.headers,
                    json={**body, "category": "nope"})
    assert r.status_code == 422
    assert client.post("/v1/campaigns/forecast", headers=owner.headers,
                       json=body).status_code == 403
