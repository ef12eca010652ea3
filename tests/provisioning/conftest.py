"""A live control plane on loopback for the technicians' CLI, and the CLI run as a user would.

The CLI speaks HTTP to a real server (uvicorn on 127.0.0.1) and MQTT to a real Mosquitto (the
app's embedded broker, for the tests that ask for `broker_server`). Its saved login goes to a
temporary file through ADSBIN_PROVISION_CONFIG, never to the developer's home.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from typer.testing import CliRunner

from control_plane.app import create_app
from provisioning.checks import network as network_checks
from provisioning.cli import app as cli_app
from shared.agent import CREDENTIALS_FILE, AgentCredentials, write_private_json
from shared.device import MqttCredentials
from tests.helpers import Account, signup, with_settings
from tests.live import free_port, serve_app

VENUE = {"name": "Gym on Main St", "lat": 48.85, "lon": 2.35, "timezone": "Europe/Paris",
         "venue_type_id": 1}


@dataclass
class Server:
    """A control plane served on loopback, and an HTTP client of it."""

    url: str
    http: httpx.Client
    app: Any

    def venue_screens(self, *names: str) -> tuple[Account, dict[str, Any], list[dict[str, Any]]]:
        """A new venue org with a venue and these screens (1920×1080)."""
        owner = signup(self.http, "venue", app=self.app)  # httpx takes TestClient's calls
        venue = self.http.post("/v1/venues", headers=owner.headers, json=VENUE).json()
        screens = [self.http.post(f"/v1/venues/{venue['id']}/screens", headers=owner.headers,
                                  json={"name": n, "width_px": 1920, "height_px": 1080}).json()
                   for n in names]
        return owner, venue, screens

    def ask_code(self) -> dict[str, Any]:
        """What an unpaired agent gets: a pairing id and the code it shows."""
        raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw,
                                                                     PublicFormat.Raw)
        r = self.http.post("/v1/device/pairings", json={
            "fingerprint": secrets.token_hex(16), "public_key": base64.b64encode(raw).decode(),
            "display": {"width_px": 1920, "height_px": 1080}, "agent_version": "0.1.0"})
        assert r.status_code == 201, r.text
        return dict(r.json())

    def pair(self, owner: Account, screen_id: str) -> AgentCredentials:
        """Pair a new device with the screen through the API; the credentials the agent gets."""
        ticket = self.ask_code()
        r = self.http.post(f"/v1/screens/{screen_id}/pair", headers=owner.headers,
                           json={"code": ticket["code"]})
        assert r.status_code == 200, r.text
        body = self.http.get(f"/v1/device/pairings/{ticket['pairing_id']}").json()
        return AgentCredentials(server_url=self.url, device_id=body["device_id"],
                                screen_id=body["screen_id"], device_token=body["device_token"],
                                mqtt=MqttCredentials(**body["mqtt"]))


@pytest.fixture(autouse=True)
def patient_server_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """A loaded CI machine can take over a second for a first request; that is not what these
    tests are about (test_a_slow_control_plane_warns is), so "slow" starts at a minute here."""
    monkeypatch.setattr(network_checks, "SLOW_SERVER_MS", 60_000)


@pytest.fixture
def server(app: Any) -> Iterator[Server]:
    """The test app (no broker) on loopback."""
    with serve_app(app) as url, httpx.Client(base_url=url) as http:
        yield Server(url, http, app)


@pytest.fixture
def broker_server(settings: Any) -> Iterator[Server]:
    """An app whose lifespan runs the embedded Mosquitto, on loopback."""
    app = create_app(with_settings(settings, run_broker=True, mqtt_port=free_port()))
    with serve_app(app) as url, httpx.Client(base_url=url) as http:
        yield Server(url, http, app)


def write_credentials(state_dir: Path, credentials: AgentCredentials) -> Path:
    """Put pairing credentials where the agent keeps them (0600)."""
    path = state_dir / CREDENTIALS_FILE
    write_private_json(path, credentials)
    return path


@dataclass
class Cli:
    """The technicians' CLI, run in-process with its own login file and a wide terminal."""

    login_file: Path
    runner: CliRunner

    def __call__(self, *args: str, input: str | None = None) -> Any:
        return self.runner.invoke(cli_app, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """Run `adsbin provision …` with the login kept in tmp_path."""
    login_file = tmp_path / "login" / "provision.json"
    return Cli(login_file, CliRunner(env={"ADSBIN_PROVISION_CONFIG": str(login_file),
                                          "COLUMNS": "200", "NO_COLOR": "1"}))
