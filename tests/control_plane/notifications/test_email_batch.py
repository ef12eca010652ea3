"""The emails of one event go out by the hundred through Resend's batch endpoint: each delivery
keeps its own status and email id, a batch Resend could not take now is tried again whole under
the same key, a batch cut short by a dead worker is sent again by the sweep as the same request
(nobody gets two emails), a refusal fails each email, and an email Resend cannot take fails
alone. Resend is the local fake in `tests/resend_fake.py`, reached by the official SDK."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import insert, select, update

from control_plane.db import new_id, utcnow
from control_plane.jobs.queue import registry
from control_plane.notifications import sending
from control_plane.notifications import service as notifications_service
from control_plane.notifications.catalog import Channel
from control_plane.notifications.channels.base import ChannelBackend, Message, Refused
from control_plane.notifications.models import Delivery, DeliveryStatus, OfflineMessage
from control_plane.orgs.models import Membership, User
from tests.control_plane.reporting.conftest import Network, make_network
from tests.helpers import until
from tests.resend_fake import ResendFake, signed, status_event, webhook_secret

SECRET = webhook_secret()


@dataclass
class Mail:
    net: Network
    fake: ResendFake


@pytest.fixture
def mail(settings, tmp_path) -> Iterator[Mail]:
    """The proof-of-play network with email through the fake Resend, on this test's database,
    once what it sent while it was made (the approval email) has gone."""
    with ResendFake(api_key="re_test") as fake, make_network(
            settings, tmp_path, resend_api_key=SecretStr("re_test"), resend_api_url=fake.url,
            resend_webhook_secret=SecretStr(SECRET), resend_timeout_s=2.0,
            job_retry_base_s=0.05) as net:
        until(lambda: [e for e in fake.to(net.advertiser.email)
                       if "approved" in e.body["subject"]], what="the approval email")
        yield Mail(net, fake)


def add_admins(net: Network, emails: Sequence[str]) -> None:
    """More admins of the advertiser's org, with these addresses."""
    users = [{"id": new_id("usr"), "email": email, "name": f"Admin {i}", "status": "active",
              "is_superadmin": False} for i, email in enumerate(emails)]
    with net.app.state.sessionmaker() as session:
        session.execute(insert(User), users)
        session.execute(insert(Membership), [{"id": new_id("mem"), "org_id": net.advertiser.org_id,
                                              "user_id": u["id"], "role": "admin"}
                                             for u in users])
        session.commit()


def invoice(net: Network, *, queued: bool = True) -> list[str]:
    """An invoice told to the advertiser's admins (by email); its deliveries."""
    with net.app.state.sessionmaker() as session:
        return notifications_service.notify(
            session=session, queue=net.app.state.jobs if queued else None,
            kind="invoice.issued", org_id=net.advertiser.org_id, title="Invoice INV-9 is ready",
            body="Invoice INV-9 for 12.00 EUR is ready.", link="/v1/invoices/x",
            dedupe_key=f"invoice:{new_id('evt')}")


def deliveries(net: Network, ids: Sequence[str]) -> list[Delivery]:
    with net.app.state.sessionmaker() as session:
        found = list(session.scalars(select(Delivery).where(Delivery.id.in_(list(ids)))))
        session.expunge_all()
    return sorted(found, key=lambda d: d.address)


def batched(fake: ResendFake) -> list[str]:
    """The emails Resend took in batches."""
    return [e.id for e in fake.emails if e.batched]


def settled(net: Network, ids: Sequence[str]) -> list[Delivery]:
    def all_settled() -> list[Delivery] | None:
        found = deliveries(net, ids)
        busy = any(d.status in (DeliveryStatus.queued, DeliveryStatus.sending) for d in found)
        return None if busy else found
    return until(all_settled, what="every delivery settled")  # type: ignore[no-any-return]


def test_a_fan_out_to_250_admins_is_3_batch_requests_and_each_delivery_its_own_email(
        mail: Mail):
    net, fake = mail.net, mail.fake
    add_admins(net, [f"admin{i}@example.com" for i in range(249)])  # and the advertiser: 250
    before = fake.batch_requests
    ids = invoice(net)
    assert len(ids) == 250
    done = settled(net, ids)
    assert fake.batch_requests - before == 3
    assert sorted(len(b.ids) for b in fake.batches) == [50, 100, 100]
    by_id = {e.id: e for e in fake.emails if e.batched}
    assert len(by_id) == 250
    for delivery in done:
        email = by_id[delivery.provider_message_id or ""]
        assert delivery.status == DeliveryStatus.sent and delivery.attempts == 1
        assert delivery.provider == "resend" and email.body["to"] == [delivery.address]
        assert email.idempotency_key == delivery.batch_key
        assert len([e for e in fake.to(delivery.address) if e.batched]) == 1
    assert len({d.batch_key for d in done}) == 3
    # what each person sees, and Resend's status webhook, are per delivery as before
    mine = next(d for d in done if d.address == net.advertiser.email)
    inbox = net.client.get("/v1/notifications", headers=net.advertiser.headers).json()
    [told] = [n for n in inbox["notifications"] if n["kind"] == "invoice.issued"]
    assert [d["status"] for d in told["deliveries"]] == ["sent"]
    r = net.client.post("/v1/webhooks/resend", content=(signature := signed(
        status_event("email.delivered", mine.provider_message_id or ""), SECRET))[0],
        headers=signature[1])
    assert r.status_code == 200, r.text
    after = {d.id: d.status for d in deliveries(net, ids)}
    assert after[mine.id] == DeliveryStatus.delivered
    assert sum(s == DeliveryStatus.delivered for s in after.values()) == 1


def test_a_batch_resend_could_not_take_is_tried_again_whole_and_each_email_sent_once(
        mail: Mail):
    """A 503, then a batch Resend took but whose answer was lost: the third try, under the
    same key, gets Resend's first answer, and nobody has a second email."""
    net, fake = mail.net, mail.fake
    add_admins(net, [f"admin{i}@example.com" for i in range(4)])
    fake.fail_next(503)
    fake.take_then_fail_next()
    before = fake.batch_requests
    done = settled(net, invoice(net))
    assert fake.batch_requests - before == 3
    [batch] = fake.batches
    assert len(batch.ids) == 5
    for delivery in done:
        assert delivery.status == DeliveryStatus.sent and delivery.attempts == 3
        assert delivery.batch_key == batch.idempotency_key
        assert delivery.provider_message_id in batch.ids and delivery.last_error is None
    assert all(len([e for e in fake.to(d.address) if e.batched]) == 1 for d in done)


class WorkerDied(BaseException):
    """The process ended in the middle of a send (nothing catches it)."""


@dataclass
class DiesAfterSending:
    """The email backend of a worker that dies once Resend has taken the batch."""

    backend: ChannelBackend
    name: str = "resend"
    idempotent: bool = True

    def send(self, message: Message) -> str:
        raise AssertionError("a batch is sent as a batch")

    def send_batch(self, messages: Sequence[Message], *, key: str) -> list[str | Refused]:
        self.backend.send_batch(messages, key=key)  # type: ignore[attr-defined]
        raise WorkerDied


def test_a_batch_cut_short_by_a_dead_worker_is_sent_again_as_the_same_request(mail: Mail):
    net, fake = mail.net, mail.fake
    add_admins(net, [f"admin{i}@example.com" for i in range(9)])
    ids = invoice(net, queued=False)  # sent by hand below
    channels = {Channel(name): b for name, b in net.app.state.jobs.context.channels.items()}
    with net.app.state.sessionmaker() as session, pytest.raises(WorkerDied):
        sending.deliver_batch(session=session, settings=net.app.state.settings,
                              channels={**channels, Channel.email: DiesAfterSending(
                                  channels[Channel.email])}, delivery_ids=ids)
    held = deliveries(net, ids)
    assert {d.status for d in held} == {DeliveryStatus.sending} and len(held) == 10
    [key] = {d.batch_key for d in held}
    [batch] = fake.batches
    assert batch.idempotency_key == key and len(batched(fake)) == 10
    with net.app.state.sessionmaker() as session:  # its claim runs out
        session.execute(update(Delivery).where(Delivery.id.in_(ids))
                        .values(claimed_until=utcnow() - timedelta(seconds=1)))
        session.commit()
    before = fake.batch_requests
    net.app.state.jobs.enqueue(sending.SWEEP_JOB)
    done = settled(net, ids)
    assert fake.batch_requests - before == 1  # the same set under the same key...
    assert fake.batches == [batch] and len(batched(fake)) == 10  # ...so nothing new sent
    assert sorted(d.provider_message_id or "" for d in done) == sorted(batch.ids)
    assert all(d.status == DeliveryStatus.sent and d.attempts == 2 and d.batch_key == key
               for d in done)


def test_a_batch_resend_refuses_fails_each_email_with_the_reason(mail: Mail):
    net, fake = mail.net, mail.fake
    add_admins(net, [f"admin{i}@example.com" for i in range(3)])
    fake.fail_next(422)
    before = fake.requests
    done = settled(net, invoice(net))
    assert fake.requests - before == 1 and fake.batches == []
    for delivery in done:
        assert delivery.status == DeliveryStatus.failed and delivery.attempts == 1
        assert "422" in (delivery.last_error or "")
        assert delivery.provider_message_id is None


def test_an_email_resend_cannot_take_fails_alone_and_the_others_go(mail: Mail):
    """Resend's permissive validation: its answer names the bad email by its index."""
    net, fake = mail.net, mail.fake
    add_admins(net, ["admin0@example.com", "not-an-address", "admin2@example.com",
                     "also not one@example.com", "admin4@example.com"])
    done = settled(net, invoice(net))
    [batch] = fake.batches
    assert len(batch.ids) == 4
    bad = {d.address: d for d in done if d.status == DeliveryStatus.failed}
    assert sorted(bad) == ["also not one@example.com", "not-an-address"]
    assert all("Invalid `to` field" in (d.last_error or "") and d.provider_message_id is None
               for d in bad.values())
    good = [d for d in done if d.address not in bad]
    assert len(good) == 4 and all(d.status == DeliveryStatus.sent for d in good)
    by_id = {e.id: e for e in fake.emails}
    assert all(by_id[d.provider_message_id or ""].body["to"] == [d.address] for d in good)


def test_resend_down_until_the_last_attempt_leaves_each_email_dead(
        mail: Mail, monkeypatch: pytest.MonkeyPatch):
    net, fake = mail.net, mail.fake
    kind = registry.kinds[sending.DELIVER_BATCH_JOB]  # 3 tries rather than 8: the queue's
    monkeypatch.setitem(registry.kinds, kind.name,  # scheduler wakes once a second
                        replace(kind, max_attempts=3))
    add_admins(net, ["admin0@example.com"])
    fake.fail_next(503, 503, 503)
    done = settled(net, invoice(net))
    assert fake.batches == [] and len(done) == 2
    for delivery in done:
        assert delivery.status == DeliveryStatus.dead and delivery.attempts == 3
        assert "gave up after 3 attempts" in (delivery.last_error or "")
        assert "503" in (delivery.last_error or "")


def test_one_email_goes_alone_under_its_delivery_id(mail: Mail):
    net, fake = mail.net, mail.fake
    before = fake.batch_requests
    [delivery_id] = invoice(net)
    [delivery] = settled(net, [delivery_id])
    assert delivery.status == DeliveryStatus.sent and delivery.batch_key is None
    assert fake.batch_requests == before
    [email] = [e for e in fake.emails if e.idempotency_key == delivery_id]
    assert not email.batched and delivery.provider_message_id == email.id


def test_without_resend_the_batch_is_recorded_once_each(network: Network):
    """The offline email backend takes batches too, and records each email once."""
    net = network
    add_admins(net, [f"admin{i}@example.com" for i in range(2)])
    done = settled(net, invoice(net))
    assert {d.status for d in done} == {DeliveryStatus.sent} and len(done) == 3
    assert len({d.batch_key for d in done}) == 1 and done[0].batch_key is not None
    with net.app.state.sessionmaker() as session:
        recorded = session.scalars(select(OfflineMessage).where(
            OfflineMessage.id.in_([d.provider_message_id for d in done]))).all()
    assert sorted(m.to for m in recorded) == sorted(d.address for d in done)
