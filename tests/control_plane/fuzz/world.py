"""What the fuzzer's callers own, made through the API, so that generated requests can name real
objects: a venue org (its admin, a technician, a member, a venue open around the clock, a screen
paired to a device that has played and been sent a command, an invitation, a pending pairing),
an advertiser org (its admin, a ready PNG, an approved campaign playing on that screen with a
tracked link, an invoice of the closed cycle, a notification), a super-admin, an API key of the
advertiser, a payout; and a second tenant (another advertiser org with a media, a draft campaign
and an API key, another venue org with a venue and a screen) whose objects the callers name too.

`World.ids` maps the name of a path parameter, query parameter or body field to the object a
caller would name, `World.rival_ids` to the second tenant's; `World.fresh` makes a new object
for the operations that destroy the one they name (a key revoked, a member removed, a screen
unpaired or deleted), so that no caller's own credential or the shared objects go away in the
middle of the run.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi.testclient import TestClient
from sqlalchemy import select

from control_plane.app import create_app
from control_plane.auth.ratelimit import SlidingWindowLimiter
from control_plane.db import make_engine
from control_plane.models import Base
from control_plane.orgs import service as orgs_service
from control_plane.reporting.models import PopBatchRecord
from control_plane.settings import Settings
from tests import media_samples
from tests.control_plane.reporting.conftest import Device, pair_device
from tests.control_plane.test_tenancy import NOW, PERIOD, SCREEN, VENUE
from tests.helpers import PASSWORD, Account, bearer, login, signup, until

# the tenancy matrix's venue, screen and billing period; the campaign here is already running
CAMPAIGN = {"name": "Sale", "category": "1003", "currency": "EUR", "budget_cents": 10_000,
            "cpm_cents": 500, "start_at": (NOW - timedelta(days=2)).isoformat(),
            "end_at": (NOW + timedelta(days=30)).isoformat()}

# the callers: role -> what it is
ROLES = {"advertiser": "the admin of the advertiser org",
         "venue_owner": "the admin of the venue org",
         "technician": "a technician of the venue org",
         "superadmin": "a super-admin",
         "api_key": "an API key of the advertiser org",
         "device": "the paired device's token",
         "anonymous": "nobody (no credential)"}


@dataclass
class World:
    client: TestClient
    app: Any
    headers: dict[str, dict[str, str]]  # role -> its credential
    ids: dict[str, str]  # parameter or field name -> a real object's id
    rival_ids: dict[str, str]  # the same, of the second tenant (another advertiser and venue)
    orgs: dict[str, str]  # role -> its org (the `org_id` it would name)
    venue_owner: Account
    advertiser: Account
    png: Path
    fresh: dict[str, Callable[[], str]] = field(default_factory=dict)

    def ids_for(self, role: str) -> dict[str, str]:
        """The ids the role would name: the shared objects, and its own org."""
        own = self.orgs.get(role)
        return {**self.ids, "org_id": own} if own else dict(self.ids)


def _ready_media(client: TestClient, account: Account, png: Path) -> dict[str, Any]:
    with png.open("rb") as f:
        media = client.post("/v1/media", headers=account.headers,
                            files={"file": ("ad.png", f)}).json()
    return dict(until(lambda: (r := client.get(f"/v1/media/{media['id']}",
                                                 headers=account.headers).json())
                      ["status"] == "ready" and r, 60, "media ready"))


def _joined(client: TestClient, owner: Account, role: str) -> tuple[str, str]:
    """A person who accepted an invitation to `owner`'s org: their token and user id."""
    r = client.post(f"/v1/orgs/{owner.org_id}/members", headers=owner.headers,
                    json={"email": f"{role}-{secrets.token_hex(3)}@example.com", "role": role})
    assert r.status_code == 201, r.text
    r = client.post("/v1/auth/invitations/accept",
                    json={"token": r.json()["invite_token"], "password": PASSWORD})
    assert r.status_code == 200, r.text
    access = r.json()["access_token"]
    return access, client.get("/v1/me", headers=bearer(access)).json()["user"]["id"]


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _settings(db_url: str, tmp: Path, keys_dir: Path) -> Settings:
    data_dir = tmp / "var"
    data_dir.mkdir()
    (data_dir / "keys").symlink_to(keys_dir, target_is_directory=True)
    return Settings(data_dir=data_dir, database_url=db_url, public_url="http://testserver",
                    run_worker=True, run_broker=False, run_scheduler=False,
                    job_retry_base_s=0.05, password_hashing="fast",
                    signup_attempts_per_minute=100_000, login_attempts_per_minute=100_000,
                    pairing_requests_per_minute=100_000, payout_minimum_cents=0,
                    _env_file=None)


def _seed(client: TestClient, app: Any, tmp: Path) -> World:
    with app.state.sessionmaker() as session:
        orgs_service.ensure_superuser(session=session, email="root@example.com",
                                      password=PASSWORD)
    admin = bearer(login(client, "root@example.com"))
    owner = signup(client, "venue")
    venue = _ok(client.post("/v1/venues", headers=owner.headers, json=VENUE), 201)
    screen = _ok(client.post(f"/v1/venues/{venue['id']}/screens", headers=owner.headers,
                             json=SCREEN), 201)
    dev: Device = pair_device(client, owner, screen["id"])
    tech, _ = _joined(client, owner, "technician")
    _, member_id = _joined(client, owner, "member")
    invitation = _ok(client.post(f"/v1/orgs/{owner.org_id}/members", headers=owner.headers,
                                 json={"email": "later@example.com", "role": "member"}), 201)

    advertiser = signup(client, "advertiser")
    png = media_samples.png(tmp)
    media = _ready_media(client, advertiser, png)
    campaign = _ok(client.post("/v1/campaigns", headers=advertiser.headers, json={
        **CAMPAIGN, "targeting": {"screen_ids": [screen["id"]]}}), 201)
    url = f"/v1/campaigns/{campaign['id']}"
    _ok(client.post(f"{url}/creatives", headers=advertiser.headers,
                    json={"media_id": media["id"], "duration_s": 10}), 201)
    _ok(client.post(f"{url}/submit", headers=advertiser.headers))
    campaign = _ok(client.post(f"{url}/approve", headers=admin))
    link = _ok(client.post(f"{url}/tracked-link", headers=advertiser.headers,
                           json={"landing_url": "https://example.com/sale"}))
    records = [dev.record(campaign["id"], campaign["creatives"][0]["id"],
                          started_at=NOW - timedelta(hours=3, minutes=-i)) for i in range(5)]
    assert _ok(client.post("/v1/device/pop", json=dev.batch(records),
                           headers=dev.headers))["accepted"] == 5
    command = _ok(client.post(f"/v1/screens/{screen['id']}/commands", headers=owner.headers,
                              json={"type": "identify"}), 201)
    key = _ok(client.post("/v1/api-keys", headers=advertiser.headers, json={"name": "fuzz"}),
              201)
    _ok(client.post("/v1/payouts/onboarding-link", headers=owner.headers))
    assert _ok(client.post("/v1/billing/cycles/close", headers=admin, json=PERIOD))[
        "invoices"] == 1
    [invoice] = _ok(client.get("/v1/invoices", headers=advertiser.headers))["invoices"]
    _ok(client.post(f"/v1/invoices/{invoice['id']}/mark-paid", headers=admin))
    _ok(client.post("/v1/payouts/run", headers=admin, json=PERIOD))
    playlist = until(lambda: (r := client.get("/v1/device/playlist", headers=dev.headers)
                              ).status_code == 200 and r.json(), 30, "a playlist")
    notes = until(lambda: client.get("/v1/notifications", headers=advertiser.headers)
                  .json()["notifications"], 30, "a notification")
    with app.state.sessionmaker() as session:
        batch = session.scalars(select(PopBatchRecord.id)).first()
    pairing = _ok(client.post("/v1/device/pairings", json={
        "fingerprint": "f" * 32, "public_key": "A" * 43 + "=",
        "display": {"width_px": 1920, "height_px": 1080}, "agent_version": "0.1.0"}), 201)
    upload = _ok(client.post("/v1/media/uploads", headers=advertiser.headers,
                             json={"filename": "a.png"}), 201)
    rival = _rival(client, png)

    headers = {"advertiser": advertiser.headers, "venue_owner": owner.headers,
               "technician": bearer(tech), "superadmin": admin, "api_key": bearer(key["key"]),
               "device": dev.headers, "anonymous": {}}
    orgs = {"advertiser": advertiser.org_id, "venue_owner": owner.org_id,
            "technician": owner.org_id, "api_key": advertiser.org_id}
    creative_id = campaign["creatives"][0]["id"]
    ids = {"key_id": key["id"], "invitation_id": invitation["id"], "user_id": member_id,
           "key": urlsplit(media["renditions"][0]["url"]).path.removeprefix("/v1/storage/"),
           "upload_id": upload["upload_id"], "media_id": media["id"],
           "venue_id": venue["id"], "screen_id": screen["id"], "command_id": command["id"],
           "campaign_id": campaign["id"], "creative_id": creative_id,
           "code": link["code"], "item_id": f"{venue['id']}~{creative_id}",
           "pairing_id": pairing["pairing_id"],
           "sha256": next(m["sha256"] for m in playlist["media"]), "batch": str(batch),
           "invoice_id": invoice["id"], "notification_id": notes[0]["id"],
           "device_id": dev.device_id, "org_id": owner.org_id}
    return World(client, app, headers, ids, rival, orgs, owner, advertiser, png)


def _rival(client: TestClient, png: Path) -> dict[str, str]:
    """The second tenant: an advertiser org with a ready media, a draft campaign with a creative
    and an API key, a venue org with a venue and a screen. Its ids, and `org_id` of its
    advertiser org (venue-only parameters name its venue org's objects)."""
    advertiser, owner = signup(client, "advertiser"), signup(client, "venue")
    media = _ready_media(client, advertiser, png)
    campaign = _ok(client.post("/v1/campaigns", headers=advertiser.headers, json=CAMPAIGN), 201)
    creative = _ok(client.post(f"/v1/campaigns/{campaign['id']}/creatives",
                               headers=advertiser.headers,
                               json={"media_id": media["id"], "duration_s": 10}), 201)
    key = _ok(client.post("/v1/api-keys", headers=advertiser.headers, json={"name": "rival"}),
              201)
    venue = _ok(client.post("/v1/venues", headers=owner.headers, json=VENUE), 201)
    screen = _ok(client.post(f"/v1/venues/{venue['id']}/screens", headers=owner.headers,
                             json=SCREEN), 201)
    return {"org_id": advertiser.org_id, "user_id": advertiser.user_id, "key_id": key["id"],
            "media_id": media["id"], "campaign_id": campaign["id"],
            "creative_id": creative["id"], "venue_id": venue["id"], "screen_id": screen["id"],
            "item_id": f"{venue['id']}~{creative['id']}"}


def _fresh(w: World) -> dict[str, Callable[[], str]]:
    """Makers of an object to destroy, by the path parameter that names it."""
    c, owner, adv = w.client, w.venue_owner, w.advertiser

    def key() -> str:
        return str(_ok(c.post("/v1/api-keys", headers=adv.headers, json={"name": "x"}), 201)
                   ["id"])

    def member() -> str:
        return _joined(c, owner, "member")[1]

    def venue() -> str:
        return str(_ok(c.post("/v1/venues", headers=owner.headers, json=VENUE), 201)["id"])

    def screen() -> str:
        return str(_ok(c.post(f"/v1/venues/{w.ids['venue_id']}/screens",
                              headers=owner.headers, json=SCREEN), 201)["id"])

    return {"key_id": key, "user_id": member, "venue_id": venue, "screen_id": screen}


@contextmanager
def make_world(db_url: str, tmp: Path, keys_dir: Path) -> Iterator[World]:
    """The world on this (migrated, empty) database, whose rows are wiped afterwards."""
    app = create_app(_settings(db_url, tmp, keys_dir))
    # a fresh member per removal accepts an invitation each time: more than these windows allow
    app.state.link_limiter = SlidingWindowLimiter(limit=100_000, window_s=600)
    app.state.invitation_limiter = SlidingWindowLimiter(limit=100_000, window_s=3600)
    try:
        # a 500 is an answer to check (the app's handler makes it), not an exception to raise
        with TestClient(app, raise_server_exceptions=False) as client:
            w = _seed(client, app, tmp)
            w.fresh = _fresh(w)
            yield w
    finally:
        engine = make_engine(db_url)
        with engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())
        engine.dispose()
