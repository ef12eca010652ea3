"""Engagement tests: a campaign drafted through the API (a tracked link needs nothing more),
and, for attribution, reporting's network of paired devices uploading signed proof of play."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.control_plane.reporting.conftest import make_network, network  # noqa: F401
from tests.helpers import Account, signup

LANDING = "https://shop.example.com/winter?utm_source=adsbin"


def draft_campaign(client: Any, account: Account) -> dict[str, Any]:
    """A draft campaign of the advertiser, through the API."""
    r = client.post("/v1/campaigns", headers=account.headers, json={
        "name": "Winter beers", "category": "1003", "start_at": "2026-01-01T00:00:00Z",
        "end_at": "2027-12-31T00:00:00Z", "budget_cents": 100_000, "cpm_cents": 1_000,
        "currency": "EUR"})
    assert r.status_code == 201, r.text
    return dict(r.json())


@pytest.fixture
def advertiser(client) -> Account:
    return signup(client, "advertiser")


@pytest.fixture
def campaign(client, advertiser) -> dict[str, Any]:
    return draft_campaign(client, advertiser)


@pytest.fixture
def link(client, advertiser, campaign) -> dict[str, Any]:
    """The campaign's tracked link to LANDING."""
    r = client.post(f"/v1/campaigns/{campaign['id']}/tracked-link", headers=advertiser.headers,
                   json={"landing_url": LANDING})
    assert r.status_code == 200, r.text
    return dict(r.json())


def hour_start(instant: datetime) -> datetime:
    """The start of the UTC hour of `instant`."""
    return instant.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
