"""The advertiser's pages, through a browser-like client on both databases: the campaign wizard
(upload with its previews, the forecast with the matching screens, the draft, the submission
that waits for a confirmed address), the campaign's page with its delivery charts, where it
played and its CSV, pause and resume, creatives, invoices; another org's objects answer 404 and
a post without the form token 403.

The network (a venue open around the clock with a paired screen, an approved campaign) is the
proof-of-play tests' (`tests/control_plane/reporting/conftest.py`), made through the API."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from control_plane.dashboard import charts
from tests import media_samples
from tests.control_plane.dashboard.pages import csrf_of, post_form, sign_in, sign_up
from tests.control_plane.reporting.conftest import Network, make_network
from tests.helpers import PASSWORD, login, signup, until

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\ssrc=)")


@pytest.fixture
def net(settings, tmp_path) -> Iterator[Network]:
    with make_network(settings, tmp_path) as network:
        yield network


def browser(net: Network, email: str | None = None) -> TestClient:
    """A browser of the network's app, signed in as `email` (default: its advertiser)."""
    client = TestClient(net.app)
    sign_in(client, email or net.advertiser.email)
    return client


def no_inline_code(html: str) -> None:
    assert not INLINE_SCRIPT.search(html)
    assert " style=" not in html and "<style" not in html


def flight(days: int = 20) -> dict[str, str]:
    now = datetime.now(UTC)
    return {"start_at": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "end_at": (now + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")}


def wizard_fields(media_id: str, **changes: Any) -> dict[str, Any]:
    return {"media_id": media_id, "duration_s": "10", "name": "Spring menu", "category": "1003",
            **flight(), "daypart-0-days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "daypart-0-start": "00:00", "daypart-0-end": "24:00", "venue_type_ids": ["1"],
            "lat": "48.85", "lon": "2.35", "radius_km": "10", "budget": "500.00",
            "cpm": "8.00", "currency": "EUR", "pacing": "even", **changes}


def upload(client: TestClient, tmp_path, *, to_wizard: bool = True, path=None) -> Any:
    page = client.get("/campaigns/new" if to_wizard else "/media")
    path = path or media_samples.png(tmp_path)
    with path.open("rb") as f:
        return client.post("/media/upload", data={"csrf": csrf_of(page.text),
                                                  **({"next": "wizard"} if to_wizard else {})},
                           files={"file": (path.name, f, "image/png")}, follow_redirects=False)


def ready(client: TestClient, media_id: str) -> str:
    """The previews fragment once the renditions are made (it stops asking again)."""
    return until(lambda: (lambda t: t if "hx-trigger" not in t else None)(
        client.get(f"/media/{media_id}/previews").text), 60, "renditions")


def campaigns_of(net: Network, account) -> list[dict[str, Any]]:
    return net.client.get("/v1/campaigns", headers=account.headers).json()["items"]


def test_the_wizard_uploads_forecasts_saves_a_draft_and_submits_it(net: Network, tmp_path):
    pages = browser(net)
    page = pages.get("/campaigns/new")
    assert page.status_code == 200
    assert "data-upload" in page.text and "<progress hidden" in page.text
    assert "map tiles" in page.text.lower() and 'name="category"' in page.text
    no_inline_code(page.text)

    answer = upload(pages, tmp_path)
    assert answer.status_code == 303, answer.text
    media_id = answer.headers["location"].split("media=")[1]
    previews = ready(pages, media_id)
    assert "1920×1080" in previews and "<img" in previews  # the network's screen size
    assert "1920×1080" in pages.get(f"/campaigns/new?media={media_id}").text

    before = len(campaigns_of(net, net.advertiser))
    fields = wizard_fields(media_id)
    forecast = post_form(pages, "/campaigns/new", {**fields, "step": "forecast"})
    assert forecast.status_code == 200, forecast.text
    assert re.search(r"data-matching-screens>1<", forecast.text)  # the network's one screen
    assert 'value="Spring menu"' in forecast.text  # what was typed stays
    far = post_form(pages, "/campaigns/new", {**fields, "lat": "-33.9", "lon": "18.4",
                                              "step": "forecast"})
    assert re.search(r"data-matching-screens>0<", far.text)
    assert len(campaigns_of(net, net.advertiser)) == before  # a forecast saves nothing

    saved = post_form(pages, "/campaigns/new", {**fields, "step": "create"})
    assert saved.status_code == 303, saved.text
    campaign_id = saved.headers["location"].split("/")[2].split("?")[0]
    draft = pages.get(saved.headers["location"])
    assert draft.status_code == 200
    assert "Submit for review" in draft.text and "draft" in draft.text
    assert re.search(r"data-matching-screens>1<", draft.text)  # the forecast before submitting
    assert "<svg" in draft.text and "Where it may play" in draft.text
    no_inline_code(draft.text)
    body = net.client.get(f"/v1/campaigns/{campaign_id}", headers=net.advertiser.headers).json()
    assert body["budget_cents"] == 50_000 and body["cpm_cents"] == 800
    assert body["targeting"]["geo"] == {"lat": 48.85, "lon": 2.35, "radius_km": 10.0}
    assert body["creatives"][0]["media_id"] == media_id

    sent = post_form(pages, f"/campaigns/{campaign_id}/submit", {},
                     from_page=f"/campaigns/{campaign_id}")
    assert sent.status_code == 303
    assert "Sent for review" in pages.get(sent.headers["location"]).text
    assert net.client.get(f"/v1/campaigns/{campaign_id}",
                          headers=net.advertiser.headers).json()["state"] == "pending_review"


def test_a_bad_wizard_form_shows_its_errors_and_saves_nothing(net: Network):
    pages = browser(net)
    before = len(campaigns_of(net, net.advertiser))
    answer = post_form(pages, "/campaigns/new", {
        **wizard_fields("", name="", budget="lots", lat="91", radius_km=""), "step": "create"})
    assert answer.status_code == 422
    for name in ("name", "budget", "lat", "radius_km", "media_id"):
        assert f'id="e-{name}"' in answer.text, name
    assert 'value="lots"' in answer.text
    backwards = post_form(pages, "/campaigns/new", {
        **wizard_fields("", start_at=flight()["end_at"], end_at=flight()["start_at"]),
        "step": "forecast"})
    assert backwards.status_code == 422 and 'id="e-end_at"' in backwards.text
    huge = post_form(pages, "/campaigns/new", {**wizard_fields("", budget="1e400"),
                                               "step": "forecast"})
    assert huge.status_code == 422 and 'id="e-budget"' in huge.text
    assert len(campaigns_of(net, net.advertiser)) == before


def test_an_unverified_advertiser_is_told_to_confirm_the_address_first(net: Network):
    pages = TestClient(net.app)
    sign_up(pages, "advertiser", email="new@example.com", org_name="New shop")
    token = login(pages, "new@example.com", PASSWORD)
    made = net.client.post("/v1/campaigns", headers={"Authorization": f"Bearer {token}"}, json={
        "name": "First", "category": "1003", "currency": "EUR", "budget_cents": 10_000,
        "cpm_cents": 500, "start_at": "2030-01-01T00:00:00Z", "end_at": "2030-02-01T00:00:00Z"})
    campaign_id = made.json()["id"]
    answer = post_form(pages, f"/campaigns/{campaign_id}/submit", {},
                       from_page=f"/campaigns/{campaign_id}")
    assert answer.status_code == 403
    assert "confirm your email address" in answer.text
    assert 'action="/verify-email/resend"' in answer.text
    assert pages.get(f"/campaigns/{campaign_id}").text.count("Submit for review") == 1


def test_the_campaign_page_shows_delivery_where_it_played_and_the_csv(net: Network):
    device, campaign = net.device, net.campaign
    records = [device.record(campaign["id"], net.creative_id) for _ in range(4)]
    assert net.upload_pop(device.batch(records)).json()["accepted"] == 4
    pages = browser(net)
    page = pages.get(f"/campaigns/{campaign['id']}")
    assert page.status_code == 200
    assert "Plays per day" in page.text and "Plays by hour of the day" in page.text
    assert page.text.count('role="img"') >= 2 and "as a table" in page.text
    assert "Gym" in page.text and "Front" in page.text  # where it played
    assert "Pause" in page.text
    no_inline_code(page.text)
    spend = pages.get(f"/campaigns/{campaign['id']}?metric=spend&days=7")
    assert "Spend per day, last 7 days" in spend.text and "EUR" in spend.text

    download = pages.get(f"/campaigns/{campaign['id']}/delivery.csv?group_by=screen")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert sum(int(r["plays"]) for r in rows) == 4 and rows[0]["screen_name"] == "Front"
    api = net.client.get("/v1/reports/delivery", headers=net.advertiser.headers, params={
        "group_by": "day", "campaign_id": campaign["id"], "format": "csv"})
    assert pages.get(f"/campaigns/{campaign['id']}/delivery.csv?group_by=day").text == api.text


def test_pause_and_resume_need_the_form_token(net: Network):
    pages = browser(net)
    url = f"/campaigns/{net.campaign['id']}"
    pages.get(url)
    refused = pages.post(f"{url}/pause", data={}, follow_redirects=False)
    assert refused.status_code == 403
    assert net.client.get(f"/v1{url}", headers=net.advertiser.headers).json()["state"] == "active"
    paused = post_form(pages, f"{url}/pause", {}, from_page=url)
    assert paused.status_code == 303
    page = pages.get(paused.headers["location"])
    assert "Paused" in page.text and "Resume" in page.text
    assert post_form(pages, f"{url}/pause", {}, from_page=url).status_code == 409  # twice
    assert post_form(pages, f"{url}/resume", {}, from_page=url).status_code == 303
    assert net.client.get(f"/v1{url}", headers=net.advertiser.headers).json()["state"] == "active"


def test_another_orgs_objects_answer_404_and_bad_addresses_never_500(net: Network, tmp_path):
    media_id = net.campaign["creatives"][0]["media_id"]
    rival = signup(net.client, "advertiser", email="rival@example.com")
    pages = browser(net, rival.email)
    campaign = f"/campaigns/{net.campaign['id']}"
    for path in (campaign, f"{campaign}/delivery.csv", f"{campaign}/edit",
                 f"/media/{media_id}", f"/media/{media_id}/previews", "/campaigns/cmp_nope",
                 "/invoices/inv_nope"):
        assert pages.get(path).status_code == 404, path
    own = pages.get("/campaigns")
    assert post_form(pages, f"{campaign}/pause", {}, from_page="/campaigns").status_code == 404
    assert net.campaign["name"] not in own.text
    for path in (f"{campaign}?days=500", f"{campaign}?metric=x",
                 f"{campaign}/delivery.csv?group_by=x", "/campaigns/" + "x" * 200):
        assert pages.get(path).status_code in (404, 422), path
    assert not pages.get("/media").text.count(media_id)


def test_creatives_list_their_state_and_a_bad_upload_says_why(net: Network, tmp_path):
    pages = browser(net)
    empty = media_samples.empty(tmp_path)
    refused = upload(pages, tmp_path, to_wizard=False, path=empty)
    assert refused.status_code in (400, 415, 422), refused.text
    assert 'id="e-file"' in refused.text
    listing = pages.get("/media")
    assert listing.status_code == 200 and "ad.png" in listing.text  # the network's creative
    assert "ready" in listing.text
    no_inline_code(listing.text)


def test_invoices_are_listed_and_shown_and_only_the_platform_records_a_payment(net: Network):
    device, campaign = net.device, net.campaign
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    records = [device.record(campaign["id"], net.creative_id,
                             started_at=hour - timedelta(hours=2) + timedelta(seconds=12 * i))
               for i in range(50)]
    assert net.upload_pop(device.batch(records)).json()["accepted"] == 50
    closed = net.client.post("/v1/billing/cycles/close", headers=net.admin, json={
        "period_start": (hour - timedelta(hours=3)).isoformat(),
        "period_end": hour.isoformat()})
    assert closed.status_code == 200, closed.text
    pages = browser(net)
    listing = pages.get("/invoices")
    assert listing.status_code == 200 and "offline" in listing.text
    invoice = net.client.get("/v1/invoices", headers=net.advertiser.headers).json()["invoices"][0]
    assert f'href="/invoices/{invoice["id"]}"' in listing.text
    assert "1.25 EUR" in listing.text  # 50 plays × 2.5 = 125 impressions at 10.00 CPM
    page = pages.get(f"/invoices/{invoice['id']}")
    assert page.status_code == 200 and "Winter beers" in page.text
    assert "Record as paid" not in page.text
    assert post_form(pages, f"/invoices/{invoice['id']}/mark-paid", {},
                     from_page="/invoices").status_code == 403
    rival = signup(net.client, "advertiser")
    assert browser(net, rival.email).get(f"/invoices/{invoice['id']}").status_code == 404

    admin = browser(net, "root@example.com")
    paid = post_form(admin, f"/invoices/{invoice['id']}/mark-paid", {},
                     from_page=f"/invoices/{invoice['id']}")
    assert paid.status_code == 303
    assert net.client.get(f"/v1/invoices/{invoice['id']}",
                          headers=net.advertiser.headers).json()["status"] == "paid"


def test_the_empty_pages_say_what_to_do_next(client: TestClient):
    sign_up(client, "advertiser", email="fresh@example.com")
    for path, hint in (("/media", "No creative yet"), ("/invoices", "No invoice yet")):
        page = client.get(path)
        assert page.status_code == 200 and hint in page.text, path


def test_a_bar_chart_has_a_title_axes_and_its_table():
    svg = str(charts.bars("Plays per day", [charts.Bar("12-01", 3), charts.Bar("12-02", 0),
                                            charts.Bar("12-03", 7.5)],
                          x_title="Day", y_title="Plays"))
    assert "<title" in svg and 'role="img"' in svg and "aria-labelledby" in svg
    assert svg.count('class="bar"') == 3
    assert ">10<" in svg  # the y axis tops at a round number above 7.5
    assert "<table>" in svg and "12-03" in svg and "7.50" in svg
    assert "style=" not in svg
    escaped = str(charts.bars("<b>", [charts.Bar("<i>", 1)]))
    assert "<b>" not in escaped and "<i>" not in escaped
    assert charts.nice_ceiling(0) == 1 and charts.nice_ceiling(1234) == 2000


def test_a_draft_is_changed_through_its_form_and_a_bad_change_changes_nothing(net: Network):
    made = net.client.post("/v1/campaigns", headers=net.advertiser.headers, json={
        "name": "Draft one", "category": "1003", "currency": "EUR", "budget_cents": 10_000,
        "cpm_cents": 500, "start_at": "2030-01-01T00:00:00Z", "end_at": "2030-02-01T00:00:00Z"})
    url = f"/campaigns/{made.json()['id']}"
    pages = browser(net)
    form = pages.get(f"{url}/edit")
    assert form.status_code == 200 and 'value="Draft one"' in form.text
    assert 'value="100.00"' in form.text  # the budget, in EUR
    fields = {"name": "Draft two", "category": "1003", "start_at": "2030-01-01T00:00",
              "end_at": "2030-02-01T00:00", "budget": "250", "cpm": "5.00", "pacing": "asap"}
    bad = post_form(pages, f"{url}/edit", {**fields, "cpm": "-1"}, from_page=f"{url}/edit")
    assert bad.status_code == 422 and 'id="e-cpm"' in bad.text
    assert net.client.get(f"/v1{url}", headers=net.advertiser.headers).json()["name"] == \
        "Draft one"
    saved = post_form(pages, f"{url}/edit", fields, from_page=f"{url}/edit")
    assert saved.status_code == 303
    body = net.client.get(f"/v1{url}", headers=net.advertiser.headers).json()
    assert body["name"] == "Draft two" and body["budget_cents"] == 25_000
    assert body["pacing"] == "asap" and body["currency"] == "EUR"

    no_creative = post_form(pages, f"{url}/creatives", {"media_id": ""}, from_page=url)
    assert no_creative.status_code == 422 and 'id="e-media_id"' in no_creative.text
    media_id = net.campaign["creatives"][0]["media_id"]
    added = post_form(pages, f"{url}/creatives", {"media_id": media_id, "duration_s": "10"},
                      from_page=url)
    assert added.status_code == 303
    assert len(net.client.get(f"/v1{url}", headers=net.advertiser.headers)
               .json()["creatives"]) == 1


def test_an_upload_without_the_form_token_is_refused(net: Network, tmp_path):
    pages = browser(net)
    pages.get("/media")
    with media_samples.png(tmp_path).open("rb") as f:
        answer = pages.post("/media/upload", files={"file": ("x.png", f, "image/png")})
    assert answer.status_code == 403
    assert len(net.client.get("/v1/media", headers=net.advertiser.headers).json()["items"]) == 1


def test_the_wizard_targets_an_audience_and_says_what_is_wrong_with_one(net: Network, tmp_path):
    pages = browser(net)
    media_id = upload(pages, tmp_path).headers["location"].split("media=")[1]
    ready(pages, media_id)
    fields = {**wizard_fields(media_id), "audience_ages": ["25-34", "35-44"],
              "audience_genders": ["female"], "audience_min_share": "30", "step": "create"}
    before = len(campaigns_of(net, net.advertiser))
    for bad, said in (({"audience_ages": []}, "no bands"),
                      ({"audience_min_share": "0"}, "greater than 0"),
                      ({"audience_min_share": "lots"}, "number")):
        answer = post_form(pages, "/campaigns/new", {**fields, **bad})
        assert answer.status_code == 422, bad
        assert 'id="e-audience"' in answer.text and said in answer.text.lower(), bad
    assert len(campaigns_of(net, net.advertiser)) == before  # nothing saved
    saved = post_form(pages, "/campaigns/new", fields)
    assert saved.status_code == 303, saved.text
    campaign_id = saved.headers["location"].split("/")[2].split("?")[0]
    body = net.client.get(f"/v1/campaigns/{campaign_id}", headers=net.advertiser.headers).json()
    assert body["targeting"]["audience"] == {
        "segments": [{"age_bands": ["25-34", "35-44"], "genders": ["female"]}],
        "min_share": 0.3}
    page = pages.get(f"/campaigns/{campaign_id}").text
    assert "25-34, 35-44 year-olds (female): at least 30 % of viewers" in page
    edit = pages.get(f"/campaigns/{campaign_id}/edit").text  # the form shows it back
    assert re.search(r'value="25-34" checked', edit) and 'value="30"' in edit
