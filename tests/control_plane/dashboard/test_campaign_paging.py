"""The campaigns list in pages of 50 (a super-admin's holds every org's): newest first, with
links to the next and previous pages that keep the state filter."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from control_plane.campaigns.models import Campaign
from control_plane.dashboard.advertiser import PAGE_SIZE
from control_plane.orgs import service as orgs_service
from tests.control_plane.dashboard.pages import sign_in
from tests.helpers import PASSWORD, signup

pytestmark = pytest.mark.usefixtures("clean_db")
NAME = re.compile(r'<a href="/campaigns/cmp_[\w-]+">(Ad \d+)</a>')


def _campaigns(app: Any, org_ids: list[str], count: int) -> None:
    """`count` campaigns, Ad 0 the oldest, every third one paused, the others drafts."""
    start = datetime(2030, 1, 1, tzinfo=UTC)
    with app.state.sessionmaker() as session:
        for i in range(count):
            session.add(Campaign(
                org_id=org_ids[i % len(org_ids)], name=f"Ad {i}", category="1010",
                start_at=start, end_at=start + timedelta(days=7), dayparts=[], targeting={},
                budget_cents=1000, cpm_cents=500, currency="EUR", pacing="even",
                status="paused" if i % 3 == 0 else "draft",
                created_at=start - timedelta(days=count - i)))
        session.commit()


def test_a_superadmin_pages_through_every_orgs_campaigns(client: TestClient, app: Any) -> None:
    orgs = [signup(client, "advertiser").org_id for _ in range(2)]
    _campaigns(app, orgs, 2 * PAGE_SIZE + 20)
    with app.state.sessionmaker() as session:
        orgs_service.ensure_superuser(session=session, email="root@example.com",
                                      password=PASSWORD)
        session.commit()
    browser = TestClient(app)
    sign_in(browser, "root@example.com")

    first = browser.get("/campaigns")
    assert first.status_code == 200
    names = NAME.findall(first.text)
    assert names == [f"Ad {i}" for i in range(119, 69, -1)]  # 50, newest first, both orgs
    assert "1–50 of 120 campaigns (page 1 of 3)" in first.text
    assert 'rel="next" href="/campaigns?page=2"' in first.text and 'rel="prev"' not in first.text

    last = browser.get("/campaigns?page=3")
    assert NAME.findall(last.text) == [f"Ad {i}" for i in range(19, -1, -1)]
    assert 'rel="prev" href="/campaigns?page=2"' in last.text and 'rel="next"' not in last.text
    assert NAME.findall(browser.get("/campaigns?page=99").text) == NAME.findall(last.text)

    # the filter is kept from page to page
    paused = browser.get("/campaigns?state=paused")
    assert "1–40 of 40 campaigns" not in paused.text  # one page: no pager at all
    assert 'rel="next"' not in paused.text and len(NAME.findall(paused.text)) == 40
    drafts = browser.get("/campaigns?state=draft")
    assert "1–50 of 80 campaigns (page 1 of 2)" in drafts.text
    assert 'rel="next" href="/campaigns?state=draft&amp;page=2"' in drafts.text
    second = browser.get("/campaigns?state=draft&page=2")
    assert 'rel="prev" href="/campaigns?state=draft"' in second.text
    assert len(NAME.findall(second.text)) == 30
    assert all(int(n.split()[1]) % 3 for n in NAME.findall(second.text))

    for bad in ("0", "-1", "two"):
        answer = browser.get(f"/campaigns?page={bad}")
        assert answer.status_code == 422, bad


def test_an_advertiser_pages_through_its_own_only(client: TestClient, app: Any) -> None:
    mine, theirs = signup(client, "advertiser"), signup(client, "advertiser")
    _campaigns(app, [mine.org_id, theirs.org_id], 2 * PAGE_SIZE + 2)  # 51 each
    browser = TestClient(app)
    sign_in(browser, mine.email)
    first = browser.get("/campaigns")
    assert "1–50 of 51 campaigns (page 1 of 2)" in first.text
    names = NAME.findall(first.text) + NAME.findall(browser.get("/campaigns?page=2").text)
    assert names == [f"Ad {i}" for i in range(100, -1, -2)]
