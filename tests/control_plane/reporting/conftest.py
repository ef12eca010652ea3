"""A small network made through the API for proof-of-play tests: a venue open around the clock
with a screen, a device paired to it with a real Ed25519 key, an advertiser whose campaign (a
ready PNG as a 10 s creative) a super-admin approved; and helpers that build and sign records
the way the agent does (`shared/pop.py`)."""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient

from control_plane.app import create_app
from control_plane.orgs import service as orgs_service
from shared.pop import rfc3339_ms, sign, signed_message
from tests import media_samples
from tests.helpers import PASSWORD, Account, bearer, login, signup, with_settings
from tests.live import free_port

ALWAYS_OPEN = {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat",
                                                  "sun")}
SHA = "ab" * 32


@dataclass
class Device:
    """A paired display unit: its key, ids and token, signing batches like the agent."""

    key: Ed25519PrivateKey
    device_id: str
    screen_id: str
    token: str
    mqtt: dict[str, str]

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)

    def record(self, campaign_id: str | None, creative_id: str, *,
               started_at: datetime | None = None, seconds: float = 10.0,
               expected_ms: int = 10_000, completed: bool = True,
               **changes: Any) -> dict[str, Any]:
        """A play as the agent reports it (ending now unless told)."""
        started = started_at or datetime.now(UTC) - timedelta(seconds=seconds + 1)
        ended = started + timedelta(seconds=seconds)
        return {"play_id": str(uuid.uuid4()), "screen_id": self.screen_id,
                "campaign_id": campaign_id, "creative_id": creative_id, "media_sha256": SHA,
                "started_at": rfc3339_ms(started), "ended_at": rfc3339_ms(ended),
                "duration_ms": round(seconds * 1000), "expected_ms": expected_ms,
                "completed": completed, "clock_offset_ms": -12, **changes}

    def batch(self, records: list[dict[str, Any]], *, batch_id: str | None = None,
              key: Ed25519PrivateKey | None = None,
              device_id: str | None = None) -> dict[str, Any]:
        """A signed batch (by this device's key, or another to forge one)."""
        batch_id = batch_id or secrets.token_hex(8)
        message = signed_message(batch_id, device_id or self.device_id, records)
        return {"schema": "adsbin.pop-batch/v1", "batch_id": batch_id,
                "device_id": device_id or self.device_id, "records": records,
                "signature": sign(key or self.key, message)}


def pair_device(client: TestClient, owner: Account, screen_id: str) -> Device:
    """A new key pair, a pairing code for it, claimed for the screen through the API."""
    key = Ed25519PrivateKey.generate()
    public = base64.b64encode(key.public_key().public_bytes(Encoding.Raw,
                                                            PublicFormat.Raw)).decode()
    r = client.post("/v1/device/pairings", json={
        "fingerprint": secrets.token_hex(16), "public_key": public,
        "display": {"width_px": 1920, "height_px": 1080}, "agent_version": "0.1.0"})
    assert r.status_code == 201, r.text
    ticket = r.json()
    r = client.post(f"/v1/screens/{screen_id}/pair", headers=owner.headers,
                    json={"code": ticket["code"]})
    assert r.status_code == 200, r.text
    body = client.get(f"/v1/device/pairings/{ticket['pairing_id']}").json()
    return Device(key, body["device_id"], body["screen_id"], body["device_token"], body["mqtt"])


@dataclass
class Network:
    """Everything a proof-of-play test needs, made through the API."""

    client: TestClient
    app: Any
    tmp_path: Path
    admin: dict[str, str]
    venue_owner: Account
    venue: dict[str, Any]
    screen: dict[str, Any]
    device: Device
    advertiser: Account
    campaign: dict[str, Any]
    _media: dict[str, str] = field(default_factory=dict)

    @property
    def creative_id(self) -> str:
        return str(self.campaign["creatives"][0]["id"])

    def upload(self, client: TestClient, account: Account) -> str:
        """A ready PNG of the account's org (waits for its renditions)."""
        if account.org_id in self._media:
            return self._media[account.org_id]
        with media_samples.png(self.tmp_path).open("rb") as f:
            media = client.post("/v1/media", headers=account.headers,
                                files={"file": ("ad.png", f)}).json()
        deadline = time.monotonic() + 60
        while client.get(f"/v1/media/{media['id']}",
                         headers=account.headers).json()["status"] != "ready":
            assert time.monotonic() < deadline, "the media never got ready"
            time.sleep(0.05)
        self._media[account.org_id] = media["id"]
        return str(media["id"])

    def approved_campaign(self, account: Account, **changes: Any) -> dict[str, Any]:
        """A campaign of the advertiser with one 10 s creative, submitted and approved."""
        now = datetime.now(UTC)
        body = {"name": "Winter beers", "category": "1003",
                "start_at": (now - timedelta(days=2)).isoformat(),
                "end_at": (now + timedelta(days=30)).isoformat(),
                "budget_cents": 500_000, "cpm_cents": 1_000, "currency": "EUR",
                "pacing": "even", **changes}
        r = self.client.post("/v1/campaigns", headers=account.headers, json=body)
        assert r.status_code == 201, r.text
        url = f"/v1/campaigns/{r.json()['id']}"
        r = self.client.post(f"{url}/creatives", headers=account.headers,
                             json={"media_id": self.upload(self.client, account),
                                   "duration_s": 10})
        assert r.status_code == 201, r.text
        assert self.client.post(f"{url}/submit", headers=account.headers).status_code == 200
        r = self.client.post(f"{url}/approve", headers=self.admin)
        assert r.status_code == 200, r.text
        return dict(r.json())

    def new_screen(self, owner: Account | None = None,
                   **changes: Any) -> tuple[dict[str, Any], Device]:
        """Another screen (in a new venue of `owner`, default the network's venue) and its
        paired device."""
        owner = owner or self.venue_owner
        venue = self.venue
        if owner is not self.venue_owner:
            venue = self.client.post("/v1/venues", headers=owner.headers, json={
                "name": "Bar", "lat": 48.86, "lon": 2.35, "timezone": "Europe/Paris",
                "venue_type_id": 1, "opening_hours": ALWAYS_OPEN}).json()
        screen = self.client.post(f"/v1/venues/{venue['id']}/screens", headers=owner.headers,
                                  json={"name": "Side", "width_px": 1920, "height_px": 1080,
                                        **changes}).json()
        return screen, pair_device(self.client, owner, screen["id"])

    def upload_pop(self, batch: dict[str, Any], device: Device | None = None) -> Any:
        """POST the batch with the device's token."""
        return self.client.post("/v1/device/pop", json=batch,
                                headers=(device or self.device).headers)


@contextmanager
def make_network(settings: Any, tmp_path: Path, **changes: Any) -> Iterator[Network]:
    """A network on these settings, with the job worker on (media renditions)."""
    app = create_app(with_settings(settings, run_worker=True, **changes))
    with TestClient(app) as client:
        with app.state.sessionmaker() as session:
            orgs_service.ensure_superuser(session=session, email="root@example.com",
                                          password=PASSWORD)
        admin = bearer(login(client, "root@example.com"))
        owner = signup(client, "venue")
        venue = client.post("/v1/venues", headers=owner.headers, json={
            "name": "Gym", "lat": 48.85, "lon": 2.35, "timezone": "Europe/Paris",
            "venue_type_id": 1, "opening_hours": ALWAYS_OPEN}).json()
        screen = client.post(f"/v1/venues/{venue['id']}/screens", headers=owner.headers,
                             json={"name": "Front", "width_px": 1920, "height_px": 1080,
                                   "audience_multiplier": 2.5}).json()
        device = pair_device(client, owner, screen["id"])
        advertiser = signup(client, "advertiser")
        net = Network(client, app, tmp_path, admin, owner, venue, screen, device, advertiser,
                      {})
        net.campaign = net.approved_campaign(advertiser)
        yield net


@pytest.fixture
def network(settings, tmp_path) -> Iterator[Network]:
    """A network on this test's database."""
    with make_network(settings, tmp_path) as net:
        yield net


@pytest.fixture
def broker_network(settings, tmp_path) -> Iterator[Network]:
    """A network whose app runs the embedded Mosquitto and its MQTT bridge."""
    with make_network(settings, tmp_path, run_broker=True, mqtt_port=free_port()) as net:
        yield net
