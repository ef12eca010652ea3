"""Campaigns over the API: drafts, creatives from ready media, and every review transition."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from control_plane.app import create_app
from control_plane.orgs import service as orgs_service
from tests import media_samples
from tests.helpers import PASSWORD, bearer, error_code, login, signup, with_settings

NOW = datetime.now(UTC)


def campaign_body(**changes):
    body = {"name": "Winter beers", "category": "1003",
            "start_at": (NOW - timedelta(hours=1)).isoformat(),
            "end_at": (NOW + timedelta(days=30)).isoformat(),
            "dayparts": [{"weekdays": ["fri", "sat"], "start": "18:00", "end": "02:00"}],
            "targeting": {"venue_type_ids": [1], "geo": {"lat": 48.85, "lon": 2.35,
                                                          "radius_km": 10}},
            "budget_cents": 50_000, "cpm_cents": 800, "currency": "EUR", "pacing": "even"}
    return {**body, **changes}


@pytest.fixture
def world(settings, tmp_path):
    app = create_app(with_settings(settings, run_worker=True))
    with TestClient(app) as client:
        advertiser = signup(client, "advertiser")
        with app.state.sessionmaker() as session:
            orgs_service.ensure_superuser(session=session, email="root@example.com",
                                          password=PASSWORD)
        admin = bearer(login(client, "root@example.com"))

        def ready_media(account=advertiser, sample="png"):
            with getattr(media_samples, sample)(tmp_path).open("rb") as f:
                media = client.post("/v1/media", headers=account.headers,
                                    files={"file": (f"x.{sample}", f)}).json()
            deadline = time.monotonic() + 60
            while client.get(f"/v1/media/{media['id']}",
                             headers=account.headers).json()["status"] != "ready":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            return media

        yield client, advertiser, admin, ready_media


def test_a_campaign_from_draft_to_active(world):
    client, advertiser, admin, ready_media = world
    r = client.post("/v1/campaigns", headers=advertiser.headers, json=campaign_body())
    assert r.status_code == 201, r.text
    campaign = r.json()
    assert campaign["state"] == "draft" and campaign["creatives"] == []
    url = f"/v1/campaigns/{campaign['id']}"

    r = client.post(f"{url}/submit", headers=advertiser.headers)
    assert r.status_code == 409 and error_code(r) == "no_creatives"
    media = ready_media()
    r = client.post(f"{url}/creatives", headers=advertiser.headers,
                    json={"media_id": media["id"], "duration_s": 10})
    assert r.status_code == 201 and r.json()["status"] == "pending_review"
    assert client.post(f"{url}/submit", headers=advertiser.headers).json()["state"] == \
        "pending_review"
    assert client.post(f"{url}/approve", headers=advertiser.headers).status_code == 403
    r = client.post(f"{url}/approve", headers=admin)
    assert r.status_code == 200 and r.json()["state"] == "active"
    assert r.json()["creatives"][0]["status"] == "approved"
    assert client.post(f"{url}/pause", headers=advertiser.headers).json()["state"] == "paused"
    assert client.post(f"{url}/resume", headers=advertiser.headers).json()["state"] == "active"


def test_future_flights_are_approved_not_active(world):
    client, advertiser, admin, ready_media = world
    body = campaign_body(start_at=(NOW + timedelta(days=2)).isoformat())
    campaign = client.post("/v1/campaigns", headers=advertiser.headers, json=body).json()
    url = f"/v1/campaigns/{campaign['id']}"
    client.post(f"{url}/creatives", headers=advertiser.headers,
                json={"media_id": ready_media()["id"], "duration_s": 15})
    client.post(f"{url}/submit", headers=advertiser.headers)
    assert client.post(f"{url}/approve", headers=admin).json()["state"] == "approved"


@pytest.mark.parametrize(("action", "by_admin"), [("approve", True), ("reject", True),
                                                  ("pause", False), ("resume", False)])
def test_invalid_transitions_say_the_current_state(world, action, by_admin):
    client, advertiser, admin, _ = world
    campaign = client.post("/v1/campaigns", headers=advertiser.headers,
                           json=campaign_body()).json()
    r = client.post(f"/v1/campaigns/{campaign['id']}/{action}",
                    headers=admin if by_admin else advertiser.headers,
                    json={"reason": "no"} if action == "reject" else None)
    assert r.status_code == 409 and error_code(r) == "invalid_transition"
    assert r.json()["error"]["details"] == {"state": "draft", "action": action}


def test_changes_after_approval_go_back_to_review(world):
    client, advertiser, admin, ready_media = world
    campaign = client.post("/v1/campaigns", headers=advertiser.headers,
                           json=campaign_body()).json()
    url = f"/v1/campaigns/{campaign['id']}"
    client.post(f"{url}/creatives", headers=advertiser.headers,
                json={"media_id": ready_media()["id"], "duration_s": 10})
    client.post(f"{url}/submit", headers=advertiser.headers)
    client.post(f"{url}/approve", headers=admin)
    r = client.post(f"{url}/creatives", headers=advertiser.headers,
                    json={"media_id": ready_media(sample="jpeg_with_exif_rotation")["id"],
                          "duration_s": 20})
    assert r.status_code == 201
    body = client.get(url, headers=advertiser.headers).json()
    assert body["state"] == "pending_review"
    assert [c["status"] for c in body["creatives"]] == ["approved", "pending_review"]
    client.post(f"{url}/approve", headers=admin)
    r = client.patch(url, headers=advertiser.headers, json={"budget_cents": 80_000})
    assert r.json()["state"] == "pending_review" and r.json()["budget_cents"] == 80_000
    r = client.post(f"{url}/reject", headers=admin, json={"reason": "category mismatch"})
    assert r.json()["state"] == "rejected" and r.json()["review_note"] == "category mismatch"
    assert client.patch(url, headers=advertiser.headers,
                        json={"category": "1002"}).json()["state"] == "draft"


@pytest.mark.parametrize(("changes", "code"), [
    ({"category": "not-iab"}, "unknown_category"),
    ({"targeting": {"venue_type_ids": [424242]}}, "unknown_venue_type"),
    ({"end_at": (NOW - timedelta(days=1)).isoformat()}, "validation_error"),
    ({"start_at": "2026-12-01T00:00:00"}, "validation_error"),
    ({"budget_cents": 0}, "validation_error"),
    ({"currency": "euro"}, "validation_error"),
    ({"dayparts": [{"weekdays": ["someday"], "start": "08:00", "end": "09:00"}]},
     "validation_error"),
    ({"share_of_voice": 1.5}, "validation_error"),
])
def test_bad_campaigns_are_refused(world, changes, code):
    client, advertiser, _, _ = world
    r = client.post("/v1/campaigns", headers=advertiser.headers, json=campaign_body(**changes))
    assert r.status_code == 422 and error_code(r) == code, r.text


def test_creatives_must_be_ready_media_of_the_org(world, tmp_path):
    client, advertiser, _, ready_media = world
    campaign = client.post("/v1/campaigns", headers=advertiser.headers,
                           json=campaign_body()).json()
    url = f"/v1/campaigns/{campaign['id']}/creatives"
    r = client.post(url, headers=advertiser.headers, json={"media_id": ready_media()["id"]})
    assert r.status_code == 422 and error_code(r) == "duration_required"
    video = ready_media(sample="mp4")
    r = client.post(url, headers=advertiser.headers, json={"media_id": video["id"]})
    assert r.status_code == 201 and r.json()["duration_s"] == 2
    other = signup(client, "advertiser")
    theirs = ready_media(account=other)
    r = client.post(url, headers=advertiser.headers,
                    json={"media_id": theirs["id"], "duration_s": 10})
    assert r.status_code == 422 and error_code(r) == "media_not_found"


def test_tenancy(world):
    client, advertiser, admin, _ = world
    campaign = client.post("/v1/campaigns", headers=advertiser.headers,
                           json=campaign_body()).json()
    other = signup(client, "advertiser")
    venue = signup(client, "venue")
    assert client.get(f"/v1/campaigns/{campaign['id']}", headers=other.headers).status_code \
        == 404
    assert client.get("/v1/campaigns", headers=other.headers).json()["items"] == []
    assert client.post("/v1/campaigns", headers=venue.headers,
                       json=campaign_body()).status_code == 403
    listed = client.get("/v1/campaigns?state=draft", headers=admin).json()["items"]
    assert campaign["id"] in [c["id"] for c in listed]
