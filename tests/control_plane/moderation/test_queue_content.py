"""A venue owner judges from the queue itself: the ad (a thumbnail and its renditions, fetched by
signed URLs), its length, who advertises and in which category; nothing else opens to them."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from control_plane.app import create_app
from control_plane.media.models import Rendition
from tests import media_samples
from tests.control_plane.moderation.test_moderation import approved_campaign
from tests.helpers import PASSWORD, Account, error_code, signup, with_settings

ALWAYS = {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


@pytest.fixture
def api(settings):
    """A client of an app whose embedded worker makes the media's renditions."""
    app = create_app(with_settings(settings, run_worker=True))
    with TestClient(app) as client:
        yield app, client


def _ready_media(client, account, path) -> str:
    with path.open("rb") as f:
        media_id = client.post("/v1/media", headers=account.headers,
                               files={"file": (path.name, f)}).json()["id"]
    deadline = time.monotonic() + 60
    while client.get(f"/v1/media/{media_id}", headers=account.headers).json()["status"] \
            != "ready":
        assert time.monotonic() < deadline, "media still processing"
        time.sleep(0.05)
    return media_id


def test_the_queue_carries_what_it_takes_to_judge_the_ad(api, tmp_path):
    app, client = api
    owner = signup(client, "venue")
    venue = client.post("/v1/venues", headers=owner.headers, json={
        "name": "Quiet café", "lat": 0, "lon": 0, "timezone": "UTC", "venue_type_id": 1,
        "opening_hours": ALWAYS, "moderation": "manual"}).json()
    client.post(f"/v1/venues/{venue['id']}/screens", headers=owner.headers,
                json={"name": "s", "width_px": 1920, "height_px": 1080})
    r = client.post("/v1/auth/signup", json={
        "email": "ads@brewery.example", "password": PASSWORD, "name": "Ann",
        "org_name": "Brewery Ltd", "org_kind": "advertiser"})
    body = r.json()
    advertiser = Account("ads@brewery.example", body["access_token"], body["user"]["id"],
                         body["org"]["id"])
    media_id = _ready_media(client, advertiser, media_samples.png(tmp_path, size=(640, 360)))
    (tmp_path / "other").mkdir()
    other_media_id = _ready_media(client, advertiser,
                                  media_samples.png(tmp_path / "other", size=(800, 450)))
    approved_campaign(app, advertiser.org_id, media_id, name="Winter beers", category="1003",
                      duration_s=12)

    items = client.get("/v1/moderation/queue", headers=owner.headers).json()["items"]
    assert len(items) == 1
    item = items[0]
    assert item["media_id"] == media_id and item["kind"] == "image"
    assert item["advertiser_name"] == "Brewery Ltd" and item["duration_s"] == 12
    assert item["category"]["id"] == "1003" and item["category"]["tier1"] == "Alcohol"
    assert item["category"]["name"]
    assert datetime.fromisoformat(item["urls_expire_at"]) > datetime.now(UTC)

    # the venue owner sees the ad itself: the thumbnail and the versions screens play
    r = client.get(item["thumbnail_url"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/")
    assert Image.open(io.BytesIO(r.content)).size[0] == 320
    by_name = {x["name"]: x for x in item["renditions"]}
    assert "1920x1080-letterbox" in by_name
    r = client.get(by_name["1920x1080-letterbox"]["url"])
    assert r.status_code == 200
    assert Image.open(io.BytesIO(r.content)).size == (1920, 1080)

    # ... and nothing else: the media stays the advertiser's, a signature opens one file only
    assert client.get(f"/v1/media/{media_id}", headers=owner.headers).status_code == 404
    assert client.get(f"/v1/media/{other_media_id}", headers=owner.headers).status_code == 404
    with app.state.sessionmaker() as session:
        other_key = session.query(Rendition).filter_by(media_id=other_media_id,
                                                       role="thumbnail").one().key
    signed = urlsplit(item["thumbnail_url"])
    r = client.get(f"/v1/storage/{other_key}?{signed.query}")
    assert r.status_code == 403 and error_code(r) == "signature_invalid"

    # another venue org's queue shows none of it
    stranger = signup(client, "venue")
    assert client.get("/v1/moderation/queue", headers=stranger.headers).json()["items"] == []
