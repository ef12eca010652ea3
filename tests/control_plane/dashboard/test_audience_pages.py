"""Who watches a venue's screens, set from the venue's page and a screen's: the form saves what
the API's `PUT .../audience` saves (a new version each time), a screen's own profile wins over
its venue's until it is dropped, errors show next to the field that caused them and save
nothing, and only those the API lets change a venue or screen may (another org's: 404)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.control_plane.dashboard.pages import csrf_of, form_fields, post_form
from tests.control_plane.dashboard.test_venue_owner import _technician, _venue_org
from tests.helpers import Account

pytestmark = pytest.mark.usefixtures("clean_db")
AUDIENCE = {"source": "measured", "as_of": "2026-11-30", "dwell_minutes": "30",
            "rows": "4", "dp0_days": ["mon", "tue", "wed", "thu", "fri"], "dp0_start": "8:00",
            "dp0_end": "12:00", "dp0_viewers": "40", "dp1_days": ["sat", "sun"],
            "dp1_start": "10:00", "dp1_end": "24:00", "dp1_viewers": "25.5",
            "age_0": "10", "age_1": "30", "age_2": "25", "age_3": "20", "age_4": "10",
            "age_5": "5", "gender_female": "55", "gender_male": "44", "gender_other": "1"}


def _api_audience(client: TestClient, owner: Account, path: str) -> dict[str, Any]:
    answer = client.get(f"/v1{path}/audience", headers=owner.headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _as_posted(html: str, action: str) -> dict[str, list[str]]:
    """The form of a page as a browser posts it unchanged."""
    data: dict[str, list[str]] = defaultdict(list)
    for name, value in form_fields(html, action):
        data[name].append(value)
    return dict(data)


def test_a_venue_owner_describes_the_venues_audience_then_changes_it(client: TestClient,
                                                                      app: Any) -> None:
    owner, browser, venue, _ = _venue_org(client, app)
    path = f"/venues/{venue['id']}"
    page = browser.get(path)
    assert "No audience profile yet" in page.text
    assert f'href="{path}/audience"' in page.text and "Describe the audience" in page.text

    form = browser.get(f"{path}/audience")
    assert form.status_code == 200
    for name in ("source", "as_of", "dwell_minutes", "dp0_start", "dp0_end", "dp0_viewers",
                 "age_0", "gender_female"):
        assert f'<label for="f-{name}">' in form.text, name
    assert form.text.count('type="checkbox" name="dp0_days"') == 7

    saved = post_form(browser, f"{path}/audience", AUDIENCE)
    assert saved.status_code == 303 and saved.headers["location"] == f"{path}?audience=saved"
    found = _api_audience(client, owner, path)["in_force"]
    assert found["version"] == 1 and found["source"] == "measured"
    assert found["as_of"] == "2026-11-30" and found["dwell_minutes"] == 30
    assert [(d["weekdays"], d["start"], d["end"], d["viewers_per_hour"])
            for d in found["dayparts"]] == [
        (["mon", "tue", "wed", "thu", "fri"], "08:00", "12:00", 40),
        (["sat", "sun"], "10:00", "24:00", 25.5)]
    assert found["age"] == {"18-24": 0.1, "25-34": 0.3, "35-44": 0.25, "45-54": 0.2,
                            "55-64": 0.1, "65+": 0.05}
    assert found["gender"] == {"female": 0.55, "male": 0.44, "other": 0.01}
    page = browser.get(saved.headers["location"])
    assert "Saved: the new profile counts" in page.text and "version 1, measured" in page.text
    assert "25-34 30%" in page.text and "Sat, Sun" in page.text
    assert "Change the audience" in page.text

    # the form comes back filled in; a change is a new version, the old one kept
    again = browser.get(f"{path}/audience")
    assert 'value="40"' in again.text and 'value="2026-11-30"' in again.text
    assert 'value="sat" checked' in again.text
    changed = {**_as_posted(again.text, f"{path}/audience"), "dp0_viewers": ["60"]}
    assert browser.post(f"{path}/audience", data=changed,
                        follow_redirects=False).status_code == 303
    read = _api_audience(client, owner, path)
    assert read["in_force"]["version"] == 2
    assert [d["viewers_per_hour"] for d in read["in_force"]["dayparts"]] == [60, 25.5]
    assert read["in_force"]["age"] == found["age"]
    assert [p["version"] for p in read["history"]] == [2, 1]
    assert "Version 1: measured" in browser.get(f"{path}/audience").text

    # a row more to type into, nothing saved
    more = post_form(browser, f"{path}/audience", {**AUDIENCE, "action": "more"})
    assert more.status_code == 200 and 'name="dp7_start"' in more.text
    assert _api_audience(client, owner, path)["in_force"]["version"] == 2


@pytest.mark.parametrize(("change", "field", "says"), [
    ({"age_5": "0"}, "age", "add up to 95%, not 100%"),
    ({"age_0": "ten"}, "age", "is no number"),
    ({"gender_female": "", "gender_male": "", "gender_other": ""}, "gender", "adding up to 100"),
    ({"dp0_start": ""}, "dp0_start", "Give its start"),
    ({"dp1_days": []}, "dp1_days", "Choose its days"),
    ({"dp0_start": "25:00"}, "dp0_start", "not a time of day"),
    ({"dp1_start": "23:00", "dp1_end": "22:00"}, "dp1_end", "ends before it starts"),
    ({"dp1_days": ["fri"], "dp1_start": "11:00"}, "dayparts", "overlap"),
    ({"dp0_viewers": "-3"}, "dp0_viewers", "greater than or equal to 0"),
    ({"dwell_minutes": "0"}, "dwell_minutes", "greater than 0"),
    ({"source": "guess"}, "source", "owner_estimate"),
    ({"as_of": "yesterday"}, "as_of", "valid date"),
    ({k: "" for k in AUDIENCE if k.startswith("dp")} | {"dp0_days": [], "dp1_days": []},
     "dayparts", "at least one daypart"),
])
def test_a_bad_audience_is_said_next_to_its_field_and_saves_nothing(
        client: TestClient, app: Any, change: dict[str, Any], field: str, says: str) -> None:
    owner, browser, venue, _ = _venue_org(client, app)
    path = f"/venues/{venue['id']}"
    answer = post_form(browser, f"{path}/audience", {**AUDIENCE, **change})
    assert answer.status_code == 422
    assert f'id="e-{field}"' in answer.text, answer.text
    assert says in answer.text.split(f'id="e-{field}"', 1)[1].split("</p>", 1)[0]
    assert 'value="40"' in answer.text or "dp0_viewers" in change  # kept as typed
    assert _api_audience(client, owner, path)["in_force"] is None


def test_a_screens_own_audience_wins_until_it_is_dropped(client: TestClient, app: Any) -> None:
    owner, browser, venue, screen = _venue_org(client, app)
    post_form(browser, f"/venues/{venue['id']}/audience", AUDIENCE)
    path = f"/screens/{screen['id']}"
    page = browser.get(path)
    assert "The venue's profile counts for this screen" in page.text
    assert "Give this screen its own audience" in page.text
    assert "Drop this screen" not in page.text

    form = browser.get(f"{path}/audience")
    assert form.status_code == 200 and "Filled in with Gym's profile" in form.text
    own = {**_as_posted(form.text, f"{path}/audience"), "dp0_viewers": ["120"]}
    saved = browser.post(f"{path}/audience", data=own, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == f"{path}?audience=saved"
    read = _api_audience(client, owner, path)
    assert read["inherited"] is False and read["in_force"]["screen_id"] == screen["id"]
    assert read["in_force"]["dayparts"][0]["viewers_per_hour"] == 120
    page = browser.get(path)
    assert "This screen's own profile" in page.text and "Drop this screen" in page.text
    venue_read = _api_audience(client, owner, f"/venues/{venue['id']}")
    assert venue_read["in_force"]["dayparts"][0]["viewers_per_hour"] == 40  # the venue's kept

    refused = browser.post(f"{path}/audience/clear", follow_redirects=False)
    assert refused.status_code == 403
    assert _api_audience(client, owner, path)["inherited"] is False
    dropped = post_form(browser, f"{path}/audience/clear", {}, from_page=path)
    assert dropped.status_code == 303
    assert dropped.headers["location"] == f"{path}?audience=cleared"
    read = _api_audience(client, owner, path)
    assert read["inherited"] is True and read["in_force"]["screen_id"] is None
    assert "counts its venue's audience" in browser.get(dropped.headers["location"]).text


def test_a_dayparts_own_split_set_through_the_api_is_kept(client: TestClient,
                                                          app: Any) -> None:
    owner, browser, venue, _ = _venue_org(client, app)
    path = f"/venues/{venue['id']}"
    own = {"18-24": 0.5, "25-34": 0.5, "35-44": 0, "45-54": 0, "55-64": 0, "65+": 0}
    put = client.put(f"/v1{path}/audience", headers=owner.headers, json={
        "source": "third_party", "dwell_minutes": 20,
        "dayparts": [{"weekdays": ["fri"], "start": "18:00", "end": "24:00",
                      "viewers_per_hour": 90, "age": own}],
        "age": {"25-34": 1}, "gender": {"female": 0.5, "male": 0.5}})
    assert put.status_code == 200, put.text
    form = browser.get(f"{path}/audience")
    assert "its own age and gender split" in form.text
    posted = {**_as_posted(form.text, f"{path}/audience"), "dwell_minutes": ["25"]}
    assert browser.post(f"{path}/audience", data=posted,
                        follow_redirects=False).status_code == 303
    found = _api_audience(client, owner, path)["in_force"]
    assert found["version"] == 2 and found["dwell_minutes"] == 25
    assert found["dayparts"][0]["age"] == own


def test_only_those_who_may_change_the_venue_change_its_audience(client: TestClient,
                                                                 app: Any) -> None:
    owner, _, venue, screen = _venue_org(client, app)
    tech = _technician(app, owner.org_id)
    _, rival, _, _ = _venue_org(client, app)
    token = csrf_of(rival.get("/venues").text)
    for path in (f"/venues/{venue['id']}", f"/screens/{screen['id']}"):
        assert f'href="{path}/audience"' not in tech.get(path).text
        assert tech.get(f"{path}/audience").status_code == 403
        answer = tech.post(f"{path}/audience", data={**AUDIENCE,
                                                     "csrf": csrf_of(tech.get(path).text)},
                           follow_redirects=False)
        assert answer.status_code == 403
        assert rival.get(f"{path}/audience").status_code == 404
        answer = rival.post(f"{path}/audience", data={**AUDIENCE, "csrf": token},
                            follow_redirects=False)
        assert answer.status_code == 404
        assert _api_audience(client, owner, path)["in_force"] is None
    answer = rival.post(f"/screens/{screen['id']}/audience/clear", data={"csrf": token},
                        follow_redirects=False)
    assert answer.status_code == 404
