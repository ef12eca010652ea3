"""Web Push: a browser subscribes with our VAPID key, its notifications reach it encrypted for it
through its push service (a local one, `tests/push_fake.py`), a subscription the service dropped
is forgotten, a push the service could not take now is tried again, and one it refused is not."""

from __future__ import annotations

import base64
import os
import secrets
import stat
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from control_plane.app import create_app
from control_plane.notifications import push_service, vapid
from control_plane.notifications import service as notifications_service
from control_plane.notifications.catalog import Channel
from control_plane.notifications.channels.base import Message, Refused
from control_plane.notifications.channels.push import MAX_PAYLOAD_BYTES, payload
from control_plane.notifications.exceptions import InvalidPushSubscription
from control_plane.notifications.models import Delivery
from tests.control_plane.reporting.conftest import Network, make_network
from tests.helpers import Account, error_code, signup, until, with_settings
from tests.push_fake import PushService, Subscriber, b64url
from tests.push_fake import push_service as local_push_service


@pytest.fixture
def push() -> Iterator[PushService]:
    with local_push_service() as found:
        yield found


@pytest.fixture
def net(settings, tmp_path) -> Iterator[Network]:
    """The proof-of-play network, taking push endpoints on loopback, retrying quickly."""
    with make_network(settings, tmp_path, push_allow_insecure_endpoints=True,
                      push_allow_private_endpoints=True,
                      job_retry_base_s=0.05) as found:
        # the approval of its campaign is told once its event is handled: before any browser
        # subscribes, so that the tests' pushes are theirs alone
        until(lambda: [n for n in found.client.get(
            "/v1/notifications", headers=found.advertiser.headers).json()["notifications"]
            if n["kind"] == "campaign.approved"], what="the approval told")
        yield found


def browser(net: Network, push: PushService, account: Account) -> Subscriber:
    """A browser of the account, subscribed through the API with the key the API gives."""
    r = net.client.get("/v1/push/vapid-public-key", headers=account.headers)
    assert r.status_code == 200, r.text
    subscriber = push.subscriber(r.json()["public_key"])
    r = net.client.post("/v1/me/push-subscriptions", headers=account.headers,
                        json=subscriber.to_json())
    assert r.status_code == 201, r.text
    return subscriber


def tell(net: Network, *, kind: str = "invoice.paid", title: str = "Invoice paid",
         queue: bool = True) -> dict[str, str]:
    """An event about the advertiser's org; its push deliveries by subscription id."""
    with net.app.state.sessionmaker() as session:
        queued = notifications_service.notify(
            session=session, queue=net.app.state.jobs if queue else None, kind=kind,
            org_id=net.advertiser.org_id, title=title, body="Thank you for your payment",
            link="/v1/invoices/inv_1", dedupe_key=f"evt_{secrets.token_hex(6)}")
        return {d.address: d.id for d in (session.get(Delivery, q) for q in queued)
                if d is not None and d.channel == "push"}


def _delivery(net: Network, delivery_id: str) -> dict[str, Any]:
    with net.app.state.sessionmaker() as session:
        found = session.get(Delivery, delivery_id)
        assert found is not None
        return {"channel": found.channel, "status": found.status, "attempts": found.attempts,
                "last_error": found.last_error}


def settled(net: Network, delivery_id: str) -> dict[str, Any]:
    """The delivery once no attempt holds it or waits for one."""
    return until(lambda: (d := _delivery(net, delivery_id))["status"]
                 not in ("queued", "sending") and d, what="the push delivery settled")


def subscriptions(net: Network, account: Account) -> list[dict[str, Any]]:
    r = net.client.get("/v1/me/push-subscriptions", headers=account.headers)
    assert r.status_code == 200, r.text
    return list(r.json())


def test_a_subscribed_browser_receives_its_notifications_encrypted_for_it(
        net: Network, push: PushService):
    assert net.client.get("/v1/push/vapid-public-key").status_code == 401
    subscriber = browser(net, push, net.advertiser)
    [listed] = subscriptions(net, net.advertiser)
    assert listed["endpoint"] == subscriber.endpoint
    [delivery_id] = tell(net, title="Invoice INV-7 paid").values()
    [received] = until(lambda: push.pushes(subscriber), what="the push")
    assert received.data == {"title": "Invoice INV-7 paid", "body": "Thank you for your payment",
                             "link": "http://testserver/v1/invoices/inv_1",
                             "kind": "invoice.paid"}
    assert received.claims["sub"] == "mailto:ops@adsbin.local"
    assert received.headers["ttl"] == "86400" and received.headers["urgency"] == "normal"
    assert settled(net, delivery_id)["status"] == "sent"
    [notification] = [n for n in net.client.get("/v1/notifications",
                                                headers=net.advertiser.headers).json()
                      ["notifications"] if n["title"] == "Invoice INV-7 paid"]
    assert {d["channel"]: d["status"] for d in notification["deliveries"]}["push"] == "sent"
    # the same browser subscribing again (new keys) updates its subscription
    renewed = Subscriber(subscriber.id, subscriber.endpoint, subscriber.application_server_key)
    push.subscribers[subscriber.id] = renewed
    r = net.client.post("/v1/me/push-subscriptions", headers=net.advertiser.headers,
                        json=renewed.to_json())
    assert r.status_code == 201 and r.json()["id"] == listed["id"]
    assert len(subscriptions(net, net.advertiser)) == 1
    tell(net, kind="invoice.payment_failed", title="A payment failed")
    [urgent] = until(lambda: push.pushes(renewed)[1:], what="the push to the renewed keys")
    assert urgent.data["title"] == "A payment failed" and urgent.headers["urgency"] == "high"
    assert push.errors == []
    # unsubscribed: no more pushes
    r = net.client.delete("/v1/me/push-subscriptions", headers=net.advertiser.headers,
                          params={"endpoint": subscriber.endpoint})
    assert r.status_code == 204 and subscriptions(net, net.advertiser) == []
    with net.app.state.sessionmaker() as session:
        queued = notifications_service.notify(
            session=session, queue=None, kind="invoice.paid", org_id=net.advertiser.org_id,
            title="t", body="b", link=None, dedupe_key="evt_after")
    assert [_delivery(net, d)["channel"] for d in queued] == ["email"]


def test_what_the_push_service_answers_decides_what_follows(net: Network, push: PushService):
    """One event to four browsers of the advertiser, each push service answering its way."""
    browsers = {name: browser(net, push, net.advertiser)
                for name in ("dropped", "gone", "busy", "refusing")}
    ids = {s["endpoint"]: s["id"] for s in subscriptions(net, net.advertiser)}
    push.answer(browsers["dropped"], 404)
    push.answer(browsers["gone"], 410)
    push.answer(browsers["busy"], 500, 429)
    push.answer(browsers["refusing"], 400)
    deliveries = tell(net)
    outcome = {name: settled(net, deliveries[ids[b.endpoint]]) for name, b in browsers.items()}
    # the browser unsubscribed (404, 410): the delivery failed, the subscription forgotten
    for name, status in (("dropped", 404), ("gone", 410)):
        assert outcome[name]["status"] == "failed" and str(status) in outcome[name]["last_error"]
        assert push.tried(browsers[name]) == [status] and push.pushes(browsers[name]) == []
    assert {s["endpoint"] for s in subscriptions(net, net.advertiser)} == {
        browsers["busy"].endpoint, browsers["refusing"].endpoint}
    # could not take it now (500, 429): tried again with backoff, and it arrived once
    assert outcome["busy"]["status"] == "sent" and outcome["busy"]["attempts"] == 3
    assert push.tried(browsers["busy"]) == [500, 429, 201]
    assert len(push.pushes(browsers["busy"])) == 1
    # refused this push (400): failed at once, never tried again, the browser kept
    assert outcome["refusing"]["status"] == "failed" and outcome["refusing"]["attempts"] == 1
    assert "400" in outcome["refusing"]["last_error"]
    assert push.tried(browsers["refusing"]) == [400] and push.errors == []


def test_a_subscription_is_checked_and_belongs_to_whoever_subscribed_last(
        net: Network, push: PushService):
    """Bad subscriptions are refused with nothing kept; a browser another user signs in on
    becomes theirs, and receives none of the first user's pushes."""
    good = push.subscriber(vapid.public_key(net.app.state.settings)).to_json()
    keys = good["keys"]
    compressed = b64url(b"\x02" + os.urandom(32))
    off_curve = b64url(b"\x04" + b"\x00" * 63 + b"\x07")
    for endpoint, changes in (
            ("http://push.example.com/push/1", {}),  # http to anything but loopback
            ("https://10.0.0.7/push/1", {}),  # an address: more likely our own network
            ("ftp://push.example.com/1", {}),
            ("not a url", {}),
            (good["endpoint"], {"p256dh": "!!!not base64!!!"}),
            (good["endpoint"], {"p256dh": compressed}),
            (good["endpoint"], {"p256dh": off_curve}),
            (good["endpoint"], {"auth": b64url(os.urandom(15))}),
            (good["endpoint"], {"auth": "%%%"})):
        body = {**good, "endpoint": endpoint, "keys": {**keys, **changes}}
        r = net.client.post("/v1/me/push-subscriptions", headers=net.advertiser.headers,
                            json=body)
        assert r.status_code == 422, (endpoint, changes, r.text)
    for body in ({"endpoint": good["endpoint"]}, {**good, "extra": 1},
                 {**good, "keys": {"p256dh": keys["p256dh"]}}):
        r = net.client.post("/v1/me/push-subscriptions", headers=net.advertiser.headers,
                            json=body)
        assert r.status_code == 422, r.text
    r = net.client.delete("/v1/me/push-subscriptions", headers=net.advertiser.headers)
    assert r.status_code == 422 and error_code(r) == "invalid_push_subscription"
    assert subscriptions(net, net.advertiser) == []
    # loopback over http only where the settings allow it
    with pytest.raises(InvalidPushSubscription):
        push_service.check_endpoint(good["endpoint"], allow_insecure=False)
    push_service.check_endpoint("https://fcm.googleapis.com/fcm/send/x", allow_insecure=False)
    # another user on the same browser
    subscriber = browser(net, push, net.advertiser)
    [before] = subscriptions(net, net.advertiser)
    [pending] = tell(net, queue=False).values()  # for the first user, not sent yet
    other = signup(net.client)
    r = net.client.post("/v1/me/push-subscriptions", headers=other.headers,
                        json=subscriber.to_json())
    assert r.status_code == 201 and r.json()["id"] != before["id"]
    assert subscriptions(net, net.advertiser) == []
    assert [s["endpoint"] for s in subscriptions(net, other)] == [subscriber.endpoint]
    # the first user cannot remove it any more
    r = net.client.delete("/v1/me/push-subscriptions", headers=net.advertiser.headers,
                          params={"id": r.json()["id"]})
    assert r.status_code == 204 and len(subscriptions(net, other)) == 1
    with net.app.state.sessionmaker() as session:
        status = notifications_service.deliver(session=session, channels=net.app.state.channels,
                                               settings=net.app.state.settings,
                                               delivery_id=pending)
    assert status == "failed" and push.tried(subscriber) == []


def test_the_vapid_key_is_made_on_first_start_and_kept(settings, tmp_path):
    fresh = with_settings(settings, data_dir=tmp_path / "fresh")
    create_app(fresh)  # its push channel needs the key: made now
    path = fresh.keys_dir / vapid.KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = vapid.public_key(fresh)
    create_app(fresh)
    assert vapid.public_key(fresh) == first and len(base64.urlsafe_b64decode(first + "=")) == 65
    # or the one configured, in PEM or in the raw form py_vapid prints
    key = ec.generate_private_key(ec.SECP256R1())
    expected = vapid.application_server_key(key)
    raw = b64url(key.private_numbers().private_value.to_bytes(32, "big"))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    for given in (raw, pem):
        assert vapid.public_key(with_settings(fresh, vapid_private_key=given)) == expected
    with pytest.raises(ValueError, match="ADSBIN_VAPID_PRIVATE_KEY"):
        vapid.public_key(with_settings(fresh, vapid_private_key="not a key"))


def test_a_long_notification_is_cut_to_fit_a_push():
    message = Message(delivery_id="dlv_1", to="https://push.example.com/x", subject="Long",
                      text="é" * 5000 + "\n\nhttps://a/b", link="https://a/b", kind="invoice.paid")
    data = payload(message)
    assert len(data) <= MAX_PAYLOAD_BYTES and data.decode().count("é") > 1000
    assert b"https://a/b" in data


RESOLVES = {"push.example.net": "93.184.216.34", "intranet.example.net": "10.1.2.3",
            "metadata.example.net": "169.254.169.254", "mapped.example.net": "::ffff:127.0.0.1",
            "cgnat.example.net": "100.64.0.7"}


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The resolver the push checks use, answering from RESOLVES (addresses as they are, other
    names: NXDOMAIN)."""
    import ipaddress
    import socket

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        try:
            ipaddress.ip_address(host)
            RESOLVES.setdefault(host, host)
        except ValueError:
            pass
        if host not in RESOLVES:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        address = RESOLVES[host]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr("control_plane.notifications.channels.push.socket.getaddrinfo",
                        getaddrinfo)
    return RESOLVES


def test_an_endpoint_on_a_non_public_address_is_refused(net: Network, push: PushService,
                                                        dns: dict[str, str]):
    """Unless ADSBIN_PUSH_ALLOW_PRIVATE_ENDPOINTS: subscribing answers 422, and the channel
    pushes to nothing that resolves to a private, loopback or link-local address."""
    strict = create_app(with_settings(net.app.state.settings,
                                      push_allow_private_endpoints=False))
    from fastapi.testclient import TestClient

    keys = push.subscriber(vapid.public_key(net.app.state.settings)).to_json()["keys"]
    with TestClient(strict) as client:
        for host in ("intranet.example.net", "metadata.example.net", "mapped.example.net",
                     "cgnat.example.net", "nowhere.example.net"):
            r = client.post("/v1/me/push-subscriptions", headers=net.advertiser.headers,
                            json={"endpoint": f"https://{host}/push/x", "keys": keys})
            assert r.status_code == 422, (host, r.text)
            assert error_code(r) == "invalid_push_subscription" and host in r.text
        r = client.post("/v1/me/push-subscriptions", headers=net.advertiser.headers,
                        json={"endpoint": "https://push.example.net/push/x", "keys": keys})
        assert r.status_code == 201, r.text
    # at send time: the local push service (127.0.0.1) is refused without a request
    subscriber = browser(net, push, net.advertiser)
    channel = strict.state.channels[Channel.push]
    message = Message(delivery_id="dlv_x", to=subscriber.endpoint, subject="Hi", text="x",
                      keys=subscriber.to_json()["keys"])
    with pytest.raises(Refused, match="non-public address"):
        channel.send(message)
    assert push.attempts == []
    assert net.app.state.channels[Channel.push].send(message)  # allowed where the tests say
