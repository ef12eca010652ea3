"""Checks that cross the network: the control plane, the broker, the clock, the download speed.

They talk to the server exactly as the agent would: the device token on HTTP, the device's own
MQTT login on the broker (under a client id of its own, so a running agent is not kicked off).
Anything that needs the credentials only warns while the unit is unpaired: that is a step not
yet taken, not a fault.
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from provisioning.checks.base import CheckResult, Status, Target
from provisioning.client import ApiError, ClientError, ControlPlane, Probe
from shared.agent import AgentCredentials

SLOW_SERVER_MS = 1000  # a round trip slower than this makes syncing sluggish
BROKER_TIMEOUT_S = 5.0
CLOCK_WARN_S = 2.0
HTTP_DATE_RESOLUTION_S = 1.0  # the Date header counts whole seconds
SPEEDTEST_BYTES = 8 * 1024 * 1024
SLOW_DOWNLOAD_MBPS = 10.0
MQTT_PORTS = {"mqtt": 1883, "tcp": 1883, "mqtts": 8883, "ssl": 8883, "ws": 80, "wss": 443}
NOT_PAIRED = "not paired yet — claim the code the display shows (adsbin provision claim)"


def _credentials(name: str, target: Target) -> AgentCredentials | CheckResult:
    """The device's credentials, or the result of a check that cannot run without them."""
    if target.credentials_problem:
        return CheckResult(name, Status.FAIL, target.credentials_problem)
    if target.credentials is None:
        return CheckResult(name, Status.WARN, NOT_PAIRED)
    return target.credentials


def control_plane(target: Target) -> CheckResult:
    """GET /healthz: is the control plane reachable and healthy, and how fast."""
    name = "control_plane"
    if not target.server_url:
        return CheckResult(name, Status.FAIL, "no server URL known: pass --server URL, or run "
                                              "adsbin provision enroll first")
    try:
        with ControlPlane(target.server_url) as api:
            probe = api.healthz()
    except ApiError as exc:
        return CheckResult(name, Status.FAIL, f"{target.server_url} is up but unhealthy: {exc}")
    except ClientError as exc:
        return CheckResult(name, Status.FAIL, str(exc))
    ms = round(probe.round_trip_s * 1000, 1)
    try:
        version = probe.response.json()["version"]
    except (ValueError, KeyError, TypeError):
        return CheckResult(name, Status.FAIL, f"{target.server_url} answers, but not as an ADSBIN "
                                              "control plane (a Wi-Fi login page?)")
    if ms > SLOW_SERVER_MS:
        return CheckResult(name, Status.WARN, f"{target.server_url} answers, but slowly: {ms} ms "
                                              f"(over {SLOW_SERVER_MS} ms)", ms)
    return CheckResult(name, Status.PASS, f"{target.server_url} answers in {ms} ms "
                                          f"(version {version})", ms)


def broker(target: Target) -> CheckResult:
    """Log in to the MQTT broker with the device's credentials and wait for the CONNACK."""
    name = "broker"
    device = _credentials(name, target)
    if isinstance(device, CheckResult):
        return device
    creds = device.mqtt
    url = urlsplit(creds.url)
    if url.scheme not in MQTT_PORTS or not url.hostname:
        return CheckResult(name, Status.FAIL, f"the broker URL {creds.url!r} is not mqtt://, "
                                              "mqtts://, ws:// or wss:// host:port")
    port = url.port or MQTT_PORTS[url.scheme]
    where = f"{url.hostname}:{port}"
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5,
                         client_id=f"{creds.username}-diagnose-{secrets.token_hex(3)}",
                         transport="websockets" if url.scheme.startswith("ws") else "tcp")
    client.username_pw_set(creds.username, creds.password)
    if url.scheme in ("mqtts", "ssl", "wss"):
        client.tls_set()
    if url.scheme.startswith("ws") and url.path:
        client.ws_set_options(path=url.path)
    connacks: list[ReasonCode] = []
    arrived = threading.Event()

    def on_connect(_c: mqtt.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        connacks.append(reason)
        arrived.set()

    client.on_connect = on_connect
    started = time.perf_counter()
    try:
        client.connect(url.hostname, port, keepalive=10)
    except OSError as exc:
        return CheckResult(name, Status.FAIL, f"cannot reach the broker at {where}: {exc} — check "
                                              f"that outbound TCP port {port} is open")
    client.loop_start()
    try:
        if not arrived.wait(BROKER_TIMEOUT_S):
            return CheckResult(name, Status.FAIL, f"the broker at {where} did not answer the "
                                                  f"login within {BROKER_TIMEOUT_S:g} s")
        ms = round((time.perf_counter() - started) * 1000, 1)
    finally:
        client.disconnect()
        client.loop_stop()
    if connacks[0].is_failure:
        return CheckResult(name, Status.FAIL, f"the broker at {where} refused the device's login "
                                              f"({connacks[0]}): the password in the credentials "
                                              "is wrong or the device was unpaired — pair it "
                                              "again")
    return CheckResult(name, Status.PASS, f"logged in to {where} as {creds.username} in {ms} ms",
                       ms)


def skew_s(server_time: datetime, probe: Probe) -> float:
    """How far the local clock is ahead of the server's (negative: behind), in seconds.

    The server read its clock somewhere during the round trip; the middle of it is the best
    guess, off by at most half the round trip.
    """
    local_middle = (probe.sent_at + probe.received_at) / 2
    return local_middle - server_time.timestamp()


def _server_time(server_url: str,
                 creds: AgentCredentials | None) -> tuple[datetime, Probe, str, float]:
    """The server's time, the probe that fetched it, how, and the measurement's uncertainty."""
    with ControlPlane(server_url, creds.device_token if creds else None) as api:
        if creds is not None:
            try:
                ack, probe = api.server_time()
                return ack.server_time, probe, "the device clock endpoint", probe.round_trip_s / 2
            except ApiError:
                pass  # a refused device token is the download check's to report
        probe = api.healthz()
    # Date counts whole seconds: the server's clock read somewhere in [Date, Date + 1 s).
    date = parsedate_to_datetime(probe.response.headers["date"])
    half = HTTP_DATE_RESOLUTION_S / 2
    return (date + timedelta(seconds=half), probe, "the HTTP Date header",
            half + probe.round_trip_s / 2)


def clock(target: Target) -> CheckResult:
    """The local clock against the server's: proof-of-play times are only as good as this."""
    name = "clock"
    if not target.server_url:
        return CheckResult(name, Status.WARN, "not measured: no server URL known")
    try:
        creds = None if target.credentials_problem else target.credentials
        server_time, probe, how, uncertainty_s = _server_time(target.server_url, creds)
    except (ClientError, KeyError, TypeError, ValueError) as exc:
        return CheckResult(name, Status.WARN, f"not measured: {exc}")
    skew = skew_s(server_time, probe)
    where = "ahead of" if skew > 0 else "behind"
    detail = (f"{abs(skew):.3f} s {where} the server (±{uncertainty_s:.3f} s, from {how})")
    if abs(skew) > CLOCK_WARN_S:
        return CheckResult(name, Status.WARN, f"{detail}: more than {CLOCK_WARN_S:g} s — turn on "
                                              "NTP (timedatectl set-ntp true)", round(skew, 3))
    return CheckResult(name, Status.PASS, detail, round(skew, 3))


def download(target: Target) -> CheckResult:
    """Download 8 MiB from /v1/device/speedtest with the device token: media sync speed."""
    name = "download"
    device = _credentials(name, target)
    if isinstance(device, CheckResult):
        return device
    if not target.server_url:
        return CheckResult(name, Status.WARN, "not measured: no server URL known")
    try:
        with ControlPlane(target.server_url, device.device_token) as api:
            received, seconds = api.speedtest(SPEEDTEST_BYTES)
    except ApiError as exc:
        if exc.status == 401:
            return CheckResult(name, Status.FAIL, f"the server refused the device token "
                                                  f"({exc.message}) — pair the display again")
        return CheckResult(name, Status.FAIL, str(exc))
    except ClientError as exc:
        return CheckResult(name, Status.FAIL, str(exc))
    if received < SPEEDTEST_BYTES:
        return CheckResult(name, Status.FAIL, f"the download was cut short at {received} of "
                                              f"{SPEEDTEST_BYTES} bytes")
    mbps = round(received * 8 / max(seconds, 1e-6) / 1e6, 1)
    detail = f"{mbps} Mbit/s ({received // 1024**2} MiB in {seconds:.2f} s)"
    if mbps < SLOW_DOWNLOAD_MBPS:
        return CheckResult(name, Status.WARN, f"{detail}: under {SLOW_DOWNLOAD_MBPS:g} Mbit/s, "
                                              "new videos will take long to arrive", mbps)
    return CheckResult(name, Status.PASS, detail, mbps)
