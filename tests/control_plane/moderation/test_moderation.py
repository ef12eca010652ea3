"""Venue moderation and house content: a manual venue plays an ad only once it approved it, a
rejected advertiser never; unsold slots play the venue's own house content."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from control_plane.campaigns.models import Campaign, Creative
from control_plane.db import utcnow
from control_plane.media.models import Media
from control_plane.moderation.models import ModerationDecision
from control_plane.scheduling import service as scheduling_service
from tests.helpers import error_code, signup

ALWAYS = {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def ready_media(app, org_id: str, sha: str) -> str:
    with app.state.sessionmaker() as session:
        media = Media(org_id=org_id, sha256=sha * 64, kind="image", mime="image/png",
                      size_bytes=1, original_key=f"media/{sha}/original", status="ready",
                      info={})
        session.add(media)
        session.commit()
        return media.id


def approved_campaign(app, advertiser_org: str, media_id: str, *, name: str = "Shoes",
                      category: str = "1010", duration_s: int = 10) -> tuple[str, str]:
    """An approved asap campaign of one approved creative, stored as approval leaves it."""
    now = datetime.now(UTC)
    with app.state.sessionmaker() as session:
        campaign = Campaign(org_id=advertiser_org, name=name, category=category,
                            start_at=now - timedelta(hours=1), end_at=now + timedelta(days=3),
                            dayparts=[], targeting={}, budget_cents=100_000, cpm_cents=500,
                            currency="EUR", pacing="asap", status="approved")
        creative = Creative(media_id=media_id, duration_s=duration_s, status="approved")
        campaign.creatives.append(creative)
        session.add(campaign)
        session.commit()
        return campaign.id, creative.id


def plays_on(app, screen_id: str) -> set[str | None]:
    with app.state.sessionmaker() as session:
        _, _, plans = scheduling_service.build(session, utcnow())
    return {i.campaign_id for w in plans[screen_id].windows for i in w.loop}


def test_manual_venue_plays_only_what_it_approved(client, app):
    owner = signup(client, "venue")
    venue = client.post("/v1/venues", headers=owner.headers, json={
        "name": "Quiet café", "lat": 0, "lon": 0, "timezone": "UTC", "venue_type_id": 1,
        "opening_hours": ALWAYS, "moderation": "manual"}).json()
    screen = client.post(f"/v1/venues/{venue['id']}/screens", headers=owner.headers,
                         json={"name": "s", "width_px": 1920, "height_px": 1080}).json()
    advertiser = signup(client, "advertiser")
    campaign_id, creative_id = approved_campaign(app, advertiser.org_id,
                                                 ready_media(app, advertiser.org_id, "a"))
    assert campaign_id not in plays_on(app, screen["id"])

    queue = client.get("/v1/moderation/queue", headers=owner.headers).json()["items"]
    assert [(i["campaign_id"], i["creative_id"]) for i in queue] == [(campaign_id, creative_id)]
    item = queue[0]["item_id"]
    r = client.post(f"/v1/moderation/{item}/reject", headers=owner.headers, json={})
    assert r.status_code == 422 and error_code(r) == "reason_required"
    assert client.post(f"/v1/moderation/{item}/approve", headers=owner.headers).status_code \
        == 200
    assert campaign_id in plays_on(app, screen["id"])
    assert client.get("/v1/moderation/queue", headers=owner.headers).json()["items"] == []

    r = client.post(f"/v1/moderation/{item}/reject", headers=owner.headers,
                    json={"scope": "advertiser", "reason": "not for our guests"})
    assert r.status_code == 200 and r.json()["subject_id"] == advertiser.org_id
    assert campaign_id not in plays_on(app, screen["id"])
    with app.state.sessionmaker() as session:
        _, _, plans = scheduling_service.build(session, utcnow())
    assert plans[screen["id"]].exclusions[campaign_id] == (
        "rejected by the venue: advertiser rejected: not for our guests",)

    # another venue org can neither see nor decide
    stranger = signup(client, "venue")
    assert client.get("/v1/moderation/queue", headers=stranger.headers).json()["items"] == []
    assert client.post(f"/v1/moderation/{item}/approve",
                       headers=stranger.headers).status_code == 404
    assert client.get("/v1/moderation/queue", headers=advertiser.headers).status_code == 403


def test_auto_venues_play_approved_ads_at_once(client, app):
    owner = signup(client, "venue")
    venue = client.post("/v1/venues", headers=owner.headers, json={
        "name": "Gym", "lat": 0, "lon": 0, "timezone": "UTC", "venue_type_id": 1,
        "opening_hours": ALWAYS}).json()
    assert venue["moderation"] == "auto"
    screen = client.post(f"/v1/venues/{venue['id']}/screens", headers=owner.headers,
                         json={"name": "s", "width_px": 1920, "height_px": 1080}).json()
    advertiser = signup(client, "advertiser")
    campaign_id, _ = approved_campaign(app, advertiser.org_id,
                                       ready_media(app, advertiser.org_id, "b"))
    assert campaign_id in plays_on(app, screen["id"])
    assert client.get("/v1/moderation/queue", headers=owner.headers).json()["items"] == []


def test_house_content_fills_unsold_slots(client, app):
    owner = signup(client, "venue")
    house = ready_media(app, owner.org_id, "c")
    other_org = signup(client, "venue")
    theirs = ready_media(app, other_org.org_id, "d")
    body = {"name": "Bar", "lat": 0, "lon": 0, "timezone": "UTC", "venue_type_id": 1,
            "opening_hours": ALWAYS, "house_media_ids": [theirs]}
    r = client.post("/v1/venues", headers=owner.headers, json=body)
    assert r.status_code == 422 and error_code(r) == "media_not_ready"
    venue = client.post("/v1/venues", headers=owner.headers,
                        json={**body, "house_media_ids": [house]}).json()
    screen = client.post(f"/v1/venues/{venue['id']}/screens", headers=owner.headers,
                         json={"name": "s", "width_px": 1920, "height_px": 1080}).json()
    with app.state.sessionmaker() as session:
        world, params, plans = scheduling_service.build(session, utcnow())
        row = next(s for s in world.screens if s.id == screen["id"])
        playlist = scheduling_service.to_playlist(plans[screen["id"]], row, world, params,
                                                  "http://testserver")
    items = {i.creative_id for w in playlist.timeline for i in w.loop}
    assert items == {f"house:{house}"}
    assert [m.sha256 for m in playlist.media] == ["c" * 64]


def test_another_orgs_venue_is_answered_as_one_that_does_not_exist(client, app):
    """Deciding on an item of another org's venue answers exactly as a made-up venue id does,
    so the answer does not tell a real venue id from a guess (it said moderation_not_found)."""
    owner = signup(client, "venue")
    venue = client.post("/v1/venues", headers=owner.headers, json={
        "name": "Bar", "lat": 0, "lon": 0, "timezone": "UTC", "venue_type_id": 1,
        "opening_hours": ALWAYS, "moderation": "manual"}).json()
    client.post(f"/v1/venues/{venue['id']}/screens", headers=owner.headers,
                json={"name": "s", "width_px": 1920, "height_px": 1080})
    advertiser = signup(client, "advertiser")
    _, creative = approved_campaign(app, advertiser.org_id,
                                    ready_media(app, advertiser.org_id, "e"))
    stranger = signup(client, "venue")
    for path in (f"{venue['id']}~{creative}", f"ven_zzzzzzzzzzzz~{creative}"):
        for decision, body in (("approve", {}), ("reject", {"reason": "no"})):
            r = client.post(f"/v1/moderation/{path}/{decision}", headers=stranger.headers,
                            json=body)
            assert r.status_code == 404 and error_code(r) == "venue_not_found", r.text
    r = client.post(f"/v1/moderation/{venue['id']}~{creative}/approve", headers=owner.headers,
                    json={})
    assert r.status_code == 200, r.text


def _decisions(app, venue_id: str) -> list[tuple[str, str]]:
    with app.state.sessionmaker() as session:
        return [(d.scope, d.subject_id) for d in session.scalars(
            select(ModerationDecision).where(ModerationDecision.venue_id == venue_id))]


def test_a_creative_the_queue_does_not_hold_is_answered_as_one_that_does_not_exist(client, app):
    """A venue decides only on what its queue holds (or held, before a decision): another
    advertiser's creative that never asks for this venue, or any creative at an automatic
    venue, answers 404 as a made-up creative id does, and no decision is recorded."""
    owner = signup(client, "venue")
    venues = {}
    for name, moderation in (("Quiet café", "manual"), ("Gym", "auto")):
        venues[name] = client.post("/v1/venues", headers=owner.headers, json={
            "name": name, "lat": 0, "lon": 0, "timezone": "UTC", "venue_type_id": 1,
            "opening_hours": ALWAYS, "moderation": moderation}).json()
        client.post(f"/v1/venues/{venues[name]['id']}/screens", headers=owner.headers,
                    json={"name": "s", "width_px": 1920, "height_px": 1080})
    manual, auto = venues["Quiet café"]["id"], venues["Gym"]["id"]
    rival = signup(client, "venue")
    theirs = client.post("/v1/venues", headers=rival.headers, json={
        "name": "Elsewhere", "lat": 0, "lon": 0, "timezone": "UTC", "venue_type_id": 1,
        "opening_hours": ALWAYS}).json()
    their_screen = client.post(f"/v1/venues/{theirs['id']}/screens", headers=rival.headers,
                               json={"name": "s", "width_px": 1920, "height_px": 1080}).json()
    advertiser = signup(client, "advertiser")
    campaign_id, elsewhere = approved_campaign(app, advertiser.org_id,
                                               ready_media(app, advertiser.org_id, "f"))
    with app.state.sessionmaker() as session:  # it targets the rival's screen only
        session.get(Campaign, campaign_id).targeting = {"screen_ids": [their_screen["id"]]}
        session.commit()
    _, here = approved_campaign(app, advertiser.org_id, ready_media(app, advertiser.org_id, "g"),
                                name="Boots")
    queue = client.get("/v1/moderation/queue", headers=owner.headers).json()["items"]
    assert [i["item_id"] for i in queue] == [f"{manual}~{here}"]

    for item in (f"{manual}~{elsewhere}", f"{auto}~{here}", f"{manual}~cre_zzzzzzzzzzzz"):
        for decision, body in (("approve", {}), ("reject", {"reason": "no",
                                                            "scope": "advertiser"})):
            r = client.post(f"/v1/moderation/{item}/{decision}", headers=owner.headers,
                            json=body)
            assert r.status_code == 404, (item, r.text)
            assert error_code(r) == "moderation_item_not_found", r.text
    assert _decisions(app, manual) == [] and _decisions(app, auto) == []

    # what the queue holds is decided, and the decision can then be changed
    r = client.post(f"/v1/moderation/{manual}~{here}/approve", headers=owner.headers, json={})
    assert r.status_code == 200, r.text
    r = client.post(f"/v1/moderation/{manual}~{here}/reject", headers=owner.headers,
                    json={"reason": "not here"})
    assert r.status_code == 200 and r.json()["decision"] == "rejected"
    assert _decisions(app, manual) == [("creative", here)]
