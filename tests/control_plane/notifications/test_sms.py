"""SMS through Twilio (a local fake that speaks its Messages API to the official SDK): a number
is confirmed by the code texted to it, urgent notifications reach confirmed numbers once,
Twilio's failures are retried or not as they deserve, and its signed status callbacks say
whether a text arrived."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from control_plane.app import create_app
from control_plane.db import utcnow
from control_plane.notifications import service as notifications_service
from control_plane.notifications.channels.base import Message, Refused, Transient
from control_plane.notifications.channels.sms import TwilioChannel
from tests.control_plane.reporting.conftest import Network, make_network
from tests.helpers import Account, error_code, signup, until
from tests.live import free_port
from tests.twilio_fake import TwilioFake

FROM = "+15005550006"
STATUS_URL = "/v1/webhooks/twilio/status"


@pytest.fixture
def fake() -> Iterator[TwilioFake]:
    with TwilioFake() as running:
        yield running


@pytest.fixture
def sms_network(settings: Any, tmp_path: Any, fake: TwilioFake) -> Iterator[Network]:
    """The notification network with Twilio configured (at the fake) and quick retries."""
    with make_network(settings, tmp_path, twilio_account_sid=fake.account_sid,
                      twilio_auth_token=fake.auth_token, twilio_from=FROM,
                      twilio_api_base=fake.url, job_retry_base_s=0.05,
                      job_retry_max_s=0.2) as net:
        yield net


def _code(fake: TwilioFake, number: str) -> str:
    found = re.search(r"\b(\d{6})\b", fake.to(number)[-1]["body"])
    assert found, fake.to(number)
    return found.group(1)


def confirmed(net: Network, fake: TwilioFake, account: Account, number: str) -> None:
    """Give the account's user this number and confirm it with the code texted to it."""
    r = net.client.put("/v1/me/phone", headers=account.headers, json={"number": number})
    assert r.status_code == 200, r.text
    r = net.client.post("/v1/me/phone/confirm", headers=account.headers,
                        json={"code": _code(fake, number)})
    assert r.status_code == 200 and r.json()["confirmed"] is True, r.text


def payment_failed(net: Network, org_id: str, key: str) -> None:
    """Tell the org an urgent kind, delivered by the app's queue."""
    with net.app.state.sessionmaker() as session:
        notifications_service.notify(
            session=session, queue=net.app.state.jobs, kind="invoice.payment_failed",
            org_id=org_id, title="A payment failed", body="Your card was declined.",
            link="/v1/invoices/inv_x", dedupe_key=key)


def sms_delivery(net: Network, account: Account, key_title: str = "A payment failed"
                 ) -> list[dict[str, Any]]:
    """The SMS deliveries of the user's notifications with this title, newest first."""
    body = net.client.get("/v1/notifications", headers=account.headers).json()
    return [d for n in body["notifications"] if n["title"] == key_title
            for d in n["deliveries"] if d["channel"] == "sms"]


def test_a_number_is_confirmed_by_the_code_texted_to_it(sms_network: Network,
                                                        fake: TwilioFake):
    net, headers, number = sms_network, sms_network.advertiser.headers, "+33612345678"
    r = net.client.get("/v1/me/phone", headers=headers)
    assert r.status_code == 404 and error_code(r) == "phone_not_found"
    for bad in ("0612345678", "+33 6 12 34 56 78", "+0612345678", "+3361", "33612345678x"):
        r = net.client.put("/v1/me/phone", headers=headers, json={"number": bad})
        assert r.status_code == 422 and error_code(r) == "invalid_phone_number", bad
    assert fake.requests == []
    r = net.client.put("/v1/me/phone", headers=headers, json={"number": number})
    assert r.status_code == 200, r.text
    assert r.json()["number"] == number and r.json()["confirmed"] is False
    [text] = fake.to(number)
    assert text["from"] == FROM and "expires in 10 minutes" in text["body"]
    code = _code(fake, number)
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1, 0):
        r = net.client.post("/v1/me/phone/confirm", headers=headers, json={"code": wrong})
        assert r.status_code == 422 and error_code(r) == "wrong_code", r.text
        assert r.json()["error"]["details"]["tries_left"] == left
    r = net.client.post("/v1/me/phone/confirm", headers=headers, json={"code": code})
    assert r.status_code == 429 and error_code(r) == "too_many_attempts"  # spent, even right
    assert net.client.get("/v1/me/phone", headers=headers).json()["confirmed"] is False
    # a new code, and this one is right
    r = net.client.put("/v1/me/phone", headers=headers, json={"number": number})
    assert r.status_code == 200 and len(fake.to(number)) == 2
    r = net.client.post("/v1/me/phone/confirm", headers=headers,
                        json={"code": _code(fake, number)})
    assert r.status_code == 200 and r.json()["confirmed"] is True, r.text
    mine = net.client.get("/v1/me/phone", headers=headers).json()
    assert mine["confirmed"] is True and mine["confirmed_at"] and mine["number"] == number
    # giving the confirmed number again texts nothing; asking codes is limited per user
    r = net.client.put("/v1/me/phone", headers=headers, json={"number": number})
    assert r.status_code == 200 and r.json()["confirmed"] is True and len(fake.to(number)) == 2
    assert net.client.put("/v1/me/phone", headers=headers,
                          json={"number": "+33698765432"}).status_code == 200  # a 3rd code
    r = net.client.put("/v1/me/phone", headers=headers, json={"number": "+33611111111"})
    assert r.status_code == 429 and error_code(r) == "rate_limited"
    assert int(r.headers["Retry-After"]) > 0 and fake.to("+33611111111") == []
    # another user is not held back by it
    other = signup(net.client)
    assert net.client.put("/v1/me/phone", headers=other.headers,
                          json={"number": "+33611111111"}).status_code == 200
    assert net.client.delete("/v1/me/phone", headers=headers).status_code == 204
    assert net.client.get("/v1/me/phone", headers=headers).status_code == 404


def test_an_urgent_notification_is_texted_once_to_a_confirmed_number_only(
        sms_network: Network, fake: TwilioFake):
    net, number = sms_network, "+33612345678"
    confirmed(net, fake, net.advertiser, number)
    unconfirmed = signup(net.client)
    assert net.client.put("/v1/me/phone", headers=unconfirmed.headers,
                          json={"number": "+33622222222"}).status_code == 200
    for _ in range(2):  # the same event twice
        payment_failed(net, net.advertiser.org_id, "evt_failed_1")
    payment_failed(net, unconfirmed.org_id, "evt_failed_2")
    [delivery] = until(lambda: [d for d in sms_delivery(net, net.advertiser)
                                if d["status"] == "sent"], what="the SMS sent")
    assert delivery["attempts"] == 1
    time.sleep(0.3)  # nothing else is on its way
    [text] = fake.to(number)[1:]  # after the code
    assert text["body"] == f"A payment failed\n{net.app.state.settings.public_url}" \
                           "/v1/invoices/inv_x"
    assert text["status_callback"] == f"{net.app.state.settings.public_url}{STATUS_URL}"
    until(lambda: net.client.get("/v1/notifications", headers=unconfirmed.headers)
          .json()["notifications"], what="the other org's notification")
    assert sms_delivery(net, unconfirmed) == [] and len(fake.to("+33622222222")) == 1
    # Twilio says it arrived: only a callback signed with our token counts
    form, forged = fake.status_callback(text, "delivered", token="not-our-token")
    r = net.client.post(STATUS_URL, data=form, headers={"X-Twilio-Signature": forged})
    assert r.status_code == 403 and error_code(r) == "bad_signature"
    assert net.client.post(STATUS_URL, data=form).status_code == 403
    assert sms_delivery(net, net.advertiser)[0]["status"] == "sent"
    form, signature = fake.status_callback(text, "delivered")
    r = net.client.post(STATUS_URL, data=form, headers={"X-Twilio-Signature": signature})
    assert r.status_code == 200, r.text
    assert sms_delivery(net, net.advertiser)[0]["status"] == "delivered"
    # a callback about a message that is no delivery (the confirmation code) changes nothing
    form, signature = fake.status_callback(fake.to(number)[0], "undelivered", error_code="30003")
    r = net.client.post(STATUS_URL, data=form, headers={"X-Twilio-Signature": signature})
    assert r.status_code == 200 and r.json()["outcome"].startswith("ignored")


def test_twilio_failures_are_retried_when_they_may_pass_and_not_when_refused(
        sms_network: Network, fake: TwilioFake):
    net, number = sms_network, "+33612345678"
    confirmed(net, fake, net.advertiser, number)
    fake.fail_next(503, 20500, "Service unavailable")
    payment_failed(net, net.advertiser.org_id, "evt_retry")
    [delivery] = until(lambda: [d for d in sms_delivery(net, net.advertiser)
                                if d["status"] == "sent"], what="the SMS sent after the 503")
    assert delivery["attempts"] == 2 and len(fake.to(number)) == 2  # the code, then once
    assert [r.status for r in fake.requests if r.form.get("To") == number] == [201, 503, 201]
    # refused: failed at once with Twilio's reason, never asked again
    fake.fail_next(400, 21610, "Attempt to send to unsubscribed recipient")
    before = len(fake.requests)
    with net.app.state.sessionmaker() as session:
        notifications_service.notify(
            session=session, queue=net.app.state.jobs, kind="invoice.payment_failed",
            org_id=net.advertiser.org_id, title="Another payment failed", body="Declined.",
            link=None, dedupe_key="evt_refused")
    [failed] = until(lambda: [d for d in sms_delivery(net, net.advertiser,
                                                      "Another payment failed")
                              if d["status"] == "failed"], what="the refused SMS failed")
    assert failed["attempts"] == 1 and "21610" in failed["last_error"]
    time.sleep(0.5)
    assert len(fake.requests) == before + 1
    # a text Twilio could not deliver is failed, with its error code
    [sent] = fake.to(number)[1:]
    form, signature = fake.status_callback(sent, "undelivered", error_code="30003")
    r = net.client.post(STATUS_URL, data=form, headers={"X-Twilio-Signature": signature})
    assert r.status_code == 200, r.text
    [retried] = sms_delivery(net, net.advertiser)
    assert retried["status"] == "failed" and "30003" in retried["last_error"]


def test_the_channel_translates_twilio_answers(fake: TwilioFake):
    channel = TwilioChannel(account_sid=fake.account_sid, auth_token=fake.auth_token,
                            from_=FROM, api_base=fake.url,
                            status_callback="https://adsbin.example/v1/webhooks/twilio/status")
    message = Message(delivery_id="dlv_1", to="+33612345678", subject="A payment failed",
                      text="ignored by SMS", link="https://adsbin.example/v1/invoices/x")
    sid = channel.send(message)
    [sent] = fake.messages
    assert sid == sent["sid"] and sid.startswith("SM")
    assert sent["body"] == "A payment failed\nhttps://adsbin.example/v1/invoices/x"
    for status, code, kind in ((503, 20500, Transient), (429, 20429, Transient),
                               (400, 21211, Refused), (404, 20404, Refused)):
        fake.fail_next(status, code)
        with pytest.raises(kind) as raised:
            channel.send(message)
        assert f"twilio {status}" in raised.value.reason and str(code) in raised.value.reason
    wrong = TwilioChannel(account_sid=fake.account_sid, auth_token="wrong", from_=FROM,
                          api_base=fake.url)
    with pytest.raises(Refused, match="20003"):
        wrong.send(message)
    gone = TwilioChannel(account_sid=fake.account_sid, auth_token=fake.auth_token, from_=FROM,
                         api_base=f"http://127.0.0.1:{free_port()}", timeout_s=2)
    started = utcnow()
    with pytest.raises(Transient, match="unreachable"):
        gone.send(message)
    assert (utcnow() - started).total_seconds() < 5


def test_twilios_retry_after_is_kept_on_a_transient_failure(fake: TwilioFake):
    """The SDK's exception drops the headers: the channel reads them from its HTTP client."""
    channel = TwilioChannel(account_sid=fake.account_sid, auth_token=fake.auth_token,
                            from_=FROM, api_base=fake.url)
    message = Message(delivery_id="dlv_1", to="+33612345678", subject="A payment failed",
                      text="x")
    for status, header, expected in ((429, "30", 30.0), (503, "120", 120.0), (429, None, None),
                                     (503, "soon", None)):
        fake.fail_next(status, retry_after=header)
        with pytest.raises(Transient) as raised:
            channel.send(message)
        assert raised.value.retry_after_s == expected, (status, header)
    channel.send(message)  # and the next one, answered, goes through
    assert len(fake.messages) == 1


def test_the_code_limit_holds_across_api_processes(sms_network: Network, fake: TwilioFake):
    """Two app instances on one database (two API processes) share the count of codes, per
    user and per number, and parallel asks cannot go past it."""
    net = sms_network
    with TestClient(create_app(net.app.state.settings)) as second:
        apps = (net.client, second)
        headers = net.advertiser.headers
        for i in range(3):  # one user, three codes, asked of either process in turn
            r = apps[i % 2].put("/v1/me/phone", headers=headers,
                                json={"number": f"+3361000000{i}"})
            assert r.status_code == 200, r.text
        for client in apps:
            r = client.put("/v1/me/phone", headers=headers, json={"number": "+33610000009"})
            assert r.status_code == 429 and error_code(r) == "rate_limited", r.text
            assert 0 < int(r.headers["Retry-After"]) <= 600
        assert fake.to("+33610000009") == []
        # one number, asked for by three people in turn, then by a fourth: refused
        people = [signup(net.client) for _ in range(4)]
        for i, person in enumerate(people[:3]):
            assert apps[i % 2].put("/v1/me/phone", headers=person.headers,
                                   json={"number": "+33620000000"}).status_code == 200
        r = second.put("/v1/me/phone", headers=people[3].headers, json={"number": "+33620000000"})
        assert r.status_code == 429 and len(fake.to("+33620000000")) == 3
        # one more user asking eight times at once, of both processes: three codes
        hurried = signup(net.client)
        answers: list[int] = []

        def ask(i: int) -> None:
            answers.append(apps[i % 2].put("/v1/me/phone", headers=hurried.headers,
                                           json={"number": f"+3363000000{i}"}).status_code)

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(answers) == [200] * 3 + [429] * 5, answers
        assert sum(len(fake.to(f"+3363000000{i}")) for i in range(8)) == 3
