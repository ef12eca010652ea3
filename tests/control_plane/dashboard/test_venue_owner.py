"""The venue owner's and technician's pages: venues and screens made through the pages, a screen
paired with the code a unit asked for, its live status after a heartbeat, a remote command and
its acknowledgement, the timeline, moderation and earnings; another org's objects answer 404, a
technician pairs but does not change venues, forms without their token are refused, and bad
forms show their errors and change nothing."""

from __future__ import annotations

import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from control_plane.orgs import service as orgs_service
from control_plane.orgs.models import Role
from control_plane.scheduling import preview
from tests.control_plane.dashboard.pages import csrf_of, post_form, sign_in, sign_up
from tests.control_plane.devices.test_pairing import SCREEN, ask_code
from tests.control_plane.moderation.test_moderation import approved_campaign, ready_media
from tests.control_plane.reporting.conftest import network
from tests.control_plane.revenue.test_payouts import EARNED_PER_120, bill, period
from tests.helpers import PASSWORD, Account, bearer, signup

pytestmark = pytest.mark.usefixtures("clean_db")
__all__ = ["network"]  # the proof-of-play network of the reporting tests (a fixture)
ALWAYS = {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
VENUE_FORM = {"name": "Corner bar", "address": "1 rue de la Paix, Paris", "lat": "48.8566",
              "lon": "2.3522", "timezone": "Europe/Paris", "venue_type_id": "1",
              "moderation": "auto", "hours_mon": "08:00-12:00, 18:00-02:00",
              "hours_sat": "10:00-23:00", "blocked_categories": ["1003"]}


def _browser(app: Any, email: str) -> TestClient:
    browser = TestClient(app)
    sign_in(browser, email)
    return browser


def _venue_org(client: TestClient, app: Any, **venue: Any) -> tuple[Account, TestClient,
                                                                   dict[str, Any], dict[str, Any]]:
    """A venue org (through the API) with a venue and a screen, and its signed-in browser."""
    owner = signup(client, "venue")
    made = client.post("/v1/venues", headers=owner.headers, json={
        "name": "Gym", "lat": 48.85, "lon": 2.35, "timezone": "Europe/Paris",
        "venue_type_id": 1, "opening_hours": ALWAYS, **venue}).json()
    screen = client.post(f"/v1/venues/{made['id']}/screens", headers=owner.headers,
                         json=SCREEN).json()
    return owner, _browser(app, owner.email), made, screen


def _technician(app: Any, org_id: str, email: str = "tech@example.com") -> TestClient:
    with app.state.sessionmaker() as session:
        tech = orgs_service.create_user(session=session, email=email, name="Tess",
                                        password=PASSWORD, email_verified=True)
        orgs_service.add_membership(session=session, org_id=org_id, user_id=tech.id,
                                    role=Role.technician)
        session.commit()
    return _browser(app, email)


def _pair(client: TestClient, browser: TestClient, screen_id: str) -> dict[str, Any]:
    """A unit asks for a code; the browser claims it for the screen; the unit's credentials."""
    ticket = ask_code(client)
    answer = post_form(browser, "/pair", {"screen_id": screen_id, "code": ticket["code"]})
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"/screens/{screen_id}?paired=1"
    creds: dict[str, Any] = client.get(f"/v1/device/pairings/{ticket['pairing_id']}").json()
    assert creds["status"] == "claimed"
    return creds


def test_a_venue_owner_adds_a_venue_changes_it_and_adds_a_screen(client: TestClient,
                                                                 app: Any) -> None:
    sign_up(client, "venue", email="val@example.com", org_name="Val's bars")
    token = bearer(client.post("/v1/auth/token", json={"email": "val@example.com",
                                                       "password": PASSWORD}).json()
                   ["access_token"])
    page = client.get("/venues")
    assert page.status_code == 200 and "No venue yet" in page.text
    assert 'href="/venues/new"' in page.text
    assert 'href="/static/venue.css"' in page.text
    assert client.get("/static/venue.css").status_code == 200

    # bad forms: errors next to their fields, nothing made
    bad = post_form(client, "/venues/new", {**VENUE_FORM, "lat": "", "timezone": "Mars/Base",
                                            "hours_sun": "9-5"})
    assert bad.status_code == 422
    assert 'id="e-lat"' in bad.text and 'id="e-timezone"' in bad.text
    assert "Mars/Base" in bad.text  # the form keeps what was typed
    bad = post_form(client, "/venues/new", {**VENUE_FORM, "hours_sun": "9-5"})
    assert bad.status_code == 422 and 'id="e-opening_hours"' in bad.text
    bad = post_form(client, "/venues/new", {**VENUE_FORM, "venue_type_id": "999999"})
    assert bad.status_code == 422 and 'id="e-venue_type_id"' in bad.text
    assert client.get("/v1/venues", headers=token).json()["items"] == []
    # without the form's token
    refused = client.post("/venues/new", data=VENUE_FORM, follow_redirects=False)
    assert refused.status_code == 403
    assert client.get("/v1/venues", headers=token).json()["items"] == []

    made = post_form(client, "/venues/new", VENUE_FORM, from_page="/venues/new")
    assert made.status_code == 303
    venue_id = made.headers["location"].rsplit("/", 1)[1]
    venue = client.get(f"/v1/venues/{venue_id}", headers=token).json()
    assert venue["opening_hours"] == {"mon": [["08:00", "12:00"], ["18:00", "02:00"]],
                                      "sat": [["10:00", "23:00"]]}
    assert venue["blocked_categories"] == ["1003"] and venue["timezone"] == "Europe/Paris"
    page = client.get(f"/venues/{venue_id}")
    assert page.status_code == 200
    assert "1 rue de la Paix" in page.text and "18:00–02:00" in page.text
    assert "No screen here yet" in page.text
    assert "Corner bar" in client.get("/venues").text

    edit = client.get(f"/venues/{venue_id}/edit")
    assert edit.status_code == 200 and 'value="1 rue de la Paix, Paris"' in edit.text
    changed = post_form(client, f"/venues/{venue_id}/edit",
                        {**VENUE_FORM, "name": "Corner bar & grill", "moderation": "manual",
                         "blocked_categories": []})
    assert changed.status_code == 303
    venue = client.get(f"/v1/venues/{venue_id}", headers=token).json()
    assert venue["name"] == "Corner bar & grill" and venue["moderation"] == "manual"
    assert venue["blocked_categories"] == []
    bad = post_form(client, f"/venues/{venue_id}/edit", {**VENUE_FORM, "name": ""})
    assert bad.status_code == 422 and 'id="e-name"' in bad.text
    assert client.get(f"/v1/venues/{venue_id}", headers=token).json()["name"] \
        == "Corner bar & grill"

    bad = post_form(client, f"/venues/{venue_id}/screens",
                    {"name": "TV", "width_px": "10", "height_px": "1080"},
                    from_page=f"/venues/{venue_id}")
    assert bad.status_code == 422 and 'id="e-width_px"' in bad.text
    screens = f"/v1/venues/{venue_id}/screens"
    assert client.get(screens, headers=token).json()["items"] == []
    added = post_form(client, f"/venues/{venue_id}/screens",
                      {"name": "TV by the door", "width_px": "1920", "height_px": "1080",
                       "orientation": "landscape"}, from_page=f"/venues/{venue_id}")
    assert added.status_code == 303
    [screen] = client.get(screens, headers=token).json()["items"]
    assert added.headers["location"] == f"/pair?screen={screen['id']}"
    page = client.get(f"/venues/{venue_id}")
    assert "TV by the door" in page.text and "unpaired" in page.text
    pair = client.get(added.headers["location"])
    assert f'<option value="{screen["id"]}" selected>' in pair.text


def test_pairing_then_live_status_a_command_and_its_acknowledgement(client: TestClient,
                                                                    app: Any) -> None:
    owner, browser, _, screen = _venue_org(client, app)
    owner_token = owner.token
    page = browser.get("/pair")
    assert page.status_code == 200 and "Gym — Screen (not paired)" in page.text
    ticket = ask_code(client)
    wrong = post_form(browser, "/pair", {"screen_id": screen["id"], "code": "ZZZ-ZZZ"})
    assert wrong.status_code == 404 and 'id="e-code"' in wrong.text
    empty = post_form(browser, "/pair", {"screen_id": "", "code": ""})
    assert empty.status_code == 422
    assert 'id="e-code"' in empty.text and 'id="e-screen_id"' in empty.text
    refused = browser.post("/pair", data={"screen_id": screen["id"], "code": ticket["code"]},
                           follow_redirects=False)
    assert refused.status_code == 403
    answer = post_form(browser, "/pair", {"screen_id": screen["id"],
                                          "code": ticket["code"].lower()})
    assert answer.status_code == 303
    creds = client.get(f"/v1/device/pairings/{ticket['pairing_id']}").json()
    device = bearer(creds["device_token"])

    path = f"/screens/{screen['id']}"
    page = browser.get(path + "?paired=1")
    assert page.status_code == 200 and "Paired" in page.text
    assert f'hx-get="{path}/live" hx-trigger="every 5s"' in page.text
    assert "Take a screenshot" in page.text and "Restart the player" in page.text
    beat = client.post("/v1/device/heartbeat", headers=device, json={
        "schema": "adsbin.heartbeat/v1", "sent_at": "2026-12-07T10:00:00Z",
        "agent_version": "0.9.3", "now_playing": {"kind": "house", "label": "Welcome loop"},
        "cache": {"files": 3, "bytes": 5 * 1048576, "quota_bytes": 1024 * 1048576}})
    assert beat.status_code == 200, beat.text
    live = browser.get(path + "/live", headers={"HX-Request": "true"})
    assert live.status_code == 200 and "<html" not in live.text
    assert "state-online" in live.text and "0.9.3" in live.text
    assert "Welcome loop" in live.text and "3 files, 5.0 MB of 1,024 MB" in live.text
    assert "No screenshot yet" in live.text

    # the screenshot button: a command, queued, then acknowledged with its picture
    sent = browser.post(path + "/commands", data={"type": "screenshot"},
                        headers={"HX-Request": "true", "X-CSRF-Token": csrf_of(page.text)})
    assert sent.status_code == 200 and "state-queued" in sent.text
    [command] = client.get("/v1/device/commands", headers=device).json()
    assert command["type"] == "screenshot"
    png = io.BytesIO()
    Image.new("RGB", (64, 36), (20, 120, 200)).save(png, "PNG")
    assert client.put(command["upload_url"], content=png.getvalue(),
                      headers={"Content-Type": "image/png"}).status_code == 201
    assert client.post(f"/v1/device/commands/{command['id']}/ack", headers=device,
                       json={"status": "acked"}).status_code == 200
    live = browser.get(path + "/live")
    assert "state-acked" in live.text and "The latest screenshot of Screen" in live.text
    shot = live.text.split('<img src="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert Image.open(io.BytesIO(client.get(shot).content)).size == (64, 36)
    # a button without JavaScript: a post and back to the page; a made-up command is refused
    again = post_form(browser, path + "/commands", {"type": "reboot"}, from_page=path)
    assert again.status_code == 303 and again.headers["location"] == path
    assert "Restart the player" in browser.get(path + "/live").text
    bad = post_form(browser, path + "/commands", {"type": "self_destruct"}, from_page=path)
    assert bad.status_code == 422 and "Choose one of the commands" in bad.text
    assert len(client.get("/v1/device/commands", headers=device).json()) == 1  # the reboot
    refused = browser.post(path + "/commands", data={"type": "reboot"}, follow_redirects=False)
    assert refused.status_code == 403

    # what plays and why
    timeline = browser.get(path + "/timeline", headers={"HX-Request": "true"})
    assert timeline.status_code == 200 and "<html" not in timeline.text
    assert "The next 24 hours" in timeline.text
    # windows in a row that play alike are shown as one row, a loop's repeats counted
    windows = client.get(f"/v1/screens/{screen['id']}/timeline",
                         headers=bearer(owner_token)).json()["windows"]
    assert len(windows) > 1 and timeline.text.count("<tr>") - 1 < len(windows)
    assert browser.get(path + "/timeline").status_code == 200


def test_another_orgs_venue_and_screen_answer_404(client: TestClient, app: Any) -> None:
    _, _, venue, screen = _venue_org(client, app)
    _, rival, _, rival_screen = _venue_org(client, app)
    for path in (f"/venues/{venue['id']}", f"/venues/{venue['id']}/edit",
                 f"/screens/{screen['id']}", f"/screens/{screen['id']}/live",
                 f"/screens/{screen['id']}/timeline", "/venues/nope", "/screens/nope"):
        answer = rival.get(path)
        assert answer.status_code == 404, path
        assert "Gym" not in answer.text or path.endswith("nope")
    token = csrf_of(rival.get("/venues").text)
    for path, data in ((f"/venues/{venue['id']}/edit", VENUE_FORM),
                       (f"/venues/{venue['id']}/screens", {"name": "x", "width_px": "1920",
                                                           "height_px": "1080"}),
                       (f"/screens/{screen['id']}/commands", {"type": "reboot"}),
                       ("/pair", {"screen_id": screen["id"], "code": "ABC-DEF"})):
        answer = rival.post(path, data={"csrf": token, **data}, follow_redirects=False)
        assert answer.status_code == 404, path
    # the rival's own pair page lists only its own screens
    page = rival.get("/pair")
    assert rival_screen["id"] in page.text and screen["id"] not in page.text


def test_a_technician_pairs_and_sees_diagnostics_but_changes_no_venue(client: TestClient,
                                                                      app: Any) -> None:
    owner, _, venue, screen = _venue_org(client, app)
    tech = _technician(app, owner.org_id)
    page = tech.get("/venues")
    assert page.status_code == 200 and "Gym" in page.text
    assert 'href="/venues/new"' not in page.text
    page = tech.get(f"/venues/{venue['id']}")
    assert page.status_code == 200 and "Change the venue" not in page.text
    assert "Add a screen" not in page.text
    assert tech.get("/venues/new").status_code == 403
    assert tech.get(f"/venues/{venue['id']}/edit").status_code == 403
    assert post_form(tech, "/venues/new", VENUE_FORM, from_page="/venues").status_code == 403
    assert post_form(tech, f"/venues/{venue['id']}/screens",
                     {"name": "x", "width_px": "1920", "height_px": "1080"},
                     from_page="/venues").status_code == 403
    assert len(client.get("/v1/venues", headers=owner.headers).json()["items"]) == 1
    assert tech.get("/earnings").status_code == 403
    assert tech.get("/moderation").status_code == 403

    creds = _pair(client, tech, screen["id"])
    client.post("/v1/device/heartbeat", headers=bearer(creds["device_token"]), json={
        "schema": "adsbin.heartbeat/v1", "sent_at": "2026-12-07T10:00:00Z",
        "agent_version": "0.9.4", "disk_free_bytes": 2 * 1073741824})
    page = tech.get(f"/screens/{screen['id']}")
    assert page.status_code == 200 and "0.9.4" in page.text and "2.0 GB" in page.text
    assert "Take a screenshot" in page.text

    # unpairing: the player's token stops working, the screen waits for a new code
    path = f"/screens/{screen['id']}"
    assert tech.post(path + "/unpair", data={}, follow_redirects=False).status_code == 403
    assert post_form(tech, path + "/unpair", {}, from_page=path).status_code == 303
    assert "state-unpaired" in tech.get(path + "/live").text
    assert client.post("/v1/device/heartbeat", headers=bearer(creds["device_token"]), json={
        "schema": "adsbin.heartbeat/v1", "sent_at": "2026-12-07T10:00:00Z",
        "agent_version": "0.9.4"}).status_code == 401
    again = post_form(tech, path + "/unpair", {}, from_page=path)
    assert again.status_code == 404 and "no paired device" in again.text
    # a command to an unpaired screen: refused, said on the page (in the fragment for htmx)
    refused = post_form(tech, path + "/commands", {"type": "identify"}, from_page=path)
    assert refused.status_code == 404 and refused.text.count("no paired device to command") == 1
    token = csrf_of(tech.get(path).text)
    refused = tech.post(path + "/commands", data={"type": "identify"},
                        headers={"HX-Request": "true", "X-CSRF-Token": token})
    assert refused.status_code == 200 and "<html" not in refused.text
    assert "no paired device to command" in refused.text


def test_the_moderation_queue_approve_and_block(client: TestClient, app: Any) -> None:
    owner, browser, venue, _ = _venue_org(client, app, moderation="manual", name="Quiet café")
    assert "Nothing waits for your approval" in browser.get("/moderation").text
    advertiser = signup(client, "advertiser")
    campaign_id, _ = approved_campaign(app, advertiser.org_id,
                                       ready_media(app, advertiser.org_id, "b"), name="Shoes")
    page = browser.get("/moderation")
    assert page.status_code == 200 and "Shoes" in page.text and "Quiet café" in page.text
    [item] = client.get("/v1/moderation/queue", headers=owner.headers).json()["items"]
    path = f"/moderation/{item['item_id']}"

    no_reason = post_form(browser, path + "/reject", {"scope": "creative"},
                          from_page="/moderation")
    assert no_reason.status_code == 422 and "say why you reject it" in no_reason.text
    bad_scope = post_form(browser, path + "/approve", {"scope": "everything"},
                          from_page="/moderation")
    assert bad_scope.status_code == 422
    refused = browser.post(path + "/approve", data={"scope": "creative"},
                           follow_redirects=False)
    assert refused.status_code == 403
    assert len(client.get("/v1/moderation/queue", headers=owner.headers).json()["items"]) == 1

    rival = _venue_org(client, app)[1]
    answer = post_form(rival, path + "/approve", {"scope": "creative"}, from_page="/venues")
    assert answer.status_code == 404
    assert len(client.get("/v1/moderation/queue", headers=owner.headers).json()["items"]) == 1

    approved = post_form(browser, path + "/approve", {"scope": "creative"},
                         from_page="/moderation")
    assert approved.status_code == 303
    assert client.get("/v1/moderation/queue", headers=owner.headers).json()["items"] == []
    assert "Nothing waits for your approval" in browser.get("/moderation?decided=1").text
    blocked = post_form(browser, path + "/reject",
                        {"scope": "advertiser", "reason": "not for our guests"},
                        from_page="/moderation")
    assert blocked.status_code == 303
    with app.state.sessionmaker() as session:
        timeline = preview.timeline(session=session, screen_id=_screen_of(client, owner,
                                                                          venue["id"]))
    assert timeline.exclusions[campaign_id] == [
        "rejected by the venue: advertiser rejected: not for our guests"]


def _screen_of(client: TestClient, owner: Account, venue_id: str) -> str:
    items = client.get(f"/v1/venues/{venue_id}/screens", headers=owner.headers).json()["items"]
    return str(items[0]["id"])


def test_earnings_and_the_payout_setup(client: TestClient, app: Any) -> None:
    _, browser, _, _ = _venue_org(client, app)
    page = browser.get("/earnings")
    assert page.status_code == 200 and "Nothing yet in the closed periods" in page.text
    assert "Set up payouts" in page.text
    assert browser.get("/earnings?days=0").status_code == 422
    assert browser.get("/earnings?days=abc").status_code == 422
    refused = browser.post("/earnings/payouts", data={}, follow_redirects=False)
    assert refused.status_code == 403
    setup = post_form(browser, "/earnings/payouts", {}, from_page="/earnings")
    assert setup.status_code == 200 and "Continue to the payout setup" in setup.text
    assert "Continue the payout setup" in browser.get("/earnings").text \
        or "Payouts are set up" in browser.get("/earnings").text

    # an admin whose address is not confirmed is not paid yet
    unverified = signup(client, "venue", verified=False)
    other = _browser(app, unverified.email)
    answer = post_form(other, "/earnings/payouts", {}, from_page="/earnings")
    assert answer.status_code == 403 and "confirm your email" in answer.text.lower()


def test_pairing_a_screen_added_on_the_pairing_page(client: TestClient, app: Any) -> None:
    owner, browser, venue, _ = _venue_org(client, app)
    screens = f"/v1/venues/{venue['id']}/screens"
    page = browser.get("/pair")
    assert '<option value="new"' in page.text and 'id="f-new_venue_id"' in page.text
    ticket = ask_code(client)
    new = {"screen_id": "new", "code": ticket["code"], "new_venue_id": venue["id"],
           "new_name": "Window", "new_width_px": "1080", "new_height_px": "1920"}
    for bad, field in (({"new_width_px": "10"}, "new_width_px"),
                       ({"new_name": ""}, "new_name"), ({"new_venue_id": ""}, "new_venue_id")):
        answer = post_form(browser, "/pair", {**new, **bad})
        assert answer.status_code == 422 and f'id="e-{field}"' in answer.text, field
    assert len(client.get(screens, headers=owner.headers).json()["items"]) == 1
    answer = post_form(browser, "/pair", new)
    assert answer.status_code == 303
    made = [s for s in client.get(screens, headers=owner.headers).json()["items"]
            if s["name"] == "Window"]
    assert len(made) == 1 and made[0]["status"] != "unpaired"
    assert answer.headers["location"] == f"/screens/{made[0]['id']}?paired=1"
    # a technician pairs, but adds no screen
    tech = _technician(app, owner.org_id)
    assert '<option value="new"' not in tech.get("/pair").text
    assert post_form(tech, "/pair", {**new, "code": ask_code(client)["code"]},
                     from_page="/pair").status_code == 403


def test_earnings_show_a_closed_periods_statement(network: Any) -> None:
    """Plays billed through the API (a closed period, its invoice) show on /earnings."""
    bill(network, period(4))
    browser = _browser(network.app, network.venue_owner.email)
    page = browser.get("/earnings")
    assert page.status_code == 200
    earned = f"{EARNED_PER_120 / 100:,.2f} EUR"
    assert earned in page.text and ">Gym</a>" in page.text and network.screen["id"] in page.text
    assert "Nothing yet in the closed periods" not in page.text
