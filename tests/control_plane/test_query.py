"""Reads of the people-facing API refuse query parameters they do not take (a misspelt filter
must not silently answer everything), and keep taking the ones they declare."""

from __future__ import annotations

import re

from control_plane.orgs import service as orgs_service
from tests.helpers import PASSWORD, bearer, error_code, login, signup

ALWAYS = {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
# Not people-facing: agents and providers may send what this server does not know yet.
# The unsubscribe link is followed from mail clients, which may add their own parameters.
LENIENT_PREFIXES = ("/v1/device/", "/v1/storage/", "/v1/webhooks/", "/.well-known/",
                    "/v1/notifications/unsubscribe")
# Every list (GET collection) endpoint there is, named so that a new one is noticed here.
LIST_ENDPOINTS = {
    "/v1/api-keys", "/v1/campaigns", "/v1/media", "/v1/moderation/queue", "/v1/orgs",
    "/v1/orgs/{org_id}/members", "/v1/orgs/{org_id}/invitations", "/v1/venue-types",
    "/v1/ad-categories", "/v1/venues",
    "/v1/venues/{venue_id}/screens", "/v1/reports/delivery", "/v1/pop",
    "/v1/screens/{screen_id}/timeline", "/v1/campaigns/{campaign_id}/eligibility",
    "/v1/reports/engagement",
}


def _admin(client, app) -> dict[str, str]:
    with app.state.sessionmaker() as session:
        orgs_service.ensure_superuser(session=session, email="root@example.com",
                                      password=PASSWORD)
    return bearer(login(client, "root@example.com"))


def _people_reads(client) -> list[str]:
    paths = client.get("/openapi.json").json()["paths"]
    return sorted(p for p, ops in paths.items() if "get" in ops and p.startswith("/v1/")
                  and not p.startswith(LENIENT_PREFIXES))


def test_every_people_facing_read_names_an_unknown_parameter(client, app):
    admin = _admin(client, app)
    paths = _people_reads(client)
    assert set(paths) >= LIST_ENDPOINTS
    for path in paths:
        url = re.sub(r"\{[^}]+\}", "x", path)
        r = client.get(url, headers=admin, params={"sort_by": "name"})
        assert r.status_code == 422, (path, r.text)
        assert error_code(r) == "unknown_parameter", path
        assert r.json()["error"]["details"]["parameters"] == ["sort_by"], path
        assert "sort_by" in r.json()["error"]["message"]


def test_declared_parameters_keep_working(client, app):
    admin = _admin(client, app)
    owner = signup(client, "venue")
    venue = client.post("/v1/venues", headers=owner.headers, json={
        "name": "Pub", "lat": 48.85, "lon": 2.35, "timezone": "UTC", "venue_type_id": 1,
        "opening_hours": ALWAYS}).json()
    screen = client.post(f"/v1/venues/{venue['id']}/screens", headers=owner.headers,
                         json={"name": "s", "width_px": 1920, "height_px": 1080}).json()
    r = client.get("/v1/reports/delivery", headers=admin, params={
        "group_by": "campaign,day", "from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z",
        "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    r = client.get("/v1/pop", headers=admin, params={"after": "0", "limit": 10})
    assert r.status_code == 200 and r.headers["x-next-cursor"] == "0"
    r = client.get(f"/v1/screens/{screen['id']}/timeline", headers=owner.headers,
                   params={"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T06:00:00Z"})
    assert r.status_code == 200, r.text
    # one unknown among known ones is still refused, and only it is named
    r = client.get("/v1/pop", headers=admin, params={"after": "0", "limit": 10, "lmit": 5})
    assert r.status_code == 422 and r.json()["error"]["details"]["parameters"] == ["lmit"]

