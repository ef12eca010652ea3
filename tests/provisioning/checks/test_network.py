"""The network checks one by one, against a live control plane and its embedded Mosquitto,
with the credentials a real pairing gave: what passes, and what each breakage says."""

from __future__ import annotations

from datetime import UTC, datetime

from provisioning.checks import network
from provisioning.checks.base import Status, Target
from provisioning.checks.network import broker, clock, control_plane, download, skew_s
from provisioning.client import Probe
from shared.device import MqttCredentials
from tests.live import free_port


def test_a_paired_unit_passes_and_each_breakage_says_what_broke(broker_server, tmp_path):
    owner, _, (screen,) = broker_server.venue_screens("Lobby")
    creds = broker_server.pair(owner, screen["id"])
    paired = Target(server_url=broker_server.url, state_dir=tmp_path, credentials=creds)

    up = control_plane(paired)
    assert up.status is Status.PASS and up.value > 0 and broker_server.url in up.detail
    login = broker(paired)
    assert login.status is Status.PASS, login.detail
    assert f"as {creds.mqtt.username}" in login.detail
    skew = clock(paired)
    assert skew.status is Status.PASS and "device clock endpoint" in skew.detail
    assert abs(skew.value) < 0.5  # the same machine's clock, give or take a round trip
    speed = download(paired)
    assert speed.status in (Status.PASS, Status.WARN) and speed.value > 0, speed.detail
    assert "8 MiB" in speed.detail

    wrong_password = paired.credentials.model_copy(update={"mqtt": MqttCredentials(
        url=creds.mqtt.url, username=creds.mqtt.username, password="not-the-password")})
    refused = broker(Target(broker_server.url, tmp_path, credentials=wrong_password))
    assert refused.status is Status.FAIL
    assert "refused the device's login" in refused.detail and "pair it again" in refused.detail

    no_broker = creds.model_copy(update={"mqtt": MqttCredentials(
        url=f"mqtt://127.0.0.1:{free_port()}", username="u", password="p")})
    unreachable = broker(Target(broker_server.url, tmp_path, credentials=no_broker))
    assert unreachable.status is Status.FAIL and "cannot reach the broker" in unreachable.detail

    revoked = creds.model_copy(update={"device_token": "adsd_nope_nope"})
    token_refused = download(Target(broker_server.url, tmp_path, credentials=revoked))
    assert token_refused.status is Status.FAIL
    assert "refused the device token" in token_refused.detail
    # the clock does not depend on the token: it falls back to the HTTP Date header
    fallback = clock(Target(broker_server.url, tmp_path, credentials=revoked))
    assert fallback.status is Status.PASS and "HTTP Date header" in fallback.detail

    gone = f"http://127.0.0.1:{free_port()}"
    down = control_plane(Target(gone, tmp_path, credentials=creds))
    assert down.status is Status.FAIL and f"cannot reach {gone}" in down.detail


def test_a_slow_control_plane_warns(server, tmp_path, monkeypatch):
    monkeypatch.setattr(network, "SLOW_SERVER_MS", 0)
    slow = control_plane(Target(server_url=server.url, state_dir=tmp_path))
    assert slow.status is Status.WARN and "answers, but slowly" in slow.detail


def test_an_unpaired_unit_warns_instead_of_failing(server, tmp_path):
    unpaired = Target(server_url=server.url, state_dir=tmp_path)
    assert control_plane(unpaired).status is Status.PASS
    for check in (broker, download):
        result = check(unpaired)
        assert result.status is Status.WARN and "not paired yet" in result.detail
    skew = clock(unpaired)
    assert skew.status is Status.PASS and "HTTP Date header" in skew.detail
    damaged = Target(server.url, tmp_path, credentials_problem="credentials.json is damaged")
    assert broker(damaged).status is Status.FAIL


def test_skew_is_measured_from_the_middle_of_the_round_trip():
    server_time = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
    t = server_time.timestamp()
    probe = Probe(response=None, sent_at=t + 2.9, received_at=t + 3.1)  # type: ignore[arg-type]
    assert abs(skew_s(server_time, probe) - 3.0) < 1e-6  # local clock 3 s ahead
