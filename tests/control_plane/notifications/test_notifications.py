"""Events become notifications for the people they concern, on the channels they chose, sent
once, retried when the provider may recover and not when it refused."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from control_plane.db import utcnow
from control_plane.notifications import service as notifications_service
from control_plane.notifications.catalog import Channel
from control_plane.notifications.channels.base import (
    Message,
    Refused,
    Transient,
    retry_after_s,
)
from control_plane.notifications.models import Delivery, DeliveryStatus, Notification
from control_plane.orgs.models import Membership, User
from tests.control_plane.reporting.conftest import Network
from tests.helpers import error_code, signup, until


def inbox(net: Network, headers: dict[str, str]) -> dict[str, Any]:
    r = net.client.get("/v1/notifications", headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def of_kind(net: Network, headers: dict[str, str], kind: str) -> list[dict[str, Any]]:
    return [n for n in inbox(net, headers)["notifications"] if n["kind"] == kind]


def test_a_review_is_told_to_the_reviewers_and_then_to_the_advertiser(network: Network):
    net = network  # its campaign was submitted and approved while it was made
    [approved] = until(lambda: of_kind(net, net.advertiser.headers, "campaign.approved"),
                       what="the approval notification")
    assert "Winter beers" in approved["title"] and approved["link"].endswith(
        net.campaign["id"])
    [email] = approved["deliveries"]
    until(lambda: of_kind(net, net.advertiser.headers, "campaign.approved")[0]
          ["deliveries"][0]["status"] == "sent", what="the email sent (offline)")
    assert email["channel"] == "email"
    [submitted] = until(lambda: of_kind(net, net.admin, "campaign.submitted"),
                        what="the review request to the super-admins")
    assert "waits for review" in submitted["title"]
    assert of_kind(net, net.venue_owner.headers, "campaign.approved") == []
    # offline, the email was recorded with its text and link, and only super-admins read it
    messages = net.client.get("/v1/notifications/offline-messages", headers=net.admin).json()
    assert any(m["to"] == net.advertiser.email and "approved" in m["subject"]
               and net.campaign["id"] in m["body"] for m in messages)
    assert net.client.get("/v1/notifications/offline-messages",
                          headers=net.advertiser.headers).status_code == 403
    # read
    body = inbox(net, net.advertiser.headers)
    r = net.client.post(f"/v1/notifications/{approved['id']}/read",
                        headers=net.advertiser.headers)
    assert r.status_code == 204
    assert inbox(net, net.advertiser.headers)["unread"] == body["unread"] - 1
    other = signup(net.client)
    r = net.client.post(f"/v1/notifications/{approved['id']}/read", headers=other.headers)
    assert r.status_code == 404 and error_code(r) == "notification_not_found"


def test_a_channel_switched_off_sends_nothing(network: Network):
    net = network
    r = net.client.put("/v1/me/notification-preferences", headers=net.advertiser.headers,
                       json={"preferences": {"campaign.rejected": {"email": False}}})
    assert r.status_code == 200, r.text
    [pref] = [p for p in r.json()["preferences"] if p["kind"] == "campaign.rejected"]
    assert pref["email"] is False and pref["push"] is True and pref["sms"] is False
    urgent = [p for p in r.json()["preferences"] if p["kind"] == "invoice.payment_failed"]
    assert urgent[0]["sms"] is True  # SMS only for urgent kinds by default
    body = {"name": "Rejected one", "category": "1003",
            "start_at": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
            "end_at": (datetime.now(UTC) + timedelta(days=9)).isoformat(),
            "budget_cents": 1000, "cpm_cents": 500, "currency": "EUR", "pacing": "even"}
    campaign = net.client.post("/v1/campaigns", headers=net.advertiser.headers,
                               json=body).json()
    net.client.post(f"/v1/campaigns/{campaign['id']}/creatives", headers=net.advertiser.headers,
                    json={"media_id": net.upload(net.client, net.advertiser), "duration_s": 10})
    assert net.client.post(f"/v1/campaigns/{campaign['id']}/submit",
                           headers=net.advertiser.headers).status_code == 200
    r = net.client.post(f"/v1/campaigns/{campaign['id']}/reject", headers=net.admin,
                        json={"reason": "the logo is unreadable"})
    assert r.status_code == 200, r.text
    [rejected] = until(lambda: of_kind(net, net.advertiser.headers, "campaign.rejected"),
                       what="the rejection")
    assert "the logo is unreadable" in rejected["body"]
    assert rejected["deliveries"] == []  # told in the app only: email is off


def test_bad_preferences_change_nothing(network: Network):
    net = network
    before = net.client.get("/v1/me/notification-preferences",
                            headers=net.advertiser.headers).json()
    for body in ({"preferences": {"campaign.nope": {"email": False}}},
                 {"preferences": {"campaign.approved": {"fax": True}}},
                 {"preferences": {"campaign.approved": {"email": "maybe"}}}):
        r = net.client.put("/v1/me/notification-preferences", headers=net.advertiser.headers,
                           json=body)
        assert r.status_code == 422, r.text
    assert net.client.get("/v1/me/notification-preferences",
                          headers=net.advertiser.headers).json() == before


def test_an_event_told_twice_reaches_each_person_once(network: Network):
    net = network
    with net.app.state.sessionmaker() as session:
        for _ in range(2):
            notifications_service.notify(
                session=session, queue=None, kind="invoice.paid", org_id=net.advertiser.org_id,
                title="Invoice paid", body="Thank you", link="/v1/invoices/x",
                dedupe_key="evt_same")
    assert len(of_kind(net, net.advertiser.headers, "invoice.paid")) == 1


def test_an_event_told_by_two_workers_at_once_reaches_each_person_once(network: Network):
    """Many people are told in one transaction; the same event told at the same moment
    elsewhere (the unique key stops one transaction) still tells each of them once."""
    net = network
    with net.app.state.sessionmaker() as session:
        users = [User(email=f"admin{i}@example.com", name=f"Admin {i}") for i in range(40)]
        session.add_all(users)
        session.flush()
        session.add_all(Membership(org_id=net.advertiser.org_id, user_id=u.id, role="admin")
                        for u in users)
        session.commit()
    queued: list[list[str]] = []
    start = threading.Barrier(2)

    def tell() -> None:
        with net.app.state.sessionmaker() as session:
            start.wait()
            queued.append(notifications_service.notify(
                session=session, queue=None, kind="invoice.paid",
                org_id=net.advertiser.org_id, title="Invoice paid", body="Thank you",
                link="/v1/invoices/x", dedupe_key="evt_at_once"))

    threads = [threading.Thread(target=tell) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(queued) == 2  # neither call failed
    with net.app.state.sessionmaker() as session:
        told = session.scalars(select(Notification.user_id).where(
            Notification.dedupe_key == "evt_at_once")).all()
        deliveries = session.scalars(select(Delivery.id).join(
            Notification, Notification.id == Delivery.notification_id).where(
            Notification.dedupe_key == "evt_at_once")).all()
    assert len(told) == len(set(told)) >= 41  # the advertiser and the 40 admins, once each
    assert sorted(queued[0] + queued[1]) == sorted(deliveries)  # one call queued each


@dataclass
class Scripted:
    """A channel backend that answers as told, and counts what it really sent."""

    answers: list[Exception | None]
    idempotent: bool = False
    name: str = "scripted"
    sent: list[Message] = field(default_factory=list)

    def send(self, message: Message) -> str:
        answer = self.answers.pop(0) if self.answers else None
        if answer is not None:
            raise answer
        self.sent.append(message)
        return f"msg-{len(self.sent)}"


def _one_delivery(net: Network) -> str:
    with net.app.state.sessionmaker() as session:
        [delivery_id] = notifications_service.notify(
            session=session, queue=None, kind="invoice.issued", org_id=net.advertiser.org_id,
            title="A new invoice", body="Invoice x", link="/v1/invoices/x",
            dedupe_key=f"evt_{utcnow().timestamp()}")
    return delivery_id


def _deliver(net: Network, backend: Scripted, delivery_id: str) -> DeliveryStatus:
    with net.app.state.sessionmaker() as session:
        return notifications_service.deliver(
            session=session, channels={c: backend for c in Channel},
            settings=net.app.state.settings, delivery_id=delivery_id)


def _delivery(net: Network, delivery_id: str) -> Delivery:
    with net.app.state.sessionmaker() as session:
        found = session.get(Delivery, delivery_id)
        assert found is not None
        session.expunge(found)
        return found


def test_a_send_is_retried_on_a_transient_failure_and_never_on_a_refusal(network: Network):
    net = network
    backend = Scripted([Transient("503 from the provider"), None])
    delivery_id = _one_delivery(net)
    with pytest.raises(notifications_service.SendLater):
        _deliver(net, backend, delivery_id)
    assert _delivery(net, delivery_id).status == DeliveryStatus.queued
    assert _deliver(net, backend, delivery_id) == DeliveryStatus.sent
    assert _deliver(net, backend, delivery_id) == DeliveryStatus.sent  # not sent again
    assert len(backend.sent) == 1 and _delivery(net, delivery_id).attempts == 2
    refused = Scripted([Refused("400: the address is invalid")])
    other = _one_delivery(net)
    assert _deliver(net, refused, other) == DeliveryStatus.failed
    assert _deliver(net, refused, other) == DeliveryStatus.failed and refused.sent == []
    assert "invalid" in (_delivery(net, other).last_error or "")


def test_a_send_cut_short_by_a_dead_worker_is_never_sent_twice(network: Network):
    net = network
    for idempotent, expected, sends in ((False, DeliveryStatus.failed, 0),
                                        (True, DeliveryStatus.sent, 1)):
        delivery_id = _one_delivery(net)
        with net.app.state.sessionmaker() as session:  # a worker claimed it, then died
            found = session.get(Delivery, delivery_id)
            assert found is not None
            found.status, found.attempts = DeliveryStatus.sending, 1
            found.claimed_until = utcnow() - timedelta(seconds=1)
            session.commit()
        backend = Scripted([], idempotent=idempotent)
        assert _deliver(net, backend, delivery_id) == expected
        assert len(backend.sent) == sends


def test_retry_after_reads_seconds_and_http_dates():
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    assert retry_after_s({"Retry-After": "120"}, now=now) == 120.0
    assert retry_after_s({"retry-after": "0"}, now=now) == 0.0
    assert retry_after_s({"Retry-After": "Mon, 07 Dec 2026 12:01:30 GMT"}, now=now) == 90.0
    assert retry_after_s({"Retry-After": "Mon, 07 Dec 2026 11:00:00 GMT"}, now=now) == 0.0
    for bad in ({"Retry-After": "soon"}, {"Retry-After": "-5"}, {"Retry-After": ""}, {}, None):
        assert retry_after_s(bad, now=now) is None
