"""Deleting a venue or a screen from its page: a confirmation page that says what goes, then the
API's own deletion (the venue's screens with it); only for those the API lets delete (a
technician is refused, another org's answers 404), never without the form's token."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.control_plane.dashboard.pages import csrf_of, post_form, sign_in
from tests.control_plane.dashboard.test_venue_owner import _pair, _technician, _venue_org
from tests.helpers import signup

pytestmark = pytest.mark.usefixtures("clean_db")


def test_a_venue_owner_deletes_a_screen_then_the_venue(client: TestClient, app: Any) -> None:
    owner, browser, venue, screen = _venue_org(client, app)
    other = client.post(f"/v1/venues/{venue['id']}/screens", headers=owner.headers,
                        json={"name": "Window", "width_px": 1080, "height_px": 1920}).json()
    _pair(client, browser, screen["id"])
    page = browser.get(f"/screens/{other['id']}")
    assert f'href="/screens/{other["id"]}/delete"' in page.text

    ask = browser.get(f"/screens/{other['id']}/delete")
    assert ask.status_code == 200
    assert "Delete Window?" in ask.text and "cannot be undone" in ask.text
    refused = browser.post(f"/screens/{other['id']}/delete", follow_redirects=False)
    assert refused.status_code == 403
    assert client.get(f"/v1/screens/{other['id']}", headers=owner.headers).status_code == 200

    gone = browser.post(f"/screens/{other['id']}/delete", data={"csrf": csrf_of(ask.text)},
                        follow_redirects=False)
    assert gone.status_code == 303
    assert gone.headers["location"] == f"/venues/{venue['id']}?deleted=1"
    assert client.get(f"/v1/screens/{other['id']}", headers=owner.headers).status_code == 404
    assert browser.get(f"/screens/{other['id']}").status_code == 404
    after = browser.get(gone.headers["location"])
    assert "The screen is deleted" in after.text and "Window" not in after.text

    # the venue's page asks first, naming the screen that goes with it and its player
    ask = browser.get(f"/venues/{venue['id']}/delete")
    assert ask.status_code == 200 and "its screen Screen (offline" in ask.text
    assert "its player stops" in ask.text
    gone = post_form(browser, f"/venues/{venue['id']}/delete", {},
                     from_page=f"/venues/{venue['id']}/delete")
    assert gone.status_code == 303 and gone.headers["location"] == "/venues?deleted=1"
    assert client.get(f"/v1/venues/{venue['id']}", headers=owner.headers).status_code == 404
    assert client.get(f"/v1/screens/{screen['id']}", headers=owner.headers).status_code == 404
    listed = browser.get(gone.headers["location"])
    assert "The venue and its screens are deleted" in listed.text and "No venue yet" in listed.text


def test_only_those_the_api_lets_delete_are_offered_it(client: TestClient, app: Any) -> None:
    owner, browser, venue, screen = _venue_org(client, app)
    tech = _technician(app, owner.org_id)
    for path in (f"/venues/{venue['id']}", f"/screens/{screen['id']}"):
        assert f'href="{path}/delete"' in browser.get(path).text
        assert f'href="{path}/delete"' not in tech.get(path).text
        assert tech.get(f"{path}/delete").status_code == 403
        token = csrf_of(tech.get(path).text)
        refused = tech.post(f"{path}/delete", data={"csrf": token}, follow_redirects=False)
        assert refused.status_code == 403

    signup(client, "venue", email="rival@example.com")
    stranger = TestClient(app)
    sign_in(stranger, "rival@example.com")
    token = csrf_of(stranger.get("/venues").text)
    for path in (f"/venues/{venue['id']}", f"/screens/{screen['id']}"):
        assert stranger.get(f"{path}/delete").status_code == 404
        answer = stranger.post(f"{path}/delete", data={"csrf": token}, follow_redirects=False)
        assert answer.status_code == 404
    assert client.get(f"/v1/venues/{venue['id']}", headers=owner.headers).status_code == 200
    assert client.get(f"/v1/screens/{screen['id']}", headers=owner.headers).status_code == 200
