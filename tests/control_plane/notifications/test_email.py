"""Email through Resend: the message people get (HTML, text, one-click unsubscribe), sent once
however often it is tried, retried only when Resend may recover, the unsubscribe link, and
Resend's status webhook. Resend is the local fake in `tests/resend_fake.py`, reached by the
official SDK."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import formatdate
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from control_plane.db import utcnow
from control_plane.notifications import service as notifications_service
from control_plane.notifications.channels.base import Message, Refused, Transient
from control_plane.notifications.channels.email import ResendChannel
from control_plane.notifications.models import Delivery, DeliveryStatus
from control_plane.notifications.unsubscribe import UnsubscribeTokens
from tests.control_plane.reporting.conftest import Network, make_network
from tests.helpers import error_code, until
from tests.live import free_port
from tests.resend_fake import ResendFake, Sent, signed, status_event, webhook_secret

SECRET = webhook_secret()


@dataclass
class Mail:
    net: Network
    fake: ResendFake


@pytest.fixture
def fake() -> Iterator[ResendFake]:
    with ResendFake(api_key="re_test") as server:
        yield server


@pytest.fixture
def mail(settings, tmp_path, fake: ResendFake) -> Iterator[Mail]:
    """The proof-of-play network with email through the fake Resend, on this test's database."""
    with make_network(settings, tmp_path, resend_api_key=SecretStr("re_test"),
                      resend_api_url=fake.url, resend_webhook_secret=SecretStr(SECRET),
                      resend_timeout_s=2.0, job_retry_base_s=0.05) as net:
        yield Mail(net, fake)


def approval_email(mail: Mail) -> Sent:
    """The approval email the network's campaign brought its advertiser."""
    found = until(lambda: [e for e in mail.fake.to(mail.net.advertiser.email)
                           if "approved" in e.body["subject"]], what="the approval email")
    assert len(found) == 1
    # Resend took it before the attempt recorded so: wait for the attempt to let go of it
    until(lambda: delivery_of(mail, found[0]).status != DeliveryStatus.sending,
          what="the approval email's attempt to end")
    return found[0]


def delivery_of(mail: Mail, email: Sent) -> Delivery:
    with mail.net.app.state.sessionmaker() as session:
        found = session.scalar(select(Delivery).where(Delivery.id == email.idempotency_key))
        assert found is not None
        session.expunge(found)
        return found


def unsubscribe_url(email: Sent) -> str:
    header = email.body["headers"]["List-Unsubscribe"]
    assert header.startswith("<") and header.endswith(">")
    return str(header[1:-1])


def one_click(mail: Mail, url: str) -> Any:
    """What a mail client does with List-Unsubscribe-Post (RFC 8058)."""
    parts = urlsplit(url)
    return mail.net.client.post(f"{parts.path}?{parts.query}",
                                content=b"List-Unsubscribe=One-Click",
                                headers={"Content-Type": "application/x-www-form-urlencoded"})


def _webhook(mail: Mail, body: bytes, headers: dict[str, str]) -> Any:
    return mail.net.client.post("/v1/webhooks/resend", content=body, headers=headers)


def _resend_reports_what_became_of_it(mail: Mail, email: Sent) -> None:
    """Resend's status webhook, Svix-signed: delivered, replayed, bounced; bad ones 400."""
    delivery = delivery_of(mail, email)
    body, headers = signed(status_event("email.delivered", email.id), SECRET)
    # bad signatures: another secret, a changed body, a stale timestamp, no headers
    for bad_body, bad_headers in (
            signed(status_event("email.delivered", email.id), webhook_secret()),
            (body.replace(b"delivered", b"bounced"), headers),
            signed(status_event("email.delivered", email.id), SECRET, at=time.time() - 600),
            (body, {"content-type": "application/json"})):
        r = _webhook(mail, bad_body, bad_headers)
        assert r.status_code == 400 and error_code(r) == "bad_signature", r.text
    assert delivery_of(mail, email).status == DeliveryStatus.sent
    # signed: delivered; the same delivery again changes nothing
    for _ in range(2):
        r = _webhook(mail, body, headers)
        assert r.status_code == 200, r.text
        assert delivery_of(mail, email).status == DeliveryStatus.delivered
    inbox = mail.net.client.get("/v1/notifications", headers=mail.net.advertiser.headers)
    [approved] = [n for n in inbox.json()["notifications"] if n["kind"] == "campaign.approved"]
    assert approved["deliveries"][0]["status"] == "delivered"
    # an email we do not know is acknowledged (Svix would retry it forever) and changes nothing
    r = _webhook(mail, *signed(status_event("email.delivered", "not-ours"), SECRET))
    assert r.status_code == 200 and "ignored" in r.json()["outcome"]
    # a bounce: failed, with the receiving server's reason
    r = _webhook(mail, *signed(status_event(
        "email.bounced", email.id, bounce={"type": "Permanent", "subType": "General",
                                           "message": "550 5.1.1 mailbox unknown"}), SECRET))
    assert r.status_code == 200, r.text
    after = delivery_of(mail, email)
    assert after.status == DeliveryStatus.failed and "mailbox unknown" in (after.last_error or "")
    assert after.id == delivery.id
    # and a late `delivered` does not undo it
    assert _webhook(mail, *signed(status_event("email.delivered", email.id), SECRET)
                    ).status_code == 200
    assert delivery_of(mail, email).status == DeliveryStatus.failed


def test_the_approval_email_arrives_with_html_text_and_a_one_click_unsubscribe(mail: Mail):
    """...and Resend's status webhook marks its delivery."""
    net, email = mail.net, approval_email(mail)
    body = email.body
    assert body["from"] == "ADSBIN <notifications@adsbin.local>"
    assert body["to"] == [net.advertiser.email] and "Winter beers" in body["subject"]
    link = f"http://testserver/v1/campaigns/{net.campaign['id']}"
    # the HTML: the title, the body (escaped), the link as a button, the unsubscribe link
    html = body["html"]
    assert "<h1" in html and "Winter beers" in unescape(html)
    assert re.search(rf'<a href="{re.escape(link)}"[^>]*>Open in ADSBIN</a>', html)
    assert "“Winter beers” was approved" in unescape(html)
    url = unsubscribe_url(email)
    assert url.startswith("http://testserver/v1/notifications/unsubscribe?token=")
    assert f'href="{url.replace("&", "&amp;")}"' in html or f'href="{url}"' in html
    # the text: the same, without markup
    text = body["text"]
    assert "<" not in text.replace("<http", "") and f"Open in ADSBIN: {link}" in text
    assert "was approved" in text and f"Unsubscribe from these emails: {url}" in text
    assert body["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # sent once, with the delivery id as the idempotency key; the delivery knows Resend's id
    delivery = delivery_of(mail, email)
    assert delivery.status == DeliveryStatus.sent and delivery.provider == "resend"
    assert delivery.provider_message_id == email.id
    [approved] = [n for n in net.client.get("/v1/notifications", headers=net.advertiser.headers)
                  .json()["notifications"] if n["kind"] == "campaign.approved"]
    assert [(d["channel"], d["status"]) for d in approved["deliveries"]] == [("email", "sent")]
    # the review request went to the super-admin the same way
    assert until(lambda: [e for e in mail.fake.to("root@example.com")
                          if "waits for review" in e.body["subject"]])
    # then Resend tells what became of it (its status webhook)
    _resend_reports_what_became_of_it(mail, email)


def test_one_click_unsubscribe_switches_that_kind_off(mail: Mail):
    net, email = mail.net, approval_email(mail)
    url = unsubscribe_url(email)
    parts = urlsplit(url)
    # the link opened in a browser asks first (a link scanner following it changes nothing)
    page = net.client.get(f"{parts.path}?{parts.query}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<form method="post"' in page.text and "Your campaign was approved" in page.text
    prefs = net.client.get("/v1/me/notification-preferences", headers=net.advertiser.headers)
    assert [p["email"] for p in prefs.json()["preferences"]
            if p["kind"] == "campaign.approved"] == [True]
    # forged, tampered with or missing: 400 and nothing changes
    token = parse_qs(parts.query)["token"][0]
    payload, mac = token.split(".")
    forged = UnsubscribeTokens(b"not our secret" * 3, "http://testserver").token(
        user_id=net.advertiser.user_id, kind="campaign.approved")
    for bad in (forged, f"{payload}.{mac[:-2]}AA", f"{payload[:-2]}x.{mac}", "nonsense", ""):
        r = net.client.post("/v1/notifications/unsubscribe", params={"token": bad},
                            content=b"List-Unsubscribe=One-Click")
        assert r.status_code == 400 and error_code(r) == "invalid_unsubscribe_token", r.text
    r = net.client.get("/v1/notifications/unsubscribe", params={"token": forged})
    assert r.status_code == 400 and error_code(r) == "invalid_unsubscribe_token"
    # the mail client's one-click POST: that kind's email off, the others as they were
    r = one_click(mail, url)
    assert r.status_code == 200, r.text
    assert one_click(mail, url).status_code == 200  # again: still off, no error
    prefs = {p["kind"]: p for p in net.client.get(
        "/v1/me/notification-preferences", headers=net.advertiser.headers).json()["preferences"]}
    assert prefs["campaign.approved"]["email"] is False
    assert prefs["campaign.approved"]["push"] is True and prefs["invoice.issued"]["email"]
    # the next approval is told in the app, by no email
    sent_before = len(mail.fake.emails)
    other = net.approved_campaign(net.advertiser, name="Spring water")
    [told] = until(lambda: [n for n in net.client.get(
        "/v1/notifications", headers=net.advertiser.headers).json()["notifications"]
        if n["kind"] == "campaign.approved" and other["id"] in (n["link"] or "")],
        what="the second approval")
    assert told["deliveries"] == []
    time.sleep(0.3)  # what the worker still had queued
    assert not [e for e in mail.fake.emails[sent_before:]
                if e.body["to"] == [net.advertiser.email]]


def _notify(mail: Mail, title: str) -> str:
    """An invoice notification for the advertiser, queued to the worker; its email delivery."""
    net = mail.net
    with net.app.state.sessionmaker() as session:
        [delivery_id] = notifications_service.notify(
            session=session, queue=net.app.state.jobs, kind="invoice.issued",
            org_id=net.advertiser.org_id, title=title, body="Invoice x is ready.",
            link="/v1/invoices/x", dedupe_key=f"evt_{title}_{utcnow().timestamp()}")
    return str(delivery_id)


def _settled(mail: Mail, delivery_id: str) -> Delivery:
    def settled() -> Delivery | None:
        with mail.net.app.state.sessionmaker() as session:
            found = session.get(Delivery, delivery_id)
            assert found is not None
            if found.status in (DeliveryStatus.queued, DeliveryStatus.sending):
                return None
            session.expunge(found)
            return found
    return until(settled, what=f"delivery {delivery_id} settled")  # type: ignore[no-any-return]


def test_resend_down_is_retried_until_it_takes_the_email_once_and_a_refusal_never(mail: Mail):
    fake = mail.fake
    approval_email(mail)  # what the network brought is sent first
    fake.fail_next(503, 429)
    delivery_id = _notify(mail, "Invoice one")
    delivery = _settled(mail, delivery_id)
    assert delivery.status == DeliveryStatus.sent and delivery.attempts == 3
    mine = [e for e in fake.emails if e.idempotency_key == delivery_id]
    assert len(mine) == 1 and delivery.provider_message_id == mine[0].id
    assert mine[0].body["subject"] == "Invoice one"
    # a 400: failed at once with Resend's reason, never asked again
    before = fake.requests
    fake.fail_next(400)
    refused = _settled(mail, _notify(mail, "Invoice two"))
    assert refused.status == DeliveryStatus.failed and refused.attempts == 1
    assert "400" in (refused.last_error or "") and "validation_error" in (refused.last_error or "")
    time.sleep(0.3)
    assert fake.requests == before + 1
    assert not [e for e in fake.emails if e.body["subject"] == "Invoice two"]


# --- the channel on its own (no database) ---------------------------------------------------

def _channel(url: str, timeout_s: float = 2.0) -> ResendChannel:
    return ResendChannel(api_key="re_test", api_url=url, sender="ADSBIN <n@adsbin.local>",
                         timeout_s=timeout_s,
                         unsubscribe=UnsubscribeTokens(b"k" * 32, "http://testserver"))


def _message(**changes: Any) -> Message:
    values: dict[str, Any] = {
        "delivery_id": "dlv_1", "to": "ann@example.com", "subject": "<b>Hi</b> & welcome",
        "text": "Line <script>alert(1)</script>\n\nSecond part\n\nhttp://testserver/x?a=1&b=2",
        "link": "http://testserver/x?a=1&b=2", "kind": "invoice.issued", "user_id": "usr_1"}
    return Message(**{**values, **changes})


def test_the_same_delivery_sent_twice_is_one_email(fake: ResendFake):
    channel = _channel(fake.url)
    first, again = channel.send(_message()), channel.send(_message())
    assert first == again and len(fake.emails) == 1
    assert channel.idempotent and fake.emails[0].idempotency_key == "dlv_1"
    other = channel.send(_message(delivery_id="dlv_2"))
    assert other != first and len(fake.emails) == 2


def test_what_people_write_is_escaped_in_the_html(fake: ResendFake):
    _channel(fake.url).send(_message())
    [email] = fake.emails
    html, text = email.body["html"], email.body["text"]
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>Hi</b>" not in html and "&lt;b&gt;Hi&lt;/b&gt; &amp; welcome" in html
    assert 'href="http://testserver/x?a=1&amp;b=2"' in html
    assert "<script>alert(1)</script>" in text and "Second part" in text  # text is text
    assert text.count("http://testserver/x?a=1&b=2") == 1  # the link once, not twice


@pytest.mark.parametrize(("status", "error"), [(500, Transient), (503, Transient),
                                               (429, Transient), (400, Refused),
                                               (422, Refused), (403, Refused)])
def test_resend_errors_are_transient_or_refusals(fake: ResendFake, status: int,
                                                  error: type[Exception]):
    fake.fail_next(status)
    with pytest.raises(error, match=str(status)):
        _channel(fake.url).send(_message())
    assert fake.emails == []


def test_a_wrong_key_is_refused(fake: ResendFake):
    channel = _channel(fake.url)
    channel.api_key = "re_other"
    with pytest.raises(Refused, match="403"):
        channel.send(_message())


def test_no_answer_and_a_timeout_are_transient(fake: ResendFake):
    with pytest.raises(Transient):
        _channel(f"http://127.0.0.1:{free_port()}").send(_message())
    fake.hang_next(1.5)
    started = time.monotonic()
    with pytest.raises(Transient):
        _channel(fake.url, timeout_s=0.3).send(_message())
    assert time.monotonic() - started < 1.4


def test_a_notification_row_is_not_needed_to_render(fake: ResendFake):
    """A message without a recipient id or kind (a test message) has no unsubscribe link."""
    _channel(fake.url).send(_message(user_id="", kind=""))
    [email] = fake.emails
    assert "List-Unsubscribe" not in email.body["headers"]
    assert "Unsubscribe" not in email.body["text"]



@pytest.mark.parametrize("header", ["2", "date"])
def test_resends_retry_after_is_kept_on_a_transient_failure(fake: ResendFake, header: str):
    """Resend's SDK keeps the answer's headers on its error: seconds, or an HTTP date."""
    when = formatdate(time.time() + 120, usegmt=True)
    fake.fail_next(429, retry_after=when if header == "date" else header)
    with pytest.raises(Transient) as raised:
        _channel(fake.url).send(_message())
    found = raised.value.retry_after_s
    assert found is not None
    assert found == 2.0 if header == "2" else 110 <= found <= 120
    fake.fail_next(503)  # none given: the queue's backoff alone
    with pytest.raises(Transient) as raised:
        _channel(fake.url).send(_message())
    assert raised.value.retry_after_s is None


def test_a_delivery_is_not_tried_again_before_resends_retry_after(mail: Mail):
    """429 with Retry-After: 1 (the queue's own backoff here is 0.05 s): the next attempt
    waits the second Resend asked for."""
    approval_email(mail)  # what the network brought is sent first
    mail.fake.fail_next(429, retry_after="1")
    started = time.monotonic()
    delivery = _settled(mail, _notify(mail, "Invoice later"))
    assert delivery.status == DeliveryStatus.sent and delivery.attempts == 2
    assert time.monotonic() - started >= 1.0
