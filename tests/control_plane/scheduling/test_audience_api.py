"""Targeting by audience over the API: venues' audience profiles decide where an
audience-targeted campaign plays, the timeline and the eligibility endpoint say why in words,
and the forecast counts the target audience's impressions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from control_plane.campaigns.models import Campaign, Creative
from control_plane.media.models import Media
from control_plane.orgs import service as orgs_service
from tests.helpers import PASSWORD, bearer, login, signup

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ALWAYS = {d: [["00:00", "24:00"]] for d in DAYS}
YOUNG = {"age": {"18-24": 0.5, "25-34": 0.3, "35-44": 0.2}, "gender": {"female": 0.6,
                                                                          "male": 0.4}}
OLD = {"age": {"18-24": 0.05, "25-34": 0.15, "55-64": 0.4, "65+": 0.4},
       "gender": {"female": 0.5, "male": 0.5}}
YOUNG_WOMEN = {"segments": [{"age_bands": ["18-24", "25-34"], "genders": ["female"]}],
               "min_share": 0.3}


def test_profiles_decide_where_a_targeted_campaign_plays_and_every_screen_says_why(client, app):
    owner = signup(client, "venue")
    screens = {}
    for name, split in (("Young bar", YOUNG), ("Old club", OLD), ("Unknown", None)):
        venue = client.post("/v1/venues", headers=owner.headers, json={
            "name": name, "lat": 48.85, "lon": 2.35, "timezone": "Europe/Paris",
            "venue_type_id": 1, "opening_hours": ALWAYS}).json()
        screens[name] = client.post(f"/v1/venues/{venue['id']}/screens", headers=owner.headers,
                                    json={"name": "s", "width_px": 1920, "height_px": 1080,
                                          "audience_multiplier": 2.0}).json()["id"]
        if split is not None:
            r = client.put(f"/v1/venues/{venue['id']}/audience", headers=owner.headers, json={
                "source": "owner_estimate", "as_of": "2026-11-01", "dwell_minutes": 30,
                "dayparts": [{"weekdays": DAYS, "start": "00:00", "end": "24:00",
                              "viewers_per_hour": 60}], **split})
            assert r.status_code == 200, r.text
    advertiser = signup(client, "advertiser")
    now = datetime.now(UTC)
    with app.state.sessionmaker() as session:  # an approved campaign with a ready creative
        media = Media(org_id=advertiser.org_id, sha256="e" * 64, kind="image", mime="image/png",
                      size_bytes=1, original_key="media/x/original", status="ready", info={})
        session.add(media)
        session.flush()
        campaign = Campaign(org_id=advertiser.org_id, name="Young women", category="1003",
                            start_at=now - timedelta(hours=1), end_at=now + timedelta(days=3),
                            dayparts=[], budget_cents=100_000, cpm_cents=500, currency="EUR",
                            pacing="asap", status="approved",
                            targeting={"audience": YOUNG_WOMEN})
        campaign.creatives.append(Creative(media_id=media.id, duration_s=10, status="approved"))
        session.add(campaign)
        session.commit()
        campaign_id = campaign.id
        orgs_service.ensure_superuser(session=session, email="root@example.com",
                                      password=PASSWORD)

    def timeline(name: str) -> dict:
        r = client.get(f"/v1/screens/{screens[name]}/timeline", headers=owner.headers)
        assert r.status_code == 200, r.text
        return r.json()

    young = timeline("Young bar")
    assert young["windows"] and all(any(i["campaign_id"] == campaign_id for i in w["loop"])
                                    for w in young["windows"])
    assert all(f"{campaign_id}: audience: 18-34 women are 48 % of viewers here at this time "
               "(the campaign asks for 30 %)" in w["explain"] for w in young["windows"])
    old, unknown = timeline("Old club"), timeline("Unknown")
    for plan in (old, unknown):
        assert not any(i["campaign_id"] == campaign_id for w in plan["windows"]
                       for i in w["loop"])
    assert old["exclusions"][campaign_id] == [
        "audience: 18-34 women are at most 10 % of viewers here at any time, the campaign "
        "asks for 30 %"]
    assert unknown["exclusions"][campaign_id] == ["audience: no audience profile for this "
                                                  "screen"]

    admin = bearer(login(client, "root@example.com"))
    r = client.get(f"/v1/campaigns/{campaign_id}/eligibility", headers=admin)
    assert r.status_code == 200, r.text
    verdicts = {s["venue_name"]: s for s in r.json()["screens"]}
    assert verdicts["Young bar"]["eligible"] is True
    assert verdicts["Old club"]["reasons"] == old["exclusions"][campaign_id]
    assert verdicts["Unknown"]["reasons"] == unknown["exclusions"][campaign_id]
    # an advertiser learns that the audience falls short, not the venue's own figures
    r = client.get(f"/v1/campaigns/{campaign_id}/eligibility", headers=advertiser.headers)
    assert {x["reason"] for o in r.json()["inventory"] for x in o["reasons"]} == {
        "audience: 18-34 women are less than 30 % of viewers here at any time",
        *unknown["exclusions"][campaign_id]}

    # the forecast: total impressions, and those of the audience it targets
    body = {"name": "Draft", "category": "1003", "start_at": (now - timedelta(hours=1))
            .isoformat(), "end_at": (now + timedelta(days=10)).isoformat(),
            "budget_cents": 5_000, "cpm_cents": 1_000, "currency": "EUR", "pacing": "asap"}
    r = client.post("/v1/campaigns/forecast", headers=advertiser.headers,
                    json={**body, "targeting": {"audience": YOUNG_WOMEN}})
    assert r.status_code == 200, r.text
    targeted = r.json()
    assert targeted["eligible_screens"] == 1  # the young bar only
    assert targeted["planned_impressions"] > 0
    assert targeted["target_impressions"] == pytest.approx(
        targeted["planned_impressions"] * 0.48)
    plain = client.post("/v1/campaigns/forecast", headers=advertiser.headers, json=body).json()
    assert plain["eligible_screens"] == 3
    assert plain["target_impressions"] == plain["planned_impressions"] > 0
