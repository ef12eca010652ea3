"""Where a campaign may play, as an advertiser sees it: inventory by venue type and area, with
counts and reasons, never other tenants' ids or internal names; a super-admin sees every screen."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from control_plane.campaigns.models import Campaign, Creative
from control_plane.media.models import Media
from control_plane.orgs import service as orgs_service
from tests.helpers import PASSWORD, bearer, login, signup

ALWAYS = {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def _venue(client, owner, name, lat, lon, screens=1, **extra):
    venue = client.post("/v1/venues", headers=owner.headers, json={
        "name": name, "lat": lat, "lon": lon, "timezone": "Europe/Paris", "venue_type_id": 1,
        "opening_hours": ALWAYS, **extra}).json()
    ids = [client.post(f"/v1/venues/{venue['id']}/screens", headers=owner.headers,
                       json={"name": f"{name} screen {i}", "width_px": 1920, "height_px": 1080}
                       ).json()["id"] for i in range(screens)]
    return venue, ids


def _beer_campaign(app, org_id: str) -> str:
    now = datetime.now(UTC)
    with app.state.sessionmaker() as session:
        media = Media(org_id=org_id, sha256="f" * 64, kind="image", mime="image/png",
                      size_bytes=1, original_key="media/f/original", status="ready", info={})
        session.add(media)
        session.flush()
        campaign = Campaign(org_id=org_id, name="Craft beer", category="1003",
                            start_at=now - timedelta(hours=1), end_at=now + timedelta(days=3),
                            dayparts=[], budget_cents=100_000, cpm_cents=500, currency="EUR",
                            pacing="asap", status="approved",
                            targeting={"geo": {"lat": 48.85, "lon": 2.35, "radius_km": 20}})
        campaign.creatives.append(Creative(media_id=media.id, duration_s=10, status="approved"))
        session.add(campaign)
        session.commit()
        return campaign.id


def test_an_advertiser_sees_inventory_not_other_tenants(client, app):
    owner = signup(client, "venue")
    backroom, backroom_screens = _venue(client, owner, "Joe's backroom", 48.8534, 2.3488,
                                        screens=2)
    anchor, anchor_screens = _venue(client, owner, "Anchor (franchise 17)", 48.8611, 2.3422,
                                    public_name="The Anchor", blocked_categories=["1002"])
    far, far_screens = _venue(client, owner, "Marseille depot", 43.2965, 5.3698)
    assert anchor["public_name"] == "The Anchor" and backroom["public_name"] is None
    advertiser = signup(client, "advertiser")
    campaign_id = _beer_campaign(app, advertiser.org_id)

    r = client.get(f"/v1/campaigns/{campaign_id}/eligibility", headers=advertiser.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    text = json.dumps(body)
    for secret in [*backroom_screens, *anchor_screens, *far_screens, backroom["id"],
                   anchor["id"], far["id"], owner.org_id, "Joe's backroom", "franchise 17",
                   "Marseille depot", "venue org"]:
        assert secret not in text, secret
    assert body["screens"] is None
    assert (body["screens_total"], body["eligible_screens"]) == (4, 2)

    by_area = {(o["area"]["lat"], o["area"]["lon"], o["public_name"]): o
               for o in body["inventory"]}
    assert set(by_area) == {(48.9, 2.3, None), (48.9, 2.3, "The Anchor"), (43.3, 5.4, None)}
    backroom_offer = by_area[(48.9, 2.3, None)]
    assert (backroom_offer["venues"], backroom_offer["screens"],
            backroom_offer["eligible_screens"]) == (1, 2, 2)
    assert backroom_offer["venue_type_id"] == 1 and backroom_offer["venue_type"]
    assert backroom_offer["area"]["timezone"] == "Europe/Paris"
    anchor_offer = by_area[(48.9, 2.3, "The Anchor")]
    assert anchor_offer["eligible_screens"] == 0
    assert [x["screens"] for x in anchor_offer["reasons"]] == [1]
    assert "Alcohol" in anchor_offer["reasons"][0]["reason"]
    # the reason names the radius, not how far the venue is (which would locate it)
    assert by_area[(43.3, 5.4, None)]["reasons"] == [
        {"reason": "outside the geo radius of 20 km", "screens": 1}]

    # a super-admin sees every screen, with its venue and the exact distance
    with app.state.sessionmaker() as session:
        orgs_service.ensure_superuser(session=session, email="root@example.com",
                                      password=PASSWORD)
    admin = bearer(login(client, "root@example.com"))
    detail = client.get(f"/v1/campaigns/{campaign_id}/eligibility", headers=admin).json()
    screens = {s["screen_id"]: s for s in detail["screens"]}
    assert set(screens) == {*backroom_screens, *anchor_screens, *far_screens}
    assert screens[far_screens[0]]["venue_name"] == "Marseille depot"
    assert screens[far_screens[0]]["reasons"][0].startswith("outside the geo radius (")

    # an owner who stops publishing the name merges the venue into its area
    client.patch(f"/v1/venues/{anchor['id']}", headers=owner.headers, json={"public_name": ""})
    body = client.get(f"/v1/campaigns/{campaign_id}/eligibility",
                      headers=advertiser.headers).json()
    assert "The Anchor" not in json.dumps(body)
    merged = next(o for o in body["inventory"] if o["area"]["lat"] == 48.9)
    assert (merged["venues"], merged["screens"], merged["eligible_screens"]) == (2, 3, 2)


def test_a_manual_venue_says_it_still_has_to_approve(client, app):
    owner = signup(client, "venue")
    _venue(client, owner, "Quiet café", 48.85, 2.35, moderation="manual")
    advertiser = signup(client, "advertiser")
    campaign_id = _beer_campaign(app, advertiser.org_id)
    body = client.get(f"/v1/campaigns/{campaign_id}/eligibility",
                      headers=advertiser.headers).json()
    assert body["eligible_screens"] == 0
    assert ["awaiting the venue's approval" in x["reason"]
            for x in body["inventory"][0]["reasons"]] == [True]
