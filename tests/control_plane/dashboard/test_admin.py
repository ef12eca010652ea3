"""The super-admin's pages: the review queue (approve, reject with a note), organisations and
users, the fleet filtered by status and name, the system's health, and the revenue-share
policy; each over the same services as the API, closed to everyone else."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from control_plane.app import create_app
from control_plane.orgs import service as orgs_service
from tests import media_samples
from tests.control_plane.dashboard.pages import csrf_of, post_form, sign_in, sign_up
from tests.control_plane.devices.test_pairing import SCREEN, VENUE, ask_code
from tests.helpers import PASSWORD, Account, bearer, signup, with_settings

pytestmark = pytest.mark.usefixtures("clean_db")
ROOT = "root@example.com"
PAGES = ("/admin/review", "/admin/orgs", "/admin/fleet", "/admin/system", "/admin/revenue")
ERROR = re.compile(r'id="e-([\w-]+)"[^>]*>([^<]*)<')
NOW = datetime.now(UTC)


def errors_of(html: str) -> dict[str, str]:
    """The errors a page shows next to its fields, by field."""
    return dict(ERROR.findall(html))


def as_superadmin(app: Any, client: TestClient) -> None:
    """Make the platform's super-admin, signed in through the page."""
    with app.state.sessionmaker() as session:
        orgs_service.ensure_superuser(session=session, email=ROOT, password=PASSWORD)
    sign_in(client, ROOT)


@dataclass
class Market:
    """An app whose worker processes media, a super-admin signed in on `client`, and an
    advertiser (over the API) with a campaign waiting for review."""

    app: Any
    client: TestClient
    advertiser: Account
    campaign: dict[str, Any]

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.client.request(method, path, headers=self.advertiser.headers, **kwargs)


def submitted_campaign(client: TestClient, advertiser: Account, tmp_path: Path,
                       name: str) -> dict[str, Any]:
    """A campaign with a ready PNG creative, sent for review through the API."""
    with media_samples.png(tmp_path).open("rb") as f:
        media = client.post("/v1/media", headers=advertiser.headers,
                            files={"file": ("poster.png", f)}).json()
    deadline = time.monotonic() + 60
    while client.get(f"/v1/media/{media['id']}",
                     headers=advertiser.headers).json()["status"] != "ready":
        assert time.monotonic() < deadline, "the media was never ready"
        time.sleep(0.05)
    campaign = client.post("/v1/campaigns", headers=advertiser.headers, json={
        "name": name, "category": "1003", "currency": "EUR",
        "start_at": (NOW - timedelta(hours=1)).isoformat(),
        "end_at": (NOW + timedelta(days=30)).isoformat(),
        "budget_cents": 50_000, "cpm_cents": 800}).json()
    url = f"/v1/campaigns/{campaign['id']}"
    r = client.post(f"{url}/creatives", headers=advertiser.headers,
                    json={"media_id": media["id"], "duration_s": 10})
    assert r.status_code == 201, r.text
    r = client.post(f"{url}/submit", headers=advertiser.headers)
    assert r.status_code == 200 and r.json()["state"] == "pending_review", r.text
    return dict(r.json())


@pytest.fixture
def market(settings: Any, tmp_path: Path) -> Iterator[Market]:
    app = create_app(with_settings(settings, run_worker=True))
    with TestClient(app) as client:
        advertiser = signup(client, "advertiser")
        campaign = submitted_campaign(client, advertiser, tmp_path, "Winter beers")
        as_superadmin(app, client)
        yield Market(app, client, advertiser, campaign)


def test_the_queue_shows_a_waiting_campaign_with_its_creative_and_approving_it_approves(
        market: Market) -> None:
    page = market.client.get("/admin/review")
    assert page.status_code == 200
    assert "Winter beers" in page.text and "advertiser org" in page.text
    assert re.search(r'<img src="http://testserver/v1/storage/[^"]+" alt="Thumbnail', page.text)
    assert "1 campaign waits for review" in page.text
    campaign_id = market.campaign["id"]
    answer = post_form(market.client, f"/admin/review/{campaign_id}/approve", {},
                       from_page="/admin/review")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/admin/review/{campaign_id}?done=approved"
    body = market.api("GET", f"/v1/campaigns/{campaign_id}").json()
    assert body["state"] == "active" and body["creatives"][0]["status"] == "approved"
    result = market.client.get(answer.headers["location"])
    assert "Approved: it is active now" in result.text
    assert "Nothing waits for review" in market.client.get("/admin/review").text


def test_rejecting_needs_a_note_which_the_advertiser_then_reads(market: Market) -> None:
    campaign_id = market.campaign["id"]
    path = f"/admin/review/{campaign_id}/reject"
    blank = post_form(market.client, path, {"reason": "   "}, from_page="/admin/review")
    assert blank.status_code == 422
    assert f"reason-{campaign_id}" in errors_of(blank.text)
    assert market.api("GET", f"/v1/campaigns/{campaign_id}").json()["state"] == \
        "pending_review"
    answer = post_form(market.client, path, {"reason": "The logo hides the price."},
                       from_page="/admin/review")
    assert answer.status_code == 303
    body = market.api("GET", f"/v1/campaigns/{campaign_id}").json()
    assert body["state"] == "rejected" and body["review_note"] == "The logo hides the price."
    page = market.client.get(answer.headers["location"])
    assert "Rejected" in page.text and "The logo hides the price." in page.text


def test_review_posts_without_the_form_token_are_refused(market: Market) -> None:
    campaign_id = market.campaign["id"]
    for action in ("approve", "reject"):
        answer = market.client.post(f"/admin/review/{campaign_id}/{action}",
                                    data={"reason": "no"}, follow_redirects=False)
        assert answer.status_code == 403, action
    assert market.api("GET", f"/v1/campaigns/{campaign_id}").json()["state"] == \
        "pending_review"
    approved_twice = post_form(market.client, f"/admin/review/{campaign_id}/approve", {},
                               from_page="/admin/review")
    assert approved_twice.status_code == 303
    again = post_form(market.client, f"/admin/review/{campaign_id}/approve", {},
                      from_page="/admin/review")
    assert again.status_code == 409 and "approve" in again.text  # a page, not a 500


def test_nobody_but_a_superadmin_opens_an_admin_page(client: TestClient, app: Any) -> None:
    assert client.get("/admin/review", follow_redirects=False).status_code == 303  # sign in
    sign_up(client, "venue", email="vera@example.com", org_name="Vera's Bar")
    for path in (*PAGES, "/admin/orgs/org_x", "/admin/review/cmp_x", "/admin/system/health"):
        answer = client.get(path)
        assert answer.status_code == 403, path
        assert "super-admins" in answer.text
    for path, data in (("/admin/review/cmp_x/approve", {}),
                       ("/admin/review/cmp_x/reject", {"reason": "x"}),
                       ("/admin/revenue", {"default_bps": "0"})):
        assert post_form(client, path, data, from_page="/").status_code == 403, path


def test_every_admin_page_renders_without_inline_script_or_style(client: TestClient,
                                                                 app: Any) -> None:
    as_superadmin(app, client)
    for path in PAGES:
        page = client.get(path)
        assert page.status_code == 200, path
        assert not re.search(r"<script(?![^>]*\ssrc=)", page.text), path
        assert " style=" not in page.text and "<style" not in page.text, path
        assert 'href="/static/admin.css"' in page.text
    assert client.get("/static/admin.css").status_code == 200
    assert client.get("/admin/review/cmp_unknown").status_code == 404
    assert client.get("/admin/orgs/org_unknown").status_code == 404
    assert client.get("/admin/review/" + "x" * 41).status_code == 422


def test_organisations_and_users_are_listed_searched_and_opened(client: TestClient,
                                                                app: Any) -> None:
    bar = signup(client, "venue", email="barkeep@example.com")
    signup(client, "advertiser", email="brewer@example.com")
    venue = client.post("/v1/venues", headers=bar.headers, json=VENUE).json()
    as_superadmin(app, client)
    page = client.get("/admin/orgs")
    assert "venue org" in page.text and "advertiser org" in page.text
    assert "barkeep@example.com" in page.text and "brewer@example.com" in page.text
    found = client.get("/admin/orgs", params={"q": "BARKEEP"})
    assert "barkeep@example.com" in found.text and "brewer@example.com" not in found.text
    assert "No organisation is named like" in found.text
    assert "No user" in client.get("/admin/orgs", params={"q": "100%_"}).text
    org = client.get(f"/admin/orgs/{bar.org_id}")
    assert org.status_code == 200
    assert "barkeep@example.com" in org.text and "admin" in org.text
    assert venue["name"] in org.text
    assert client.get("/admin/orgs", params={"q": "x" * 101}).status_code == 422


def pair_and_beat(client: TestClient, owner: Account, screen_id: str, *,
                  beat: bool) -> None:
    """Pair a device to the screen through the API; with `beat`, it sends a heartbeat."""
    ticket = ask_code(client)
    r = client.post(f"/v1/screens/{screen_id}/pair", headers=owner.headers,
                    json={"code": ticket["code"]})
    assert r.status_code == 200, r.text
    creds = client.get(f"/v1/device/pairings/{ticket['pairing_id']}").json()
    if beat:
        r = client.post("/v1/device/heartbeat", headers=bearer(creds["device_token"]), json={
            "schema": "adsbin.heartbeat/v1", "sent_at": datetime.now(UTC).isoformat(),
            "agent_version": "9.8.7"})
        assert r.status_code == 200, r.text


def test_the_fleet_shows_every_screen_status_filtered_by_status_and_name(
        client: TestClient, app: Any) -> None:
    owner = signup(client, "venue")
    gym = client.post("/v1/venues", headers=owner.headers, json=VENUE).json()
    cafe = client.post("/v1/venues", headers=owner.headers, json={**VENUE, "name": "Cafe"})
    screens = {}
    for venue, name in ((gym, "Gym door"), (gym, "Gym bar"), (cafe.json(), "Cafe wall")):
        screens[name] = client.post(f"/v1/venues/{venue['id']}/screens", headers=owner.headers,
                                    json={**SCREEN, "name": name}).json()
    pair_and_beat(client, owner, screens["Gym door"]["id"], beat=True)
    pair_and_beat(client, owner, screens["Gym bar"]["id"], beat=False)
    as_superadmin(app, client)

    page = client.get("/admin/fleet")
    assert all(name in page.text for name in screens)
    assert "1 online" in page.text and "1 offline" in page.text and "1 unpaired" in page.text
    assert "9.8.7" in page.text
    online = client.get("/admin/fleet", params={"status": "online"}).text
    assert "Gym door" in online and "Gym bar" not in online and "Cafe wall" not in online
    unpaired = client.get("/admin/fleet", params={"status": "unpaired"}).text
    assert "Cafe wall" in unpaired and "Gym door" not in unpaired
    cafe_only = client.get("/admin/fleet", params={"q": "cafe"}).text
    assert "Cafe wall" in cafe_only and "Gym door" not in cafe_only
    by_org = client.get("/admin/fleet", params={"q": "venue org", "status": "offline"}).text
    assert "Gym bar" in by_org and "Gym door" not in by_org
    none = client.get("/admin/fleet", params={"q": "nowhere"}).text
    assert "No screen matches these filters" in none
    for bad in ({"status": "asleep"}, {"page": "0"}, {"page": "x"}, {"q": "x" * 101}):
        assert client.get("/admin/fleet", params=bad).status_code == 422, bad
    assert client.get("/admin/fleet", params={"page": "99"}).status_code == 200  # the last


def test_the_system_page_says_which_providers_run_offline(client: TestClient,
                                                         app: Any) -> None:
    as_superadmin(app, client)
    page = client.get("/admin/system").text
    assert "Payments" in page and "ADSBIN_STRIPE_API_KEY" in page
    assert "ADSBIN_RESEND_API_KEY" in page
    assert re.search(r"Database</td><td><span class=\"state health-ok\">", page)
    assert "Job queue" in page and "Broker" in page and "No bridge in this process" in page
    assert 'hx-get="/admin/system/health" hx-trigger="every 10s"' in page
    fragment = client.get("/admin/system/health", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "Job queue" in fragment.text
    assert "<html" not in fragment.text and "Payments" not in fragment.text


def policy(client: TestClient) -> dict[str, Any]:
    token = client.post("/v1/auth/token", json={"email": ROOT, "password": PASSWORD})
    return dict(client.get("/v1/revenue-share/policy",
                           headers=bearer(token.json()["access_token"])).json())


def test_the_revenue_share_policy_is_shown_and_a_new_version_set(client: TestClient,
                                                                 app: Any) -> None:
    owner = signup(client, "venue")
    venue = client.post("/v1/venues", headers=owner.headers, json=VENUE).json()
    as_superadmin(app, client)
    page = client.get("/admin/revenue")
    assert "In force now: version 0" in page.text and "No billing period is closed" in page.text
    before = policy(client)

    too_much = post_form(client, "/admin/revenue", {"default_bps": "20000"})
    assert too_much.status_code == 422
    assert "default_bps" in errors_of(too_much.text)
    assert 'value="20000"' in too_much.text  # what was typed stays
    garbled = post_form(client, "/admin/revenue", {"default_bps": "6000",
                                                    "venue_overrides": "ven_x 1 2"})
    assert garbled.status_code == 422 and "venue_overrides" in errors_of(garbled.text)
    unknown = post_form(client, "/admin/revenue", {"default_bps": "6000",
                                                    "venue_overrides": "ven_nowhere 5000"})
    assert unknown.status_code == 422
    assert "ven_nowhere" in errors_of(unknown.text)["venue_overrides"]
    odd_hour = post_form(client, "/admin/revenue", {"default_bps": "6000",
                                                     "effective_from": "2031-01-01T10:30"})
    assert odd_hour.status_code == 422 and "effective_from" in errors_of(odd_hour.text)
    assert policy(client) == before

    made = post_form(client, "/admin/revenue", {
        "default_bps": "6500", "venue_overrides": f"{venue['id']} 8000",
        "effective_from": "2031-01-01T10:00"})
    assert made.status_code == 303 and made.headers["location"] == "/admin/revenue?version=1"
    after = policy(client)
    assert after["scheduled"][0]["default_bps"] == 6500
    assert after["scheduled"][0]["venue_overrides"] == [{"venue_id": venue["id"], "bps": 8000}]
    shown = client.get(made.headers["location"]).text
    assert "Version 1 of the policy is saved" in shown and "65 %" in shown
    assert "Gym: 80 %" in shown
    assert csrf_of(shown)
