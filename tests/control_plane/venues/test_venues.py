"""Venues and screens over the API: validation, tenancy, roles, and renditions for new sizes."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from control_plane.app import create_app
from tests import media_samples
from tests.helpers import PASSWORD, bearer, error_code, signup, with_settings

VENUE = {"name": "The Crown", "address": "1 High St", "lat": 51.5, "lon": -0.12,
         "timezone": "Europe/London", "venue_type_id": 20101,
         "opening_hours": {"mon": [["08:00", "23:00"]], "fri": [["18:00", "02:00"]]},
         "blocked_categories": ["1002"]}
SCREEN = {"name": "Bar screen", "width_px": 1920, "height_px": 1080,
          "orientation": "landscape", "audience_multiplier": 2.5,
          "audience_source": "door counter"}


def _venue(client, account, **changes):
    r = client.post("/v1/venues", headers=account.headers, json={**VENUE, **changes})
    assert r.status_code == 201, r.text
    return r.json()


def test_venue_lifecycle(client):
    owner = signup(client, "venue")
    venue = _venue(client, owner)
    assert venue["opening_hours"]["fri"] == [["18:00", "02:00"]]  # overnight range kept
    assert client.get("/v1/venues", headers=owner.headers).json()["items"][0]["id"] == \
        venue["id"]
    r = client.patch(f"/v1/venues/{venue['id']}", headers=owner.headers,
                     json={"name": "The Crown & Anchor", "blocked_categories": ["1002", "1001"]})
    assert r.status_code == 200 and r.json()["name"] == "The Crown & Anchor"
    assert r.json()["blocked_categories"] == ["1002", "1001"]
    screen = client.post(f"/v1/venues/{venue['id']}/screens", headers=owner.headers,
                         json=SCREEN).json()
    assert screen["status"] == "unpaired" and screen["audience_multiplier"] == 2.5
    assert client.delete(f"/v1/venues/{venue['id']}", headers=owner.headers).status_code == 204
    assert client.get(f"/v1/screens/{screen['id']}", headers=owner.headers).status_code == 404


@pytest.mark.parametrize(("changes", "code"), [
    ({"timezone": "Mars/Olympus"}, "validation_error"),
    ({"timezone": "../../etc/passwd"}, "validation_error"),
    ({"venue_type_id": 999999}, "unknown_venue_type"),
    ({"blocked_categories": ["nope"]}, "unknown_category"),
    ({"opening_hours": {"mon": [["08:00", "25:00"]]}}, "validation_error"),
    ({"opening_hours": {"someday": [["08:00", "09:00"]]}}, "validation_error"),
    ({"opening_hours": {"mon": [["09:00", "09:00"]]}}, "validation_error"),
    ({"opening_hours": {"mon": "all day"}}, "validation_error"),
    ({"lat": 91}, "validation_error"),
])
def test_bad_venues_are_refused(client, changes, code):
    owner = signup(client, "venue")
    r = client.post("/v1/venues", headers=owner.headers, json={**VENUE, **changes})
    assert r.status_code == 422 and error_code(r) == code, r.text
    assert client.get("/v1/venues", headers=owner.headers).json()["items"] == []


def test_bad_screens_are_refused(client):
    owner = signup(client, "venue")
    venue = _venue(client, owner)
    for bad in ({"width_px": 0}, {"audience_multiplier": 0}, {"orientation": "diagonal"},
                {"height_px": 100_000}):
        r = client.post(f"/v1/venues/{venue['id']}/screens", headers=owner.headers,
                        json={**SCREEN, **bad})
        assert r.status_code == 422, bad


def test_tenancy_and_roles(client):
    owner = signup(client, "venue")
    other = signup(client, "venue")
    advertiser = signup(client, "advertiser")
    venue = _venue(client, owner)
    screen = client.post(f"/v1/venues/{venue['id']}/screens", headers=owner.headers,
                         json=SCREEN).json()
    for path in (f"/v1/venues/{venue['id']}", f"/v1/screens/{screen['id']}",
                 f"/v1/venues/{venue['id']}/screens"):
        assert client.get(path, headers=other.headers).status_code == 404, path
    assert client.get("/v1/venues/ven_missing", headers=other.headers).json() == \
        client.get(f"/v1/venues/{venue['id']}", headers=other.headers).json()
    assert client.post("/v1/venues", headers=advertiser.headers, json=VENUE).status_code == 403
    assert client.patch(f"/v1/screens/{screen['id']}", headers=other.headers,
                        json={"name": "mine now"}).status_code == 404

    invite = client.post(f"/v1/orgs/{owner.org_id}/members", headers=owner.headers,
                         json={"email": "tech@example.com", "role": "technician"}).json()
    tech = bearer(client.post("/v1/auth/invitations/accept", json={
        "token": invite["invite_token"], "password": PASSWORD}).json()["access_token"])
    assert client.get(f"/v1/screens/{screen['id']}", headers=tech).status_code == 200
    assert client.post(f"/v1/venues/{venue['id']}/screens", headers=tech,
                       json=SCREEN).status_code == 403
    assert client.delete(f"/v1/venues/{venue['id']}", headers=tech).status_code == 403


def test_taxonomies_are_served(client):
    account = signup(client, "advertiser")
    types = client.get("/v1/venue-types", headers=account.headers).json()
    assert "OpenOOH" in types["source"] and len(types["items"]) == 99
    arrivals = next(t for t in types["items"] if t["id"] == 10101)
    assert arrivals["parent_id"] == 101 and arrivals["string_value"].startswith("transit.")
    categories = client.get("/v1/ad-categories", headers=account.headers).json()
    assert len(categories["items"]) > 500
    by_id = {c["id"]: c for c in categories["items"]}
    assert by_id["1003"]["parent_id"] == "1002" and by_id["1003"]["tier1"] == "Alcohol"
    # a row that names itself as its parent gets its parent from the tier columns
    assert by_id["1037"]["parent_id"] == "1036"
    assert client.get("/v1/venue-types").status_code == 401


def test_a_new_screen_size_sends_media_back_for_renditions(settings, tmp_path):
    app = create_app(with_settings(settings, run_worker=True))
    with TestClient(app) as client:
        advertiser = signup(client, "advertiser")
        with media_samples.png(tmp_path).open("rb") as f:
            media_id = client.post("/v1/media", headers=advertiser.headers,
                                   files={"file": ("a.png", f)}).json()["id"]

        def names():
            body = client.get(f"/v1/media/{media_id}", headers=advertiser.headers).json()
            return body["status"], {r["name"] for r in body["renditions"]}

        deadline = time.monotonic() + 30
        while names()[0] != "ready":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert "800x1280-letterbox" not in names()[1]
        owner = signup(client, "venue")
        venue = _venue(client, owner)
        client.post(f"/v1/venues/{venue['id']}/screens", headers=owner.headers,
                    json={**SCREEN, "width_px": 1280, "height_px": 800,
                          "orientation": "portrait"})
        while "800x1280-letterbox" not in names()[1]:
            assert time.monotonic() < deadline, names()
            time.sleep(0.05)
        assert names()[0] == "ready"
