"""Pairing over the API: codes, claims, one-time credentials, expiry, reuse, guessing, unpairing;
and the HTTP heartbeat. One test runs the embedded Mosquitto to show unpairing locks MQTT out."""

from __future__ import annotations

import base64
import secrets
import time
from datetime import timedelta

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import update

from control_plane.app import create_app
from control_plane.db import utcnow
from control_plane.devices import router as devices_router
from control_plane.devices.models import Pairing
from tests.helpers import PASSWORD, bearer, error_code, signup, with_settings
from tests.live import free_port

SCREEN = {"name": "Screen", "width_px": 1920, "height_px": 1080}
VENUE = {"name": "Gym", "lat": 48.85, "lon": 2.35, "timezone": "Europe/Paris",
         "venue_type_id": 1}


def public_key() -> str:
    raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def pairing_request(client, headers=None):
    return client.post("/v1/device/pairings", headers=headers, json={
        "fingerprint": secrets.token_hex(16), "public_key": public_key(),
        "display": {"width_px": 1920, "height_px": 1080}, "agent_version": "0.1.0"})


def ask_code(client):
    r = pairing_request(client)
    assert r.status_code == 201, r.text
    return r.json()


def venue_screen(client):
    owner = signup(client, "venue")
    venue = client.post("/v1/venues", headers=owner.headers, json=VENUE).json()
    screen = client.post(f"/v1/venues/{venue['id']}/screens", headers=owner.headers,
                         json=SCREEN).json()
    return owner, screen


def test_pairing_happy_path(client):
    owner, screen = venue_screen(client)
    ticket = ask_code(client)
    code = ticket["code"]
    assert len(code) == 7 and code[3] == "-"
    assert not set(code.replace("-", "")) & set("0O1I")
    pending = client.get(f"/v1/device/pairings/{ticket['pairing_id']}").json()
    assert pending["status"] == "pending" and "device_token" not in pending

    r = client.post(f"/v1/screens/{screen['id']}/pair", headers=owner.headers,
                    json={"code": code.lower().replace("-", " ")})  # as a person might type it
    assert r.status_code == 200, r.text
    first = client.get(f"/v1/device/pairings/{ticket['pairing_id']}").json()
    assert first["status"] == "claimed" and first["screen_id"] == screen["id"]
    assert first["device_token"].startswith("adsd_")
    assert first["mqtt"]["username"] == first["device_id"] and first["mqtt"]["password"]
    again = client.get(f"/v1/device/pairings/{ticket['pairing_id']}").json()
    assert again["status"] == "claimed" and "device_token" not in again and "mqtt" not in again

    token = first["device_token"]
    r = client.post("/v1/device/heartbeat", headers=bearer(token), json={
        "schema": "adsbin.heartbeat/v1", "sent_at": utcnow().isoformat(),
        "agent_version": "0.1.1", "now_playing": {"creative_id": "cr_1"},
        "disk_free_bytes": 10_000_000, "uptime_s": 12.5, "some_future_field": True})
    assert r.status_code == 200 and "server_time" in r.json()
    state = client.get(f"/v1/screens/{screen['id']}", headers=owner.headers).json()
    assert state["status"] == "online" and state["agent_version"] == "0.1.1"
    assert state["now_playing"] == {"creative_id": "cr_1"} and state["last_seen_at"]


def test_expired_used_and_unknown_codes_say_so(client, app):
    owner, screen = venue_screen(client)
    _, other_screen = venue_screen(client)
    r = client.post(f"/v1/screens/{screen['id']}/pair", headers=owner.headers,
                    json={"code": "ABC-DEF"})
    assert r.status_code == 404 and error_code(r) == "pairing_code_unknown"

    stale = ask_code(client)
    with app.state.sessionmaker() as session:
        session.execute(update(Pairing).where(Pairing.id == stale["pairing_id"])
                        .values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    r = client.post(f"/v1/screens/{screen['id']}/pair", headers=owner.headers,
                    json={"code": stale["code"]})
    assert r.status_code == 409 and error_code(r) == "pairing_code_expired"
    assert client.get(f"/v1/device/pairings/{stale['pairing_id']}").json()["status"] == "expired"

    ticket = ask_code(client)
    assert client.post(f"/v1/screens/{screen['id']}/pair", headers=owner.headers,
                       json={"code": ticket["code"]}).status_code == 200
    r = client.post(f"/v1/screens/{screen['id']}/pair", headers=owner.headers,
                    json={"code": ticket["code"]})
    assert r.status_code == 409 and error_code(r) == "pairing_code_used"

    fresh = ask_code(client)
    r = client.post(f"/v1/screens/{screen['id']}/pair", headers=owner.headers,
                    json={"code": fresh["code"]})
    assert r.status_code == 409 and error_code(r) == "screen_already_paired"
    # another org cannot claim for a screen that is not theirs, nor see it
    stranger, _ = venue_screen(client)
    r = client.post(f"/v1/screens/{screen['id']}/pair", headers=stranger.headers,
                    json={"code": fresh["code"]})
    assert r.status_code == 404
    assert other_screen["status"] == "unpaired"


def test_guessing_is_rate_limited(client):
    owner, screen = venue_screen(client)
    codes = [client.post(f"/v1/screens/{screen['id']}/pair", headers=owner.headers,
                         json={"code": f"AAA-{i:03d}"}).status_code for i in range(12)]
    assert codes[:10] == [404] * 10 and codes[10:] == [429, 429]


def test_a_room_of_screens_pairs_at_once_and_only_wrong_codes_count(client):
    owner, _ = venue_screen(client)
    venue_id = client.get("/v1/venues", headers=owner.headers).json()["items"][0]["id"]
    for k in range(15):  # more than the 10 wrong guesses a minute allowed from one address
        screen = client.post(f"/v1/venues/{venue_id}/screens", headers=owner.headers,
                             json={**SCREEN, "name": f"Screen {k}"}).json()
        r = client.post(f"/v1/screens/{screen['id']}/pair", headers=owner.headers,
                        json={"code": ask_code(client)["code"]})
        assert r.status_code == 200, (k, r.text)
    wrong = [client.post(f"/v1/screens/{screen['id']}/pair", headers=owner.headers,
                         json={"code": f"BBB-{i:03d}"}) for i in range(11)]
    assert [r.status_code for r in wrong] == [404] * 10 + [429]
    assert "failed pairing attempts" in wrong[-1].json()["error"]["message"]
    assert int(wrong[-1].headers["retry-after"]) >= 1


def test_codes_asked_for_on_an_operators_behalf_are_not_held_to_the_per_address_limit(
        client):
    owner, screen = venue_screen(client)
    limit = client.app.state.settings.pairing_requests_per_minute
    # a fleet tool asking with the venue admin's sign-in, beyond what one address may ask
    for k in range(limit + 10):
        r = pairing_request(client, owner.headers)
        assert r.status_code == 201, (k, r.text)
    assert client.post(f"/v1/screens/{screen['id']}/pair", headers=owner.headers,
                       json={"code": r.json()["code"]}).status_code == 200
    # anonymous callers on the same address still get their limit, no more
    anonymous = [pairing_request(client).status_code for _ in range(limit + 1)]
    assert anonymous == [201] * limit + [429]
    # a token must be good, and its holder one who may pair screens
    assert pairing_request(client, bearer("not-a-token")).status_code == 401
    invite = client.post(f"/v1/orgs/{owner.org_id}/members", headers=owner.headers,
                         json={"email": "member@example.com", "role": "member"}).json()
    member = bearer(client.post("/v1/auth/invitations/accept", json={
        "token": invite["invite_token"], "password": PASSWORD}).json()["access_token"])
    assert pairing_request(client, member).status_code == 403
    advertiser = signup(client, "advertiser")
    assert pairing_request(client, advertiser.headers).status_code == 403


def test_an_operators_pairing_requests_have_a_bound_of_their_own(settings, monkeypatch):
    monkeypatch.setattr(devices_router, "OPERATOR_PAIRING_REQUESTS_PER_MINUTE", 3)
    with TestClient(create_app(settings)) as client:
        owner, _ = venue_screen(client)
        other, _ = venue_screen(client)
        codes = [pairing_request(client, owner.headers).status_code for _ in range(4)]
        assert codes == [201, 201, 201, 429]
        r = pairing_request(client, owner.headers)
        assert "pairing requests from your account" in r.json()["error"]["message"]
        assert pairing_request(client, other.headers).status_code == 201  # per person


def test_only_admins_and_technicians_pair(client):
    owner, screen = venue_screen(client)
    invite = client.post(f"/v1/orgs/{owner.org_id}/members", headers=owner.headers,
                         json={"email": "m@example.com", "role": "member"}).json()
    member = bearer(client.post("/v1/auth/invitations/accept", json={
        "token": invite["invite_token"], "password": PASSWORD}).json()["access_token"])
    ticket = ask_code(client)
    r = client.post(f"/v1/screens/{screen['id']}/pair", headers=member,
                    json={"code": ticket["code"]})
    assert r.status_code == 403


def test_bad_device_requests(client):
    r = client.post("/v1/device/pairings", json={
        "fingerprint": "x" * 16, "public_key": base64.b64encode(b"short").decode(),
        "display": {"width_px": 1, "height_px": 1}, "agent_version": "1"})
    assert r.status_code == 422
    assert client.get("/v1/device/pairings/pair_nope").status_code == 404
    r = client.post("/v1/device/heartbeat", headers=bearer("adsd_nope_nope"), json={
        "sent_at": utcnow().isoformat(), "agent_version": "1"})
    assert r.status_code == 401 and error_code(r) == "invalid_device_token"


def _mqtt_connects(url: str, username: str, password: str) -> bool:
    host, port = url.removeprefix("mqtt://").split(":")
    result: dict[str, bool] = {}
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(username, password)
    client.on_connect = lambda c, u, f, reason, p: result.setdefault("ok", not reason.is_failure)
    client.connect(host, int(port))
    client.loop_start()
    deadline = time.monotonic() + 5
    while "ok" not in result and time.monotonic() < deadline:
        time.sleep(0.02)
    client.disconnect()
    client.loop_stop()
    return result.get("ok", False)


def test_unpair_refuses_token_and_broker_login(settings):
    app = create_app(with_settings(settings, run_broker=True, mqtt_port=free_port()))
    with TestClient(app) as client:
        owner, screen = venue_screen(client)
        ticket = ask_code(client)
        client.post(f"/v1/screens/{screen['id']}/pair", headers=owner.headers,
                    json={"code": ticket["code"]})
        creds = client.get(f"/v1/device/pairings/{ticket['pairing_id']}").json()
        mqtt_creds = creds["mqtt"]
        assert _mqtt_connects(mqtt_creds["url"], mqtt_creds["username"], mqtt_creds["password"])
        beat = {"sent_at": utcnow().isoformat(), "agent_version": "1"}
        assert client.post("/v1/device/heartbeat", headers=bearer(creds["device_token"]),
                           json=beat).status_code == 200
        assert client.delete(f"/v1/screens/{screen['id']}/device",
                             headers=owner.headers).status_code == 204
        assert client.post("/v1/device/heartbeat", headers=bearer(creds["device_token"]),
                           json=beat).status_code == 401
        assert not _mqtt_connects(mqtt_creds["url"], mqtt_creds["username"],
                                  mqtt_creds["password"])
        assert client.get(f"/v1/screens/{screen['id']}",
                          headers=owner.headers).json()["status"] == "unpaired"
        # and the screen can be paired again
        again = ask_code(client)
        assert client.post(f"/v1/screens/{screen['id']}/pair", headers=owner.headers,
                           json={"code": again["code"]}).status_code == 200


@pytest.mark.parametrize("missing", ["fingerprint", "public_key", "display"])
def test_pairing_request_fields_are_required(client, missing):
    body = {"fingerprint": "f" * 16, "public_key": public_key(),
            "display": {"width_px": 10, "height_px": 10}, "agent_version": "1"}
    del body[missing]
    assert client.post("/v1/device/pairings", json=body).status_code == 422


def test_speedtest_streams_the_bytes_asked_for(client):
    owner, screen = venue_screen(client)
    ticket = ask_code(client)
    client.post(f"/v1/screens/{screen['id']}/pair", headers=owner.headers,
                json={"code": ticket["code"]})
    token = client.get(f"/v1/device/pairings/{ticket['pairing_id']}").json()["device_token"]
    r = client.get("/v1/device/speedtest?size=200000", headers=bearer(token))
    assert r.status_code == 200 and len(r.content) == 200_000
    assert client.get("/v1/device/speedtest?size=200000").status_code == 401
    assert client.get("/v1/device/speedtest?size=999999999999",
                      headers=bearer(token)).status_code == 422
