"""Every page of the dashboard, for every role: found by walking the app's page routes, so a
page added later is walked too.

- no page answers 500 to anyone, signed in or not, with real ids, ids of another org, or
  ids that do not exist;
- a page of another org's object answers 404 (as the API does), never its content;
- a form post without the CSRF token is refused (403), whoever sends it;
- no page carries an inline script or a style attribute (the CSP would block them).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from control_plane.app import DASHBOARD_PAGES
from control_plane.dashboard.web import PageRoute
from control_plane.orgs import service as orgs_service
from control_plane.orgs.models import Role
from tests.control_plane.dashboard.pages import sign_in
from tests.helpers import PASSWORD, Account, signup

pytestmark = pytest.mark.usefixtures("clean_db")
PARAM = re.compile(r"\{([a-z_]+)(?::[a-z]+)?\}")
HOURS = {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


@dataclass
class Org:
    """An org's signed-in browser and the ids of what it owns."""

    account: Account
    browser: TestClient
    ids: dict[str, str]


def _venue_org(client: TestClient, app: Any, email: str) -> Org:
    account = signup(client, "venue", email=email)
    venue = client.post("/v1/venues", headers=account.headers, json={
        "name": f"Bar of {email}", "lat": 48.85, "lon": 2.35, "timezone": "Europe/Paris",
        "venue_type_id": 1, "opening_hours": HOURS}).json()
    screen = client.post(f"/v1/venues/{venue['id']}/screens", headers=account.headers,
                         json={"name": "TV", "width_px": 1920, "height_px": 1080}).json()
    return Org(account, _browser(app, email), {"venue_id": venue["id"],
                                               "screen_id": screen["id"]})


def _advertiser_org(client: TestClient, app: Any, email: str) -> Org:
    account = signup(client, "advertiser", email=email)
    campaign = client.post("/v1/campaigns", headers=account.headers, json={
        "name": f"Sale of {email}", "category": "1003", "currency": "EUR",
        "start_at": "2030-01-01T00:00:00Z", "end_at": "2030-02-01T00:00:00Z",
        "budget_cents": 10_000, "cpm_cents": 500}).json()
    key = client.post("/v1/api-keys", headers=account.headers,
                      json={"name": "reports"}).json()
    return Org(account, _browser(app, email), {"campaign_id": campaign["id"],
                                               "key_id": key["id"],
                                               "user_id": account.user_id})


def _browser(app: Any, email: str) -> TestClient:
    browser = TestClient(app)
    sign_in(browser, email)
    return browser


@pytest.fixture
def world(client: TestClient, app: Any) -> Iterator[dict[str, Org]]:
    """Two orgs of each kind, a technician of the first venue org, a super-admin."""
    orgs = {"advertiser": _advertiser_org(client, app, "ads@example.com"),
            "rival_advertiser": _advertiser_org(client, app, "rival-ads@example.com"),
            "venue": _venue_org(client, app, "bar@example.com"),
            "rival_venue": _venue_org(client, app, "rival-bar@example.com")}
    with app.state.sessionmaker() as session:
        tech = orgs_service.create_user(session=session, email="tech@example.com",
                                        name="Tess", password=PASSWORD, email_verified=True)
        orgs_service.add_membership(session=session, org_id=orgs["venue"].account.org_id,
                                    user_id=tech.id, role=Role.technician)
        orgs_service.ensure_superuser(session=session, email="root@example.com",
                                      password=PASSWORD)
        session.commit()
    orgs["technician"] = Org(orgs["venue"].account, _browser(app, "tech@example.com"),
                             orgs["venue"].ids)
    orgs["superadmin"] = Org(orgs["venue"].account, _browser(app, "root@example.com"), {})
    yield orgs
    for org in orgs.values():
        org.browser.close()


def page_routes(app: Any, method: str) -> list[str]:
    """The paths of the dashboard's pages answering `method` (the routers `create_app`
    mounts: FastAPI keeps included routers as such, not as a flat list of routes)."""
    del app
    return sorted({route.path for pages in DASHBOARD_PAGES for route in pages.router.routes
                   if isinstance(route, PageRoute) and method in route.methods})


def fill(path: str, ids: dict[str, str], default: str = "nope") -> str:
    return PARAM.sub(lambda m: ids.get(m.group(1), default), path)


def test_the_walk_finds_the_pages(app: Any) -> None:
    paths = page_routes(app, "GET")
    assert {"/", "/login", "/signup", "/campaigns"} <= set(paths)


def test_no_page_answers_500_to_anyone(world: dict[str, Org], app: Any) -> None:
    visitor = TestClient(app)
    owned = {k: v for org in world.values() for k, v in org.ids.items()}
    for path in page_routes(app, "GET"):
        for who, org in [*world.items(), ("visitor", None)]:
            browser = org.browser if org else visitor
            for ids in (org.ids if org else {}, owned, {}):
                target = fill(path, ids)
                answer = browser.get(target, follow_redirects=False)
                assert answer.status_code < 500, (who, target, answer.text[:300])
                if answer.status_code == 200 and "html" in answer.headers.get(
                        "content-type", ""):
                    assert not re.search(r"<script(?![^>]*\ssrc=)", answer.text), target
                    assert " style=" not in answer.text, target


# which org's object, asked for by which other org, must answer 404
RIVALS = (("campaign_id", "advertiser", "rival_advertiser"),
          ("venue_id", "venue", "rival_venue"), ("screen_id", "venue", "rival_venue"))


def test_another_orgs_objects_answer_404(world: dict[str, Org], app: Any) -> None:
    checked = 0
    for path in page_routes(app, "GET"):
        names = set(PARAM.findall(path))
        for param, owner, rival in RIVALS:
            if param not in names or not names <= set(world[owner].ids) \
                    or path.startswith("/admin/"):  # super-admins' pages: everyone's objects
                continue
            target = fill(path, world[owner].ids)
            assert world[owner].browser.get(target).status_code == 200, target
            answer = world[rival].browser.get(target, follow_redirects=False)
            assert answer.status_code == 404, (target, answer.status_code)
            assert world[owner].ids[param] not in answer.text
            checked += 1
    assert checked >= 1


def test_every_form_post_without_the_token_is_refused(world: dict[str, Org],
                                                       app: Any) -> None:
    """Refused by the token check, not by anything after it: each path is posted by an org
    that owns what it names (403), and by the others (403, or 404 for what is not theirs)."""
    for path in page_routes(app, "POST"):
        names = set(PARAM.findall(path))
        owners = [who for who, org in world.items() if names <= set(org.ids)]
        for who, org in world.items():
            answer = org.browser.post(fill(path, org.ids), data={"name": "x"},
                                      follow_redirects=False)
            allowed = {403} if who in owners else {403, 404}
            assert answer.status_code in allowed, (who, path, answer.status_code)
